"""`connect()` and `Connection`: one method per Stripe resource, each returning a typed frame.

Examples
--------
>>> import finlab
>>> stripe = finlab.connect()  # no STRIPE_API_KEY: the bundled demo account  # doctest: +SKIP
>>> stripe.climate_orders().height  # doctest: +SKIP
48
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import polars as pl

from finlab import frames, resources, windowed
from finlab.budget import Budget
from finlab.client import (
    DEFAULT_BASE_URL,
    AsyncClient,
    RequestPolicy,
    RetryPolicy,
    check_api_key,
    key_mode,
    redact,
)
from finlab.errors import AuthenticationError, ConfigurationError
from finlab.pagination import aiter_pages, gather_limited
from finlab.resources import CURRENCY_KEY, PARENT_KEY, STORED, Resource
from finlab.runner import run_sync

if TYPE_CHECKING:
    from finlab.store import AsOf, Store
    from finlab.store_view import StoreView
    from finlab.sync import SyncReport

T = TypeVar("T")

#: Retrieve parents with their first page of line items: one request instead of two for most.
EXPAND_LINE_ITEMS = {"expand": ["line_items"]}
#: How many requests may be in flight at once; the rate budget decides how fast they start.
#: Objects turned into a frame at a time: large enough to amortise the build, small enough for memory.
BUILD_BATCH = 20_000

Instant = datetime | date | str | int | None

_notices: set[str] = set()


def _notice_once(key: str, text: str) -> None:
    if key not in _notices:
        _notices.add(key)
        print(text, file=sys.stderr)


def connect(
    api_key: str | None = None,
    *,
    stripe_account: str | None = None,
    store: str | os.PathLike[str] | None = None,
    demo: bool | None = None,
    base_url: str | None = None,
    retry: RetryPolicy | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    budget: Budget | None = None,
) -> Connection:
    """Connect to Stripe with ``api_key`` (or ``STRIPE_API_KEY``), else to the bundled demo account.

    Parameters
    ----------
    api_key
        A restricted (``rk_live_...``) or secret key. Read-only restricted keys are recommended.
    stripe_account
        A connected account (``acct_...``) to read on behalf of.
    store
        A directory (or ``s3://...`` URI) for the local Delta Lake store, else ``FINLAB_STORE``.
        With a store, frame methods read from it (syncing first what was never synced) and
        ``stripe.sync()`` fetches only what changed. Without one, every call fetches from Stripe.
    demo
        ``None`` (default): the demo account when no key is found. ``False``: a missing key is an
        error. ``True``: the demo account even if a key is set.
    base_url, retry, transport
        Where and how requests go (tests use a loopback URL or an ``httpx.MockTransport``).
        ``base_url`` defaults to ``FINLAB_API_BASE``, else ``https://api.stripe.com``; it must be
        https, or http to a loopback address (e.g. ``finlab demo-server``).
    budget
        The rate budget; by default Stripe's limits for the key's mode (live or test), paced evenly
        (``burst=1``): Stripe counts the requests of any one second, and a burst after a pause puts
        more than the limit into a second, which earns a 429 and cuts the budget's rate for seconds.
    """
    key = api_key if api_key is not None else os.environ.get("STRIPE_API_KEY")
    root = os.fspath(store) if store is not None else os.environ.get("FINLAB_STORE") or None
    if demo or (demo is None and not key):
        return _demo_connection(root)
    if not key:
        msg = (
            "No Stripe API key: pass api_key='rk_live_...' or set STRIPE_API_KEY. "
            "Leave out demo=False to use the bundled demo account instead."
        )
        raise AuthenticationError(msg)
    check_api_key(key)
    if key.startswith("sk_live_") and "sk_live" not in _notices:
        _notices.add("sk_live")  # once per process: the advice does not change between connects
        warnings.warn(
            "finlab only reads: a secret key (sk_live_...) can also move money. Create a restricted "
            "key (rk_live_...) with read-only permissions and use that instead.",
            UserWarning,
            stacklevel=2,
        )
    return Connection(
        key,
        stripe_account=stripe_account,
        base_url=base_url or os.environ.get("FINLAB_API_BASE") or DEFAULT_BASE_URL,
        retry=retry,
        transport=transport,
        budget=budget or Budget.for_key_mode(key_mode(key), burst=1),
        store=root,
    )


def _demo_connection(store: str | None = None) -> Connection:
    """The bundled demo account, served in-process.

    It has no rate budget on purpose: the in-process server is no Stripe to protect, and notebooks
    should not wait on limits that are not there. Every other connection gets one (see `connect`).
    """
    from finlab.demo.dataset import default_dataset
    from finlab.demo.server import DEMO_API_KEY, DemoStripe

    dataset = default_dataset()
    server = DemoStripe(dataset)
    _notice_once(
        "demo",
        "finlab: no STRIPE_API_KEY set, so this is the bundled demo account (fictional data). "
        "Set STRIPE_API_KEY to read your own.",
    )
    tax_ids = [o["id"] for o in dataset.objects.get("tax.transaction", [])]
    return Connection(
        DEMO_API_KEY,
        transport=httpx.MockTransport(server.handle),
        is_demo=True,
        known_tax_ids=lambda: tax_ids,
        store=store,
    )


def to_epoch(value: Instant, name: str) -> int | None:
    """Seconds since the epoch for a date bound.

    Aware datetimes and ISO strings with an offset are taken as given; dates and ``YYYY-MM-DD``
    strings mean midnight UTC; ints are epoch seconds. Naive datetimes are refused, because the same
    wall-clock time is a different instant in every timezone.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        msg = f"{name} must be a date or datetime, not a bool."
        raise ConfigurationError(msg)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = (
                datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
            )
        except ValueError:
            msg = f"{name}={value!r} is not an ISO date: use '2026-01-31' or '2026-01-31T00:00:00+00:00'."
            raise ConfigurationError(msg) from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            msg = (
                f"{name}={value.isoformat()} has no timezone, so it names a different instant in every "
                "zone. Pass datetime(..., tzinfo=UTC), a zoneinfo-aware datetime, or a date."
            )
            raise ConfigurationError(msg)
        return int(value.timestamp())
    return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())


