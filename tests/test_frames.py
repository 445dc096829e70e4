"""Stripe objects -> typed frames: Stripe's own example objects, drift warnings, money columns."""

# Expected value first is this project's test convention (DESIGN.md), which SIM300 calls yoda.

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from finlab import frames
from finlab.errors import SchemaDriftWarning
from finlab.resources import CURRENCY_KEY, PARENT_KEY, RESOURCES

pytestmark = pytest.mark.usefixtures("fresh_drift_reports")

EXAMPLE_TIME = datetime(2009, 2, 13, 23, 31, 30, tzinfo=UTC)  # 1234567890, Stripe's example timestamp

#: Stripe's fixtures subset has no Financial Connections account; this one follows the object as
#: Stripe documents it (API reference, "The Account object"). Hand-written, not Stripe's data.
FC_ACCOUNT: dict[str, Any] = {
    "id": "fca_1MwVK82eZvKYlo2Cjw8FMxXf",
    "object": "financial_connections.account",
    "account_holder": {"customer": "cus_NhKQv5XUg8kCgr", "type": "customer"},
    "balance": {
        "as_of": 1234567890,
        "cash": {"available": {"usd": 5500}},
        "current": {"usd": 6000},
        "type": "cash",
    },
    "balance_refresh": {
        "last_attempted_at": 1234567890,
        "next_refresh_available_at": None,
        "status": "succeeded",
    },
    "category": "cash",
    "created": 1234567890,
    "display_name": "Sample Checking Account",
    "institution_name": "StripeBank",
    "last4": "6789",
    "livemode": False,
    "ownership": None,
    "ownership_refresh": None,
    "permissions": ["balances", "transactions"],
    "status": "active",
    "subcategory": "checking",
    "subscriptions": ["transactions"],
    "supported_payment_method_types": ["us_bank_account"],
    "transaction_refresh": {
        "id": "fctxnref_QXhW1",
        "last_attempted_at": 1234567890,
        "next_refresh_available_at": None,
        "status": "succeeded",
    },
}


