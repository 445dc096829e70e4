"""Where a connection's frames come from: Stripe (`StripeSource`) or the local store (`StoreSource`).

Both answer the same questions, so `finlab.Connection` asks one of them and never branches itself:
a listed resource, FC transactions of some accounts in a time window, tax transactions (or their
line items) by id or posted in a time window, and the tax settings.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

from finlab import discovery, fetch, frames, resources, windowed
from finlab.arguments import check_ids
from finlab.client import AsyncClient
from finlab.errors import ConfigurationError
from finlab.pagination import gather_limited
from finlab.resources import Resource

if TYPE_CHECKING:
    from finlab.session import Runner
    from finlab.store import AsOf
    from finlab.store_view import StoreView

ACCOUNT = "financial_connections.account"
TRANSACTION = "financial_connections.transaction"
TAX = "tax.transaction"
#: How far before a window discovery looks for PaymentIntents and refunds: a payment's tax transaction
#: posts when the payment succeeds, up to days later (bank debits), so one created before the window
#: can post inside it. 31 days covers card authorizations (7 days) and bank debits (up to 14).
DISCOVERY_LOOKBACK = 31 * 86_400
Window = Mapping[str, int] | None
Json = dict[str, Any]


class Source(Protocol):
    """What a connection reads frames from."""

    def listed(self, res: Resource, filters: Mapping[str, Any], max_objects: int | None) -> pl.DataFrame:
        """Every object of a listable resource that matches ``filters``."""

    def transactions(
        self, accounts: Sequence[str] | None, window: Window, max_objects: int | None
    ) -> pl.DataFrame:
        """FC transactions of ``accounts`` (None: all) with ``transacted_at`` in ``window``."""

    def tax(
        self, resource: str, ids: Sequence[str] | None, window: Window = None, max_objects: int | None = None
    ) -> pl.DataFrame:
        """Tax transactions or their line items: of ``ids``, or (None) of every one posted in ``window``."""

    def settings(self, res: Resource) -> pl.DataFrame:
        """A singleton resource (the tax settings) as a one-row frame."""


def posted_in(transactions: Sequence[Mapping[str, Any]], window: Window) -> list[dict[str, Any]]:
    """The tax transactions posted in ``window`` (``posted_at``, else ``tax_date``); all without one."""
    low, high = (window or {}).get("gte"), (window or {}).get("lt")

    def inside(obj: Mapping[str, Any]) -> bool:
        moment = obj.get("posted_at") or obj.get("tax_date") or 0
        return (low is None or moment >= low) and (high is None or moment < high)

    return [dict(obj) for obj in transactions if inside(obj)]


class StripeSource:
    """Fetches from Stripe, through the connection's one client."""

    def __init__(self, session: Runner) -> None:
        self.session = session

    def listed(self, res: Resource, filters: Mapping[str, Any], max_objects: int | None) -> pl.DataFrame:
        """Every object of one list (`PaginationError` past ``max_objects``)."""
        job = functools.partial(fetch.list_frame, res=res, params=filters, max_objects=max_objects)
        return self.session.run(job)

    def transactions(
        self, accounts: Sequence[str] | None, window: Window, max_objects: int | None
    ) -> pl.DataFrame:
        """FC transactions in concurrent time windows; every account's when ``accounts`` is None."""
        created: dict[str, int] = {}
        if accounts is None:
            listed = self.listed(resources.get(ACCOUNT), {}, None)
            accounts = listed.get_column("id").to_list()
            stamps = zip(accounts, listed.get_column("created"), strict=True)
            created = {fca: int(at.timestamp()) for fca, at in stamps if at is not None}
        bounds, ids = window or {}, list(accounts)
        return self.session.run(
            lambda client: windowed.transactions(
                client, ids, bounds.get("gte"), bounds.get("lt"), created=created, max_objects=max_objects
            )
        )

    def tax(
        self, resource: str, ids: Sequence[str] | None, window: Window = None, max_objects: int | None = None
    ) -> pl.DataFrame:
        """Tax transactions (or calculations) by id, or their line items with parent and currency.

        Without ``ids`` they are found through PaymentIntents and refunds (`finlab.discovery`, each
        list capped at ``max_objects``), and those posted in ``window`` are kept.
        """
        res = resources.get(resource)
        parent = resources.get(res.parent) if res.parent is not None else res
        found = self.session.run(lambda client: self._parents(client, res, parent, ids, window, max_objects))
        found = posted_in(found, window)
        return frames.build(res, found if res is parent else fetch.inlined_line_items(found))

    async def _parents(
        self,
        client: AsyncClient,
        res: Resource,
        parent: Resource,
        ids: Sequence[str] | None,
        window: Window,
        max_objects: int | None,
    ) -> list[Json]:
        """The parents asked for (by ``ids``, else found), with every line item when ``res`` is one."""
        if res is parent:
            one: Callable[[str], Awaitable[Json]] = functools.partial(fetch.retrieve, client, res)
        else:
            one = functools.partial(fetch.parent_with_line_items, client, parent)
        if ids is not None:
            return await gather_limited(one(object_id) for object_id in ids)
        widened = dict(window or {})
        if "gte" in widened:  # a payment made before the window can post in it
            widened["gte"] -= DISCOVERY_LOOKBACK
        return await discovery.transactions(client, widened or None, one, max_objects)

    def chosen_tax_ids(
        self, ids: Iterable[str] | None, payment_intents: Iterable[str] | None, window: Window
    ) -> list[str] | None:
        """The tax transaction ids asked for (looked up by PaymentIntent); None: all posted in ``window``."""
        if ids is None and payment_intents is None:
            return None
        if window is not None:
            msg = "start/end choose tax transactions when no ids or payment_intents are given, not with them."
            raise ConfigurationError(msg)
        found = [] if ids is None else check_ids(ids, "tax_", "Tax transaction")
        if payment_intents is not None:
            intents = check_ids(payment_intents, "pi_", "PaymentIntent")
            resolved = self.session.run(lambda client: discovery.committed(client, intents))
            found += [tax_id for tax_ids in resolved.values() for tax_id in tax_ids]
        return list(dict.fromkeys(found))

    def settings(self, res: Resource) -> pl.DataFrame:
        """GET the singleton and build its one-row frame."""
        found = self.session.run(lambda client: client.get(res.retrieve_path or "", expect=res.object))
        return frames.build(res, [found])