def check_ids(ids: Iterable[str], prefix: str, what: str) -> list[str]:
    """The ids as a list, refusing any without Stripe's prefix for ``what`` or not shaped like an id."""
    if isinstance(ids, str):
        ids = [ids]
    checked = list(dict.fromkeys(ids))
    wrong = [i for i in checked if not isinstance(i, str) or not i.startswith(prefix)]
    if wrong:
        msg = (
            f"{what} ids start with {prefix!r}; these do not: {wrong[:5]!r}. Check you passed the right ids."
        )
        raise ConfigurationError(msg)
    return [resources.check_id(i, what) for i in checked]


class Connection:
    """A connection to one Stripe account. Every method returns a `polars.DataFrame`."""

    def __init__(
        self,
        api_key: str,
        *,
        stripe_account: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        budget: Budget | None = None,
        is_demo: bool = False,
        known_tax_ids: Callable[[], Sequence[str]] | None = None,
        store: str | os.PathLike[str] | None = None,
    ) -> None:
        self._api_key = check_api_key(api_key)
        self.stripe_account = stripe_account
        self.base_url = base_url
        self.retry = retry or RetryPolicy()
        self.transport = transport
        self.budget = budget
        self.is_demo = is_demo
        self._known_tax_ids = known_tax_ids
        # Checks the key, base_url and stripe_account now, without opening a client.
        RequestPolicy(self._api_key, stripe_account=stripe_account, base_url=base_url, retry=self.retry)
        self._local = None if store is None else self._local_store(os.fspath(store))

    def __repr__(self) -> str:
        where = "demo account" if self.is_demo else ("live" if self.livemode else "test mode")
        return f"<finlab.Connection {where} key={redact(self._api_key)!r}>"

    @property
    def livemode(self) -> bool:
        """True when reading live data."""
        return key_mode(self._api_key) == "live"

    def _client(self) -> AsyncClient:
        return AsyncClient(
            self._api_key,
            stripe_account=self.stripe_account,
            base_url=self.base_url,
            retry=self.retry,
            transport=self.transport,
            budget=self.budget,
        )

    def _run(self, job: Callable[[AsyncClient], Awaitable[T]]) -> T:
        """Run one fetch job on a fresh async client, from sync code (also inside Jupyter)."""

        async def main() -> T:
            async with self._client() as client:
                return await job(client)

        return run_sync(main())

    # -- the local store (finlab.store, finlab.sync) ----------------------------------------------

    @property
    def store(self) -> Store | None:
        """The local Delta Lake store frames are read from; None when every call fetches from Stripe."""
        return None if self._local is None else self._local.open()

    def sync(self, resources: str | Iterable[str] | None = None, *, progress: bool = True) -> SyncReport:
        """Fetch what changed since the last sync into the store (all stored resources by default).

        Without a store this sets one up at ``FINLAB_STORE`` or ``~/.finlab``, and later calls read from
        it. Progress shows as a notebook bar in Jupyter (tqdm.auto).
        """
        if self._local is None:
            from finlab.store import default_root

            self._local = self._local_store(default_root())
        return self._local.sync(resources, progress=progress)

    def _local_store(self, root: str) -> StoreView:
        from finlab.store_view import StoreView

        livemode, known = self.livemode, self._known_tax_ids
        return StoreView(
            root, self._run, stripe_account=self.stripe_account, livemode=livemode, known_tax_ids=known
        )

    def _from_store(self, resource: str, as_of: AsOf, filtered: bool = False) -> StoreView | None:
        """The store to read ``resource`` from, or None to fetch it from Stripe."""
        usable = self._local is not None and resource in STORED and not filtered
        if as_of is not None and not usable:
            msg = (
                f"as_of= reads an earlier version of a stored frame, and {resource} "
                f"{'with these filters ' if filtered else ''}is not read from a store here. Stored: "
                f"{', '.join(STORED)}; connect(store=...) or set FINLAB_STORE to keep them."
            )
            raise ConfigurationError(msg)
        return self._local if usable else None

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
        res = resources.get(resource)
        if res.list_path is None or res.parent is not None:
            msg = f"{res.object} has no list endpoint in Stripe; use stripe.{res.method}(ids=...) instead."
            raise ConfigurationError(msg)
        unknown = sorted(set(filters) - res.filters)
        if unknown:
            allowed = ", ".join(sorted(res.filters)) or "none"
            msg = f"{res.object} lists take no filter {unknown!r}; allowed: {allowed}."
            raise ConfigurationError(msg)
        local = self._from_store(res.object, as_of, bool(filters))
        if local is not None:
            return local.read(res.object, as_of)
        return self._run(lambda client: _list(client, res, filters, max_objects=max_objects))

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
        res = resources.get("financial_connections.transaction")
        window = _window(start, end)
        local = self._from_store(res.object, as_of)
        if local is not None:
            from finlab.store_view import transaction_filter

            fcas = None if account is None else check_ids(account, "fca_", "Financial Connections account")
            return local.read(res.object, as_of, transaction_filter(fcas, window))
        created: dict[str, int] = {}
        if account is None:
            listed = self.accounts()
            ids = listed.get_column("id").to_list()
            stamps = zip(ids, listed.get_column("created"), strict=True)
            created = {fca: int(at.timestamp()) for fca, at in stamps if at is not None}
        else:
            ids = check_ids(account, "fca_", "Financial Connections account")
        bounds = window or {}
        return self._run(
            lambda client: windowed.transactions(
                client, ids, bounds.get("gte"), bounds.get("lt"), created=created, max_objects=max_objects
            )
        )

    # -- Stripe Tax -----------------------------------------------------------------------------

    def tax_transactions(
        self,
        ids: Iterable[str] | None = None,
        payment_intents: Iterable[str] | None = None,
        *,
        as_of: AsOf = None,
    ) -> pl.DataFrame:
        """Tax transactions (and reversals) by id, by PaymentIntent, or every one finlab knows of.

        With a store, those not stored yet are fetched into it, and every stored one is returned
        when neither ``ids`` nor ``payment_intents`` is given. ``as_of`` re-creates a filed report.
        """
        res = resources.get("tax.transaction")
        local = self._from_store(res.object, as_of)
        if local is not None:
            return local.tax(res.object, self._stored_tax_ids(ids, payment_intents), as_of)

        async def job(client: AsyncClient) -> pl.DataFrame:
            wanted = await self._tax_ids(client, ids, payment_intents)
            return frames.build(res, await _retrieve_all(client, res, wanted))

        return self._run(job)

    def tax_line_items(
        self,
        ids: Iterable[str] | None = None,
        payment_intents: Iterable[str] | None = None,
        *,
        as_of: AsOf = None,
    ) -> pl.DataFrame:
        """Line items of tax transactions, with their parent ``tax_transaction`` and ``currency``."""
        parent = resources.get("tax.transaction")
        local = self._from_store("tax.transaction_line_item", as_of)
        if local is not None:
            return local.tax("tax.transaction_line_item", self._stored_tax_ids(ids, payment_intents), as_of)

        async def job(client: AsyncClient) -> pl.DataFrame:
            wanted = await self._tax_ids(client, ids, payment_intents)
            parents = await _retrieve_all(client, parent, wanted, EXPAND_LINE_ITEMS)
            return await _line_items(client, resources.get("tax.transaction_line_item"), parents)

        return self._run(job)

    def tax_calculations(self, ids: Iterable[str]) -> pl.DataFrame:
        """Tax calculations by id (Stripe keeps them 90 days and cannot list them)."""
        res = resources.get("tax.calculation")
        wanted = check_ids(ids, res.id_prefix, "Tax calculation")
        return frames.build(res, self._run(lambda client: _retrieve_all(client, res, wanted)))

    def tax_calculation_line_items(self, ids: Iterable[str]) -> pl.DataFrame:
        """Line items of tax calculations, with their parent ``tax_calculation`` and ``currency``."""
        parent = resources.get("tax.calculation")
        wanted = check_ids(ids, parent.id_prefix, "Tax calculation")

        async def job(client: AsyncClient) -> pl.DataFrame:
            parents = await _retrieve_all(client, parent, wanted, EXPAND_LINE_ITEMS)
            return await _line_items(client, resources.get("tax.calculation_line_item"), parents)

        return self._run(job)

    def tax_registrations(self, status: str = "all", *, as_of: AsOf = None) -> pl.DataFrame:
        """Tax registrations; ``status`` is ``all``, ``active``, ``expired`` or ``scheduled``."""
        if status not in ("all", "active", "expired", "scheduled"):
            msg = f"status={status!r}: use 'all', 'active', 'expired' or 'scheduled'."
            raise ConfigurationError(msg)
        local = self._from_store("tax.registration", as_of)
        if local is not None:
            return local.read(
                "tax.registration", as_of, None if status == "all" else pl.col("status") == status
            )
        return self.frame("tax.registration", status=status)

    def tax_settings(self, *, as_of: AsOf = None) -> pl.DataFrame:
        """The account's Stripe Tax settings, as a one-row frame."""
        res = resources.get("tax.settings")
        local = self._from_store(res.object, as_of)
        if local is not None:
            return local.read(res.object, as_of)
        settings = self._run(lambda client: client.get(res.retrieve_path or "", expect=res.object))
        return frames.build(res, [settings])

    def _stored_tax_ids(
        self, ids: Iterable[str] | None, payment_intents: Iterable[str] | None
    ) -> list[str] | None:
        """The tax transaction ids asked for (looked up by PaymentIntent), or None for every stored one."""
        if ids is None and payment_intents is None:
            return None
        return self._run(lambda client: self._tax_ids(client, ids, payment_intents))

    async def _tax_ids(
        self, client: AsyncClient, ids: Iterable[str] | None, payment_intents: Iterable[str] | None
    ) -> list[str]:
        found: list[str] = []
        if ids is not None:
            found += check_ids(ids, "tax_", "Tax transaction")
        if payment_intents is not None:
            intents = check_ids(payment_intents, "pi_", "PaymentIntent")
            associations = await gather_limited(_find_association(client, pi) for pi in intents)
            found += [tid for association in associations for tid in _committed_transactions(association)]
        if ids is None and payment_intents is None:
            if self._known_tax_ids is None:
                msg = (
                    "Stripe has no endpoint that lists tax transactions. Pass ids=['tax_...'] (kept "
                    "from your own records or webhooks) or payment_intents=['pi_...'] to find them "
                    "through their PaymentIntents."
                )
                raise ConfigurationError(msg)
            found = list(self._known_tax_ids())
        return list(dict.fromkeys(found))

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


