"""`connect()` and `Connection`: one method per Stripe resource, each returning a typed frame.

Examples
--------
>>> import finlab
>>> stripe = finlab.connect()  # no STRIPE_API_KEY: the bundled demo account  # doctest: +SKIP
>>> stripe.climate_orders().height  # doctest: +SKIP
48
"""

from __future__ import annotations

import functools
import os
import sys
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import polars as pl

from finlab import connected, report_runs, resources
from finlab.arguments import Instant, check_ids, check_list_filters, not_stored, time_window, to_epoch
from finlab.budget import Budget
from finlab.client import AsyncClient
from finlab.connected import Platform, PlatformSyncReport
from finlab.errors import ConfigurationError
from finlab.resources import STORED
from finlab.session import Runner, Session
from finlab.settings import (
    DEFAULT_BASE_URL,
    ClientConfig,
    ReadLimits,
    RetryPolicy,
    check_api_key,
    key_mode,
    redact,
    usable_key,
)
from finlab.sources import Source, StoreSource, StripeSource
from finlab.tax_reports import ITEMIZED

if TYPE_CHECKING:
    from finlab.client import RateGate
    from finlab.store import AsOf, Store
    from finlab.store_view import StoreView
    from finlab.sync import SyncReport

T = TypeVar("T")

TRANSACTION = "financial_connections.transaction"
LINE_ITEM = "tax.transaction_line_item"

_notices: set[str] = set()


def notice_once(key: str, text: str) -> None:
    """Print ``text`` to stderr the first time ``key`` is noticed in this process."""
    if key not in _notices:
        _notices.add(key)
        print(text, file=sys.stderr)


def connect(
    api_key: str | None = None,
    *,
    stripe_account: str | Sequence[str] | None = None,
    store: str | os.PathLike[str] | None = None,
    demo: bool | None = None,
    base_url: str | None = None,
    retry: RetryPolicy | None = None,
    limits: ReadLimits | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    budget: Budget | None = None,
) -> Connection:
    """Connect to Stripe with ``api_key`` (or ``STRIPE_API_KEY``), else to the bundled demo account.

    Parameters
    ----------
    api_key
        A restricted (``rk_live_...``, read-only recommended) or secret key.
    stripe_account
        A connected account (``acct_...``) to read on behalf of, several (a list), or ``"all"``: the
        platform's own account and every account ``GET /v1/accounts`` lists (`finlab.connected`).
    store
        A directory or ``s3://...`` URI for the Delta Lake store (else ``FINLAB_STORE``): frame
        methods then read from it and ``stripe.sync()`` fetches what changed. None: always fetch.
    demo
        None: the demo account when no key is found; False: a missing key is an error; True: the demo.
    base_url, retry, limits, transport, budget
        Where requests go (``FINLAB_API_BASE``, else https://api.stripe.com; https, or http to a
        loopback address), their retries, read limits, transport (tests: ``httpx.MockTransport``)
        and rate budget (default: Stripe's limits for the key's mode, paced evenly).
    """
    key = api_key if api_key is not None else os.environ.get("STRIPE_API_KEY")
    root = os.fspath(store) if store is not None else os.environ.get("FINLAB_STORE") or None
    if demo or (demo is None and not key):
        from finlab.demo.account import demo_connection

        return demo_connection(root, stripe_account)
    key = usable_key(key, _notices)
    return Connection(
        key,
        stripe_account=stripe_account,
        base_url=base_url or os.environ.get("FINLAB_API_BASE") or DEFAULT_BASE_URL,
        retry=retry,
        limits=limits,
        transport=transport,
        budget=budget or Budget.for_key_mode(key_mode(key), burst=1),
        store=root,
    )


