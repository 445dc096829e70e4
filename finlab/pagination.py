"""Cursor pagination over Stripe lists (sync + async): pages, the checks that stop a broken server.

Cursors: Stripe lists are ``{"object": "list", "data": [...], "has_more": bool}``, newest first. finlab
always asks for ``limit=100`` and follows ``starting_after`` with the last id of each page. A server that
repeats a cursor or an object, or says ``has_more`` with an empty page, raises `PaginationError` instead
of looping; so does an object newer (by ``created``) than the one before it, on the lists whose reference
documents that order (`CREATED_ORDER`: of those finlab reads, only climate orders). The others assert no
order: FC transactions have no ``created`` (the demo server sorts them by ``transacted_at``, and the
window walks of :mod:`finlab.engine` do not rely on it), and the rest only say they list objects. With
``max_objects``, a list longer than that raises too. What a walk remembers for this is bounded: on an
ordered list the ids of the current ``created`` second (a repeat can only hide among those while the
order holds), else the last `RECENT_IDS` ids.

Time windows walked concurrently, and listings that resume, are :mod:`finlab.engine`.

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

import asyncio
import collections
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from finlab.budget import endpoint_of
from finlab.client import AsyncClient, Client, Params
from finlab.errors import PaginationError

PAGE_LIMIT = 100
#: Ids a walk of an unordered list remembers to refuse a repeat (about 1 MB).
RECENT_IDS = 10_000
#: Lists whose Stripe reference says "sorted by creation date, with the most recently created ...
#: appearing first" (the descriptions in Stripe's OpenAPI spec), as `finlab.budget.endpoint_of` keys.
CREATED_ORDER = frozenset({"/v1/climate/orders"})
#: Single-object requests (retrieves, association look-ups) a fetch keeps in flight at once.
MAX_IN_FLIGHT = 32

T = TypeVar("T")
Json = dict[str, Any]


@dataclass(frozen=True)
class Page(Generic[T]):
    """One decoded list page: its objects (in the decoder's form) and what cursors and windows need.

    ``newest`` and ``oldest`` are the sort keys of the first and last object, for window walks;
    ``ids`` and ``created`` are every object's id and ``created`` (None where it has none), for the
    checks of `ListCursor`.
    """

    items: T
    count: int
    has_more: bool
    last_id: str | None
    newest: int | None = None
    oldest: int | None = None
    ids: Sequence[Any] = ()
    created: Sequence[int | None] = ()


def dict_page(body: Mapping[str, Any], path: str, key: str | None = None) -> Page[list[Json]]:
    """The `Page` of a JSON list body; ``key`` names the sort key field, for window walks."""
    data = body.get("data")
    if not isinstance(data, list):
        msg = f"GET {path} returned a list without a 'data' array; cannot paginate."
        raise PaginationError(msg)
    last_id = data[-1].get("id") if data and isinstance(data[-1], dict) else None
    return Page(
        data,
        len(data),
        body.get("has_more") is True,
        last_id if isinstance(last_id, str) else None,
        _key(data[0], key) if data else None,
        _key(data[-1], key) if data else None,
        [obj.get("id") if isinstance(obj, dict) else None for obj in data],
        [_key(obj, "created") for obj in data],
    )


def _key(obj: Any, key: str | None) -> int | None:
    value = obj.get(key) if key is not None and isinstance(obj, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Seen:
    """What a walk remembers to refuse an object sent twice or out of order, in bounded memory."""

    def __init__(self) -> None:
        self.second: int | None = None  # the ``created`` of the last object that had one
        self.in_second: set[str] = set()  # the ids of that second
        self.recent: collections.deque[str] = collections.deque()  # ids of an unordered list, oldest first
        self.recent_set: set[str] = set()

    def __contains__(self, object_id: str) -> bool:
        return object_id in self.in_second or object_id in self.recent_set

    def add(self, object_id: str, created: int | None) -> int | None:
        """Remember ``object_id``; the ``created`` it broke the order with, if it did (else None).

        ``created`` is None on a list without a documented order.
        """
        if created is None:
            self.recent.append(object_id)
            self.recent_set.add(object_id)
            if len(self.recent) > RECENT_IDS:
                self.recent_set.discard(self.recent.popleft())
            return None
        if self.second is not None and created > self.second:
            return self.second
        if created != self.second:
            self.second, self.in_second = created, set()
        self.in_second.add(object_id)
        return None


class ListCursor:
    """The state of one walk through a list: which page to ask for next, and whether it is done.

    ``max_objects`` (None: no cap) makes a list longer than that raise `PaginationError`.
    """

    def __init__(
        self,
        path: str,
        params: Params | None = None,
        *,
        limit: int = PAGE_LIMIT,
        max_objects: int | None = None,
    ) -> None:
        self.path = path
        self.base_params = dict(params or {})
        self.limit = limit
        self.max_objects = max_objects
        self.ordered = endpoint_of(path) in CREATED_ORDER
        self.starting_after: str | None = None
        self.done = False
        self.pages = 0
        self.objects = 0
        self._seen = _Seen()

    def params(self) -> dict[str, Any]:
        """Query parameters for the next page."""
        params = {**self.base_params, "limit": self.limit}
        if self.starting_after is not None:
            params["starting_after"] = self.starting_after
        return params

    def advance(self, page: Mapping[str, Any]) -> list[Json]:
        """Take one JSON page: check it, move the cursor, and return its objects."""
        decoded = dict_page(page, self.path)
        self.follow(decoded)
        return decoded.items

    def follow(self, page: Page[Any]) -> None:
        """Check a decoded page and move the cursor past it, refusing a server that would make it loop."""
        self.pages += 1
        self._check(page)
        if not page.has_more:
            self.done = True
            return
        if not page.count:
            msg = (
                f"GET {self.path} said has_more=true but returned no objects (page {self.pages}); "
                "stopping instead of asking for the same page forever."
            )
            raise PaginationError(msg)
        last = page.last_id
        if last is None:
            msg = (
                f"GET {self.path} said has_more=true but the last object of page {self.pages} has no id "
                "to continue from; the server is broken."
            )
            raise PaginationError(msg)
        self.starting_after = last

    def _check(self, page: Page[Any]) -> None:
        """Refuse a page that repeats the cursor or an object, breaks the order, or passes the cap."""
        self.objects += page.count
        if self.max_objects is not None and self.objects > self.max_objects:
            msg = (
                f"GET {self.path} returned more than max_objects={self.max_objects:,} objects; stopping. "
                "Pass a larger max_objects (or None), or narrow the list with filters."
            )
            raise PaginationError(msg)
        if page.last_id is not None and page.last_id in self._seen and page.has_more:
            msg = (
                f"GET {self.path} repeated the cursor {page.last_id!r} on page {self.pages}; the list is "
                "changing under us or the server is broken. Run again to resume."
            )
            raise PaginationError(msg)
        created = page.created if self.ordered and page.created else [None] * len(page.ids)
        for object_id, when in zip(page.ids, created, strict=True):
            if not isinstance(object_id, str):
                continue  # an object without an id: only a cursor needs one (see follow)
            if object_id in self._seen:
                msg = (
                    f"GET {self.path} sent {object_id!r} again on page {self.pages}; the list is changing "
                    "under us or the server is broken. Run again to resume."
                )
                raise PaginationError(msg)
            if (newer_than := self._seen.add(object_id, when)) is not None:
                msg = (
                    f"GET {self.path} sent {object_id!r} (created {when}) after an object created at "
                    f"{newer_than}, on page {self.pages}: Stripe lists are newest first, so the server is "
                    "broken or not Stripe."
                )
                raise PaginationError(msg)


def iter_pages(
    client: Client, path: str, params: Params | None = None, *, max_objects: int | None = None
) -> Iterator[list[Json]]:
    """Every page's objects of a list, newest first (`PaginationError` past ``max_objects``)."""
    cursor = ListCursor(path, params, max_objects=max_objects)
    while not cursor.done:
        yield cursor.advance(client.get(path, cursor.params(), expect="list"))


def iter_objects(client: Client, path: str, params: Params | None = None) -> Iterator[Json]:
    """Every object of a list, newest first."""
    for page in iter_pages(client, path, params):
        yield from page


async def aiter_pages(
    client: AsyncClient, path: str, params: Params | None = None, *, max_objects: int | None = None
) -> AsyncIterator[list[Json]]:
    """Async twin of `iter_pages`."""
    cursor = ListCursor(path, params, max_objects=max_objects)
    while not cursor.done:
        yield cursor.advance(await client.get(path, cursor.params(), expect="list"))


async def aiter_objects(client: AsyncClient, path: str, params: Params | None = None) -> AsyncIterator[Json]:
    """Async twin of `iter_objects`."""
    async for page in aiter_pages(client, path, params):
        for obj in page:
            yield obj


# -- concurrent single requests -------------------------------------------------------------------


async def gather_limited(jobs: Iterable[Awaitable[T]], gate: asyncio.Semaphore | None = None) -> list[T]:
    """Run ``jobs`` concurrently, at most ``gate`` (default `MAX_IN_FLIGHT`) at a time, in their order."""
    limit = gate or asyncio.Semaphore(MAX_IN_FLIGHT)

    async def gated(job: Awaitable[T]) -> T:
        async with limit:
            return await job

    return list(await asyncio.gather(*(gated(job) for job in jobs)))
