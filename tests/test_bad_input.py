"""The bad-input catalogue: one test per row of the README's table.

Each test feeds finlab one kind of bad input (from the caller, or from a server that drifts from the
schema) and checks the answer: a clear error that says what was wrong and what to do, sent before any
request where the input alone is at fault, or, for drifting responses, a frame that still builds and a
`SchemaDriftWarning` that names the drift.
"""

from __future__ import annotations

import hashlib
import shutil
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

import finlab
import finlab.client
import finlab.connection
from finlab import errors, resources
from finlab.client import RetryPolicy
from finlab.connection import Connection, connect, to_epoch
from finlab.demo import DEMO_API_KEY, DemoStripe
from finlab.demo.dataset import Dataset
from finlab.errors import SchemaDriftWarning

try:
    import storekit
except ImportError:  # tests/ became a package
    from tests import storekit  # type: ignore[no-redef]

NO_WAIT = RetryPolicy(base_delay=0, max_delay=0)
LIVE_KEY = "rk_live_51BadInputCatalogueLiveKey0000000000000000000000"
TEST_KEY = "rk_test_51BadInputCatalogueTestKey0000000000000000000000"
WRONG_KEY = "rk_live_51SomebodyElsesKeyThatStripeDoesNotKnow000000000"
ACCOUNT = "acct_1FinlabDemo000000"


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return storekit.small_dataset()


class Account:
    """A demo Stripe for chosen keys, and connections to it that record every request it answers."""

    def __init__(self, dataset: Dataset, keys: dict[str, frozenset[str] | None] | None = None) -> None:
        self.dataset = dataset
        self.server = DemoStripe(dataset, api_keys=keys)

    def connect(self, key: str = DEMO_API_KEY, **options: Any) -> Connection:
        return Connection(
            key,
            transport=httpx.MockTransport(self.server.handle),
            retry=NO_WAIT,
            **options,
        )

    @property
    def requests(self) -> int:
        return len(self.server.requests)


