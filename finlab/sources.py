"""Where a connection's frames come from: Stripe (`StripeSource`) or the local store (`StoreSource`).

Both answer the same questions, so `finlab.Connection` asks one of them and never branches itself:
a listed resource, FC transactions of some accounts in a time window, tax transactions (or their
line items) by id, and the tax settings.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

from finlab import fetch, frames, resources, windowed
from finlab.errors import ConfigurationError
from finlab.resources import Resource

if TYPE_CHECKING:
    from finlab.session import Session
    from finlab.store import AsOf
    from finlab.sync import StoreView

ACCOUNT = "financial_connections.account"
TRANSACTION = "financial_connections.transaction"
TAX = "tax.transaction"
#: Tax transaction ids finlab knows of without being told (the demo account's); None on live accounts.
KnownTaxIds = Callable[[], Sequence[str]]


class Source(Protocol):
    """What a connection reads frames from."""

    def listed(self, res: Resource, filters: Mapping[str, Any], max_objects: int | None) -> pl.DataFrame:
        """Every object of a listable resource that matches ``filters``."""

    def transactions(
        self, accounts: Sequence[str] | None, window: Mapping[str, int] | None, max_objects: int | None
    ) -> pl.DataFrame:
        """FC transactions of ``accounts`` (None: all) with ``transacted_at`` in ``window``."""

    def tax(self, resource: str, ids: Sequence[str] | None) -> pl.DataFrame:
        """Tax transactions or their line items: of ``ids``, or (None) of every one known."""

    def settings(self, res: Resource) -> pl.DataFrame:
        """A singleton resource (the tax settings) as a one-row frame."""


class StripeSource:
    """Fetches from Stripe, through the connection's one client."""

    def __init__(self, session: Session, known_tax_ids: KnownTaxIds | None) -> None:
        self.session = session
        self.known_tax_ids = known_tax_ids

    def listed(self, res: Resource, filters: Mapping[str, Any], max_objects: int | None) -> pl.DataFrame:
        """Every object of one list (`PaginationError` past ``max_objects``)."""
        job = functools.partial(fetch.list_frame, res=res, params=filters, max_objects=max_objects)
        return self.session.run(job)

    def transactions(
        self, accounts: Sequence[str] | None, window: Mapping[str, int] | None, max_objects: int | None
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

    def tax(self, resource: str, ids: Sequence[str] | None) -> pl.DataFrame:
        """Tax transactions (or calculations) by id, or their line items with parent and currency."""
        res = resources.get(resource)
        parent = resources.get(res.parent) if res.parent is not None else res
        wanted = list(ids) if ids is not None else self.every_tax_id()
        if res is parent:
            return frames.build(res, self.session.run(lambda client: fetch.retrieve_all(client, res, wanted)))
        parents = self.session.run(lambda client: fetch.parents_with_line_items(client, parent, wanted))
        return frames.build(res, fetch.inlined_line_items(parents))

    def every_tax_id(self) -> list[str]:
        """Every tax transaction id finlab knows of; Stripe cannot list them, so none on a live key."""
        if self.known_tax_ids is None:
            msg = (
                "Stripe has no endpoint that lists tax transactions. Pass ids=['tax_...'] (kept from "
                "your own records or webhooks) or payment_intents=['pi_...'] to find them through their "
                "PaymentIntents."
            )
            raise ConfigurationError(msg)
        return list(self.known_tax_ids())

    def committed_tax_ids(self, payment_intents: Sequence[str]) -> list[str]:
        """Tax transaction ids the tax associations of these PaymentIntents committed."""
        return self.session.run(lambda client: fetch.committed_tax_transactions(client, payment_intents))

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
        self, accounts: Sequence[str] | None, window: Mapping[str, int] | None, max_objects: int | None
    ) -> pl.DataFrame:
        """Stored FC transactions, filtered by account and ``transacted_at``."""
        from finlab.sync import transaction_filter

        return self.view.read(TRANSACTION, self.as_of, transaction_filter(accounts, window))

    def tax(self, resource: str, ids: Sequence[str] | None) -> pl.DataFrame:
        """Stored tax transactions or line items; those of ``ids`` not stored yet are fetched first."""
        return self.view.tax(resource, ids, self.as_of)

    def settings(self, res: Resource) -> pl.DataFrame:
        """The stored settings."""
        return self.view.read(res.object, self.as_of)
