"""The one fetch engine for long lists: windows walked concurrently, split while walking, resumable.

Windows: one cursor walk has one request in flight, so at 0.3 s a page it reads ~330 objects/s, far below
Stripe's 25 requests/s per endpoint. A list that filters on its sort key (FC transactions on
``transacted_at``) is therefore cut into half-open windows ``[gte, lt)`` walked concurrently
(`walk_windows`). When a walk could start and no window waits, a walk in progress hands off part of what
it has not fetched: after a page whose last object has key ``k``, what is left is ``[gte, k]``, and
second ``k`` may hold more objects after the cursor (ties). The walk keeps ``[m, k]`` and continues with
its cursor, only raising ``gte`` to ``m``; new windows take ``[gte, m)``. No object is fetched twice or
skipped, whatever the ties, and a split costs no extra request. So the budget stays busy even when
activity is skewed (most transactions in the last month). A list without a sort key filter (climate
orders) is one window that never splits.

Resuming: a `Cursor` is the state of one listing of one scope (an FC account, or all climate orders):
its `Plan` and, per window (`Span`), its bounds, the last id consumed and whether it is done.
`resume_walk` walks a cursor's unfinished spans and yields, with every page, the cursor as of that page
(splits included), so whoever commits pages commits exactly the state they reach. Cursors round-trip
through JSON (`Cursor.to_json`, `Cursor.from_json`); `latest` also reads the per-window cursors that
stores written before this module hold.

Examples
--------
>>> Window(gte=1_700_000_000, lt=None, floor=1_700_000_000).bounds()
{'gte': 1700000000}
>>> cursor = Cursor("fca_1", Plan(after=None, target="fctxnref_2"))
>>> Cursor.from_json(cursor.to_json()) == cursor, cursor.done
(True, False)
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from finlab.errors import StoreError
from finlab.pagination import PAGE_LIMIT, ListCursor, Page

#: Window walks at once: twice the ~8 requests in flight that 25 requests/s at 0.3 s a page need.
WINDOW_CONCURRENCY = 16
#: Pages a walk may have fetched that the consumer has not taken yet.
AHEAD = 2

T = TypeVar("T")
Json = dict[str, Any]


# -- walking windows ------------------------------------------------------------------------------


@dataclass
class Window:
    """A half-open range ``[gte, lt)`` of a list's sort key; None leaves that side open.

    ``floor`` is where an open-below window is taken to start when its remainder is split; ``last``
    the id its walk starts after (None: from the top).
    """

    gte: int | None
    lt: int | None
    floor: int
    last: str | None = None

    def bounds(self) -> dict[str, int]:
        """The range filter, e.g. ``{"gte": 0, "lt": 50}`` for ``transacted_at[gte]=0&...``."""
        return {name: value for name, value in (("gte", self.gte), ("lt", self.lt)) if value is not None}


@dataclass(frozen=True)
class Step(Generic[T]):
    """One page of a window walk: which list and window it came from, and what the window became.

    ``gte`` is the window's lower bound after this page, and ``split`` the ``(gte, lt)`` of the windows
    handed off right after it; pages of those windows come later.
    """

    index: int
    window: Window
    page: Page[T]
    gte: int | None
    split: tuple[tuple[int | None, int], ...] = ()


#: ``fetch(list_index, params)``: GET one page of list ``list_index`` with these query parameters.
Fetch = Callable[[int, dict[str, Any]], Awaitable[Page[T]]]


async def walk_windows(
    fetch: Fetch[T],
    path: str,
    key: str | None,
    lists: Sequence[tuple[Mapping[str, Any], Sequence[Window]]],
    *,
    concurrency: int = WINDOW_CONCURRENCY,
    limit: int = PAGE_LIMIT,
) -> AsyncGenerator[Step[T], None]:
    """Every page of every list, its windows walked concurrently, as `Step` s.

    Parameters
    ----------
    fetch
        Gets one page (through the client, and so through its rate budget).
    path
        The list's path, for error messages.
    key
        The sort key the windows filter on, e.g. ``"transacted_at"``; None: no filter, no splits.
    lists
        Each list's fixed parameters (e.g. ``{"account": "fca_..."}``) and its planned windows.
    concurrency
        Walks in flight at most; while fewer run and no window waits, walks split what they have left.
    limit
        Objects per page.

    A walk fetches a page only while fewer than `AHEAD` of its pages wait for the consumer (a sync that
    commits as it goes holds no more than that per walk). Pages come as they arrive:
    those of one window in list order, windows and lists interleaved. The window a page came from is
    the one it was planned or split as (its ``gte`` rises as it is split; ``lt`` stays, and no two
    windows of a list share it: newest ``lt`` first is list order). The first error stops every walk
    and is raised.
    """
    walks: _Walks[T] = _Walks(fetch, path, key, concurrency, limit)
    for index, (params, windows) in enumerate(lists):
        walks.waiting.extend((index, params, window) for window in windows)
    walks.start()
    try:
        while (item := await walks.out.get()) is not None:
            if isinstance(item, Exception):
                raise item
            step, taken = item
            taken.release()
            yield step
    finally:
        for task in walks.tasks:
            task.cancel()
        await asyncio.gather(*walks.tasks, return_exceptions=True)


class _Walks(Generic[T]):
    """The walks of `walk_windows`: windows waiting, walks running, and the pages they put out."""

    def __init__(self, fetch: Fetch[T], path: str, key: str | None, concurrency: int, limit: int) -> None:
        self.fetch, self.path, self.key = fetch, path, key
        self.concurrency, self.limit = max(1, concurrency), limit
        self.waiting: collections.deque[tuple[int, Mapping[str, Any], Window]] = collections.deque()
        self.running = 0
        self.tasks: set[asyncio.Task[None]] = set()
        #: Steps (each with its walk's semaphore, released when taken), then None when every walk is
        #: done; an exception stops everything.
        self.out: asyncio.Queue[tuple[Step[T], asyncio.Semaphore] | Exception | None] = asyncio.Queue()

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
        query = {**params, self.key: window.bounds()} if self.key else dict(params)
        cursor = ListCursor(self.path, query, limit=self.limit)
        cursor.starting_after = window.last
        seen, newest = 0, None
        taken = asyncio.Semaphore(AHEAD)  # pages this walk may fetch before the consumer takes them
        try:
            while not cursor.done:
                await taken.acquire()
                page = await self.fetch(index, cursor.params())
                cursor.follow(page)
                seen += page.count
                newest = page.newest if newest is None else newest
                split: tuple[tuple[int | None, int], ...] = ()
                if not cursor.done and newest is not None and page.oldest is not None:
                    split = self._share(index, params, window, cursor, seen, newest, page.oldest)
                # Put after the split: pages of the new windows come after the step that made them.
                self.out.put_nowait((Step(index, window, page, window.gte, split), taken))
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
    ) -> tuple[tuple[int | None, int], ...]:
        """Hand part of this walk's remainder ``[low, oldest]`` to new windows if walks are missing.

        The walk keeps the newest part (with second ``oldest`` and its cursor); the new windows get
        equal parts of the rest, as many as walks are missing and as the remainder is expected to fill
        two pages each, were it as dense as the ``seen`` objects from ``newest`` down to ``oldest``.
        A server whose objects are out of order or out of the window gets no split. Returns the new
        windows' bounds.
        """
        idle = self.concurrency - self.running
        low = window.floor if window.gte is None else window.gte
        if (
            idle <= 0
            or self.waiting
            or self.key is None
            or not low < oldest <= newest
            or (window.lt is not None and oldest >= window.lt)
        ):
            return ()
        span = oldest + 1 - low
        expected = seen * span // (newest - oldest + 1)
        pieces = min(idle + 1, expected // (2 * self.limit), span)
        if pieces < 2:
            return ()
        cuts = sorted({low + span * k // pieces for k in range(1, pieces)})
        lows = [window.gte, *cuts[:-1]]
        new = [Window(gte, lt, window.floor) for gte, lt in zip(lows, cuts, strict=True)]
        window.gte = cuts[-1]
        cursor.base_params[self.key] = window.bounds()
        self.waiting.extend((index, params, part) for part in reversed(new))
        self.start()
        return tuple((part.gte, lt) for part, lt in zip(new, cuts, strict=True))


# -- resumable listings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What one listing fetches: changes since refresh ``after`` (None: everything), and the refresh
    ``target`` its scope has reached once it is done (None for lists without refreshes). ``fresh``: the
    store held nothing of the scope when the listing began, so its pages are appended, not merged."""

    after: str | None = None
    target: str | None = None
    fresh: bool = False