@pytest.fixture
def account(dataset: Dataset) -> Account:
    return Account(dataset)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, store or base URL from the environment, and notices not yet given in this process."""
    for name in ("STRIPE_API_KEY", "FINLAB_STORE", "FINLAB_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(finlab.connection, "_notices", set())


def assert_no_key(text: str, key: str) -> None:
    assert key not in text
    assert key[8:28] not in text


# -- keys ----------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("clean_env")
def test_missing_key_gives_the_demo_account_with_a_notice(capsys: pytest.CaptureFixture[str]) -> None:
    stripe = connect()
    assert stripe.is_demo
    assert "bundled demo account" in capsys.readouterr().err
    connect()
    assert "" == capsys.readouterr().err  # the notice comes once per process


@pytest.mark.usefixtures("clean_env")
def test_missing_key_with_demo_false_is_a_clear_error() -> None:
    with pytest.raises(errors.AuthenticationError, match="No Stripe API key") as info:
        connect(demo=False)
    assert "STRIPE_API_KEY" in str(info.value)
    assert "demo" in str(info.value)


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("rk_live_abc", "malformed"),
        ("rk_live_51Bad Input", "malformed"),
        ("rk_prod_51BadInputCatalogue000", "malformed"),
        ("Bearer rk_live_51BadInputCatalogue000", "malformed"),
        ("pk_live_51BadInputCatalogue000", "publishable"),
    ],
)
@pytest.mark.usefixtures("clean_env")
def test_malformed_key_is_refused_before_any_request(account: Account, key: str, says: str) -> None:
    with pytest.raises(errors.ConfigurationError, match=says) as info:
        connect(api_key=key, transport=httpx.MockTransport(account.server.handle))
    assert_no_key(str(info.value), key)
    assert 0 == account.requests


def test_wrong_key_is_a_401_that_is_not_retried(dataset: Dataset) -> None:
    stripe = Account(dataset, {LIVE_KEY: None})
    with pytest.raises(errors.AuthenticationError) as info:
        stripe.connect(WRONG_KEY).climate_orders()
    err = info.value
    assert 401 == err.status
    assert 1 == err.attempts == stripe.requests
    assert "Check STRIPE_API_KEY" in str(err)
    assert_no_key(str(err), WRONG_KEY)
    assert_no_key(repr(err), WRONG_KEY)


def _calls() -> Iterator[Any]:
    """Every frame method, and the resource whose read permission it needs."""
    yield pytest.param("accounts", lambda s: s.accounts(), "financial_connections.account", id="accounts")
    yield pytest.param(
        "transactions",
        lambda s: s.transactions(account=s.accounts().get_column("id")[0]),
        "financial_connections.transaction",
        id="transactions",
    )
    yield pytest.param(
        "tax_transactions", lambda s: s.tax_transactions(ids=["tax_1"]), "tax.transaction", id="tax"
    )
    yield pytest.param(
        "tax_calculations",
        lambda s: s.tax_calculations(["taxcalc_1"]),
        "tax.calculation",
        id="tax_calculations",
    )
    for method in (
        "tax_registrations",
        "tax_settings",
        "climate_orders",
        "climate_products",
        "climate_suppliers",
        "verification_sessions",
        "verification_reports",
        "onramp_sessions",
        "forwarding_requests",
        "webhook_endpoints",
    ):
        yield pytest.param(
            method, lambda s, m=method: getattr(s, m)(), resources.get(method).object, id=method
        )


@pytest.mark.parametrize(("method", "call", "resource"), list(_calls()))
def test_restricted_key_without_the_permission_names_resource_and_permission(
    dataset: Dataset, method: str, call: Callable[[Connection], pl.DataFrame], resource: str
) -> None:
    """403: the message names the resource, the method and the read permission to grant."""
    res = resources.get(resource)
    every = {r.permission for r in resources.RESOURCES.values()}
    stripe = Account(dataset, {LIVE_KEY: frozenset(every - {res.permission})})
    with pytest.raises(errors.PermissionError) as info:
        call(stripe.connect(LIVE_KEY))
    err, text = info.value, str(info.value)
    assert 403 == err.status
    assert 1 == err.attempts  # a missing permission is not retried
    assert res.object in text
    assert f"stripe.{res.method}()" in text
    assert repr(res.permission) in text
    assert "grant it to the restricted key" in text
    assert_no_key(text, LIVE_KEY)


#: The demo's permissions for what finds tax transactions and reads Stripe's tax reports.
OTHER_PERMISSIONS = {
    "rak_payment_intent_read",
    "rak_refund_read",
    "rak_reporting_report_type_read",
    "rak_reporting_report_run_read",
    "rak_file_read",
}


REPORTING = "'Reporting: Report runs and report types'"


@pytest.mark.parametrize(
    ("missing", "call", "says"),
    [
        ("rak_payment_intent_read", lambda s: s.tax_transactions(), "'PaymentIntents: Read'"),
        ("rak_refund_read", lambda s: s.tax_line_items(start="2026-01-01"), "'Refunds: Read'"),
        (
            "rak_reporting_report_type_read",
            lambda s: s.tax_report(),
            "'Reporting: Report runs and report types'",
        ),
        (
            "rak_reporting_report_run_read",
            lambda s: s.tax_report(),
            "'Reporting: Report runs and report types'",
        ),
        ("rak_file_read", lambda s: s.tax_report(), "'Files: Read'"),
    ],
)
def test_discovery_and_reports_name_the_permission_they_lack(
    dataset: Dataset, missing: str, call: Callable[[Connection], pl.DataFrame], says: str
) -> None:
    every = {r.permission for r in resources.RESOURCES.values()} | OTHER_PERMISSIONS
    stripe = Account(dataset, {LIVE_KEY: frozenset(every - {missing})})
    with pytest.raises(errors.PermissionError) as info:
        call(stripe.connect(LIVE_KEY))
    assert says in str(info.value)
    assert "grant it to the restricted key" in str(info.value)
    assert_no_key(str(info.value), LIVE_KEY)


# -- arguments refused before any request --------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "says"),
    [
        pytest.param(lambda s: s.transactions(account="acct_1Nv0FGQ9RKHgCVdK"), "fca_", id="fc-account"),
        pytest.param(lambda s: s.transactions(account=["fca_1", "ba_1"]), "'ba_1'", id="one-of-several"),
        pytest.param(lambda s: s.tax_transactions(ids=["txn_1"]), "tax_", id="tax-transaction"),
        pytest.param(lambda s: s.tax_line_items(ids=["taxcalc_1"]), "tax_", id="tax-line-items"),
        pytest.param(lambda s: s.tax_transactions(payment_intents=["ch_1"]), "pi_", id="payment-intent"),
        pytest.param(lambda s: s.tax_calculations(["tax_1"]), "taxcalc_", id="tax-calculation"),
        pytest.param(lambda s: s.tax_calculation_line_items([42]), "taxcalc_", id="not-a-string"),
    ],
)
def test_ids_with_the_wrong_prefix_are_refused_before_any_request(
    account: Account, call: Callable[[Connection], Any], says: str
) -> None:
    stripe = account.connect()
    with pytest.raises(errors.ConfigurationError, match=says) as info:
        call(stripe)
    assert "Check you passed the right ids" in str(info.value)
    assert 0 == account.requests


BAD_IDS = [
    "tax_../../account",
    "tax_1/line_items",
    "tax_1?expand[]=x",
    "tax_1#x",
    "tax_1 2",
    "tax_1\n",
    "tax_\x00",
]


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s, bad: s.tax_transactions(ids=["tax_1", bad]), id="tax-transactions"),
        pytest.param(lambda s, bad: s.tax_line_items(ids=[bad]), id="tax-line-items"),
        pytest.param(
            lambda s, bad: s.tax_transactions(payment_intents=[bad.replace("tax_", "pi_")]), id="pi"
        ),
        pytest.param(lambda s, bad: s.tax_calculations([bad.replace("tax_", "taxcalc_")]), id="calculations"),
        pytest.param(lambda s, bad: s.transactions(account=bad.replace("tax_", "fca_")), id="fc-account"),
    ],
)
def test_ids_that_are_not_stripe_ids_are_refused_before_any_request(
    account: Account, call: Callable[[Connection, str], Any], bad: str
) -> None:
    stripe = account.connect()
    with pytest.raises(errors.ConfigurationError, match="is not a Stripe id") as info:
        call(stripe, bad)
    assert info.value.__cause__ is None
    assert 0 == account.requests


@pytest.mark.parametrize("bad", [bad for bad in BAD_IDS if bad != "tax_1/line_items"])  # a real path
def test_an_id_from_elsewhere_cannot_bend_a_request_path(bad: str) -> None:
    """Ids that reach a path without a caller's check (a store, a server's answer) meet the client's."""
    seen: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda request: seen.append(request) or httpx.Response(500))
    with (
        finlab.client.Client(DEMO_API_KEY, transport=transport, retry=NO_WAIT) as client,
        pytest.raises(errors.ConfigurationError, match="segments of letters, digits, underscores and dots"),
    ):
        client.get(resources.get("tax.transaction").retrieve_path.format(id=bad))  # type: ignore[union-attr]
    assert [] == seen


