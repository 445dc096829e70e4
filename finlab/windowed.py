"""Financial Connections transactions of many accounts, in time windows fetched concurrently.

Each account starts as one window over its ``transacted_at`` range, from the caller's start (else the
account's ``created``) to the caller's end; all accounts are walked together by
:func:`finlab.engine.walk_windows` (the walk the store's sync resumes too), which splits a window's
unfetched remainder whenever walks are missing. The first page of a list shows where its transactions
are; a plan made before it would cut an account whose activity is skewed (most of it last month) into
windows that are mostly empty, each costing a request. Without a caller's bound the window stays open on
that side (no ``transacted_at[gte]`` / ``[lt]``): a bank account's history can start before it was
linked to Stripe, and transactions can be dated after this machine's clock; neither may be lost.
``created`` then only anchors splits. Pages are read by :class:`finlab.wire.PageReader` and typed in
batches per window; the windows, put newest first, give each account's transactions in list order
without a sort, which would hold the frame twice (for a million transactions the peak was 3.6 times the
frame with the sort, 2.1 times without: ``benchmarks/parse.py``, path ``finlab-sync``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from finlab import frames, resources, wire
from finlab.client import AsyncClient
from finlab.engine import WINDOW_CONCURRENCY, Window, walk_windows
from finlab.errors import PaginationError
from finlab.pagination import Page

TRANSACTION = "financial_connections.transaction"
ACCOUNT = "financial_connections.account"
KEY = "transacted_at"
#: Rows of a window typed at a time: enough to amortise typing; few enough that the windows walked at
#: once hold little untyped (a page parsed by Polars takes about three times its typed size).
BATCH_ROWS = 10_000


async def transactions(
    client: AsyncClient,
    accounts: Sequence[str],
    start: int | None = None,
    end: int | None = None,
    *,
    created: Mapping[str, int] | None = None,
    concurrency: int = WINDOW_CONCURRENCY,
    max_objects: int | None = None,
) -> pl.DataFrame:
    """Every transaction of ``accounts`` with ``start <= transacted_at < end``, as one typed frame.

    Parameters
    ----------
    client
        Sends every request, through its rate budget.
    accounts
        FC account ids (``fca_...``); the frame lists them in this order, each newest first.
    start, end
        Epoch seconds; None: no bound on that side.
    created
        Accounts' ``created`` where already known; the others are retrieved when ``start`` is None.
    concurrency
        Window walks in flight at most.
    max_objects
        More transactions than this raise `PaginationError` (None: no cap).
    """
    res = resources.get(TRANSACTION)
    path = res.list_path or ""
    floors = await _floors(client, accounts, created) if start is None else {}
    lists = [
        ({"account": fca}, [Window(start, end, floors[fca] if start is None else start)]) for fca in accounts
    ]
    readers = [wire.PageReader(res, path, KEY) for _ in accounts]
    walking: dict[int, wire.Batches] = {}  # by id() of the window
    walked: list[list[tuple[float, pl.DataFrame]]] = [[] for _ in accounts]  # (window's lt, its rows)

    async def fetch(index: int, params: dict[str, Any]) -> Page[pl.DataFrame]:
        return await client.get_as(path, params, readers[index].decoder)

    async with contextlib.aclosing(walk_windows(fetch, path, KEY, lists, concurrency=concurrency)) as steps:
        fetched = 0
        async for step in steps:
            index, window, page = step.index, step.window, step.page
            fetched = _counted(path, fetched + page.count, max_objects)
            walking.setdefault(id(window), wire.Batches(res, BATCH_ROWS)).add(page.items)
            if not page.has_more:
                top = math.inf if window.lt is None else window.lt
                walked[index].append((top, walking.pop(id(window)).take()))
    return _in_list_order(res, walked)


def _in_list_order(res: resources.Resource, walked: list[list[tuple[float, pl.DataFrame]]]) -> pl.DataFrame:
    """Each account's windows, newest ``lt`` first: windows split time, and a window's pages come in
    list order, so that is list order."""
    parts = [rows for windows in walked for _, rows in sorted(windows, key=lambda w: w[0], reverse=True)]
    return pl.concat(parts) if parts else frames.empty(res)


def _counted(path: str, fetched: int, max_objects: int | None) -> int:
    """``fetched``, unless it is more than ``max_objects``: then `PaginationError`."""
    if max_objects is not None and fetched > max_objects:
        msg = (
            f"GET {path} returned more than max_objects={max_objects:,} transactions; stopping. "
            "Pass a larger max_objects (or None), or a shorter start..end range."
        )
        raise PaginationError(msg)
    return fetched


async def _floors(
    client: AsyncClient, accounts: Sequence[str], created: Mapping[str, int] | None
) -> dict[str, int]:
    """Each account's ``created``: from ``created`` where known, else retrieved."""
    floors = dict(created or {})
    unknown = [fca for fca in accounts if fca not in floors]
    found = await asyncio.gather(*(_created(client, fca) for fca in unknown))
    floors.update(zip(unknown, found, strict=True))
    return floors


async def _created(client: AsyncClient, account: str) -> int:
    """When ``account`` was created (epoch seconds): where its open-below window is split from."""
    found = await client.get(f"{resources.get(ACCOUNT).list_path}/{account}", expect=ACCOUNT)
    value = found.get("created")
    return value if isinstance(value, int) else 0