async def _list(
    client: AsyncClient,
    res: Resource,
    params: dict[str, Any],
    path: str | None = None,
    *,
    max_objects: int | None = None,
) -> pl.DataFrame:
    """Every object of one list, as the resource's frame (built in batches, not per object)."""
    batch: list[dict[str, Any]] = []
    parts: list[pl.DataFrame] = []
    async for page in aiter_pages(client, path or res.list_path or "", params, max_objects=max_objects):
        batch += page
        if len(batch) >= BUILD_BATCH:
            parts.append(frames.build(res, batch))
            batch = []
    parts.append(frames.build(res, batch))
    return pl.concat(parts)


async def _retrieve_all(
    client: AsyncClient, res: Resource, ids: Sequence[str], params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    paths = [(res.retrieve_path or "").format(id=object_id) for object_id in ids]
    return await gather_limited(client.get(path, params, expect=res.object) for path in paths)


async def _line_items(client: AsyncClient, res: Resource, parents: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """Line items of each parent, labelled with the parent's id and currency (items carry neither)."""

    async def of(parent: dict[str, Any]) -> list[dict[str, Any]]:
        path = (res.list_path or "").format(parent=parent["id"])
        embedded = parent.get("line_items")
        if isinstance(embedded, dict) and isinstance(embedded.get("data"), list):
            items: list[dict[str, Any]] = list(embedded["data"])  # the first page came with the parent
            if embedded.get("has_more") and items:
                rest = aiter_pages(client, path, {"starting_after": items[-1]["id"]})
                items += [item async for page in rest for item in page]
        else:
            items = [item async for page in aiter_pages(client, path) for item in page]
        for item in items:
            item[PARENT_KEY] = parent["id"]
            item[CURRENCY_KEY] = parent.get("currency")
        return items

    batches = await gather_limited(of(parent) for parent in parents)
    return frames.build(res, [item for batch in batches for item in batch])


async def _find_association(client: AsyncClient, payment_intent: str) -> dict[str, Any]:
    params = {"payment_intent": payment_intent}
    return await client.get("/v1/tax/associations/find", params, expect="tax.association")


def _committed_transactions(association: dict[str, Any]) -> list[str]:
    """Tax transaction ids a PaymentIntent's tax association committed."""
    found = []
    for attempt in association.get("tax_transaction_attempts") or []:
        committed = attempt.get("committed") or {}
        if attempt.get("status") == "committed" and committed.get("transaction"):
            found.append(committed["transaction"])
    return found


def _window(start: Instant, end: Instant) -> dict[str, int] | None:
    gte, lt = to_epoch(start, "start"), to_epoch(end, "end")
    if gte is not None and lt is not None and gte >= lt:
        msg = f"start must be before end (start={start!r}, end={end!r}); end is exclusive."
        raise ConfigurationError(msg)
    window = {k: v for k, v in (("gte", gte), ("lt", lt)) if v is not None}
    return window or None


__all__ = ["Connection", "check_ids", "connect", "redact", "to_epoch"]