@pytest.mark.parametrize("bad", [bad.replace("tax_", "acct_") for bad in BAD_IDS])
def test_a_stripe_account_that_is_not_an_id_is_refused_and_leaves_no_directory(
    account: Account, tmp_path: Path, bad: str
) -> None:
    store = tmp_path / "store"
    with pytest.raises(errors.ConfigurationError, match="is not a Stripe id"):
        account.connect(stripe_account=bad, store=store).sync(progress=False)
    assert not store.exists() or [] == list(store.iterdir())
    assert 0 == account.requests


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-03-01", "2026-02-01"),
        ("2026-02-01", "2026-02-01"),  # end is exclusive: an empty window is a mistake too
        (datetime(2026, 2, 1, 12, tzinfo=UTC), date(2026, 2, 1)),
    ],
)
def test_start_after_end_is_refused_before_any_request(account: Account, start: Any, end: Any) -> None:
    with pytest.raises(errors.ConfigurationError, match="start must be before end"):
        account.connect().transactions(account="fca_1", start=start, end=end)
    assert 0 == account.requests


@pytest.mark.parametrize("bound", ["start", "end"])
def test_naive_datetimes_are_refused_before_any_request(account: Account, bound: str) -> None:
    with pytest.raises(errors.ConfigurationError, match="has no timezone") as info:
        account.connect().transactions(account="fca_1", **{bound: datetime(2026, 1, 31, 9, 30)})
    assert "tzinfo=UTC" in str(info.value)
    assert 0 == account.requests
    with pytest.raises(errors.ConfigurationError, match="not an ISO date"):
        account.connect().transactions(account="fca_1", **{bound: "31/01/2026"})