@pytest.fixture
def examples(stripe_fixtures: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One example object per resource (deep copies: tests may change them)."""
    return copy.deepcopy({**stripe_fixtures, "financial_connections.account": FC_ACCOUNT})


@pytest.fixture
def drift() -> Iterator[list[warnings.WarningMessage]]:
    """Every warning raised inside the test, drift or not."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def drift_messages(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, SchemaDriftWarning)]


# -- Stripe's examples -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_every_resource_builds_from_stripes_example_with_its_schema(
    name: str, examples: dict[str, dict[str, Any]]
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", SchemaDriftWarning)  # spec-conformant objects never warn
        frame = frames.build(name, [examples[name]])
    assert RESOURCES[name].schema == frame.schema
    assert 1 == frame.height


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_empty_input_has_the_same_schema(name: str) -> None:
    schema = RESOURCES[name].schema
    assert schema == frames.build(name, []).schema
    assert schema == frames.build(name, iter([])).schema
    assert schema == frames.empty(name).schema
    assert 0 == frames.build(RESOURCES[name], ()).height


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_timestamps_are_utc_microseconds(name: str, examples: dict[str, dict[str, Any]]) -> None:
    frame = frames.build(name, [examples[name]])
    times = [c.name for c in RESOURCES[name].columns if c.kind == "time"]
    for column in times:
        assert pl.Datetime("us", "UTC") == frame.schema[column]
    if "created" in times:
        assert EXAMPLE_TIME == frame.item(0, "created")


def test_fc_transaction_values(examples: dict[str, dict[str, Any]]) -> None:
    row = frames.build(
        "financial_connections.transaction", [examples["financial_connections.transaction"]]
    ).row(0, named=True)
    assert "fctxn_1Pgc76B7WZ01zgkW30ATGSKp" == row["id"]
    assert 300 == row["amount"]
    assert Decimal("3.00") == row["amount_major"]
    assert "posted" == row["status"]
    assert datetime(2024, 7, 26, 0, 34, 28, tzinfo=UTC) == row["status_transitions_posted_at"]
    assert row["status_transitions_void_at"] is None
    assert EXAMPLE_TIME == row["transacted_at"]
    assert "fctxnref_QXhWc2Trdr6epyWGrcV9Qajf" == row["transaction_refresh"]


def test_fc_account_balances(examples: dict[str, dict[str, Any]]) -> None:
    row = frames.build("financial_connections.account", [examples["financial_connections.account"]]).row(
        0, named=True
    )
    assert ("usd", 6000, Decimal("60.00"), 5500, Decimal("55.00")) == (
        row["currency"],
        row["balance_current"],
        row["balance_current_major"],
        row["balance_available"],
        row["balance_available_major"],
    )
    assert ["balances", "transactions"] == row["permissions"]
    assert "succeeded" == row["transaction_refresh_status"]
    assert "customer" == row["account_holder_type"]


def test_fc_credit_account_has_no_available_balance(examples: dict[str, dict[str, Any]]) -> None:
    account = examples["financial_connections.account"]
    account["balance"] = {
        "as_of": 1,
        "credit": {"used": {"usd": 900}},
        "current": {"usd": -900},
        "type": "credit",
    }
    row = frames.build("financial_connections.account", [account]).row(0, named=True)
    assert (-900, None, "credit") == (row["balance_current"], row["balance_available"], row["balance_type"])


def test_climate_order_values(examples: dict[str, dict[str, Any]]) -> None:
    row = frames.build("climate.order", [examples["climate.order"]]).row(0, named=True)
    assert Decimal("10") == row["metric_tons"]
    assert (
        pl.Decimal(38, 9) == frames.build("climate.order", [examples["climate.order"]]).schema["metric_tons"]
    )
    assert (10000, 300, 10300) == (row["amount_subtotal"], row["amount_fees"], row["amount_total"])
    assert (Decimal("100.00"), Decimal("3.00"), Decimal("103.00")) == (
        row["amount_subtotal_major"],
        row["amount_fees_major"],
        row["amount_total_major"],
    )
    assert "climsku_frontier_offtake_portfolio_2027" == row["product"]
    assert "Frontier Climate" == row["beneficiary_public_name"]
    assert [] == row["delivery_details"]
    assert "{}" == row["metadata"]
    assert 2027 == row["expected_delivery_year"]


def test_climate_order_with_expanded_product_and_deliveries(examples: dict[str, dict[str, Any]]) -> None:
    order = examples["climate.order"]
    order["product"] = examples["climate.product"]
    order["metric_tons"] = "0.123456789"
    order["delivery_details"] = [
        {
            "delivered_at": 1700000000,
            "location": {
                "city": "Houston",
                "country": "US",
                "latitude": 29,
                "longitude": -95.37,
                "region": "TX",
            },
            "metric_tons": "0.5",
            "registry_url": None,
            "supplier": examples["climate.supplier"],
        }
    ]
    row = frames.build("climate.order", [order]).row(0, named=True)
    assert "climsku_frontier_offtake_portfolio_2027" == row["product"]
    assert Decimal("0.123456789") == row["metric_tons"]
    (delivery,) = row["delivery_details"]
    assert datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC) == delivery["delivered_at"]
    assert Decimal("0.5") == delivery["metric_tons"]
    assert 29.0 == delivery["location"]["latitude"]
    assert {
        "id": "climsup_charm_industrial",
        "name": "Charm Industrial",
        "removal_pathway": "biomass_carbon_removal_and_storage",
    } == delivery["supplier"]


def test_climate_product_values(examples: dict[str, dict[str, Any]]) -> None:
    row = frames.build("climate.product", [examples["climate.product"]]).row(0, named=True)
    assert Decimal("1000000") == row["metric_tons_available"]
    assert 5 == len(row["suppliers"])
    assert "climsup_charm_industrial" == row["suppliers"][0]["id"]
    assert '{"usd": {"amount_fees": 1650, "amount_subtotal": 55000, "amount_total": 56650}}' == row["prices"]


def test_climate_supplier_locations(examples: dict[str, dict[str, Any]]) -> None:
    row = frames.build("climate.supplier", [examples["climate.supplier"]]).row(0, named=True)
    assert [
        {
            "city": "San Francisco",
            "country": "US",
            "latitude": 37.7480408,
            "longitude": -122.4057404,
            "region": "CA",
        }
    ] == row["locations"]


