"""Fetch jobs: what one frame method asks Stripe for, as coroutines on an `AsyncClient`.

Lists are built into frames in batches (never a frame per object); objects without a list endpoint
are retrieved by id, at most `finlab.pagination.MAX_IN_FLIGHT` at a time; parents come with their
first page of line items (``expand[]=line_items``) and the rest is paged. FC transactions of many
accounts are walked in time windows by :mod:`finlab.windowed`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from finlab import frames, resources
from finlab.client import AsyncClient
from finlab.pagination import aiter_pages, gather_limited
from finlab.resources import CURRENCY_KEY, PARENT_KEY, Resource

Json = dict[str, Any]

#: Retrieve parents with their first page of line items: one request instead of two for most.
EXPAND_LINE_ITEMS = {"expand": ["line_items"]}
#: Objects turned into a frame at a time: large enough to amortise the build, small enough for memory.
BUILD_BATCH = 20_000


async def list_frame(
    client: AsyncClient, res: Resource, params: Mapping[str, Any], *, max_objects: int | None = None
) -> pl.DataFrame:
    """Every object of one list, as the resource's frame (built in batches, not per object)."""
    batch: list[Json] = []
    parts: list[pl.DataFrame] = []
    async for page in aiter_pages(client, res.list_path or "", params, max_objects=max_objects):
        batch += page
        if len(batch) >= BUILD_BATCH:
            parts.append(frames.build(res, batch))
            batch = []
    parts.append(frames.build(res, batch))
    return pl.concat(parts)


async def retrieve_all(
    client: AsyncClient, res: Resource, ids: Sequence[str], params: Mapping[str, Any] | None = None
) -> list[Json]:
    """Each object of ``ids``, in their order."""
    paths = [(res.retrieve_path or "").format(id=object_id) for object_id in ids]
    return await gather_limited(client.get(path, params, expect=res.object) for path in paths)


async def with_line_items(client: AsyncClient, parent: Json, child: Resource) -> Json:
    """``parent`` (retrieved with `EXPAND_LINE_ITEMS`) with every line item inlined, ``has_more`` false.

    Without an embedded list (a server that ignores ``expand``), the items are listed in full.
    """
    path = (child.list_path or "").format(parent=parent["id"])
    embedded = parent.get("line_items")
    if isinstance(embedded, dict) and isinstance(embedded.get("data"), list):
        items: list[Json] = list(embedded["data"])
        if embedded.get("has_more") and items:
            rest = aiter_pages(client, path, {"starting_after": items[-1]["id"]})
            items += [item async for page in rest for item in page]
    else:
        embedded = {"object": "list"}
        items = [item async for page in aiter_pages(client, path) for item in page]
    return {**parent, "line_items": {**embedded, "data": items, "has_more": False}}


def inlined_line_items(parents: Sequence[Mapping[str, Any]]) -> list[Json]:
    """The line items inlined in parents, labelled with the parent's id and currency (items lack both)."""
    return [
        {**item, PARENT_KEY: parent["id"], CURRENCY_KEY: parent.get("currency")}
        for parent in parents
        for item in (parent.get("line_items") or {}).get("data", [])
    ]


async def parents_with_line_items(client: AsyncClient, parent: Resource, ids: Sequence[str]) -> list[Json]:
    """Parents of ``ids`` (tax transactions or calculations), each with every line item inlined."""
    child = resources.get(f"{parent.object}_line_item")
    found = await retrieve_all(client, parent, ids, EXPAND_LINE_ITEMS)
    return await gather_limited(with_line_items(client, obj, child) for obj in found)