@dataclass(frozen=True)
class Span:
    """One window of a listing: ``[gte, lt)`` (None: open), the ``last`` id consumed, and whether done."""

    gte: int | None = None
    lt: int | None = None
    last: str | None = None
    done: bool = False


@dataclass(frozen=True)
class Cursor:
    """Where one listing of one scope stands: its plan and every window (a fresh listing: one, open)."""

    scope: str
    plan: Plan
    spans: tuple[Span, ...] = field(default=(Span(),))

    @property
    def done(self) -> bool:
        """Whether every window is listed to its end."""
        return all(span.done for span in self.spans)

    def windows(self, floor: int) -> list[Window]:
        """The windows still to walk, each from where it stopped, newest first."""
        return [Window(s.gte, s.lt, floor, s.last) for s in self.spans if not s.done]

    def advance(self, step: Step[Any]) -> Cursor:
        """The cursor once ``step``'s page is consumed (its window is the span with the same ``lt``)."""
        spans: list[Span] = []
        for span in self.spans:
            if span.lt != step.window.lt:
                spans.append(span)
                continue
            last = step.page.last_id or span.last
            spans.append(Span(step.gte, span.lt, last, not step.page.has_more))
            spans += [Span(gte, lt) for gte, lt in step.split]
        return replace(self, spans=tuple(spans))

    def to_json(self) -> Json:
        """The cursor as JSON-ready dicts (what the store keeps in a commit's metadata)."""
        spans = [{"gte": s.gte, "lt": s.lt, "last": s.last, "done": s.done} for s in self.spans]
        return {
            "scope": self.scope,
            "plan": {"after": self.plan.after, "target": self.plan.target, "fresh": self.plan.fresh},
            "spans": spans,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cursor:
        """The cursor `to_json` gave; a `StoreError` if ``data`` is not one."""
        try:
            plan = Plan(data["plan"]["after"], data["plan"]["target"], bool(data["plan"]["fresh"]))
            spans = tuple(Span(s["gte"], s["lt"], s["last"], bool(s["done"])) for s in data["spans"])
            return cls(str(data["scope"]), plan, spans)
        except (KeyError, TypeError) as exc:
            msg = (
                f"A stored listing cursor is not one finlab wrote ({exc!r}): {dict(data)!r}. "
                "Sync into a new store directory."
            )
            raise StoreError(msg) from None


def latest(records: Sequence[Mapping[str, Any]]) -> Cursor | None:
    """The cursor of one scope from the cursors committed for it, newest first (None if there are none).

    Each record is a whole `Cursor`, or (stores written before `Cursor`) one window of a plan whose
    windows the plan lists: ``{"scope", "plan": {"after", "target", "windows": [[gte, lt], ...]},
    "window": i, "last", "done"}``; the newest record of each window of the newest plan counts.

    >>> plan = {"after": None, "target": "r1", "windows": [[None, 5], [5, None]]}
    >>> old = {"scope": "a", "plan": plan, "window": 1, "last": "t9", "done": True}
    >>> latest([old]).spans
    (Span(gte=None, lt=5, last=None, done=False), Span(gte=5, lt=None, last='t9', done=True))
    """
    if not records:
        return None
    if "window" not in records[0]:
        return Cursor.from_json(records[0])
    plan = records[0]["plan"]
    newest: dict[int, Mapping[str, Any]] = {}
    for record in records:
        if "window" in record and record["plan"] == plan:
            newest.setdefault(record["window"], record)
    spans = tuple(
        Span(low, high, newest.get(i, {}).get("last"), bool(newest.get(i, {}).get("done")))
        for i, (low, high) in enumerate(plan["windows"])
    )
    return Cursor(str(records[0]["scope"]), Plan(plan["after"], plan["target"]), spans)


async def resume_walk(
    fetch: Fetch[T],
    path: str,
    key: str | None,
    listings: Sequence[tuple[Mapping[str, Any], Cursor, int]],
    *,
    concurrency: int = WINDOW_CONCURRENCY,
    limit: int = PAGE_LIMIT,
) -> AsyncGenerator[tuple[Cursor, Step[T]], None]:
    """Walk the unfinished windows of each ``(params, cursor, floor)``; yield ``(cursor, step)``.

    The cursor yielded with a step is the state of listing ``step.index`` as of its page and every page
    of that listing yielded before it: committing those pages with it records exactly what they reached.
    """
    cursors = [cursor for _, cursor, _ in listings]
    lists = [(params, cursor.windows(floor)) for params, cursor, floor in listings]
    walk = walk_windows(fetch, path, key, lists, concurrency=concurrency, limit=limit)
    async with contextlib.aclosing(walk) as steps:
        async for step in steps:
            cursors[step.index] = cursors[step.index].advance(step)
            yield cursors[step.index], step
