"""Incremental sync of the store: what each resource fetches, the cursors, resuming, and progress.

What one sync fetches, per resource (tax line items come with their tax transactions):

=================================  ==========================================================================
financial_connections.account      every account (a handful); the table is replaced only if one changed
financial_connections.transaction  per FC account, only when its ``transaction_refresh`` moved: the first
                                   time everything (in time windows, concurrently), then
                                   ``transaction_refresh[after]=<the last refresh stored>``
tax.transaction (+ line items)     ids finlab knows of and has not stored, each retrieved with
                                   ``expand[]=line_items`` (immutable: a reversal is a new transaction)
climate.order                      the first time everything; then new orders (newest first, until a
                                   stored one) and orders whose status is not final, from those same
                                   pages when they are near the top, else one by id
tax.registration, tax.settings,    everything (they are small); the table is replaced only if it changed
climate.product, climate.supplier
=================================  ==========================================================================

Resuming: a listing commits every `Syncer.batch_pages` pages together with its cursor (invariants 3
and 4 of :mod:`finlab.store`). At the start of a sync, `resume` finds where each scope stands: its
``_state`` row, overtaken by cursors committed after the version that row records. A sync killed at
any point therefore continues after its last commit and fetches nothing it had committed.

Examples
--------
>>> resume("fca_1", None, []).complete
False
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import polars as pl

from finlab import frames, resources
from finlab.client import AsyncClient
from finlab.errors import ConfigurationError, InvalidRequestError, PaginationError, StripeError
from finlab.pagination import MAX_IN_FLIGHT, PAGE_LIMIT, aiter_pages, gather_limited
from finlab.resources import CURRENCY_KEY, PARENT_KEY, STORED
from finlab.store import AsOf, StateRow, Store, parse_as_of, sync_unit

T = TypeVar("T")
Json = dict[str, Any]

ACCOUNT = "financial_connections.account"
TRANSACTION = "financial_connections.transaction"
TAX = "tax.transaction"
LINE_ITEM = "tax.transaction_line_item"
ORDER = "climate.order"
#: Sync units in the order they run (transactions need the accounts' current refresh ids).
UNITS = (
    ACCOUNT,
    TRANSACTION,
    TAX,
    "tax.registration",
    "tax.settings",
    ORDER,
    "climate.product",
    "climate.supplier",
)
FINAL_ORDER_STATUSES = frozenset({"canceled", "delivered"})
#: Requests in flight at once; the rate budget decides how fast they start.
#: Objects of a resource that is replaced whole (held in memory, unlike the batched listings) at most:
#: a list that says has_more forever raises `PaginationError` there instead of filling the memory.
MAX_REPLACED = 100_000
_WHOLE: list[list[int | None]] = [[None, None]]


def units(names: str | Iterable[str] | None) -> list[str]:
    """The sync units behind resource names (object types or method names); None: all of them."""
    if names is None:
        return list(UNITS)
    wanted: set[str] = set()
    for name in [names] if isinstance(names, str) else names:
        res = resources.get(name)
        if res.object not in STORED:
            msg = (
                f"{res.object} is not kept in the store, so it cannot be synced. Stored: {', '.join(STORED)}."
            )
            raise ConfigurationError(msg)
        wanted.add(sync_unit(res.object))
    if TRANSACTION in wanted:
        wanted.add(ACCOUNT)
    return [unit for unit in UNITS if unit in wanted]


# -- where a scope stands -------------------------------------------------------------------------


@dataclass
class Position:
    """Where one scope (an FC account's transactions, or all climate orders) stands.

    ``complete``: a listing finished at some point, and ``refresh`` is the transaction refresh it
    reached (None for lists without refreshes). ``pending``: cursors of the listing in progress,
    one per unfinished window.
    """

    complete: bool
    refresh: str | None
    pending: list[Json] = field(default_factory=list)


def resume(scope: str, stored: Mapping[str, Any] | None, cursors: Sequence[Mapping[str, Any]]) -> Position:
    """Where ``scope`` stands: its ``_state`` cursor, overtaken by the cursors committed since (newest first).

    >>> plan = {"after": "fctxnref_1", "target": "fctxnref_2", "windows": [[None, None]]}
    >>> committed = [{**new_cursor("fca_1", plan, 0), "last": "fctxn_9"}]
    >>> position = resume("fca_1", {"refresh": "fctxnref_1"}, committed)
    >>> position.complete, position.refresh, [cursor["last"] for cursor in position.pending]
    (True, 'fctxnref_1', ['fctxn_9'])
    """
    complete = stored is not None and "refresh" in stored
    refresh = stored.get("refresh") if stored is not None else None
    if not cursors:
        return Position(complete, refresh)
    plan = cursors[0]["plan"]
    latest: dict[int, Mapping[str, Any]] = {}
    for cursor in cursors:
        if cursor["plan"] == plan:
            latest.setdefault(cursor["window"], cursor)
    windows = range(len(plan["windows"]))
    pending = [
        dict(latest.get(i) or new_cursor(scope, plan, i))
        for i in windows
        if not latest.get(i, {}).get("done")
    ]
    if not pending:
        return Position(True, plan["target"])
    if plan["after"] is not None:  # an incremental listing: complete up to where it started
        return Position(True, plan["after"], pending)
    return Position(False, None, pending)


def new_cursor(scope: str, plan: Mapping[str, Any], window: int) -> Json:
    """The cursor of window ``window`` of ``plan`` for ``scope``, before its first page."""
    return {"scope": scope, "plan": dict(plan), "window": window, "last": None, "done": False}


def time_windows(account: Mapping[str, Any], count: int) -> list[list[int | None]]:
    """``count`` ``transacted_at`` windows ``[gte, lt)`` covering all time, split evenly between the
    account's creation and its last refresh; the first and last are open-ended.

    >>> time_windows({"created": 0, "transaction_refresh": {"last_attempted_at": 300}}, 3)
    [[None, 100], [100, 200], [200, None]]
    """
    low = int(account.get("created") or 0)
    high = int((account.get("transaction_refresh") or {}).get("last_attempted_at") or time.time())
    if count <= 1 or high - low < count:
        return [list(window) for window in _WHOLE]
    edges: list[int | None] = [None, *(low + (high - low) * i // count for i in range(1, count)), None]
    return [[edges[i], edges[i + 1]] for i in range(count)]


# -- reports and progress -------------------------------------------------------------------------


@dataclass
class UnitReport:
    """What one sync did for one resource."""

    resource: str
    fetched: int = 0
    pages: int = 0
    commits: int = 0
    version: int | None = None
    note: str = ""


@dataclass
class SyncReport:
    """What one sync did: per resource, the requests it sent and the retries they needed.

    ``retries`` counts retried attempts by reason: an HTTP status (``"429"``, ``"503"``), ``"malformed"``
    for a 200 whose body was not the JSON asked for, or a network failure (``"ReadTimeout"``).
    """

    account: str
    livemode: bool
    store: str
    units: list[UnitReport] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    retries: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        retried = sum(self.retries.values())
        reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(self.retries.items()))
        lines = [
            f"Synced {self.account} ({'live' if self.livemode else 'test'}) into {self.store}: "
            f"{self.requests} requests in {self.seconds:.1f} s, "
            + (f"{retried} retried ({reasons})" if retried else "no retries")
        ]
        for unit in self.units:
            version = "-" if unit.version is None else str(unit.version)
            line = f"  {unit.resource:<35} {unit.fetched:>8} fetched {unit.commits:>4} commits  v{version}"
            lines.append(line + (f"  ({unit.note})" if unit.note else ""))
        return "\n".join(lines)


class _Progress:
    """One tqdm.auto bar per resource (a notebook widget in Jupyter): objects, pages, rate, ETA."""

    def __init__(self, report: UnitReport, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self.report = report
        self.bar = tqdm(
            desc=report.resource, unit="obj", disable=not enabled, dynamic_ncols=True, file=sys.stderr
        )
        self._spans: dict[tuple[str, int], tuple[float, float]] = {}

    def page(self, objects: Sequence[Mapping[str, Any]], pages: int = 1) -> None:
        self.report.fetched += len(objects)
        self.report.pages += pages
        self.bar.update(len(objects))
        self.bar.set_postfix(pages=self.report.pages, refresh=False)

    def total(self, total: int | None) -> None:
        self.bar.total = total
        widget = getattr(self.bar, "container", None)  # tqdm.notebook: the bar widget keeps its own max
        if widget is not None and total:
            widget.children[1].max = total
        self.bar.refresh()

    def covered(self, key: tuple[str, int], covered: float, span: float) -> None:
        """Estimate the total from how much of each time window the listings have covered."""
        self._spans[key] = (max(0.0, min(covered, span)), max(span, 1.0))
        done = sum(c for c, _ in self._spans.values())
        whole = sum(s for _, s in self._spans.values())
        if done > 0:
            self.total(max(self.bar.n, round(self.bar.n * whole / done)))

    def close(self) -> None:
        self.bar.close()


# -- the sync -------------------------------------------------------------------------------------


class Syncer:
    """Bring ``store`` up to date with the account ``client`` reads.

    Parameters
    ----------
    client, store
        Where objects come from and where they go.
    known_tax_ids
        Tax transaction ids to keep (Stripe cannot list them); None: only those asked for.
    progress
        Show tqdm progress bars.
    batch_pages
        Pages per commit: fewer commits, or less to fetch again after a crash.
    windows
        Time windows a first full listing of FC transactions is split into, fetched concurrently.
    tax_batch
        Tax transactions per commit.
    """

    def __init__(
        self,
        client: AsyncClient,
        store: Store,
        *,
        known_tax_ids: Callable[[], Sequence[str]] | None = None,
        progress: bool = False,
        batch_pages: int = 10,
        windows: int = 4,
        tax_batch: int = 200,
    ) -> None:
        self.client = client
        self.store = store
        self.known_tax_ids = known_tax_ids
        self.progress = progress
        self.batch_pages = max(1, batch_pages)
        self.windows = windows
        self.tax_batch = max(1, tax_batch)
        self._write_lock = asyncio.Lock()
        self._gate = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def add_tax(self, tax_ids: Sequence[str]) -> UnitReport:
        """Store these tax transactions (and line items) if they are not stored yet."""
        self.store.check([TAX, LINE_ITEM])
        report = UnitReport(TAX)
        progress = _Progress(report, self.progress)
        try:
            await self._tax(progress, tax_ids)
        finally:
            progress.close()
        return report

    async def run(self, chosen: Sequence[str]) -> SyncReport:
        """Sync the units ``chosen`` (see `units`) and record each one's sync in ``_state``."""
        stats = self.client.policy.stats
        started, sent, retried = time.monotonic(), stats.requests, dict(stats.retries)
        tables = [name for name in STORED if sync_unit(name) in chosen]
        self.store.check(tables)
        report = SyncReport(self.store.account, self.store.livemode, self.store.base)
        accounts: list[Json] = []
        done: list[StateRow] = []  # saved once, after the data (a crash before that only repeats a check)
        try:
            for unit in chosen:
                unit_report = UnitReport(unit)
                report.units.append(unit_report)
                progress = _Progress(unit_report, self.progress)
                try:
                    rows = await self._unit(unit, progress, accounts)
                except (StripeError, PaginationError) as exc:
                    # A commit in flight lands first; the lock is kept, so that no other starts while
                    # the other fetches wind down: the store then holds exactly what the message says.
                    await self._write_lock.acquire()
                    text = str(exc).rstrip(".")
                    exc.args = (f"{text}. {self._kept(unit)}",)
                    raise
                finally:
                    progress.close()
                unit_report.version = self.store.version(unit)
                now = datetime.now(UTC)
                done.append(StateRow(unit, "", {}, now, unit_report.version))
                done += [StateRow(unit, scope, cursor, now, unit_report.version) for scope, cursor in rows]
        finally:
            if done:
                self.store.save_state(done)
        report.requests = stats.requests - sent
        report.retries = {
            reason: count - retried.get(reason, 0)
            for reason, count in stats.retries.items()
            if count > retried.get(reason, 0)
        }
        report.seconds = time.monotonic() - started
        return report

    def _kept(self, unit: str) -> str:
        """What a sync that failed during ``unit`` leaves in the store, for its error message."""
        kept = ", ".join(f"{table.resource} ({table.rows} rows)" for table in self.store.status())
        return (
            f"The sync stopped at {unit}; what it had committed is kept in the store {self.store.base}: "
            f"{kept or 'nothing yet'}. Run the sync again to resume after the last commit."
        )

    async def _unit(self, unit: str, progress: _Progress, accounts: list[Json]) -> list[tuple[str, Json]]:
        """Sync one unit; return the (scope, cursor) state rows it completed."""
        if unit == ACCOUNT:
            accounts += await self._replace(unit, progress)
            return []
        if unit == TRANSACTION:
            return await self._transactions(accounts, progress)
        if unit == TAX:
            await self._tax(progress, None)
            return []
        if unit == ORDER:
            return await self._orders(progress)
        await self._replace(unit, progress)
        return []

    async def _write(self, method: Callable[..., T], *args: Any) -> T:
        """Run one store write off the event loop, one at a time (fetching goes on meanwhile)."""
        async with self._write_lock:
            return await asyncio.to_thread(method, *args)

    # -- small resources: replaced when they changed ------------------------------------------------

    async def _replace(self, unit: str, progress: _Progress) -> list[Json]:
        res = resources.get(unit)
        if res.list_path is None:
            objects = [await self.client.get(res.retrieve_path or "", expect=res.object)]
            progress.page(objects)
        else:
            params = {"status": "all"} if unit == "tax.registration" else {}
            objects = []
            async for page in aiter_pages(self.client, res.list_path, params, max_objects=MAX_REPLACED):
                objects += page
                progress.page(page)
        if await self._write(self.store.replace, unit, frames.build_raw(res, objects)) is not None:
            progress.report.commits += 1
        return objects

    # -- listings that resume -------------------------------------------------------------------

    def _positions(self, resource: str, scopes: Sequence[str]) -> dict[str, Position]:
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
            positions[scope] = resume(scope, None if row is None else row.cursor, mine)
        return positions

    async def _walk(
        self, resource: str, path: str, params: Mapping[str, Any], cursor: Json, progress: _Progress
    ) -> None:
        """Walk one window of a listing from ``cursor``, committing every `batch_pages` pages with it."""
        plan = cursor["plan"]
        low, high = plan["windows"][cursor["window"]]
        query: Json = dict(params)
        if plan["after"] is not None:
            query["transaction_refresh"] = {"after": plan["after"]}
        bounds = {key: value for key, value in (("gte", low), ("lt", high)) if value is not None}
        if bounds:
            query["transacted_at"] = bounds
        if cursor["last"] is not None:
            query["starting_after"] = cursor["last"]
        res, pages = resources.get(resource), 0
        batch: list[Json] = []
        async for page in aiter_pages(self.client, path, query):
            if pages == self.batch_pages and batch:  # a full batch, and more follows: commit it
                cursor = {**cursor, "last": batch[-1]["id"]}
                await self._write(self.store.merge, resource, frames.build_raw(res, batch), cursor)
                progress.report.commits += 1
                batch, pages = [], 0
            batch += page
            pages += 1
            progress.page(page)
            if "floor" in plan and page:
                _cover(progress, cursor, page[-1]["transacted_at"])
        if batch:  # the last batch: the listing is done
            cursor = {**cursor, "last": batch[-1]["id"], "done": True}
            await self._write(self.store.merge, resource, frames.build_raw(res, batch), cursor)
            progress.report.commits += 1
        if "floor" in plan:
            _cover(progress, cursor, None)

    async def _finish(
        self,
        resource: str,
        path: str,
        params: Mapping[str, Any],
        pending: Sequence[Json],
        progress: _Progress,
    ) -> None:
        """Walk every pending window of one listing concurrently."""
        await asyncio.gather(*(self._walk(resource, path, params, cursor, progress) for cursor in pending))

    # -- FC transactions ------------------------------------------------------------------------

    async def _transactions(self, accounts: Sequence[Json], progress: _Progress) -> list[tuple[str, Json]]:
        refreshed = [a for a in accounts if (a.get("transaction_refresh") or {}).get("id")]
        positions = self._positions(TRANSACTION, [a["id"] for a in refreshed])
        results = await asyncio.gather(
            *(
                self._account_transactions(account, positions[account["id"]], progress)
                for account in refreshed
            )
        )
        return [
            (account["id"], {"refresh": refresh}) for account, refresh in zip(refreshed, results, strict=True)
        ]

    async def _account_transactions(self, account: Json, position: Position, progress: _Progress) -> str:
        """Bring one FC account's transactions up to its current refresh; return that refresh id."""
        path = resources.get(TRANSACTION).list_path or ""
        params = {"account": account["id"]}
        now = str(account["transaction_refresh"]["id"])
        refresh = position.refresh
        if position.pending:
            await self._finish(TRANSACTION, path, params, position.pending, progress)
            refresh = position.pending[0]["plan"]["target"]
        elif not position.complete:
            refresh = await self._full(account, now, progress)
        if refresh == now:
            return now
        plan = {"after": refresh, "target": now, "windows": _WHOLE}
        try:
            await self._walk(TRANSACTION, path, params, new_cursor(account["id"], plan, 0), progress)
        except InvalidRequestError as exc:
            if exc.param != "transaction_refresh[after]":
                raise
            return await self._full(account, now, progress)  # Stripe forgot that refresh: list again
        return now

    async def _full(self, account: Json, target: str, progress: _Progress) -> str:
        """List every transaction of ``account`` in time windows, concurrently; return ``target``."""
        windows = time_windows(account, self.windows)
        plan = {
            "after": None,
            "target": target,
            "windows": windows,
            "floor": int(account.get("created") or 0),
            "top": int(account["transaction_refresh"].get("last_attempted_at") or time.time()),
        }
        cursors = [new_cursor(account["id"], plan, i) for i in range(len(windows))]
        path = resources.get(TRANSACTION).list_path or ""
        await self._finish(TRANSACTION, path, {"account": account["id"]}, cursors, progress)
        return target

    # -- climate orders -------------------------------------------------------------------------

    async def _orders(self, progress: _Progress) -> list[tuple[str, Json]]:
        path = resources.get(ORDER).list_path or ""
        position = self._positions(ORDER, ["all"])["all"]
        if position.pending:
            await self._finish(ORDER, path, {}, position.pending, progress)
        elif not position.complete:
            plan = {"after": None, "target": None, "windows": _WHOLE}
            await self._walk(ORDER, path, {}, new_cursor("all", plan, 0), progress)
        else:
            await self._order_changes(path, progress)
        return [("all", {"refresh": None})]

    async def _order_changes(self, path: str, progress: _Progress) -> None:
        """New orders and orders not yet final: from the newest pages, the rest (if far down) by id."""
        res = resources.get(ORDER)
        stored = self.store.read_columns(ORDER, ["id", "status", "created", frames.RAW_COLUMN])
        known = dict(zip(stored.get_column("id"), stored.get_column(frames.RAW_COLUMN), strict=True))
        ranked = stored.sort(["created", "id"], descending=True).get_column("id").to_list()
        depth = {order_id: rank for rank, order_id in enumerate(ranked)}
        waiting = set(stored.filter(~pl.col("status").is_in(FINAL_ORDER_STATUSES)).get_column("id"))
        seen: set[str] = set()
        stopped = False
        async for page in aiter_pages(self.client, path):
            progress.page(page)
            await self._upsert_changed(res.object, page, known, progress)
            seen.update(obj["id"] for obj in page)
            waiting -= seen
            if any(obj["id"] in known for obj in page) and _cheaper_by_id(waiting, depth, len(seen)):
                stopped = True
                break
        if stopped and waiting:
            paths = [(res.retrieve_path or "").format(id=order_id) for order_id in sorted(waiting)]
            orders = await gather_limited((self.client.get(p, expect=res.object) for p in paths), self._gate)
            progress.page(orders, pages=len(orders))
            await self._upsert_changed(res.object, orders, known, progress)

    async def _upsert_changed(
        self, resource: str, objects: Sequence[Json], known: Mapping[str, str], progress: _Progress
    ) -> None:
        changed = [obj for obj in objects if known.get(obj["id"]) != frames.raw_json(obj)]
        if changed:
            await self._write(self.store.merge, resource, frames.build_raw(resource, changed))
            progress.report.commits += 1

    # -- tax transactions -----------------------------------------------------------------------

    async def _tax(self, progress: _Progress, extra: Sequence[str] | None) -> None:
        """Store the tax transactions (with line items) finlab knows of and has not stored yet."""
        await self._write(self._repair_line_items)
        wanted = list(extra or [])
        if extra is None and self.known_tax_ids is not None:
            wanted = list(self.known_tax_ids())
        elif extra is None:
            progress.report.note = "Stripe cannot list them: tax_transactions(ids=...) stores what it reads"
        stored = self.store.ids(TAX)
        missing = [tax_id for tax_id in dict.fromkeys(wanted) if tax_id not in stored]
        progress.total(len(missing))
        for start in range(0, len(missing), self.tax_batch):
            chunk = missing[start : start + self.tax_batch]
            parents = await gather_limited((self._tax_transaction(tax_id) for tax_id in chunk), self._gate)
            progress.page(parents, pages=len(parents))
            await self._write(self.store.append, TAX, frames.build_raw(TAX, parents))
            await self._write(self.store.append, LINE_ITEM, frames.build_raw(LINE_ITEM, _line_items(parents)))
            progress.report.commits += 2

    async def _tax_transaction(self, tax_id: str) -> Json:
        """One tax transaction with every line item inlined (``line_items.has_more`` is false)."""
        res = resources.get(TAX)
        path = (res.retrieve_path or "").format(id=tax_id)
        parent = await self.client.get(path, {"expand": ["line_items"]}, expect=res.object)
        listed = parent.get("line_items") or {"data": [], "has_more": False}
        items = list(listed["data"])
        if listed.get("has_more") and items:
            children = (resources.get(LINE_ITEM).list_path or "").format(parent=tax_id)
            async for page in aiter_pages(self.client, children, {"starting_after": items[-1]["id"]}):
                items += page
        parent["line_items"] = {**listed, "data": items, "has_more": False}
        return parent

    def _repair_line_items(self) -> None:
        """Store the line items of tax transactions committed just before a crash, from their raw JSON."""
        orphans = self.store.ids(TAX) - self.store.ids(LINE_ITEM, "tax_transaction")
        if not orphans:
            return
        stored = self.store.read_columns(TAX, ["id", frames.RAW_COLUMN]).filter(pl.col("id").is_in(orphans))
        parents = [_loads(text) for text in stored.get_column(frames.RAW_COLUMN)]
        items = _line_items(parents)
        if items:
            self.store.append(LINE_ITEM, frames.build_raw(LINE_ITEM, items))


def transaction_filter(accounts: Sequence[str] | None, window: Mapping[str, int] | None) -> pl.Expr | None:
    """Stored transactions of ``accounts`` (None: all) with ``transacted_at`` in ``{"gte", "lt"}`` seconds."""
    conditions = [] if accounts is None else [pl.col("account").is_in(list(accounts))]
    for operator, value in (window or {}).items():
        moment = datetime.fromtimestamp(value, UTC)
        column = pl.col("transacted_at")
        conditions.append(column >= moment if operator == "gte" else column < moment)
    return pl.all_horizontal(conditions) if conditions else None


def _loads(text: str) -> Json:
    value: Json = json.loads(text)
    return value


def _cover(progress: _Progress, cursor: Mapping[str, Any], oldest: int | None) -> None:
    """Tell the progress bar how much of the cursor's time window is listed (``oldest`` None: all)."""
    plan = cursor["plan"]
    low, high = plan["windows"][cursor["window"]]
    top = high if high is not None else plan["top"]
    bottom = low if low is not None else plan["floor"]
    reached = bottom if oldest is None else oldest
    progress.covered((cursor["scope"], cursor["window"]), top - reached, top - min(bottom, reached))


def _line_items(parents: Sequence[Mapping[str, Any]]) -> list[Json]:
    """The line items inlined in tax transactions, labelled with their parent and currency."""
    return [
        {**item, PARENT_KEY: parent["id"], CURRENCY_KEY: parent.get("currency")}
        for parent in parents
        for item in (parent.get("line_items") or {}).get("data", [])
    ]


def _cheaper_by_id(waiting: set[str], depth: Mapping[str, int], seen: int) -> bool:
    """Whether fetching ``waiting`` orders one by one costs no more requests than paging down to them."""
    if not waiting:
        return True
    deepest = max(depth.get(order_id, 0) for order_id in waiting)
    return len(waiting) <= math.ceil(max(deepest + 1 - seen, 0) / PAGE_LIMIT)


# -- the connection's view of its store -----------------------------------------------------------


class RunJob(Protocol):
    """Runs one fetch job on a fresh client (`finlab.Connection._run`)."""

    def __call__(self, job: Callable[[AsyncClient], Awaitable[T]], /) -> T:
        """Return the job's result."""


class StoreView:
    """A connection's store: opened on first use, synced on demand, read with a freshness note.

    Parameters
    ----------
    root
        The store directory or URI.
    run
        How the connection runs a fetch job.
    stripe_account
        The connected account read on behalf of, if any: it keys the store instead of the key's own.
    livemode
        Whether the key reads live data.
    known_tax_ids
        Tax transaction ids a sync keeps (the demo's); None on live accounts.
    """

    def __init__(
        self,
        root: str,
        run: RunJob,
        *,
        stripe_account: str | None,
        livemode: bool,
        known_tax_ids: Callable[[], Sequence[str]] | None,
    ) -> None:
        self.root = root
        self._run = run
        self._account = stripe_account
        self._livemode = livemode
        self._known_tax_ids = known_tax_ids
        self._store: Store | None = None
        self._told: set[tuple[str, int | None, datetime | None]] = set()

    def open(self) -> Store:
        """The `Store` of this connection's account (asks Stripe which account the key reads, once)."""
        if self._store is None:
            account = self._account
            if account is None:
                found = self._run(lambda client: client.get("/v1/account", expect="account"))
                account = str(found["id"])
            self._store = Store(self.root, account, self._livemode)
        return self._store

    def sync(self, names: str | Iterable[str] | None = None, *, progress: bool = True) -> SyncReport:
        """Fetch what changed into the store (see the module docstring) and report what was done."""
        store = self.open()
        chosen = units(names)

        async def job(client: AsyncClient) -> SyncReport:
            syncer = Syncer(client, store, known_tax_ids=self._known_tax_ids, progress=progress)
            return await syncer.run(chosen)

        with store.writing():
            return self._run(job)

    def read(self, resource: str, as_of: AsOf = None, where: pl.Expr | None = None) -> pl.DataFrame:
        """A stored frame (synced first if it never was), optionally filtered; says how fresh it is."""
        store = self.open()
        unit = sync_unit(resources.get(resource).object)
        if as_of is None and ((unit, "") not in store.state() or store.version(resource) is None):
            self.sync([unit])
        return self._frame(store, resource, as_of, where)

    def _frame(self, store: Store, resource: str, as_of: AsOf, where: pl.Expr | None) -> pl.DataFrame:
        frame = store.read(resource, as_of)
        self._tell(store, resources.get(resource).object, as_of)
        return frame if where is None else frame.filter(where)

    def tax(self, resource: str, ids: Sequence[str] | None, as_of: AsOf = None) -> pl.DataFrame:
        """Tax transactions or their line items: of ``ids`` (fetched first if not stored), or all stored."""
        column = "id" if resources.get(resource).object == TAX else "tax_transaction"
        store = self.open()
        if ids is None:
            frame = self.read(resource, as_of)
            if frame.height == 0 and self._known_tax_ids is None and as_of is None:
                msg = (
                    "Stripe has no endpoint that lists tax transactions, and the store holds none yet. "
                    "Pass ids=['tax_...'] or payment_intents=['pi_...'] once: they are stored, and later "
                    "calls without arguments read every stored one."
                )
                raise ConfigurationError(msg)
            return frame
        missing = sorted(set(ids) - store.ids(TAX))
        if as_of is None and missing:

            async def job(client: AsyncClient) -> UnitReport:
                return await Syncer(client, store, known_tax_ids=None).add_tax(missing)

            with store.writing():
                self._run(job)
        absent = sorted(set(ids) - store.ids(TAX, as_of=as_of))
        if absent:
            msg = f"These tax transactions are not in the store as of {as_of}: {absent[:5]!r}."
            raise ConfigurationError(msg)
        return self._frame(store, resource, as_of, pl.col(column).is_in(list(ids)))

    def _tell(self, store: Store, resource: str, as_of: AsOf) -> None:
        """Say once per table version where a frame came from and how fresh it is."""
        if as_of is not None:
            print(
                f"finlab: {resource} as of {parse_as_of(as_of)} from the store {store.base}", file=sys.stderr
            )
            return
        row = store.state().get((sync_unit(resource), ""))
        synced = row.synced_at if row else None
        version = store.version(resource)
        if (resource, version, synced) in self._told:
            return
        self._told.add((resource, version, synced))
        when = "never synced" if synced is None else f"synced {age(synced)} ago"
        print(
            f"finlab: {resource} from the store (version {version}, {when}); "
            "stripe.sync() fetches what changed.",
            file=sys.stderr,
        )


def age(moment: datetime) -> str:
    """How long ago ``moment`` was, in its largest whole unit: ``3 hours``, ``45 s``."""
    seconds = max(0, int((datetime.now(UTC) - moment).total_seconds()))
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return f"{seconds} s"
