"""Helpers for the store, sync and CLI tests: a small demo account, connections, truth frames.

Run as a script it is the child process of the SIGKILL test: it syncs a dataset served over loopback
into a store, committing after every page, until the parent kills it::

    python tests/storekit.py <base_url> <store root> <dataset dir>
"""

from __future__ import annotations

import functools
import marshal
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import httpx
import polars as pl
from tqdm import tqdm

from finlab import frames, resources, store
from finlab.client import AsyncClient, ReadLimits, RetryPolicy
from finlab.connected import tag
from finlab.connection import Connection
from finlab.demo.dataset import Dataset, default_dataset, load
from finlab.demo.server import DEMO_API_KEY, DemoStripe, RecordedRequest
from finlab.resources import CURRENCY_KEY, PARENT_KEY
from finlab.sync import Syncer, SyncReport, units

Json = dict[str, Any]

TRANSACTION = "financial_connections.transaction"
TAX = "tax.transaction"
LINE_ITEM = "tax.transaction_line_item"
ORDER = "climate.order"
#: The demo data ends on 2026-10-31; changes happen after it.
LATER = datetime(2026, 11, 2, 9, tzinfo=UTC)
#: A sync that commits nothing for this long is stuck, not slow.
STUCK = 120.0


def small_dataset(every: int = 24, tax: int = 30) -> Dataset:
    """The demo account, thinned: every ``every``-th FC transaction (and all pending), ``tax`` tax
    transactions with their line items; everything else as it is. A fresh copy on every call."""
    objects, parents = marshal.loads(_small(every, tax))
    return Dataset(objects, parents)


@functools.cache
def _small(every: int, tax: int) -> bytes:
    dataset = default_dataset()
    txns = dataset[TRANSACTION]
    dataset.objects[TRANSACTION] = [
        t for i, t in enumerate(txns) if i % every == 0 or t["status"] == "pending"
    ]
    kept = dataset[TAX][:tax]
    dataset.objects[TAX] = kept
    ids = {t["id"] for t in kept}
    dataset.objects[LINE_ITEM] = [li for li in dataset[LINE_ITEM] if dataset.parents.get(li["id"]) in ids]
    _keep_payments(dataset, ids)
    return marshal.dumps((dataset.objects, dataset.parents))


def _committed(association: Json) -> set[str]:
    return {
        a["committed"]["transaction"] for a in association["tax_transaction_attempts"] if a.get("committed")
    }


def _keep_payments(dataset: Dataset, ids: set[str]) -> None:
    """Keep the payments that find the tax transactions ``ids`` (and those without tax), no others."""
    associations = [a for a in dataset["tax.association"] if _committed(a) & ids or not _committed(a)]
    for association in associations:
        association["tax_transaction_attempts"] = [
            a
            for a in association["tax_transaction_attempts"]
            if not a.get("committed") or a["committed"]["transaction"] in ids
        ]
    dataset.objects["tax.association"] = associations
    taxed = {a["payment_intent"] for a in dataset["tax.association"]}
    every_taxed = {a["payment_intent"] for a in default_dataset()["tax.association"]}
    dataset.objects["payment_intent"] = [
        pi for pi in dataset["payment_intent"] if pi["id"] in taxed or pi["id"] not in every_taxed
    ]
    sources = {a["source"] for assoc in associations for a in assoc["tax_transaction_attempts"]}
    dataset.objects["refund"] = [r for r in dataset["refund"] if r["id"] in sources]


def add_sales(dataset: Dataset, count: int, created: int) -> list[Json]:
    """Add ``count`` tax transactions of the full demo account the small one lacks, each with its line
    items, and the PaymentIntent and tax association that find it, as new payments ``created`` then."""
    full = default_dataset()
    have = {t["id"] for t in dataset[TAX]}
    by_id = {t["id"]: t for t in full[TAX]}
    intents = {pi["id"]: pi for pi in full["payment_intent"]}
    added: list[Json] = []
    for association in full["tax.association"]:
        found = _committed(association)
        if len(found) != 1 or found <= have or len(added) == count:
            continue
        (tax_id,) = found
        added.append(by_id[tax_id])
        dataset[TAX].append(by_id[tax_id])
        dataset.objects[LINE_ITEM] += [li for li in full[LINE_ITEM] if full.parents[li["id"]] == tax_id]
        dataset.parents.update({k: v for k, v in full.parents.items() if v == tax_id})
        dataset.objects["tax.association"].append(association)
        dataset.objects["payment_intent"].append(
            {**intents[association["payment_intent"]], "created": created}
        )
    dataset.touch()
    return added


def advance(dataset: Dataset, transactions: int) -> None:
    """What an incremental sync picks up, all at `LATER`: ``transactions`` new FC transactions on the
    first account, the second's pending ones posted, an open climate order confirmed, a new order."""
    accounts = [a["id"] for a in dataset["financial_connections.account"]]
    dataset.add_transactions(accounts[0], transactions, LATER)
    dataset.post_pending(accounts[1], LATER)
    order = next(o for o in dataset[ORDER] if o["status"] == "open")
    dataset.set_order_status(order["id"], "confirmed", LATER)
    dataset.add_climate_order(LATER)


def tax_ids(dataset: Dataset) -> list[str]:
    """Every tax transaction id of the dataset (what finlab 'knows of' on the demo account)."""
    return [t["id"] for t in dataset[TAX]]