def test_tax_calculation_values(examples: dict[str, dict[str, Any]]) -> None:
    row = frames.build("tax.calculation", [examples["tax.calculation"]]).row(0, named=True)
    assert (1947, Decimal("19.47")) == (row["amount_total"], row["amount_total_major"])
    assert (300, 0) == (row["shipping_cost_amount"], row["shipping_cost_amount_tax"])
    assert ("US", "CA", "94080") == (
        row["customer_details_address_country"],
        row["customer_details_address_state"],
        row["customer_details_address_postal_code"],
    )
    first = row["tax_breakdown"][0]
    assert (148, False, "standard_rated", 1499) == (
        first["amount"],
        first["inclusive"],
        first["taxability_reason"],
        first["taxable_amount"],
    )
    assert {"country": "US", "state": "CA", "percentage_decimal": "9.875", "tax_type": "sales_tax"} == first[
        "tax_rate_details"
    ]


def test_tax_transaction_and_line_items(examples: dict[str, dict[str, Any]]) -> None:
    tx = examples["tax.transaction"]
    row = frames.build("tax.transaction", [tx]).row(0, named=True)
    assert ("transaction", "myOrder_123", None) == (
        row["type"],
        row["reference"],
        row["reversal_original_transaction"],
    )
    item = tx["line_items"]["data"][0] | {PARENT_KEY: tx["id"], CURRENCY_KEY: "jpy"}
    line = frames.build("tax.transaction_line_item", [item]).row(0, named=True)
    assert (tx["id"], "jpy", 1499, Decimal("1499"), 148, Decimal("148")) == (
        line["tax_transaction"],
        line["currency"],
        line["amount"],
        line["amount_major"],
        line["amount_tax"],
        line["amount_tax_major"],
    )
    assert "original_line_item" == line["reversal_original_line_item"]


def test_tax_registration_derived_columns(examples: dict[str, dict[str, Any]]) -> None:
    row = frames.build("tax.registration", [examples["tax.registration"]]).row(0, named=True)
    assert ("US", "CA", "state_sales_tax", "active") == (
        row["country"],
        row["state"],
        row["registration_type"],
        row["status"],
    )


def test_identity_and_webhook_values(examples: dict[str, dict[str, Any]]) -> None:
    session = frames.build("identity.verification_session", [examples["identity.verification_session"]])
    assert "vr_QXhW13B2hsHOm43JtUgs0f0w" == session.item(0, "last_verification_report")
    report = frames.build("identity.verification_report", [examples["identity.verification_report"]])
    assert ("verified", None) == (report.item(0, "document_status"), report.item(0, "selfie_status"))
    hook = frames.build("webhook_endpoint", [examples["webhook_endpoint"]])
    assert ["charge.failed", "charge.succeeded"] == hook.row(0, named=True)["enabled_events"]
    assert "secret" not in hook.columns


def test_onramp_session_keeps_secrets_out(examples: dict[str, dict[str, Any]]) -> None:
    session = examples["crypto.onramp_session"]
    session["transaction_details"]["source_amount"] = "100.50"
    session["transaction_details"]["destination_amount"] = "0.000123456789012345"
    row = frames.build("crypto.onramp_session", [session]).row(0, named=True)
    assert Decimal("100.50") == row["transaction_details_source_amount"]
    assert Decimal("0.000123456789012345") == row["transaction_details_destination_amount"]
    assert "cos_test_secret_xxx" not in str(row)


# -- money -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "amount", "major"),
    [
        ("jpy", 1500, Decimal("1500")),
        ("JPY", 1500, Decimal("1500")),
        ("kwd", 1234, Decimal("1.234")),
        ("usd", -1999, Decimal("-19.99")),
        ("eur", 5, Decimal("0.05")),
        ("bhd", 2**63 - 1, Decimal("9223372036854775.807")),
    ],
)
def test_money_columns(
    currency: str, amount: int, major: Decimal, examples: dict[str, dict[str, Any]], drift: list[Any]
) -> None:
    tx = examples["financial_connections.transaction"] | {"currency": currency, "amount": amount}
    frame = frames.build("financial_connections.transaction", [tx])
    assert pl.Int64() == frame.schema["amount"]
    assert pl.Decimal(38, 3) == frame.schema["amount_major"]
    assert (amount, major) == (frame.item(0, "amount"), frame.item(0, "amount_major"))
    assert [] == drift_messages(drift)


