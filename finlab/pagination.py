"""Cursor pagination over Stripe lists, sync and async.

Stripe lists are ``{"object": "list", "data": [...], "has_more": bool}``, newest first. finlab always
asks for ``limit=100`` and follows ``starting_after`` with the last id of each page. A server that
repeats a cursor, or says ``has_more`` with an empty page, raises `PaginationError` instead of looping.

Examples
--------
>>> cursor = ListCursor("/v1/climate/orders")
>>> cursor.params()
{'limit': 100}
>>> cursor.advance({"object": "list", "data": [{"id": "climorder_2"}], "has_more": True})
[{'id': 'climorder_2'}]
>>> cursor.params()
{'limit': 100, 'starting_after': 'climorder_2'}
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from finlab.client import AsyncClient, Client, Params
from finlab.errors import PaginationError

PAGE_LIMIT = 100


class ListCursor:
    """The state of one walk through a list: which page to ask for next, and whether it is done."""

    def __init__(self, path: str, params: Params | None = None, *, limit: int = PAGE_LIMIT) -> None:
        self.path = path
        self.base_params = dict(params or {})
        self.limit = limit
        self.starting_after: str | None = None
        self.done = False
        self.pages = 0
        self._cursors: set[str] = set()

    def params(self) -> dict[str, Any]:
        """Query parameters for the next page."""
        params = {**self.base_params, "limit": self.limit}
        if self.starting_after is not None:
            params["starting_after"] = self.starting_after
        return params

    def advance(self, page: dict[str, Any]) -> list[dict[str, Any]]:
        """Take one page: check it, move the cursor, and return its objects."""
        data = page.get("data")
        if not isinstance(data, list):
            msg = f"GET {self.path} returned a list without a 'data' array; cannot paginate."
            raise PaginationError(msg)
        self.pages += 1
        has_more = page.get("has_more") is True
        if not has_more:
            self.done = True
            return data
        if not data:
            msg = (
                f"GET {self.path} said has_more=true but returned no objects (page {self.pages}); "
                "stopping instead of asking for the same page forever."
            )
            raise PaginationError(msg)
        last = data[-1].get("id") if isinstance(data[-1], dict) else None
        if not isinstance(last, str):
            msg = (
                f"GET {self.path} said has_more=true but the last object of page {self.pages} has no id "
                "to continue from; the server is broken."
            )
            raise PaginationError(msg)
        if last in self._cursors:
            msg = (
                f"GET {self.path} repeated the cursor {last!r} on page {self.pages}; the list is "
                "changing under us or the server is broken. Run again to resume."
            )
            raise PaginationError(msg)
        self._cursors.add(last)
        self.starting_after = last
        return data


def iter_pages(client: Client, path: str, params: Params | None = None) -> Iterator[list[dict[str, Any]]]:
    """Every page's objects of a list, newest first."""
    cursor = ListCursor(path, params)
    while not cursor.done:
        yield cursor.advance(client.get(path, cursor.params(), expect="list"))


def iter_objects(client: Client, path: str, params: Params | None = None) -> Iterator[dict[str, Any]]:
    """Every object of a list, newest first."""
    for page in iter_pages(client, path, params):
        yield from page


async def aiter_pages(
    client: AsyncClient, path: str, params: Params | None = None
) -> AsyncIterator[list[dict[str, Any]]]:
    """Async twin of `iter_pages`."""
    cursor = ListCursor(path, params)
    while not cursor.done:
        yield cursor.advance(await client.get(path, cursor.params(), expect="list"))


async def aiter_objects(
    client: AsyncClient, path: str, params: Params | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Async twin of `iter_objects`."""
    async for page in aiter_pages(client, path, params):
        for obj in page:
            yield obj
