"""What a sync fetches for Stripe Tax: transactions found through PaymentIntents and refunds, incrementally.

A first sync lists every PaymentIntent and refund and resolves each PaymentIntent's tax association
(`finlab.discovery`); later syncs list only those created since the newest seen, so a sync with
nothing new costs two list requests. The store keeps each resolved PaymentIntent (its own table,
`Store.resolved`), also those that resolved to nothing, and is not asked about it again unless:

- a new refund names it (its reversal is then found), or
- it was not *settled* (`finlab.discovery.settled`: e.g. still waiting for its payment) and is younger
  than `finlab.sources.DISCOVERY_LOOKBACK`: it is retrieved again, and resolved again.

PaymentIntents are resolved in batches, oldest first; a transaction is retrieved as soon as its
association names it, so the association and retrieve endpoints are busy side by side. Tax
transactions are immutable (a reversal is a new one), so those stored are never fetched again. A
batch's transactions are committed with their line items before its resolutions, so a sync killed at
any point finds them again and stores nothing twice.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl

from finlab import discovery, fetch, frames, resources
from finlab.client import AsyncClient
from finlab.pagination import gather_limited
from finlab.progress import Progress
from finlab.sources import DISCOVERY_LOOKBACK
from finlab.store import RESOLVED_SCHEMA, Store

Json = dict[str, Any]
TAX = "tax.transaction"
LINE_ITEM = "tax.transaction_line_item"
#: The ``_state`` scope of the refunds' high-water mark.
REFUNDS = "refunds"
Write = Callable[..., Awaitable[Any]]


class TaxSync:
    """Brings a store's tax transactions up to date (see the module docstring)."""

    def __init__(
        self, client: AsyncClient, store: Store, write: Write, gate: asyncio.Semaphore, batch: int
    ) -> None:
        self.client, self.store, self.write, self.gate, self.batch = client, store, write, gate, batch

    async def run(self, progress: Progress) -> list[tuple[str, Json]]:
        """Find and store what is new; return the refunds' state row (saved with the sync's others)."""
        resolved = self.store.resolved()
        intents = await self._new_intents(resolved, progress)
        mark = self.store.state().get((TAX, REFUNDS))
        since = mark.cursor if mark is not None else {}
        refunds = await discovery.refunds(self.client, {"gte": since["created"]} if since else None)
        fresh = [r for r in refunds if r["id"] not in set(since.get("ids", []))]
        progress.page(0, pages=max(1, -(-len(refunds) // 100)))
        named = [pi for pi in discovery.refunded(fresh) if pi not in intents]
        intents.update({pi["id"]: pi for pi in await self._retrieve(named, progress)})
        await self.write(self.repair_line_items)
        stored = self.store.ids(TAX)
        # Oldest first: a batch commits its resolutions, so whatever the newest resolved PaymentIntent
        # is after a crash, every one created before it is resolved (the next sync lists from there).
        pending = sorted(intents.values(), key=lambda pi: (pi.get("created") or 0, pi["id"]))
        for start in range(0, len(pending), self.batch):
            await self._resolve(pending[start : start + self.batch], stored, progress)
        return [(REFUNDS, _mark(refunds, since))]

    async def _resolve(self, chunk: Sequence[Json], stored: set[str], progress: Progress) -> None:
        """Resolve a batch of PaymentIntents (`finlab.discovery.resolve`: each new transaction retrieved
        as soon as its association names it); commit the transactions, then the resolutions."""
        retrieve = functools.partial(fetch.parent_with_line_items, self.client, resources.get(TAX))
        results = await discovery.resolve(self.client, [pi["id"] for pi in chunk], retrieve, stored)
        parents = discovery.unique(results)
        progress.page(0, pages=len(chunk))
        await self._commit(parents, progress)
        stored.update(obj["id"] for obj in parents)
        rows = [_row(intent, association) for intent, (association, _) in zip(chunk, results, strict=True)]
        await self.write(self.store.add_resolved, pl.DataFrame(rows, schema=RESOLVED_SCHEMA, orient="row"))
        progress.report.commits += 1

    async def _commit(self, parents: Sequence[Json], progress: Progress) -> None:
        """Append tax transactions and their inlined line items, in two commits (none if empty)."""
        progress.page(len(parents), pages=len(parents))
        if not parents:
            return
        await self.write(self.store.append, TAX, frames.build_raw(TAX, parents))
        items = fetch.inlined_line_items(parents)
        await self.write(self.store.append, LINE_ITEM, frames.build_raw(LINE_ITEM, items))
        progress.report.commits += 2

    async def _new_intents(self, resolved: pl.DataFrame, progress: Progress) -> dict[str, Json]:
        """PaymentIntents created since the newest resolved one, and recent unsettled ones again."""
        newest = resolved.get_column("created").max() if resolved.height else None
        window = {"gte": newest} if isinstance(newest, int) else None
        settled = set(resolved.filter(pl.col("settled")).get_column("payment_intent"))
        intents: dict[str, Json] = {}
        async for page in discovery.payment_intent_pages(self.client, window):  # slimmed page by page
            intents.update({pi["id"]: _slim(pi) for pi in page if pi["id"] not in settled})
            progress.page(0)
        recent = int(time.time()) - DISCOVERY_LOOKBACK
        waiting = resolved.filter(~pl.col("settled") & (pl.col("created") >= recent))
        again = [pi for pi in waiting.get_column("payment_intent") if pi not in intents]
        intents.update({pi["id"]: pi for pi in await self._retrieve(again, progress)})
        return intents

    async def _retrieve(self, payment_intents: Sequence[str], progress: Progress) -> list[Json]:
        paths = [f"{discovery.PAYMENT_INTENTS}/{pi}" for pi in payment_intents]
        found = await gather_limited((self.client.get(p, expect="payment_intent") for p in paths), self.gate)
        progress.page(0, pages=len(found))
        return [_slim(pi) for pi in found]

    async def store_transactions(self, tax_ids: Sequence[str], progress: Progress) -> None:
        """Store these tax transactions (with every line item) that are not stored yet, in batches."""
        await self.write(self.repair_line_items)
        stored = self.store.ids(TAX)
        missing = [tax_id for tax_id in dict.fromkeys(tax_ids) if tax_id not in stored]
        progress.total(len(missing))
        parent = resources.get(TAX)
        for start in range(0, len(missing), self.batch):
            chunk = missing[start : start + self.batch]
            await self._commit(await fetch.parents_with_line_items(self.client, parent, chunk), progress)

    def repair_line_items(self) -> None:
        """Store the line items of tax transactions committed just before a crash, from their raw JSON."""
        orphans = self.store.ids(TAX) - self.store.ids(LINE_ITEM, "tax_transaction")
        if not orphans:
            return
        stored = self.store.read_columns(TAX, ["id", frames.RAW_COLUMN]).filter(pl.col("id").is_in(orphans))
        parents = [json.loads(text) for text in stored.get_column(frames.RAW_COLUMN)]
        items = fetch.inlined_line_items(parents)
        if items:
            self.store.append(LINE_ITEM, frames.build_raw(LINE_ITEM, items))


def _slim(payment_intent: Json) -> Json:
    """What the sync keeps of a PaymentIntent until it is resolved: a tenth of its size or less."""
    return {key: payment_intent.get(key) for key in ("id", "created", "status")}


def _row(payment_intent: Json, association: Json | None) -> tuple[Any, ...]:
    return (
        payment_intent["id"],
        payment_intent.get("created"),
        payment_intent.get("status"),
        discovery.settled(payment_intent, association),
        discovery.committed_ids(association or {}),
        datetime.now(UTC),
    )


def _mark(refunds: Sequence[Json], since: Mapping[str, Any]) -> Json:
    """The refunds' high-water mark: the newest ``created`` seen, and the ids seen in that second."""
    if not refunds:
        return dict(since)
    newest = max(int(r["created"]) for r in refunds)
    ids = sorted({r["id"] for r in refunds if r["created"] == newest})
    if since and since.get("created") == newest:
        ids = sorted({*ids, *since.get("ids", [])})
    return {"created": newest, "ids": ids}