def test_mixed_currencies_in_one_frame(examples: dict[str, dict[str, Any]]) -> None:
    base = examples["climate.order"]
    rows = [
        base | {"currency": c, "amount_total": a} for c, a in [("usd", 10300), ("jpy", 1500), ("kwd", 1234)]
    ]
    frame = frames.build("climate.order", rows)
    assert [Decimal("103.00"), Decimal("1500"), Decimal("1.234")] == frame["amount_total_major"].to_list()


def test_unknown_currency_keeps_the_row_nulls_major_and_warns_once(
    examples: dict[str, dict[str, Any]], drift: list[Any]
) -> None:
    base = examples["climate.order"]
    rows = [base | {"currency": "zzz", "id": "climorder_a"}, base | {"id": "climorder_b"}]
    frame = frames.build("climate.order", rows)
    frames.build("climate.order", rows)  # a second build does not repeat the warning
    assert 2 == frame.height
    assert [10300, 10300] == frame["amount_total"].to_list()
    assert [None, Decimal("103.00")] == frame["amount_total_major"].to_list()
    assert [None, Decimal("3.00")] == frame["amount_fees_major"].to_list()
    messages = drift_messages(drift)
    assert 1 == len(messages)  # once, although three money columns use that currency
    assert "'zzz'" in messages[0]


def test_null_currency_gives_null_major_without_warning(
    examples: dict[str, dict[str, Any]], drift: list[Any]
) -> None:
    frame = frames.build("climate.order", [examples["climate.order"] | {"currency": None}])
    assert frame.item(0, "amount_total_major") is None
    assert 10300 == frame.item(0, "amount_total")
    assert [] == drift_messages(drift)


# -- drift ---------------------------------------------------------------------------------------------


def test_unknown_field_warns_exactly_once_per_field(
    examples: dict[str, dict[str, Any]], drift: list[Any]
) -> None:
    supplier = examples["climate.supplier"] | {"carbon_score": 7, "new_flag": True}
    first = frames.build("climate.supplier", [supplier, supplier])
    second = frames.build("climate.supplier", [supplier])
    assert RESOURCES["climate.supplier"].schema == first.schema == second.schema
    messages = drift_messages(drift)
    assert 2 == len(messages)
    assert "'carbon_score'" in messages[0]
    assert "'new_flag'" in messages[1]
    assert all(issubclass(w.category, SchemaDriftWarning) for w in drift)


def test_drift_is_reported_per_resource(examples: dict[str, dict[str, Any]], drift: list[Any]) -> None:
    frames.build("climate.supplier", [examples["climate.supplier"] | {"extra": 1}])
    frames.build("climate.order", [examples["climate.order"] | {"extra": 1}])
    assert 2 == len(drift_messages(drift))


def test_pytest_warns_sees_drift(examples: dict[str, dict[str, Any]]) -> None:
    with pytest.warns(SchemaDriftWarning, match="'brand_new'"):
        frames.build("webhook_endpoint", [examples["webhook_endpoint"] | {"brand_new": "x"}])


def test_unknown_enum_value_is_kept_and_warned_once(
    examples: dict[str, dict[str, Any]], drift: list[Any]
) -> None:
    orders = [
        examples["climate.order"] | {"id": "climorder_1", "status": "reserved"},
        examples["climate.order"] | {"id": "climorder_2", "status": "reserved"},
        examples["climate.order"] | {"id": "climorder_3", "status": "open"},
        examples["climate.order"] | {"id": "climorder_4", "status": None},
    ]
    frame = frames.build("climate.order", orders)
    frames.build("climate.order", orders)
    assert ["reserved", "reserved", "open", None] == frame["status"].to_list()
    messages = drift_messages(drift)
    assert 1 == len(messages)
    assert "climate.order.status" in messages[0]
    assert "'reserved'" in messages[0]


def test_known_enum_values_and_nulls_never_warn(
    examples: dict[str, dict[str, Any]], drift: list[Any]
) -> None:
    statuses = ["awaiting_funds", "canceled", "confirmed", "delivered", "open", None]
    frames.build("climate.order", [examples["climate.order"] | {"status": s} for s in statuses])
    assert [] == drift_messages(drift)