def test_dates_and_day_strings_mean_midnight_utc(account: Account) -> None:
    midnight = int(datetime(2026, 1, 31, tzinfo=UTC).timestamp())
    assert midnight == to_epoch(date(2026, 1, 31), "start") == to_epoch("2026-01-31", "start")
    assert midnight == to_epoch(datetime(2026, 1, 31, 1, tzinfo=timezone(timedelta(hours=1))), "start")
    stripe = account.connect()
    fca = stripe.accounts().get_column("id")[0]
    frame = stripe.transactions(account=fca, start=date(2026, 1, 31), end="2026-02-01")
    sent = [dict(r.params) for r in account.server.requests if r.path.endswith("/transactions")]
    lows = {int(p["transacted_at[gte]"]) for p in sent}
    highs = {int(p["transacted_at[lt]"]) for p in sent}
    assert (midnight, midnight + 86_400) == (min(lows), max(highs))  # however the window is sliced
    day = frame.get_column("transacted_at").dt.date().unique().to_list()
    assert day in ([], [date(2026, 1, 31)])


def test_unknown_resource_names_are_refused_with_the_known_ones(account: Account) -> None:
    stripe = account.connect()
    with pytest.raises(errors.ConfigurationError, match=r"Unknown resource 'climate\.orders'") as info:
        stripe.frame("climate.orders")
    assert "climate.order," in str(info.value)
    with pytest.raises(errors.ConfigurationError, match="take no filter"):
        stripe.frame("climate.order", status="open")
    with pytest.raises(errors.ConfigurationError, match="no list endpoint"):
        stripe.frame("tax.transaction")
    assert 0 == account.requests


# -- the store's account and mode -----------------------------------------------------------------------


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_a_test_key_never_touches_a_live_store(dataset: Dataset, tmp_path: Path) -> None:
    stripe = Account(dataset, {LIVE_KEY: None, TEST_KEY: None})
    live = stripe.connect(LIVE_KEY, store=tmp_path)
    live.sync(["climate.order"], progress=False)
    live_dir = tmp_path / ACCOUNT / "live"
    before = tree_digest(live_dir)

    test = stripe.connect(TEST_KEY, store=tmp_path)
    assert_frame_equal_ids(live.climate_orders(), test.climate_orders())
    assert test.store is not None
    assert str(tmp_path / ACCOUNT / "test") == test.store.base
    assert before == tree_digest(live_dir)

    # A live store copied to where the test data goes is refused, and left as it is.
    test_dir = tmp_path / ACCOUNT / "test"
    shutil.rmtree(test_dir)
    shutil.copytree(live_dir, test_dir)
    copied = tree_digest(test_dir)
    with pytest.raises(errors.StoreError, match=rf"created for {ACCOUNT} \(live\)") as info:
        stripe.connect(TEST_KEY, store=tmp_path).climate_orders()
    assert f"this key reads {ACCOUNT} (test)" in str(info.value)
    assert "nothing was changed" in str(info.value)
    assert copied == tree_digest(test_dir)


def assert_frame_equal_ids(left: pl.DataFrame, right: pl.DataFrame) -> None:
    assert left.height > 0
    assert sorted(left.get_column("id")) == sorted(right.get_column("id"))


# -- responses that drift from the schema ----------------------------------------------------------------


def drifted(dataset: Dataset) -> Dataset:
    """A copy of ``dataset`` whose climate orders and FC transactions drift from finlab's schema."""
    data = storekit.small_dataset()
    orders = data[storekit.ORDER]
    orders[0]["carbon_removal_method"] = "biochar"  # an unknown field
    orders[1]["status"] = "paused"  # an unknown enum value
    del orders[2]["expected_delivery_year"]  # a missing optional field
    orders[3]["metric_tons"] = None  # null where a value is expected
    orders[4]["amount_total"] = "1200"  # a value of the wrong JSON type
    txn = data[storekit.TRANSACTION][0]
    txn["status"] = "reversed"
    del txn["description"]
    data.touch()
    return data


