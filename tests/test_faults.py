"""Exact results under faults: every fault the demo Stripe injects, alone and mixed, in-process and over a
socket. A fetch or a sync that meets faults ends equal to the truth and reports the retries it needed; a
fault that outlasts the retries names the endpoint, the Request-Id, the attempts and what was kept.

Nothing sleeps between retries (zero backoff). Over a socket the read timeout is short and a stalled
connection stays silent well past it; a spuriously slow answer only costs a retry, never a result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from finlab import errors
from finlab.client import Client, ReadLimits, RetryPolicy
from finlab.connection import Connection
from finlab.demo import DEMO_API_KEY, DemoStripe, default_dataset, serve
from finlab.demo.dataset import Dataset
from finlab.demo.faults import KINDS, Faults
from finlab.pagination import iter_objects
from finlab.store import STORED, Store
from finlab.sync import SyncReport

try:
    import storekit
except ImportError:  # tests/ became a package
    from tests import storekit  # type: ignore[no-redef]

#: Enough retries that a fault rate of 50% cannot exhaust them (0.5 ** 21 per request).
RETRIES = 20
IN_PROCESS = RetryPolicy(max_retries=RETRIES, base_delay=0, max_delay=0)
#: Over a socket: a read timeout far below the stall, far above a sound answer's time.
SOCKET = RetryPolicy(max_retries=RETRIES, base_delay=0, max_delay=0)
#: A stall over a socket fails after a short read timeout.
SHORT_READ = ReadLimits(timeout=1.0)
STALL = 5.0
ORDERS = "/v1/climate/orders"
ACCOUNT = "acct_1FinlabDemo000000"
TRANSACTIONS = "/v1/financial_connections/transactions"

#: Fault kind -> (the error once retries run out, the retry reason in-process, over a socket).
EXPECTED: dict[str, tuple[type[errors.StripeError], str, str]] = {
    "rate_limit": (errors.RateLimitError, "429", "429"),
    "rate_limit_retry": (errors.RateLimitError, "429", "429"),
    "500": (errors.APIError, "500", "500"),
    "502": (errors.APIError, "502", "502"),
    "503": (errors.APIError, "503", "503"),
    "lock_timeout": (errors.APIError, "409", "409"),
    "reset": (errors.ConnectionError, "Reset", "ReadError"),
    "timeout": (errors.ConnectionError, "Stall", "ReadTimeout"),
    "truncated": (errors.APIError, "malformed", "malformed"),
    "invalid_json": (errors.APIError, "malformed", "malformed"),
    "html": (errors.APIError, "504", "504"),
    "not_a_list": (errors.APIError, "malformed", "malformed"),
}


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    """The thinned demo account of `storekit.small_dataset`; never changed."""
    return storekit.small_dataset()


@pytest.fixture(params=["in-process", "loopback"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Served:
    """A `DemoStripe` with faults, reachable in-process or over a loopback socket."""

    def __init__(self, dataset: Dataset, faults: Faults, transport: str) -> None:
        self.stripe = DemoStripe(dataset, faults=faults)
        self.faults = faults
        self.loopback = transport == "loopback"
        self._server = serve(self.stripe) if self.loopback else None

    @property
    def retry(self) -> RetryPolicy:
        return SOCKET if self.loopback else IN_PROCESS

    def options(self) -> dict[str, object]:
        """Where a client or connection sends its requests (over a socket: with a short read timeout)."""
        if self._server is not None:
            return {"base_url": self._server.url, "limits": SHORT_READ}
        return {"transport": httpx.MockTransport(self.stripe.handle)}

    def client(self, retry: RetryPolicy | None = None, limits: ReadLimits | None = None) -> Client:
        options = self.options()
        if limits is not None:
            options["limits"] = limits
        return Client(DEMO_API_KEY, retry=retry or self.retry, **options)  # type: ignore[arg-type]

    def connection(self, dataset: Dataset, root: Path | None = None) -> Connection:
        return Connection(
            DEMO_API_KEY,
            retry=self.retry,
            store=root,
            **self.options(),  # type: ignore[arg-type]
        )

    def close(self) -> None:
        if self._server is not None:
            self._server.close()


Start = Callable[..., Served]


@pytest.fixture
def served(dataset: Dataset, transport: str) -> Iterator[Start]:
    """Start a faulty server (of ``dataset`` unless another is given) for the test; closed after it."""
    opened: list[Served] = []

    def start(faults: Faults, data: Dataset = dataset) -> Served:
        opened.append(Served(data, faults, transport))
        return opened[-1]

    yield start
    for server in opened:
        server.close()


def assert_store_is_truth(root: Path, dataset: Dataset) -> None:
    """Every stored table holds each id once, with the values the account holds."""
    for resource in STORED:
        got = storekit.stored(root, resource)
        if "id" in got.columns:  # tax.settings is a singleton without one
            assert got.get_column("id").is_unique().all(), resource
        assert_frame_equal(storekit.truth(dataset, resource), got)


def retried(report: SyncReport) -> int:
    return sum(report.retries.values())


# -- the injector itself -----------------------------------------------------------------------------


def test_rates_are_checked() -> None:
    with pytest.raises(ValueError, match="Unknown fault kinds"):
        Faults({"teapot": 0.1})
    with pytest.raises(ValueError, match="add up to 1"):
        Faults({"500": 0.6, "reset": 0.5})
    with pytest.raises(ValueError, match=">= 0"):
        Faults({"500": -0.1})


def test_draws_are_seeded_and_follow_the_rates() -> None:
    def draws(seed: int) -> list[str | None]:
        faults = Faults({"500": 0.1, "reset": 0.2, "truncated": 0.05}, seed=seed)
        return [faults.draw(ORDERS) for _ in range(20_000)]

    first = draws(7)
    assert first == draws(7)
    assert first != draws(8)
    for kind, rate in {"500": 0.1, "reset": 0.2, "truncated": 0.05, None: 0.65}.items():
        assert rate == pytest.approx(first.count(kind) / len(first), abs=0.015)


def test_spread_covers_every_kind() -> None:
    faults = Faults.spread(0.24, seed=1)
    assert set(KINDS) == set(faults.rates)
    assert 0.24 == pytest.approx(faults.total)
    assert set(KINDS) == {faults.draw(ORDERS) for _ in range(5_000)} - {None}


def test_paths_and_after_choose_which_answers_suffer() -> None:
    faults = Faults({"503": 1.0}, paths=r"^/v1/climate/", after=2)
    assert [None, None, "503", "503"] == [faults.draw(ORDERS) for _ in range(4)]
    assert faults.draw("/v1/tax/settings") is None
    assert (4, 2) == (faults.answered, faults.faulted)


# -- one kind at a time ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_fault_that_persists_names_endpoint_request_and_attempts(served: Start, kind: str) -> None:
    server = served(Faults({kind: 1.0}, stall=STALL))
    error_type, in_process, over_socket = EXPECTED[kind]
    # Only a stall needs the short read timeout; a sound answer never meets the long one.
    limits = SHORT_READ if kind == "timeout" else ReadLimits(timeout=30.0)
    retry = RetryPolicy(max_retries=2, base_delay=0, max_delay=0)
    with server.client(retry, limits) as client, pytest.raises(error_type) as info:
        client.get(ORDERS, {"limit": 100}, expect="list")
    err = info.value
    reason = over_socket if server.loopback else in_process
    assert {reason: 2} == client.policy.stats.retries
    assert (3, ORDERS) == (err.attempts, err.path)
    text = str(err)
    assert f"GET {ORDERS}" in text
    assert "3 attempt(s)" in text
    if kind in ("reset", "timeout"):
        assert err.request_id is None
        assert "no answer" in text
    elif kind == "html":  # a proxy's page carries no Stripe Request-Id, and the message says so
        assert err.request_id is None
        assert "no Request-Id" in text
    else:
        assert err.request_id is not None
        assert re.fullmatch(r"req_\d{14}", err.request_id)
        assert f"request {err.request_id}" in text
    assert 3 == server.faults.faulted


@pytest.mark.parametrize("kind", KINDS)
def test_each_fault_is_retried_to_the_exact_list(served: Start, dataset: Dataset, kind: str) -> None:
    """A third of the answers suffer ``kind``; every account's transactions still arrive exactly,
    listing after listing, until at least five faults were met."""
    server = served(Faults({kind: 1 / 3}, seed=11, stall=STALL))
    expected = {
        a["id"]: sorted(t["id"] for t in dataset[storekit.TRANSACTION] if t["account"] == a["id"])
        for a in dataset["financial_connections.account"]
    }
    with server.client() as client:
        for _ in range(20):
            for account, ids in expected.items():
                got = [t["id"] for t in iter_objects(client, TRANSACTIONS, {"account": account})]
                assert ids == sorted(got)
                assert len(got) == len(set(got))
            if server.faults.faulted >= 5:
                break
        stats = client.policy.stats
    assert server.faults.faulted >= 5
    reason = EXPECTED[kind][2 if server.loopback else 1]
    if server.loopback:  # a sound but slow answer may time out too: at least one retry per fault
        assert server.faults.faulted <= sum(stats.retries.values())
    else:
        assert {reason: server.faults.faulted} == stats.retries
        assert stats.requests == len(server.stripe.requests)


# -- mixed faults: frames, and syncs into the store --------------------------------------------------


def test_every_frame_is_exact_under_faults(dataset: Dataset) -> None:
    """Each frame method, fetched with 30% of answers faulted, equals the same fetch without faults."""
    faults = Faults.spread(0.3, seed=5)
    faulty = Served(dataset, faults, "in-process").connection(dataset)
    sound = Served(dataset, Faults({}), "in-process").connection(dataset)
    tax = storekit.tax_ids(dataset)[:25]
    calculations = [c["id"] for c in dataset["tax.calculation"][:10]]
    intents = [a["payment_intent"] for a in dataset["tax.association"][:10]]
    calls = {
        "accounts": lambda s: s.accounts(),
        "transactions": lambda s: s.transactions(),
        "transactions window": lambda s: s.transactions(start="2026-01-01", end="2026-07-01"),
        "tax_transactions": lambda s: s.tax_transactions(ids=tax),
        "tax_transactions by intent": lambda s: s.tax_transactions(payment_intents=intents),
        "tax_line_items": lambda s: s.tax_line_items(ids=tax),
        "tax_calculations": lambda s: s.tax_calculations(calculations),
        "tax_calculation_line_items": lambda s: s.tax_calculation_line_items(calculations),
        "tax_registrations": lambda s: s.tax_registrations(),
        "tax_settings": lambda s: s.tax_settings(),
        "climate_orders": lambda s: s.climate_orders(),
        "climate_products": lambda s: s.climate_products(),
        "climate_suppliers": lambda s: s.climate_suppliers(),
        "verification_sessions": lambda s: s.verification_sessions(),
        "verification_reports": lambda s: s.verification_reports(),
        "onramp_sessions": lambda s: s.onramp_sessions(),
        "forwarding_requests": lambda s: s.forwarding_requests(),
        "webhook_endpoints": lambda s: s.webhook_endpoints(),
    }
    for name, call in calls.items():
        expected: pl.DataFrame = call(sound)
        assert expected.height > 0, name
        assert_frame_equal(expected, call(faulty), check_row_order=True)
    truth = storekit.truth(dataset, storekit.TRANSACTION).sort("id")
    assert_frame_equal(storekit.as_read(truth), faulty.transactions().sort("id"))
    assert 0.2 <= faults.faulted / faults.answered


def test_a_full_sync_under_faults_equals_the_truth(served: Start, tmp_path: Path) -> None:
    """A full sync with 30% of answers faulted, then an incremental sync under faults: both exact."""
    dataset = storekit.small_dataset()  # changed below
    server = served(Faults.spread(0.3, seed=3, stall=STALL), dataset)
    demo = storekit.Demo(dataset, server.stripe, tmp_path)
    connection = server.connection(dataset, tmp_path)
    assert connection.open_store() is not None  # asks /v1/account: not part of the sync's report
    check_sync(demo, connection, server)
    assert 0.2 <= server.faults.faulted / server.faults.answered

    storekit.advance(dataset, 150)
    check_sync(demo, connection, server)


def check_sync(demo: storekit.Demo, connection: Connection, server: Served) -> SyncReport:
    """Sync; the store equals the truth and the report counts every request and every retry."""
    faulted, sent = server.faults.faulted, demo.mark()
    report = demo.sync(connection)
    assert_store_is_truth(demo.root, demo.dataset)
    faulted = server.faults.faulted - faulted
    assert faulted > 0
    if server.loopback:  # a sound but slow answer may time out too: at least one retry per fault
        assert faulted <= retried(report)
    else:
        assert faulted == retried(report)
        assert demo.mark() - sent == report.requests
    assert f"{retried(report)} retried (" in str(report)
    return report


@pytest.mark.parametrize(
    ("kind", "paths", "after", "options", "partial"),
    [
        pytest.param("503", f"^{ORDERS}$", 0, {}, None, id="503-after-other-resources"),
        pytest.param(
            "reset", f"^{TRANSACTIONS}$", 5, {"batch_pages": 1}, storekit.TRANSACTION, id="reset-mid-list"
        ),
        pytest.param("html", "^/v1/tax/transactions/", 12, {"tax_batch": 5}, storekit.TAX, id="html-mid-tax"),
    ],
)
def test_a_fault_past_the_retries_keeps_what_was_committed(
    tmp_path: Path, kind: str, paths: str, after: int, options: dict[str, int], partial: str | None
) -> None:
    """The error names the endpoint, the Request-Id, the attempts and what is kept; a resume is exact."""
    dataset = storekit.small_dataset()
    faults = Faults({kind: 1.0}, paths=paths, after=after)
    demo = storekit.Demo(dataset, DemoStripe(dataset, faults=faults), tmp_path)
    connection = demo.connection(retry=RetryPolicy(max_retries=3, base_delay=0, max_delay=0))
    with pytest.raises(EXPECTED[kind][0]) as info:
        demo.sync(connection, **options)
    err, text = info.value, str(info.value)
    assert err.path is not None
    assert re.search(paths, err.path)
    assert f"GET {err.path}" in text
    assert "4 attempt(s)" in text
    if kind == "503":
        assert f"request {err.request_id}" in text
    else:  # no Stripe answer (reset) or a proxy's page (html): there is no Request-Id, and it says so
        assert err.request_id is None
        assert "no answer" in text or "no Request-Id" in text
    assert f"kept in the store {tmp_path}/{ACCOUNT}/test" in text
    assert "Run the sync again" in text
    kept = {table.resource: table.rows for table in Store(tmp_path, ACCOUNT, livemode=False).status()}
    assert "financial_connections.account" in kept
    for resource, rows in kept.items():
        assert f"{resource} ({rows} rows)" in text
        got = storekit.stored(tmp_path, resource)
        assert rows == got.height > 0
        if "id" in got.columns:  # what is kept is right: each id once, as the account holds it
            assert got.get_column("id").is_unique().all()
            truth = storekit.truth(dataset, resource)
            assert_frame_equal(truth.filter(pl.col("id").is_in(got.get_column("id").implode())), got)
    if partial is not None:  # the listing that failed had committed some of its pages, not all
        assert 0 < kept[partial] < storekit.truth(dataset, partial).height

    demo.server.faults = None  # the fault clears: a resume ends exactly at the truth
    demo.sync(connection)
    assert_store_is_truth(tmp_path, dataset)


@pytest.mark.slow
def test_a_full_sync_of_the_whole_demo_account_under_faults(tmp_path: Path) -> None:
    """The bundled account as shipped (16,000 FC transactions, 2,240 tax transactions), 25% faulted."""
    dataset = default_dataset()
    server = Served(dataset, Faults.spread(0.25, seed=9), "in-process")
    demo = storekit.Demo(dataset, server.stripe, tmp_path)
    connection = server.connection(dataset, tmp_path)
    assert connection.open_store() is not None
    report = check_sync(demo, connection, server)
    assert 2_500 < report.requests
    assert 0.2 <= server.faults.faulted / server.faults.answered
