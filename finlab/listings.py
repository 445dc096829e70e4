"""Listings that resume: FC transactions and climate orders walked into the store in committed batches.

A listing is one `finlab.engine.Cursor`: one scope (an FC account, or ``"all"`` climate orders), one
`finlab.engine.Plan`, its windows. `Lister.walk` runs them through `finlab.engine.resume_walk` (the
walk behind ``stripe.transactions()``: concurrent windows that split while walking) and commits every
``batch_pages`` pages of a scope together with the cursor as of exactly those pages (invariants 3 and 4
of :mod:`finlab.store`). FC pages are read from bytes by `finlab.wire.PageReader`.

Where a scope stands (`resume`): its ``_state`` row, overtaken by the newest cursor committed after
the version that row records. A sync killed at any point therefore continues after its last commit
and fetches nothing it had committed.

Examples
--------
>>> resume(None, []).complete
False
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import polars as pl

from finlab import frames, resources, wire
from finlab.client import AsyncClient
from finlab.engine import WINDOW_CONCURRENCY, Cursor, Plan, Step, latest, resume_walk
from finlab.errors import InvalidRequestError
from finlab.pagination import Page, dict_page
from finlab.progress import Progress
from finlab.store import Store

T = TypeVar("T")
Json = dict[str, Any]
TRANSACTION = "financial_connections.transaction"
KEY = "transacted_at"
#: The parameter Stripe names when it no longer knows a ``transaction_refresh[after]``.
FORGOTTEN = "transaction_refresh[after]"


@dataclass
class Position:
    """Where one scope stands.

    ``complete``: a listing finished at some point, and ``refresh`` is the transaction refresh it
    reached (None for lists without refreshes). ``pending``: the listing in progress, if any.
    """

    complete: bool
    refresh: str | None
    pending: Cursor | None = None


def resume(stored: Mapping[str, Any] | None, committed: Sequence[Mapping[str, Any]]) -> Position:
    """Where a scope stands: its ``_state`` cursor, overtaken by the cursors committed since (newest first).

    >>> span = {"gte": None, "lt": None, "last": "t9", "done": False}
    >>> plan = {"after": "fctxnref_1", "target": "fctxnref_2", "fresh": False}
    >>> step = {"scope": "fca_1", "plan": plan, "spans": [span]}
    >>> position = resume({"refresh": "fctxnref_1"}, [step])
    >>> position.complete, position.refresh, position.pending.spans[0].last
    (True, 'fctxnref_1', 't9')
    """
    complete = stored is not None and "refresh" in stored
    refresh = stored.get("refresh") if stored is not None else None
    cursor = latest(committed)
    if cursor is None:
        return Position(complete, refresh)
    if cursor.done:
        return Position(True, cursor.plan.target)
    if cursor.plan.after is not None:  # an incremental listing: complete up to where it started
        return Position(True, cursor.plan.after, cursor)
    return Position(False, None, cursor)


@dataclass(frozen=True)
class Listing:
    """One listing to walk: its fixed query parameters and cursor; ``floor`` and ``top`` bound the
    key's range (where open windows are split from, and what the progress bar estimates against)."""

    params: Mapping[str, Any]
    cursor: Cursor
    floor: int = 0
    top: int = 0


class Reading(Protocol[T]):
    """How a listing's pages are fetched and turned into the frame the store keeps."""

    async def fetch(self, index: int, params: dict[str, Any]) -> Page[T]:
        """GET one page of listing ``index``."""

    def frame(self, pages: list[T]) -> pl.DataFrame:
        """The pages' objects, typed, with ``raw``."""

    def empty(self) -> T:
        """A page's objects when there are none."""


class Bytes:
    """Pages read from bytes by `finlab.wire.PageReader`, one reader per listing (for flat resources)."""

    def __init__(self, client: AsyncClient, res: resources.Resource, key: str | None, count: int) -> None:
        self.client, self.res, self.path = client, res, res.list_path or ""
        self.readers = [wire.PageReader(res, self.path, key, raw=True) for _ in range(count)]

    async def fetch(self, index: int, params: dict[str, Any]) -> Page[pl.DataFrame]:
        return await self.client.get_as(self.path, params, self.readers[index].decoder)

    def frame(self, pages: list[pl.DataFrame]) -> pl.DataFrame:
        return wire.stored(self.res, pages)

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame()


class Dicts:
    """Pages read as dicts (for resources with nested fields)."""

    def __init__(self, client: AsyncClient, res: resources.Resource) -> None:
        self.client, self.res, self.path = client, res, res.list_path or ""

    async def fetch(self, index: int, params: dict[str, Any]) -> Page[list[Json]]:
        return dict_page(await self.client.get(self.path, params, expect="list"), self.path)

    def frame(self, pages: list[list[Json]]) -> pl.DataFrame:
        return frames.build_raw(self.res, [obj for page in pages for obj in page])

    def empty(self) -> list[Json]:
        return []


#: How a sync writes to the store: ``write(store_method, *args)``, one write at a time.
Write = Callable[..., Awaitable[Any]]


