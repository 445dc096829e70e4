"""Concurrency inside the rate budget: every request passes the budget; what may overlap does.

The demo Stripe answers in-process behind an async handler that counts the requests in flight when each
arrives and yields to the event loop before answering, so that concurrent requests overlap without any
time passing. Nothing here depends on this machine's speed.
"""

# Expected value first is this project's test convention (DESIGN.md), which SIM300 calls yoda.

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import finlab
from finlab.budget import Budget
from finlab.connection import Connection
from finlab.demo import DEMO_API_KEY, DemoStripe, default_dataset
from finlab.demo.dataset import Dataset
from finlab.engine import WINDOW_CONCURRENCY
from finlab.pagination import MAX_IN_FLIGHT

LIVE_KEY = "rk_live_" + "a1B2c3D4e5F6g7H8i9J0" * 2
TEST_KEY = "rk_test_" + "a1B2c3D4e5F6g7H8i9J0" * 2


class CountingBudget(Budget):
    """An unlimited budget that records every path it lets through."""

    def __init__(self) -> None:
        super().__init__(None, None)
        self.paths: list[str] = []

    def acquire(self, path: str) -> float:
        self.paths.append(path)
        return super().acquire(path)

    async def acquire_async(self, path: str) -> float:
        self.paths.append(path)
        return await super().acquire_async(path)


class InFlight:
    """The demo server behind an async handler that records, per path prefix, the requests in flight."""

    def __init__(self, server: DemoStripe) -> None:
        self.server = server
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        kind = "/".join(request.url.path.split("/")[:4])
        self.now[kind] += 1
        self.peak[kind] = max(self.peak[kind], self.now[kind])
        for _ in range(3):
            await asyncio.sleep(0)
        self.now[kind] -= 1
        return self.server.handle(request)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return default_dataset()


def connection(server: DemoStripe, budget: Budget | None = None) -> tuple[Connection, InFlight]:
    flight = InFlight(server)
    return Connection(DEMO_API_KEY, transport=httpx.MockTransport(flight), budget=budget), flight


def calls(dataset: Dataset) -> dict[str, Callable[[Connection], pl.DataFrame]]:
    """One call of every method, on a few ids where Stripe has no list."""
    taxes = [o["id"] for o in dataset["tax.transaction"][:12]]
    intents = [o["payment_intent"] for o in dataset["tax.association"][:3]]
    calculations = [o["id"] for o in dataset["tax.calculation"][:4]]
    fca = dataset["financial_connections.account"][0]["id"]
    return {
        "accounts": lambda c: c.accounts(),
        "transactions": lambda c: c.transactions(),
        "one account's month": lambda c: c.transactions(fca, start="2026-03-01", end="2026-04-01"),
        "tax_transactions": lambda c: c.tax_transactions(taxes),
        "by payment intent": lambda c: c.tax_transactions(payment_intents=intents),
        "tax_line_items": lambda c: c.tax_line_items(taxes),
        "tax_calculations": lambda c: c.tax_calculations(calculations),
        "tax_calculation_line_items": lambda c: c.tax_calculation_line_items(calculations),
        "tax_registrations": lambda c: c.tax_registrations(),
        "tax_settings": lambda c: c.tax_settings(),
        "climate_orders": lambda c: c.climate_orders(),
        "climate_products": lambda c: c.climate_products(),
        "climate_suppliers": lambda c: c.climate_suppliers(),
        "verification_sessions": lambda c: c.verification_sessions(),
        "verification_reports": lambda c: c.verification_reports(),
        "onramp_sessions": lambda c: c.onramp_sessions(),
        "forwarding_requests": lambda c: c.forwarding_requests(),
        "webhook_endpoints": lambda c: c.webhook_endpoints(),
    }


def test_every_request_of_every_resource_passes_the_budget(dataset: Dataset) -> None:
    server = DemoStripe(dataset)
    budget = CountingBudget()
    stripe, _ = connection(server, budget)
    for name, call in calls(dataset).items():
        before = len(server.requests)
        call(stripe)
        sent = [request.path for request in list(server.requests)[before:]]
        assert sent, name
        assert sorted(sent) == sorted(budget.paths[before:]), name


def test_connect_budgets_by_key_mode_and_the_demo_goes_unbudgeted(dataset: Dataset) -> None:
    transport = httpx.MockTransport(DemoStripe(dataset).handle)
    live = finlab.connect(LIVE_KEY, transport=transport)
    test = finlab.connect(TEST_KEY, transport=transport)
    live_budget, test_budget = live.config.budget, test.config.budget
    assert isinstance(live_budget, Budget)
    assert isinstance(test_budget, Budget)
    assert (100, 25, 1) == (live_budget.global_rate, live_budget.endpoint_rate, live_budget.burst)
    assert (25, 25, 1) == (test_budget.global_rate, test_budget.endpoint_rate, test_budget.burst)
    assert finlab.connect(demo=True).config.budget is None


def test_what_may_overlap_does(dataset: Dataset) -> None:
    taxes = [o["id"] for o in dataset["tax.transaction"][:80]]
    stripe, flight = connection(DemoStripe(dataset))
    assert 80 == stripe.tax_transactions(taxes).height
    assert MAX_IN_FLIGHT == flight.peak["/v1/tax/transactions"], "retrieved concurrently"
    flight.peak.clear()
    stripe.tax_line_items(taxes[:40])
    assert MAX_IN_FLIGHT == flight.peak["/v1/tax/transactions"], "line items paged concurrently"
    stripe.transactions()
    assert WINDOW_CONCURRENCY == flight.peak["/v1/financial_connections/transactions"], (
        "windows and accounts overlap"
    )


def test_a_cursor_only_list_stays_sequential(dataset: Dataset) -> None:
    stripe, flight = connection(DemoStripe(dataset))
    assert 48 == stripe.climate_orders().height
    assert 1 == flight.peak["/v1/climate/orders"]


def test_inside_a_running_event_loop(dataset: Dataset) -> None:
    stripe, _ = connection(DemoStripe(dataset))

    async def notebook_cell() -> pl.DataFrame:  # Jupyter runs cells inside its event loop
        return stripe.transactions()

    assert_frame_equal(stripe.transactions(), asyncio.run(notebook_cell()))


def test_windows_do_not_change_what_transactions_returns(dataset: Dataset) -> None:
    stripe, _ = connection(DemoStripe(dataset))
    accounts = stripe.accounts().get_column("id").to_list()
    per_account = [stripe.frame("financial_connections.transaction", account=fca) for fca in accounts]
    frame: Any = stripe.transactions()
    assert_frame_equal(pl.concat(per_account), frame)


def test_a_range_of_a_few_pages_costs_no_more_requests_than_pages(dataset: Dataset) -> None:
    server = DemoStripe(dataset)
    stripe, _ = connection(server)
    accounts = stripe.accounts().get_column("id").to_list()
    newest = max(o["transacted_at"] for o in dataset["financial_connections.transaction"])
    for days in (1, 7, 31):
        server.requests.clear()
        start = newest - days * 86_400

        frame = stripe.transactions(start=start, end=newest + 1)

        listed = [r for r in server.requests if r.path == "/v1/financial_connections/transactions"]
        counts = frame.group_by("account").len().get_column("len").to_list()
        pages = len(accounts) - len(counts) + sum(-(-count // 100) for count in counts)
        assert pages <= len(listed) <= pages + len(accounts), f"{days} days: {len(listed)} requests"