def test_hidden_fields_do_not_warn(examples: dict[str, dict[str, Any]], drift: list[Any]) -> None:
    item = examples["tax.calculation_line_item"] | {
        PARENT_KEY: "taxcalc_1",
        CURRENCY_KEY: "usd",
        "tax_breakdown": [],
    }
    frame = frames.build("tax.calculation_line_item", [item])
    assert ("taxcalc_1", "usd") == (frame.item(0, "tax_calculation"), frame.item(0, "currency"))
    assert [] == drift_messages(drift)


# -- missing and null values ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_a_bare_object_still_builds(name: str, drift: list[Any]) -> None:
    obj = (
        {"object": name}
        if name == "tax.settings"
        else {"id": RESOURCES[name].id_prefix + "1", "object": name}
    )
    frame = frames.build(name, [obj])
    assert RESOURCES[name].schema == frame.schema
    assert 1 == frame.height
    nulls = frame.null_count().row(0, named=True)
    assert {c: 1 for c in frame.columns if c != "id"} == {c: n for c, n in nulls.items() if c != "id"}
    assert [] == drift_messages(drift)


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_nulls_everywhere_still_build(
    name: str, examples: dict[str, dict[str, Any]], drift: list[Any]
) -> None:
    example = examples[name]
    nulled = {key: (value if key in ("id", "object") else None) for key, value in example.items()}
    frame = frames.build(name, [example, nulled])
    assert RESOURCES[name].schema == frame.schema
    assert 2 == frame.height
    assert [] == drift_messages(drift)


def test_nulls_inside_nested_values(examples: dict[str, dict[str, Any]]) -> None:
    order = examples["climate.order"] | {
        "beneficiary": None,
        "delivery_details": [
            None,
            {"delivered_at": None, "location": None, "metric_tons": None, "supplier": {}},
        ],
        "metric_tons": None,
    }
    row = frames.build("climate.order", [order]).row(0, named=True)
    assert (None, None) == (row["beneficiary_public_name"], row["metric_tons"])
    assert None is row["delivery_details"][0]
    assert row["delivery_details"][1]["location"] is None
    tx = examples["financial_connections.transaction"] | {"status_transitions": None, "amount": None}
    row = frames.build("financial_connections.transaction", [tx]).row(0, named=True)
    assert (None, None, None) == (row["status_transitions_posted_at"], row["amount"], row["amount_major"])


def test_bad_decimal_string_becomes_null(examples: dict[str, dict[str, Any]]) -> None:
    frame = frames.build("climate.order", [examples["climate.order"] | {"metric_tons": "a lot"}])
    assert frame.item(0, "metric_tons") is None


def test_rows_keep_their_order(examples: dict[str, dict[str, Any]]) -> None:
    ids = [f"climorder_{i}" for i in (5, 3, 9, 1)]
    frame = frames.build("climate.order", [examples["climate.order"] | {"id": i} for i in ids])
    assert ids == frame["id"].to_list()


def test_build_does_not_change_its_input(examples: dict[str, dict[str, Any]]) -> None:
    order = examples["climate.order"]
    before = copy.deepcopy(order)
    frames.build("climate.order", [order])
    assert before == order


def test_dig() -> None:
    obj = {"a": {"b": {"c": 1}}, "x": None, "s": "str"}
    assert 1 == frames.dig(obj, ("a", "b", "c"))
    assert frames.dig(obj, ("a", "z", "c")) is None
    assert frames.dig(obj, ("x", "y")) is None
    assert frames.dig(obj, ("s", "y")) is None


def test_values_of_the_wrong_type_become_null_and_warn_once(
    examples: dict[str, dict[str, Any]], drift: list[Any]
) -> None:
    order = copy.deepcopy(examples["climate.order"])
    order.update(metric_tons=5, amount_total="12", created=1.5, livemode="no")
    huge = copy.deepcopy(examples["climate.order"]) | {"amount_total": 2**70, "metric_tons": "abc"}

    frame = frames.build("climate.order", [order, huge])

    assert [None, None] == frame.get_column("amount_total").to_list()
    assert [None, None] == frame.get_column("metric_tons").to_list()
    assert [order["currency"], huge["currency"]] == frame.get_column("currency").to_list()
    assert [order["id"], huge["id"]] == frame.get_column("id").to_list()
    assert {"metric_tons", "amount_total", "created", "livemode"} == {
        str(w.message).split(" ")[0].split(".")[-1] for w in drift
    }