class Lister:
    """Walks listings into ``store``, committing every ``batch_pages`` pages of a scope (see above)."""

    def __init__(
        self,
        client: AsyncClient,
        store: Store,
        write: Write,
        batch_pages: int,
        concurrency: int = WINDOW_CONCURRENCY,
    ) -> None:
        self.client, self.store, self.write = client, store, write
        self.batch_pages, self.concurrency = max(1, batch_pages), concurrency

    def positions(self, resource: str, scopes: Sequence[str]) -> dict[str, Position]:
        """Where each scope of ``resource`` stands (see `resume`).

        A ``_state`` row newer than the table is ignored: the table was moved aside and starts over.
        """
        state, current = self.store.state(), self.store.version(resource)
        rows = {scope: state.get((resource, scope)) for scope in scopes}
        rows = {
            scope: row if row is not None and current is not None and (row.version or 0) <= current else None
            for scope, row in rows.items()
        }
        versions = [row.version for row in rows.values() if row is not None and row.version is not None]
        since = min(versions) if versions and len(versions) == len(rows) else None
        committed = self.store.cursors(resource, since)
        positions = {}
        for scope, row in rows.items():
            after = -1 if row is None or row.version is None else row.version
            mine = [cursor for version, cursor in committed if cursor["scope"] == scope and version > after]
            positions[scope] = resume(None if row is None else row.cursor, mine)
        return positions

    async def transactions(self, accounts: Sequence[Json], progress: Progress) -> list[tuple[str, Json]]:
        """Bring each FC account's transactions up to its current refresh: finish a listing in progress,
        then list what changed since the refresh reached (everything the first time, or when Stripe
        forgot that refresh). Return the ``_state`` rows to save: (account, ``{"refresh": id}``)."""
        refreshed = {a["id"]: a for a in accounts if (a.get("transaction_refresh") or {}).get("id")}
        now = {fca: str(account["transaction_refresh"]["id"]) for fca, account in refreshed.items()}
        jobs: dict[str, Cursor] = {}
        positions = self.positions(TRANSACTION, list(refreshed))
        stored = self.store.ids(TRANSACTION, "account") if positions else set()
        for fca, position in positions.items():
            if position.pending is not None:
                jobs[fca] = position.pending
            elif not position.complete:
                jobs[fca] = Cursor(fca, Plan(None, now[fca], fresh=fca not in stored))
            elif position.refresh != now[fca]:
                jobs[fca] = Cursor(fca, Plan(position.refresh, now[fca]))
        while jobs:
            listings = [_fc_listing(refreshed[fca], cursor) for fca, cursor in jobs.items()]
            reading = Bytes(self.client, resources.get(TRANSACTION), KEY, len(listings))
            forgotten = await self.walk(TRANSACTION, KEY, reading, listings, progress)
            following: dict[str, Cursor] = {}
            for index, (fca, cursor) in enumerate(jobs.items()):
                if index in forgotten:  # list everything again
                    following[fca] = Cursor(fca, Plan(None, now[fca]))
                elif cursor.plan.target != now[fca]:  # a resumed listing: then what changed since
                    following[fca] = Cursor(fca, Plan(cursor.plan.target, now[fca]))
            jobs = following
        return [(fca, {"refresh": refresh}) for fca, refresh in now.items()]

    async def walk(
        self,
        resource: str,
        key: str | None,
        reading: Reading[T],
        listings: Sequence[Listing],
        progress: Progress,
    ) -> set[int]:
        """Walk ``listings`` into the store; return those whose ``transaction_refresh[after]`` Stripe
        forgot (nothing of theirs is committed from then on: list them again in full)."""
        forgotten: set[int] = set()

        async def fetch(index: int, params: dict[str, Any]) -> Page[T]:
            try:
                return await reading.fetch(index, params)
            except InvalidRequestError as exc:
                if exc.param != FORGOTTEN or listings[index].cursor.plan.after is None:
                    raise
                forgotten.add(index)
                return Page(reading.empty(), 0, False, None)  # its listing ends here, uncommitted

        held: dict[int, tuple[list[T], Cursor]] = {}  # per listing: pages taken, not yet committed
        path = resources.get(resource).list_path or ""
        plan = [(listing.params, listing.cursor, listing.floor) for listing in listings]
        walk = resume_walk(fetch, path, key, plan, concurrency=self.concurrency)
        async with contextlib.aclosing(walk) as steps:
            async for cursor, step in steps:
                if step.index in forgotten:
                    continue
                progress.page(step.page.count)
                if key is not None:
                    _cover(progress, listings[step.index], step)
                pages = held.pop(step.index, ([], cursor))[0]
                pages.append(step.page.items)
                held[step.index] = (pages, cursor)
                if len(pages) >= self.batch_pages:
                    await self._commit(resource, reading, *held.pop(step.index), progress)
        for index, (pages, cursor) in held.items():
            if index not in forgotten:
                await self._commit(resource, reading, pages, cursor, progress)
        return forgotten

    async def _commit(
        self, resource: str, reading: Reading[T], pages: list[T], cursor: Cursor, progress: Progress
    ) -> None:
        # A fresh listing fetches no id twice (windows split time, and a resume starts after its last
        # commit), so appending keeps each id once without the merge's scan of the table.
        write = self.store.append if cursor.plan.fresh else self.store.merge
        await self.write(write, resource, reading.frame(pages), cursor.to_json())
        progress.report.commits += 1


def _fc_listing(account: Mapping[str, Any], cursor: Cursor) -> Listing:
    """The listing of ``cursor`` over one FC account's transactions."""
    params: Json = {"account": account["id"]}
    if cursor.plan.after is not None:
        params["transaction_refresh"] = {"after": cursor.plan.after}
    floor = int(account.get("created") or 0)
    top = int(account["transaction_refresh"].get("last_attempted_at") or time.time())
    return Listing(params, cursor, floor, top)


def _cover(progress: Progress, listing: Listing, step: Step[Any]) -> None:
    """Tell the progress bar how much of the step's time window is listed."""
    window, page = step.window, step.page
    top = window.lt if window.lt is not None else max(listing.top, listing.floor)
    bottom = step.gte if step.gte is not None else window.floor
    reached = bottom if not page.has_more or page.oldest is None else page.oldest
    progress.covered((listing.cursor.scope, window.lt), top - reached, top - min(bottom, reached))