@pytest.mark.usefixtures("fresh_drift_reports")
def test_drifting_responses_still_build_and_a_warning_lists_the_drift(dataset: Dataset) -> None:
    data = drifted(dataset)
    stripe = Account(data).connect()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        orders = stripe.climate_orders()
        transactions = stripe.transactions()
    drift = [str(w.message) for w in caught if issubclass(w.category, SchemaDriftWarning)]
    for expected in (
        "climate.order objects carry a field finlab does not know: 'carbon_removal_method'",
        "climate.order.status has a value finlab does not know: 'paused'",
        "climate.order.amount_total holds values of an unexpected type",
        "financial_connections.transaction.status has a value finlab does not know: 'reversed'",
    ):
        assert any(expected in message for message in drift), expected
    assert len(data[storekit.ORDER]) == orders.height
    assert len(data[storekit.TRANSACTION]) == transactions.height
    assert finlab.resources.schema("climate.order") == orders.schema
    by_id = {row["id"]: row for row in orders.iter_rows(named=True)}
    source = data[storekit.ORDER]
    assert "paused" == by_id[source[1]["id"]]["status"]  # kept as sent
    assert by_id[source[2]["id"]]["expected_delivery_year"] is None
    assert by_id[source[3]["id"]]["metric_tons"] is None
    assert by_id[source[4]["id"]]["amount_total"] is None  # the raw JSON keeps "1200"
    txn = transactions.filter(pl.col("id") == data[storekit.TRANSACTION][0]["id"]).row(0, named=True)
    assert ("reversed", None) == (txn["status"], txn["description"])


@pytest.mark.usefixtures("fresh_drift_reports")
def test_drifting_responses_sync_into_the_store_raw_json_kept(dataset: Dataset, tmp_path: Path) -> None:
    data = drifted(dataset)
    stripe = Account(data).connect(store=tmp_path)
    with pytest.warns(SchemaDriftWarning):
        stripe.sync(["climate.order"], progress=False)
    assert stripe.store is not None
    raw = stripe.store.read_columns("climate.order", ["id", "raw"])
    kept = dict(zip(raw.get_column("id"), raw.get_column("raw"), strict=True))
    assert '"carbon_removal_method":"biochar"' in kept[data[storekit.ORDER][0]["id"]]
    assert '"amount_total":"1200"' in kept[data[storekit.ORDER][4]["id"]]


@pytest.mark.usefixtures("fresh_drift_reports")
def test_unknown_currency_keeps_minor_units_and_warns(dataset: Dataset) -> None:
    data = storekit.small_dataset()
    order = data[storekit.ORDER][0]
    order["currency"] = "zzz"
    data.touch()
    with pytest.warns(SchemaDriftWarning, match="unknown currency 'zzz'"):
        orders = Account(data).connect().climate_orders()
    row = orders.filter(pl.col("id") == order["id"]).row(0, named=True)
    assert (order["amount_total"], None) == (row["amount_total"], row["amount_total_major"])


@pytest.mark.parametrize("currency", ["usd", "jpy", "kwd"])
def test_amounts_near_the_int64_limits_are_exact(dataset: Dataset, tmp_path: Path, currency: str) -> None:
    """The largest and smallest Int64 amounts survive the frame and the store, digit for digit."""
    data = storekit.small_dataset()
    top, bottom = 2**63 - 1, -(2**63)
    orders = data[storekit.ORDER]
    for order, amount in ((orders[0], top), (orders[1], bottom), (orders[2], top - 1)):
        order["amount_total"] = amount
        order["currency"] = currency
    data.touch()
    stripe = Account(data).connect(store=tmp_path)
    for frame in (Account(data).connect().climate_orders(), stripe.climate_orders()):
        by_id = {row["id"]: row for row in frame.iter_rows(named=True)}
        for order in orders[:3]:
            got = by_id[order["id"]]
            assert order["amount_total"] == got["amount_total"]
            exponent = {"usd": 2, "jpy": 0, "kwd": 3}[currency]
            assert order["amount_total"] == got["amount_total_major"].scaleb(exponent)


@pytest.mark.usefixtures("fresh_drift_reports")
def test_amounts_beyond_int64_become_null_with_a_warning(dataset: Dataset) -> None:
    data = storekit.small_dataset()
    order = data[storekit.ORDER][0]
    order["amount_total"] = 2**63
    data.touch()
    with pytest.warns(SchemaDriftWarning, match="unexpected type"):
        orders = Account(data).connect().climate_orders()
    assert orders.filter(pl.col("id") == order["id"]).get_column("amount_total").is_null().all()
