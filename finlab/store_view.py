"""A connection's view of its store: opened on first use, synced on demand, read with a freshness note.

`StoreView` is what `finlab.Connection` holds when it has a store; `transaction_filter` is the read
filter of ``stripe.transactions(account, start, end)`` on stored rows; `age` says how long ago a sync was.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol, TypeVar

import polars as pl

from finlab import resources
from finlab.client import AsyncClient
from finlab.errors import ConfigurationError
from finlab.store import AsOf, Store, parse_as_of, sync_unit
from finlab.sync import TAX, Syncer, SyncReport, UnitReport, units

T = TypeVar("T")


class RunJob(Protocol):
    """Runs one fetch job on the connection's client (`finlab.Connection._run`)."""

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
    """

    def __init__(
        self,
        root: str,
        run: RunJob,
        *,
        stripe_account: str | None,
        livemode: bool,
    ) -> None:
        self.root = root
        self._run = run
        self._account = stripe_account
        self._livemode = livemode
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

    def sync(
        self, names: str | Iterable[str] | None = None, *, progress: bool = True, batch_pages: int = 10
    ) -> SyncReport:
        """Fetch what changed into the store (see the module docstring) and report what was done."""
        store = self.open()
        chosen = units(names)

        async def job(client: AsyncClient) -> SyncReport:
            syncer = Syncer(client, store, progress=progress, batch_pages=batch_pages)
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

    def scan(self, resource: str, as_of: AsOf = None) -> pl.LazyFrame:
        """A lazy scan of a stored table (synced first if it never was); says how fresh it is."""
        store = self.open()
        unit = sync_unit(resources.get(resource).object)
        if as_of is None and ((unit, "") not in store.state() or store.version(resource) is None):
            self.sync([unit])
        scan = store.scan(resource, as_of)
        self._tell(store, resources.get(resource).object, as_of)
        return scan

    def _frame(self, store: Store, resource: str, as_of: AsOf, where: pl.Expr | None) -> pl.DataFrame:
        frame = store.read(resource, as_of)
        self._tell(store, resources.get(resource).object, as_of)
        return frame if where is None else frame.filter(where)

    def tax(self, resource: str, ids: Sequence[str] | None, as_of: AsOf = None) -> pl.DataFrame:
        """Tax transactions or their line items: of ``ids`` (fetched first if not stored), or all stored."""
        column = "id" if resources.get(resource).object == TAX else "tax_transaction"
        store = self.open()
        if ids is None:
            return self.read(resource, as_of)
        missing = sorted(set(ids) - store.ids(TAX))
        if as_of is None and missing:

            async def job(client: AsyncClient) -> UnitReport:
                return await Syncer(client, store).add_tax(missing)

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


def transaction_filter(accounts: Sequence[str] | None, window: Mapping[str, int] | None) -> pl.Expr | None:
    """Stored transactions of ``accounts`` (None: all) with ``transacted_at`` in ``{"gte", "lt"}`` seconds."""
    conditions = [] if accounts is None else [pl.col("account").is_in(list(accounts))]
    for operator, value in (window or {}).items():
        moment = datetime.fromtimestamp(value, UTC)
        column = pl.col("transacted_at")
        conditions.append(column >= moment if operator == "gte" else column < moment)
    return pl.all_horizontal(conditions) if conditions else None
