"""Tax transactions found without ids: through PaymentIntents and refunds, at a known request cost."""

from __future__ import annotations

import copy
import math
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from polars.testing import assert_frame_equal

from finlab.connection import Connection
from finlab.demo.dataset import Dataset, default_dataset
from finlab.demo.server import DEMO_API_KEY, DemoStripe


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return default_dataset()


def connect(server: DemoStripe) -> Connection:
    return Connection(DEMO_API_KEY, transport=httpx.MockTransport(server.handle))


def endpoints(server: DemoStripe) -> Counter[str]:
    """Requests per endpoint, ids folded."""
    return Counter(
        "/v1/tax/transactions/{id}" if r.path.startswith("/v1/tax/transactions/") else r.path
        for r in server.requests
    )


def test_discovery_finds_the_frame_every_id_gives(dataset: Dataset) -> None:
    every = [obj["id"] for obj in dataset.objects["tax.transaction"]]
    by_ids = connect(DemoStripe(copy.deepcopy(dataset)))
    found = connect(DemoStripe(copy.deepcopy(dataset)))
    assert_frame_equal(by_ids.tax_transactions(ids=every).sort("id"), found.tax_transactions().sort("id"))
    assert_frame_equal(by_ids.tax_line_items(ids=every).sort("id"), found.tax_line_items().sort("id"))


def test_discovery_costs_a_page_per_100_and_one_association_per_payment_intent(dataset: Dataset) -> None:
    server = DemoStripe(copy.deepcopy(dataset))
    connect(server).tax_transactions()
    intents, refunds = len(dataset.objects["payment_intent"]), len(dataset.objects["refund"])
    committed = len(dataset.objects["tax.transaction"])
    assert {
        "/v1/payment_intents": math.ceil(intents / 100),
        "/v1/refunds": math.ceil(refunds / 100),
        "/v1/tax/associations/find": intents,  # refunds name PaymentIntents already listed
        "/v1/tax/transactions/{id}": committed,
    } == endpoints(server)


def test_a_refund_months_after_its_sale_brings_its_reversal_into_its_month(dataset: Dataset) -> None:
    intents = {pi["id"]: pi for pi in dataset.objects["payment_intent"]}
    refund = max(
        dataset.objects["refund"], key=lambda r: r["created"] - intents[r["payment_intent"]]["created"]
    )
    sold = datetime.fromtimestamp(intents[refund["payment_intent"]]["created"], UTC)
    refunded = datetime.fromtimestamp(refund["created"], UTC)
    assert (refunded - sold).days > 60
    month = datetime(refunded.year, refunded.month, 1, tzinfo=UTC)
    following = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)
    frame = connect(DemoStripe(copy.deepcopy(dataset))).tax_transactions(start=month, end=following)
    assert _reversal_of(dataset, refund["id"]) in set(frame.get_column("id"))
    posted = frame.get_column("posted_at")
    assert posted.min() >= month  # type: ignore[operator]
    assert posted.max() < following  # type: ignore[operator]


def _reversal_of(dataset: Dataset, refund: str) -> str:
    """The tax transaction an association committed with the refund as its source."""
    for association in dataset.objects["tax.association"]:
        for attempt in association.get("tax_transaction_attempts") or []:
            if attempt.get("source") == refund and attempt.get("status") == "committed":
                return str(attempt["committed"]["transaction"])
    raise AssertionError(refund)


def test_payment_intents_without_a_tax_association_are_no_error(dataset: Dataset) -> None:
    server = DemoStripe(copy.deepcopy(dataset))
    connect(server).tax_transactions()
    missing = [r for r in server.requests if r.status == 404]
    assert missing
    assert {"/v1/tax/associations/find"} == {r.path for r in missing}