class StoreSource:
    """Reads from the store (syncing first what was never synced), as it is or ``as_of`` a version."""

    def __init__(self, view: StoreView, as_of: AsOf) -> None:
        self.view, self.as_of = view, as_of

    def listed(self, res: Resource, filters: Mapping[str, Any], max_objects: int | None) -> pl.DataFrame:
        """The stored table (a store serves no list filters: `finlab.Connection` asks Stripe then)."""
        assert not filters, "filtered lists are fetched from Stripe"
        return self.view.read(res.object, self.as_of)

    def transactions(
        self, accounts: Sequence[str] | None, window: Window, max_objects: int | None
    ) -> pl.DataFrame:
        """Stored FC transactions, filtered by account and ``transacted_at``."""
        from finlab.store_view import transaction_filter

        return self.view.read(TRANSACTION, self.as_of, transaction_filter(accounts, window))

    def tax(
        self, resource: str, ids: Sequence[str] | None, window: Window = None, max_objects: int | None = None
    ) -> pl.DataFrame:
        """Stored tax transactions or line items: of ``ids`` (fetched first if not stored), or every
        stored one posted in ``window`` (a store caps nothing: ``max_objects`` is for Stripe's lists)."""
        if ids is None and window:
            stored = self.view.read(TAX, self.as_of)
            moment = pl.coalesce("posted_at", "tax_date")
            for bound, keep in (("gte", moment.__ge__), ("lt", moment.__lt__)):
                if bound in window:
                    stored = stored.filter(keep(datetime.fromtimestamp(window[bound], UTC)))
            ids = stored.get_column("id").to_list()
        return self.view.tax(resource, ids, self.as_of)

    def settings(self, res: Resource) -> pl.DataFrame:
        """The stored settings."""
        return self.view.read(res.object, self.as_of)