class Connection:
    """A connection to a Stripe account, or to several (`finlab.connected`). Every method returns a
    `polars.DataFrame`, with the ``stripe_account`` column last.

    It owns one HTTP client, opened on the first request and kept across calls; `close` (or a
    ``with`` block, or the connection being collected) closes it. Frames come from the store when it
    has them (`finlab.sources.StoreSource`), else from Stripe (`finlab.sources.StripeSource`).
    """

    def __init__(
        self,
        api_key: str,
        *,
        stripe_account: str | Sequence[str] | None = None,
        base_url: str = DEFAULT_BASE_URL,
        retry: RetryPolicy | None = None,
        limits: ReadLimits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        budget: RateGate | None = None,
        is_demo: bool = False,
        store: str | os.PathLike[str] | None = None,
        session: Runner | None = None,
    ) -> None:
        chosen = connected.choose(stripe_account)  # one account (str, None) or several (Accounts)
        self._config = ClientConfig(  # checks the key, base_url and stripe_account, without a client
            check_api_key(api_key),
            stripe_account=None if isinstance(chosen, connected.Accounts) else chosen,
            base_url=base_url,
            retry=retry or RetryPolicy(),
            limits=limits or ReadLimits(),
            transport=transport,
            budget=budget,
        )
        self.is_demo = is_demo
        self._session: Runner = session or Session(self._config)
        self._finalizer = weakref.finalize(self, self._session.close)  # if close() is never called
        self._stripe = StripeSource(self._session)
        root = None if store is None else os.fspath(store)
        self._local = None if root is None else self._store_view(root)
        self._platform = None
        if isinstance(chosen, connected.Accounts):
            self._platform = Platform(chosen, self._session, self._config, store=root, is_demo=is_demo)

    @property
    def stripe_accounts(self) -> list[str | None]:
        """The accounts this connection reads (None: the key's own); ``"all"`` lists them on first use."""
        return [self._config.stripe_account] if self._platform is None else self._platform.accounts()

    def __repr__(self) -> str:
        where = "demo account" if self.is_demo else ("live" if self.livemode else "test mode")
        return f"<finlab.Connection {where} key={redact(self._config.api_key)!r}>"

    @property
    def config(self) -> ClientConfig:
        """How requests go: account, base URL, retries, read limits, rate budget (the key never shows)."""
        return self._config

    @property
    def livemode(self) -> bool:
        """True when reading live data."""
        return self._config.livemode

    def close(self) -> None:
        """Close the connection's HTTP client (a later call opens a new one)."""
        self._session.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, job: Callable[[AsyncClient], Awaitable[T]]) -> T:
        """Run one fetch job on the connection's client, from sync code (also inside Jupyter)."""
        return self._session.run(job)

    # -- the local store (finlab.store_view, finlab.sync) ----------------------------------------------

    def open_store(self) -> Store | None:
        """The local Delta Lake store frames are read from (None without one). Opening it the first time
        asks Stripe which account the key reads (``GET /v1/account``), unless ``stripe_account`` says."""
        return None if self._local is None else self._local.open()

    def sync(
        self, resources: str | Iterable[str] | None = None, *, progress: bool = True, batch_pages: int = 10
    ) -> SyncReport | PlatformSyncReport:
        """Fetch what changed since the last sync into the store (all stored resources by default); without
        one, set one up at ``FINLAB_STORE`` or ``~/.finlab``. Progress is a tqdm.auto bar. ``batch_pages``
        pages of a list make one commit. Several accounts each sync into their own part of the store, and
        a refused one is skipped (`finlab.connected`)."""
        if self._platform is not None:  # each account's connection sets up its own store if needed
            return self._platform.sync(resources, progress, batch_pages)
        if self._local is None:
            from finlab.store import default_root

            self._local = self._store_view(default_root())
        return self._local.sync(resources, progress=progress, batch_pages=batch_pages)

    def _store_view(self, root: str) -> StoreView:
        from finlab.store_view import StoreView

        return StoreView(
            root,
            self._run,
            stripe_account=self._config.stripe_account,
            livemode=self.livemode,
        )

    def _source(self, resource: str, as_of: AsOf, filtered: bool = False) -> Source:
        """Where ``resource`` is read from: the store when it keeps it (and no list filter is asked)."""
        usable = self._local is not None and resource in STORED and not filtered
        if as_of is not None and not usable:
            raise not_stored(resource, filtered)
        if usable and self._local is not None:
            return StoreSource(self._local, as_of)
        return self._stripe

    # -- the generic form ---------------------------------------------------------------------

    def frame(
        self, resource: str, *, as_of: AsOf = None, max_objects: int | None = None, **filters: Any
    ) -> pl.DataFrame:
        """Every object of a listable resource, filtered with Stripe's list filters.

        With a store, stored resources are read from it; ``as_of`` (a Delta version or a datetime)
        reads the frame as it was then. ``max_objects`` caps what is fetched from Stripe: a longer list
        raises `PaginationError` (a server that says ``has_more`` forever cannot fill the memory).

        >>> stripe.frame("identity.verification_session", status="verified")  # doctest: +SKIP
        """
        res = check_list_filters(resources.get(resource), filters)
        return self._source(res.object, as_of, bool(filters)).listed(res, filters, max_objects)

    # -- Financial Connections ----------------------------------------------------------------

    def accounts(self, *, as_of: AsOf = None) -> pl.DataFrame:
        """Financial Connections accounts, with their current and available balance."""
        return self.frame("financial_connections.account", as_of=as_of)

    def transactions(
        self,
        account: str | Sequence[str] | None = None,
        start: Instant = None,
        end: Instant = None,
        *,
        as_of: AsOf = None,
        max_objects: int | None = None,
    ) -> pl.DataFrame:
        """Financial Connections transactions of one, several or (``None``) every account.

        ``start`` is inclusive and ``end`` exclusive, on ``transacted_at``. With a store they are read
        from it (``as_of``: as they were at that Delta version or time). ``max_objects`` caps what is
        fetched from Stripe, as in `frame`.
        """
        window = time_window(start, end)
        accounts = None if account is None else check_ids(account, "fca_", "Financial Connections account")
        return self._source(TRANSACTION, as_of).transactions(accounts, window, max_objects)

    def scan_transactions(self, *, as_of: AsOf = None) -> pl.LazyFrame:
        """FC transactions as a `pl.LazyFrame`: a lazy scan of one account's store, else `transactions`."""
        if self._local is None or self._platform is not None:
            return self.transactions(as_of=as_of).lazy()
        account = pl.lit(self._config.stripe_account, pl.String).alias(connected.COLUMN)
        return self._local.scan(TRANSACTION, as_of).with_columns(account)

    # -- Stripe Tax -----------------------------------------------------------------------------

    def tax_transactions(
        self,
        ids: Iterable[str] | None = None,
        payment_intents: Iterable[str] | None = None,
        *,
        start: Instant = None,
        end: Instant = None,
        as_of: AsOf = None,
        max_objects: int | None = None,
    ) -> pl.DataFrame:
        """Tax transactions (and reversals) by id, by PaymentIntent, or (neither) every one posted in
        ``start``..``end``: Stripe cannot list them, so finlab finds them through the PaymentIntents
        and refunds created then (`finlab.discovery`; ``max_objects`` caps each of those two lists).
        With a store they are read from it (a sync finds them); ``as_of`` re-creates a filed report.
        """
        window = time_window(start, end)
        source = self._source("tax.transaction", as_of)
        chosen = self._stripe.chosen_tax_ids(ids, payment_intents, window)
        return source.tax("tax.transaction", chosen, window, max_objects)

    def tax_line_items(
        self,
        ids: Iterable[str] | None = None,
        payment_intents: Iterable[str] | None = None,
        *,
        start: Instant = None,
        end: Instant = None,
        as_of: AsOf = None,
        max_objects: int | None = None,
    ) -> pl.DataFrame:
        """Line items of tax transactions (chosen as in `tax_transactions`), with their parent
        ``tax_transaction`` and ``currency``."""
        window = time_window(start, end)
        source = self._source("tax.transaction_line_item", as_of)
        chosen = self._stripe.chosen_tax_ids(ids, payment_intents, window)
        return source.tax("tax.transaction_line_item", chosen, window, max_objects)

    def tax_calculations(self, ids: Iterable[str]) -> pl.DataFrame:
        """Tax calculations by id (Stripe keeps them 90 days and cannot list them)."""
        return self._stripe.tax("tax.calculation", check_ids(ids, "taxcalc_", "Tax calculation"))

    def tax_calculation_line_items(self, ids: Iterable[str]) -> pl.DataFrame:
        """Line items of tax calculations, with their parent ``tax_calculation`` and ``currency``."""
        wanted = check_ids(ids, "taxcalc_", "Tax calculation")
        return self._stripe.tax("tax.calculation_line_item", wanted)

    def tax_registrations(self, status: str = "all", *, as_of: AsOf = None) -> pl.DataFrame:
        """Tax registrations; ``status`` is ``all``, ``active``, ``expired`` or ``scheduled``."""
        if status not in ("all", "active", "expired", "scheduled"):
            msg = f"status={status!r}: use 'all', 'active', 'expired' or 'scheduled'."
            raise ConfigurationError(msg)
        registrations = self.frame("tax.registration", as_of=as_of)
        return registrations if status == "all" else registrations.filter(pl.col("status") == status)

    def tax_settings(self, *, as_of: AsOf = None) -> pl.DataFrame:
        """The account's Stripe Tax settings, as a one-row frame."""
        res = resources.get("tax.settings")
        return self._source(res.object, as_of).settings(res)

    def tax_report(
        self,
        kind: str = ITEMIZED,
        start: Instant = None,
        end: Instant = None,
        *,
        create: bool = False,
        timezone: str = "Etc/UTC",
        wait: float = report_runs.WAIT,
    ) -> pl.DataFrame:
        """Stripe's own tax report ``kind`` over ``start``..``end`` (default: all its data), as a typed
        frame (`finlab.tax_reports`), from the newest succeeded report run that covers it.

        ``create=True`` creates a report run instead (``POST /v1/reporting/report_runs``: the one
        write finlab ever sends) and waits up to ``wait`` seconds for it. Needs the key's Reporting and
        Files permissions.
        """
        window = time_window(start, end) or {}
        job = functools.partial(report_runs.report_frame, create=create, timezone=timezone, wait=wait)
        return self._run(lambda client: job(client, kind, window.get("gte"), window.get("lt")))

    # -- Climate, Identity, Crypto, Forwarding, Webhooks ----------------------------------------

    def climate_orders(self, *, as_of: AsOf = None) -> pl.DataFrame:
        """Climate orders: tonnes, spend (subtotal, fees, total) and delivery status."""
        return self.frame("climate.order", as_of=as_of)

    def climate_products(self, *, as_of: AsOf = None) -> pl.DataFrame:
        """Climate products with their suppliers."""
        return self.frame("climate.product", as_of=as_of)

    def climate_suppliers(self, *, as_of: AsOf = None) -> pl.DataFrame:
        """Climate suppliers with their removal pathway."""
        return self.frame("climate.supplier", as_of=as_of)

    def verification_sessions(self, **filters: Any) -> pl.DataFrame:
        """Identity verification sessions (no personal data: verified outputs stay out)."""
        return self.frame("identity.verification_session", **filters)

    def verification_reports(self, **filters: Any) -> pl.DataFrame:
        """Identity verification reports: the check results, without personal data."""
        return self.frame("identity.verification_report", **filters)

    def onramp_sessions(self, **filters: Any) -> pl.DataFrame:
        """Crypto onramp sessions (a private preview at Stripe)."""
        return self.frame("crypto.onramp_session", **filters)

    def forwarding_requests(self, **filters: Any) -> pl.DataFrame:
        """Vault forwarding requests (bodies and headers stay out: they carry card data)."""
        return self.frame("forwarding.request", **filters)

    def webhook_endpoints(self) -> pl.DataFrame:
        """Webhook endpoints (their signing secrets stay out)."""
        return self.frame("webhook_endpoint")


connected.per_account_methods(Connection, (*resources.BY_METHOD, "frame", "tax_report"))

__all__ = ["Connection", "check_ids", "connect", "redact", "to_epoch"]
