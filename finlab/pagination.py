"""Cursor pagination over Stripe lists (sync + async), and time windows that keep the rate budget busy.

Cursors: Stripe lists are ``{"object": "list", "data": [...], "has_more": bool}``, newest first. finlab
always asks for ``limit=100`` and follows ``starting_after`` with the last id of each page. A server that
repeats a cursor or an object, or says ``has_more`` with an empty page, raises `PaginationError` instead
of looping; so does an object newer (by ``created``) than the one before it, on the lists whose reference
documents that order (`CREATED_ORDER`: of those finlab reads, only climate orders). The others assert no
order: FC transactions have no ``created`` (the demo server sorts them by ``transacted_at``, and the
window walks below do not rely on it), and the rest only say they list objects. With ``max_objects``, a
list longer than that raises too. What a walk remembers for this is bounded: on an ordered list the ids
of the current ``created`` second (a repeat can only hide among those while the order holds), else the
last `RECENT_IDS` ids.

Windows: one cursor walk has one request in flight, so at 0.3 s a page it reads ~330 objects/s, far below
Stripe's 25 requests/s per endpoint. A list that filters on its sort key (FC transactions on
``transacted_at``) is therefore cut into half-open windows ``[gte, lt)`` walked concurrently
(`walk_windows`). When a walk could start and no window waits, a walk in progress hands off part of what
it has not fetched: after a page whose last object has key ``k``, what is left is ``[gte, k]``, and
second ``k`` may hold more objects after the cursor (ties). The walk keeps ``[m, k]`` and continues with
its cursor, only raising ``gte`` to ``m``; new windows take ``[gte, m)``. No object is fetched twice or
skipped, whatever the ties, and a split costs no extra request. So the budget stays busy even when
activity is skewed (most transactions in the last month).

Examples
--------
>>> cursor = ListCursor("/v1/climate/orders")
>>> cursor.params()
{'limit': 100}
>>> cursor.advance({"object": "list", "data": [{"id": "climorder_2"}], "has_more": True})
[{'id': 'climorder_2'}]
>>> cursor.params()
{'limit': 100, 'starting_after': 'climorder_2'}
>>> Window(gte=1_700_000_000, lt=None, floor=1_700_000_000).bounds()
{'gte': 1700000000}
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
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
#: Window walks at once: twice the ~8 requests in flight that 25 requests/s at 0.3 s a page need.
WINDOW_CONCURRENCY = 16

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


# -- time windows ---------------------------------------------------------------------------------


@dataclass
class Window:
    """A half-open range ``[gte, lt)`` of a list's sort key; None leaves that side open.

    ``floor`` is where an open-below window is taken to start when its remainder is split.
    """

    gte: int | None
    lt: int | None
    floor: int

    def bounds(self) -> dict[str, int]:
        """The range filter, e.g. ``{"gte": 0, "lt": 50}`` for ``transacted_at[gte]=0&...``."""
        return {name: value for name, value in (("gte", self.gte), ("lt", self.lt)) if value is not None}


#: ``fetch(list_index, params)``: GET one page of list ``list_index`` with these query parameters.
Fetch = Callable[[int, dict[str, Any]], Awaitable[Page[T]]]


async def walk_windows(
    fetch: Fetch[T],
    path: str,
    key: str,
    lists: Sequence[tuple[Mapping[str, Any], Sequence[Window]]],
    *,
    concurrency: int = WINDOW_CONCURRENCY,
    limit: int = PAGE_LIMIT,
) -> AsyncGenerator[tuple[int, Window, Page[T]], None]:
    """Every page of every list, its windows walked concurrently: ``(list index, window, page)``.

    Parameters
    ----------
    fetch
        Gets one page (through the client, and so through its rate budget).
    path
        The list's path, for error messages.
    key
        The sort key the windows filter on, e.g. ``"transacted_at"``.
    lists
        Each list's fixed parameters (e.g. ``{"account": "fca_..."}``) and its planned windows.
    concurrency
        Walks in flight at most; while fewer run and no window waits, walks split what they have left.
    limit
        Objects per page.

    Pages come as they arrive: those of one window in list order, windows and lists interleaved. The
    window a page came from is the one it was planned or split as (its ``gte`` rises as it is split;
    ``lt`` stays, and no two windows of a list share it: newest ``lt`` first is list order). The first
    error stops every walk and is raised.
    """
    walks: _Walks[T] = _Walks(fetch, path, key, concurrency, limit)
    for index, (params, windows) in enumerate(lists):
        walks.waiting.extend((index, params, window) for window in windows)
    walks.start()
    try:
        while (item := await walks.out.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        for task in walks.tasks:
            task.cancel()
        await asyncio.gather(*walks.tasks, return_exceptions=True)


class _Walks(Generic[T]):
    """The walks of `walk_windows`: windows waiting, walks running, and the pages they put out."""

    def __init__(self, fetch: Fetch[T], path: str, key: str, concurrency: int, limit: int) -> None:
        self.fetch, self.path, self.key = fetch, path, key
        self.concurrency, self.limit = max(1, concurrency), limit
        self.waiting: collections.deque[tuple[int, Mapping[str, Any], Window]] = collections.deque()
        self.running = 0
        self.tasks: set[asyncio.Task[None]] = set()
        #: Pages, then None when every walk is done; an exception stops everything.
        self.out: asyncio.Queue[tuple[int, Window, Page[T]] | Exception | None] = asyncio.Queue()

    def start(self) -> None:
        """Start waiting windows while there is room; say when nothing is left."""
        while self.waiting and self.running < self.concurrency:
            self.running += 1
            task = asyncio.create_task(self._walk(*self.waiting.popleft()))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        if not self.running:
            self.out.put_nowait(None)

    async def _walk(self, index: int, params: Mapping[str, Any], window: Window) -> None:
        cursor = ListCursor(self.path, {**params, self.key: window.bounds()}, limit=self.limit)
        seen, newest = 0, None
        try:
            while not cursor.done:
                page = await self.fetch(index, cursor.params())
                cursor.follow(page)
                self.out.put_nowait((index, window, page))
                seen += page.count
                newest = page.newest if newest is None else newest
                if not cursor.done and newest is not None and page.oldest is not None:
                    self._share(index, params, window, cursor, seen, newest, page.oldest)
        except Exception as exc:  # handed to the consumer, which stops every walk
            self.out.put_nowait(exc)
            return
        self.running -= 1
        self.start()

    def _share(
        self,
        index: int,
        params: Mapping[str, Any],
        window: Window,
        cursor: ListCursor,
        seen: int,
        newest: int,
        oldest: int,
    ) -> None:
        """Hand part of this walk's remainder ``[low, oldest]`` to new windows if walks are missing.

        The walk keeps the newest part (with second ``oldest`` and its cursor); the new windows get
        equal parts of the rest, as many as walks are missing and as the remainder is expected to fill
        two pages each, were it as dense as the ``seen`` objects from ``newest`` down to ``oldest``.
        A server whose objects are out of order or out of the window gets no split.
        """
        idle = self.concurrency - self.running
        low = window.floor if window.gte is None else window.gte
        if (
            idle <= 0
            or self.waiting
            or not low < oldest <= newest
            or (window.lt is not None and oldest >= window.lt)
        ):
            return
        span = oldest + 1 - low
        expected = seen * span // (newest - oldest + 1)
        pieces = min(idle + 1, expected // (2 * self.limit), span)
        if pieces < 2:
            return
        cuts = sorted({low + span * k // pieces for k in range(1, pieces)})
        lows = [window.gte, *cuts[:-1]]
        new = [Window(gte, lt, window.floor) for gte, lt in zip(lows, cuts, strict=True)]
        window.gte = cuts[-1]
        cursor.base_params[self.key] = window.bounds()
        self.waiting.extend((index, params, part) for part in reversed(new))
        self.start()


async def gather_limited(jobs: Iterable[Awaitable[T]], gate: asyncio.Semaphore | None = None) -> list[T]:
    """Run ``jobs`` concurrently, at most ``gate`` (default `MAX_IN_FLIGHT`) at a time, in their order."""
    limit = gate or asyncio.Semaphore(MAX_IN_FLIGHT)

    async def gated(job: Awaitable[T]) -> T:
        async with limit:
            return await job

    return list(await asyncio.gather(*(gated(job) for job in jobs)))
