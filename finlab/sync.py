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

The listings (FC transactions, climate orders the first time) resume: :mod:`finlab.listings` walks
them with the fetch engine of :mod:`finlab.engine` and commits every `Syncer.batch_pages` pages with
their cursor, so a sync killed at any point continues after its last commit and fetches nothing it had
committed. Progress bars are :mod:`finlab.progress`; a connection's view of its store (open, sync on
demand, read) is :mod:`finlab.store_view`.

Examples
--------
>>> units("transactions")
['financial_connections.account', 'financial_connections.transaction']
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import polars as pl

from finlab import frames, resources
from finlab.client import AsyncClient
from finlab.engine import WINDOW_CONCURRENCY, Cursor, Plan
from finlab.errors import ConfigurationError, PaginationError, StripeError
from finlab.listings import Dicts, Lister, Listing
from finlab.pagination import MAX_IN_FLIGHT, PAGE_LIMIT, aiter_pages, gather_limited
from finlab.progress import Progress
from finlab.resources import STORED
from finlab.store import StateRow, Store, sync_unit
from finlab.tax_sync import TaxSync

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


# -- reports -------------------------------------------------------------------------


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


# -- the sync -------------------------------------------------------------------------------------


class Syncer:
    """Bring ``store`` up to date with the account ``client`` reads.

    Parameters
    ----------
    client, store
        Where objects come from and where they go.
    progress
        Show tqdm progress bars.
    batch_pages
        Pages per commit: fewer commits, or less to fetch again after a crash.
    concurrency
        Window walks of a listing in flight at most (see `finlab.engine.walk_windows`).
    tax_batch
        Tax transactions per commit.
    """

    def __init__(
        self,
        client: AsyncClient,
        store: Store,
        *,
        progress: bool = False,
        batch_pages: int = 10,
        concurrency: int = WINDOW_CONCURRENCY,
        tax_batch: int = 200,
    ) -> None:
        self.client = client
        self.store = store
        self.progress = progress
        self.batch_pages = max(1, batch_pages)
        self.tax_batch = max(1, tax_batch)
        self._write_lock = asyncio.Lock()
        self._gate = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._lister = Lister(client, store, self._write, self.batch_pages, concurrency)

    async def add_tax(self, tax_ids: Sequence[str]) -> UnitReport:
        """Store these tax transactions (and line items) if they are not stored yet."""
        self.store.check([TAX, LINE_ITEM])
        report = UnitReport(TAX)
        progress = Progress(report, self.progress)
        try:
            await self._taxes().store_transactions(tax_ids, progress)
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
                progress = Progress(unit_report, self.progress)
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

    async def _unit(self, unit: str, progress: Progress, accounts: list[Json]) -> list[tuple[str, Json]]:
        """Sync one unit; return the (scope, cursor) state rows it completed."""
        if unit == ACCOUNT:
            accounts += await self._replace(unit, progress)
            return []
        if unit == TRANSACTION:
            return await self._lister.transactions(accounts, progress)
        if unit == TAX:
            return await self._taxes().run(progress)
        if unit == ORDER:
            return await self._orders(progress)
        await self._replace(unit, progress)
        return []

    async def _write(self, method: Callable[..., T], *args: Any) -> T:
        """Run one store write off the event loop, one at a time (fetching goes on meanwhile)."""
        async with self._write_lock:
            return await asyncio.to_thread(method, *args)

    # -- small resources: replaced when they changed ------------------------------------------------

    async def _replace(self, unit: str, progress: Progress) -> list[Json]:
        res = resources.get(unit)
        if res.list_path is None:
            objects = [await self.client.get(res.retrieve_path or "", expect=res.object)]
            progress.page(len(objects))
        else:
            params = {"status": "all"} if unit == "tax.registration" else {}
            objects = []
            async for page in aiter_pages(self.client, res.list_path, params, max_objects=MAX_REPLACED):
                objects += page
                progress.page(len(page))
        if await self._write(self.store.replace, unit, frames.build_raw(res, objects)) is not None:
            progress.report.commits += 1
        return objects

    # -- climate orders -------------------------------------------------------------------------

    async def _orders(self, progress: Progress) -> list[tuple[str, Json]]:
        position = self._lister.positions(ORDER, ["all"])["all"]
        if position.pending is not None or not position.complete:
            cursor = position.pending or Cursor("all", Plan())
            reading = Dicts(self.client, resources.get(ORDER))
            await self._lister.walk(ORDER, None, reading, [Listing({}, cursor)], progress)
        else:
            await self._order_changes(resources.get(ORDER).list_path or "", progress)
        return [("all", {"refresh": None})]

    async def _order_changes(self, path: str, progress: Progress) -> None:
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
            progress.page(len(page))
            await self._upsert_changed(res.object, page, known, progress)
            seen.update(obj["id"] for obj in page)
            waiting -= seen
            if any(obj["id"] in known for obj in page) and _cheaper_by_id(waiting, depth, len(seen)):
                stopped = True
                break
        if stopped and waiting:
            paths = [(res.retrieve_path or "").format(id=order_id) for order_id in sorted(waiting)]
            orders = await gather_limited((self.client.get(p, expect=res.object) for p in paths), self._gate)
            progress.page(len(orders), pages=len(orders))
            await self._upsert_changed(res.object, orders, known, progress)

    async def _upsert_changed(
        self, resource: str, objects: Sequence[Json], known: Mapping[str, str], progress: Progress
    ) -> None:
        changed = [obj for obj in objects if known.get(obj["id"]) != frames.raw_json(obj)]
        if changed:
            await self._write(self.store.merge, resource, frames.build_raw(resource, changed))
            progress.report.commits += 1

    def _taxes(self) -> TaxSync:
        return TaxSync(self.client, self.store, self._write, self._gate, self.tax_batch)


def _cheaper_by_id(waiting: set[str], depth: Mapping[str, int], seen: int) -> bool:
    """Whether fetching ``waiting`` orders one by one costs no more requests than paging down to them."""
    if not waiting:
        return True
    deepest = max(depth.get(order_id, 0) for order_id in waiting)
    return len(waiting) <= math.ceil(max(deepest + 1 - seen, 0) / PAGE_LIMIT)