@dataclass
class Demo:
    """A dataset, the fake Stripe serving it, and a store directory."""

    dataset: Dataset
    server: DemoStripe
    root: Path

    @classmethod
    def start(cls, root: Path, dataset: Dataset | None = None, **server: Any) -> Demo:
        data = small_dataset() if dataset is None else dataset
        return cls(data, DemoStripe(data, **server), root)

    def connection(self, **options: Any) -> Connection:
        """A connection with the store at ``root`` (tax ids read from the dataset at sync time)."""
        return Connection(
            DEMO_API_KEY,
            transport=httpx.MockTransport(self.server.handle),
            store=self.root,
            **options,
        )

    def sync(self, connection: Connection | None = None, **options: Any) -> SyncReport:
        """Sync everything with `Syncer` options (``batch_pages``, ``windows``, ``tax_batch``)."""
        conn = connection or self.connection()
        opened = conn.open_store()
        assert opened is not None

        async def job(client: AsyncClient) -> SyncReport:
            syncer = Syncer(client, opened, **options)
            return await syncer.run(units(None))

        with opened.writing():
            return conn._run(job)

    def mark(self) -> int:
        """How many requests the server has answered so far."""
        return len(self.server.requests)

    def since(self, mark: int) -> list[RecordedRequest]:
        """The requests answered after ``mark``."""
        return list(self.server.requests)[mark:]


def truth(dataset: Dataset, resource: str) -> pl.DataFrame:
    """What a store must hold for ``resource``: the dataset's objects as a frame, in store order."""
    res = resources.get(resource)
    objects = dataset[res.object]
    if res.parent is not None:
        currency = {p["id"]: p.get("currency") for p in dataset[res.parent]}
        objects = [
            {
                **item,
                PARENT_KEY: dataset.parents[item["id"]],
                CURRENCY_KEY: currency[dataset.parents[item["id"]]],
            }
            for item in objects
            if dataset.parents.get(item["id"]) in currency
        ]
    return store.sort(res, frames.build(res, objects))


def as_read(frame: pl.DataFrame, account: str | None = None) -> pl.DataFrame:
    """``frame`` as a connection returns it: with the ``stripe_account`` column (null: the key's own)."""
    return tag(frame, account)


def stored(root: Path, resource: str, account: str = "acct_1FinlabDemo000000") -> pl.DataFrame:
    """The frame the store at ``root`` holds for ``resource`` (demo account, test mode)."""
    return store.Store(root, account, livemode=False).read(resource)


def list_ids(server: DemoStripe, request: RecordedRequest) -> list[str]:
    """Replay a recorded GET on ``server`` and return the ids it answered with.

    Replay on a copy (``DemoStripe(dataset)``): the replay is recorded like any request.
    """
    answer = server.handle(
        httpx.Request(
            "GET",
            f"https://api.stripe.com{request.path}",
            params=list(request.params),
            headers={"Authorization": f"Bearer {DEMO_API_KEY}"},
        )
    ).json()
    return [obj["id"] for obj in answer.get("data", [answer])]


def commits(root: Path) -> int:
    """Delta commits so far in every table of every account of the store at ``root``."""
    return sum(1 for _ in root.glob("*/*/*/_delta_log/*.json")) if root.exists() else 0


def kill_at(process: BaseProcess, root: Path, target: int | None, delay: float) -> bool:
    """Start ``process``, a sync into the store at ``root``; SIGKILL it ``delay`` seconds after the store
    has ``target`` commits (None: let it finish). Return True if it was killed, False if it finished
    first. A sync that fails on its own, or commits nothing for `STUCK` seconds, fails the test."""
    process.start()
    progress, seen = time.monotonic(), commits(root)
    while process.is_alive() and (target is None or seen < target):
        now = commits(root)
        if now > seen:
            progress, seen = time.monotonic(), now
        assert time.monotonic() - progress < STUCK, "the sync made no progress: stuck"
        time.sleep(0.002)
    time.sleep(delay)
    process.kill()  # a no-op if it finished
    process.join()
    if process.exitcode == -signal.SIGKILL:
        time.sleep(0.05)  # let the server finish answering what the child had sent
        return True
    assert 0 == process.exitcode, "the sync failed on its own"
    return False


def child(argv: Sequence[str]) -> None:
    """The SIGKILL tests' child: sync over loopback, one commit per page, until killed or done.

    An optional fourth argument is a number of retries, made at once, with a 1 s read timeout
    (for a server that injects faults, see tests/test_crash.py). tqdm gets a thread lock: its
    default multiprocessing lock is a semaphore that a killed child would leak in the fork server's
    resource tracker.
    """
    tqdm.set_lock(threading.RLock())
    url, root, data, *retries = argv
    dataset = load(Path(data))
    retry = RetryPolicy(max_retries=int(retries[0]), base_delay=0, max_delay=0) if retries else None
    conn = Connection(
        DEMO_API_KEY,
        base_url=url,
        store=root,
        retry=retry,
        limits=ReadLimits(timeout=1.0) if retries else None,
    )
    demo = Demo(dataset, DemoStripe(dataset), Path(root))
    demo.sync(conn, batch_pages=1, tax_batch=3)


if __name__ == "__main__":
    child(sys.argv[1:])
