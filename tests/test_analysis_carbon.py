"""finlab.analysis.carbon: spend, tonnes, status, cost per tonne, delivery years, pathway mix."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from framekit import frame
from hypothesis import given, settings
from hypothesis import strategies as st

from finlab.analysis.carbon import (
    CARBON_SPEND_SCHEMA,
    CARBON_TONNES_SCHEMA,
    COST_PER_TONNE_SCHEMA,
    EXPECTED_DELIVERIES_SCHEMA,
    ORDERS_BY_STATUS_SCHEMA,
    PATHWAY_MIX_SCHEMA,
    UNKNOWN_PATHWAY,
    carbon_spend,
    carbon_tonnes,
    cost_per_tonne,
    expected_deliveries,
    orders_by_status,
    pathway_mix,
)

NUMBERS = itertools.count(1)
DAC, EW, BIO = "direct_air_capture", "enhanced_weathering", "biomass_carbon_removal_and_storage"


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def supplier(id: str, pathway: str | None) -> dict[str, Any]:
    return {"id": id, "name": id.removeprefix("climsup_").title(), "removal_pathway": pathway}


PRODUCTS = frame(
    "climate.product",
    [
        {"id": "climsku_mix", "name": "Portfolio",
         "suppliers": [supplier("climsup_a", DAC), supplier("climsup_b", EW), supplier("climsup_c", EW)]},
        {"id": "climsku_solo", "name": "Solo", "suppliers": [supplier("climsup_d", BIO)]},
        {"id": "climsku_empty", "name": "Empty", "suppliers": []},
    ],
)  # fmt: skip


MID_JANUARY = at(2024, 1, 15)


def order(
    tons: str,
    total: int,
    status: str = "open",
    product: str = "climsku_solo",
    *,
    fees: int = 0,
    currency: str = "usd",
    created: datetime = MID_JANUARY,
    year: int = 2027,
    deliveries: list[tuple[str, str, str | None]] | None = None,
) -> dict[str, Any]:
    """A climate order; ``deliveries`` are (tonnes, supplier id, pathway) triples."""
    return {
        "id": f"climorder_{next(NUMBERS)}",
        "status": status,
        "product": product,
        "metric_tons": Decimal(tons),
        "currency": currency,
        "amount_subtotal": total - fees,
        "amount_fees": fees,
        "amount_total": total,
        "created": created,
        "expected_delivery_year": year,
        "delivery_details": [
            {"metric_tons": Decimal(t), "supplier": supplier(s, p), "delivered_at": created}
            for t, s, p in deliveries or []
        ],
    }


def orders(*rows: dict[str, Any]) -> pl.DataFrame:
    return frame("climate.order", list(rows))


def test_spend_leaves_canceled_orders_out_and_keeps_subtotal_and_fees_apart() -> None:
    spend = carbon_spend(orders(order("1", 1030, fees=30), order("2", 2000, "canceled")), PRODUCTS)

    expected = [("climsku_solo", "Solo", "climsup_d", "D", 1000, 30, 1030, 1)]
    columns = ("product", "product_name", "supplier", "supplier_name", *("amount_subtotal", "amount_fees"))
    assert expected == spend.select(*columns, "amount_total", "order_count").rows()


def test_spend_splits_an_order_evenly_and_exactly_across_the_products_suppliers() -> None:
    spend = carbon_spend(orders(order("3", 1001, product="climsku_mix", fees=2)), PRODUCTS)

    assert spend["amount_total"].to_list() == [334, 334, 333]
    assert spend["amount_subtotal"].to_list() == [333, 333, 333]
    assert spend["amount_fees"].to_list() == [1, 1, 0]
    assert spend["supplier"].to_list() == ["climsup_a", "climsup_b", "climsup_c"]


def test_spend_of_unknown_products_or_products_without_suppliers_keeps_a_null_supplier() -> None:
    spend = carbon_spend(
        orders(order("1", 500, product="climsku_empty"), order("1", 700, product="climsku_x")), PRODUCTS
    )

    assert spend.select("product", "supplier", "amount_total").rows() == [
        ("climsku_empty", None, 500),
        ("climsku_x", None, 700),
    ]


@pytest.mark.parametrize(
    ("timezone", "month"), [("Europe/Paris", date(2024, 2, 1)), ("America/New_York", date(2024, 1, 1))]
)
def test_spend_months_follow_the_local_calendar(timezone: str, month: date) -> None:
    spend = carbon_spend(
        orders(order("1", 100, created=at(2024, 1, 31, 23, 30))), PRODUCTS, timezone=timezone
    )

    assert [month] == spend["period_start"].to_list()


def test_jpy_spend_is_shown_in_yen() -> None:
    spend = carbon_spend(orders(order("1", 56650, currency="jpy")), PRODUCTS)

    assert Decimal("56650") == spend["amount_total_major"].item()


def test_tonnes_delivered_come_from_delivery_details_or_the_delivered_status() -> None:
    rows = orders(
        order("10", 100, "confirmed", deliveries=[("4", "climsup_d", BIO)]),
        order("5", 100, "delivered"),
        order("2", 100, "open"),
        order("7", 100, "canceled"),
        order("1", 100, "open", product="climsku_mix"),
    )

    tonnes = carbon_tonnes(rows, PRODUCTS)

    expected = [("climsku_mix", "Portfolio", 1, Decimal(1), Decimal(0), Decimal(1)),
                ("climsku_solo", "Solo", 3, Decimal(17), Decimal(9), Decimal(8))]  # fmt: skip
    assert expected == tonnes.rows()


def test_expected_deliveries_group_tonnes_by_year() -> None:
    rows = orders(
        order("3", 100, year=2026), order("2", 100, "delivered", year=2026), order("4", 100, year=2028)
    )

    years = expected_deliveries(rows)

    expected = [(2026, 2, Decimal(5), Decimal(2), Decimal(3)), (2028, 1, Decimal(4), Decimal(0), Decimal(4))]
    assert expected == years.rows()


def test_orders_by_status_includes_canceled_orders() -> None:
    rows = orders(order("1", 100), order("2", 200, "canceled"), order("3", 300, "canceled", currency="eur"))

    statuses = orders_by_status(rows)

    expected = [("canceled", "eur", 1, Decimal(3), 300), ("canceled", "usd", 1, Decimal(2), 200),
                ("open", "usd", 1, Decimal(1), 100)]  # fmt: skip
    assert (
        expected == statuses.select("status", "currency", "order_count", "metric_tons", "amount_total").rows()
    )


def test_cost_per_tonne_is_total_spend_over_tonnes_per_currency() -> None:
    rows = orders(
        order("2", 110_000), order("0.5", 40_000), order("9", 1, "canceled"), order("0", 5, currency="eur")
    )

    costs = cost_per_tonne(rows)

    usd = costs.filter(pl.col("currency") == "usd")
    assert (Decimal("2.5"), 150_000, Decimal(60_000), Decimal(600)) == usd.select(
        "metric_tons", "amount_total", "cost_per_tonne", "cost_per_tonne_major"
    ).row(0)
    assert costs.filter(pl.col("currency") == "eur")["cost_per_tonne"].to_list() == [None]


def test_pathway_mix_credits_deliveries_to_their_supplier_and_splits_the_rest() -> None:
    rows = orders(
        order("3", 100, "confirmed", "climsku_mix", deliveries=[("1.5", "climsup_x", None)]),
        order("2", 100, "open", "climsku_mix"),
        order("4", 100, "canceled", "climsku_solo"),
    )
    suppliers = frame("climate.supplier", [supplier("climsup_x", BIO)])

    mix = pathway_mix(rows, PRODUCTS, suppliers=suppliers)

    expected = [
        (EW, Decimal("2.333333333"), Decimal(0), Decimal("2.333333333")),
        (BIO, Decimal("1.5"), Decimal("1.5"), Decimal(0)),
        (DAC, Decimal("1.166666667"), Decimal(0), Decimal("1.166666667")),
    ]
    assert (
        expected
        == mix.select("removal_pathway", "tonnes_ordered", "tonnes_delivered", "tonnes_outstanding").rows()
    )
    assert pytest.approx(1.0) == mix["share"].sum()
    assert pathway_mix(rows, PRODUCTS).filter(pl.col("tonnes_delivered") > 0)[
        "removal_pathway"
    ].to_list() == [UNKNOWN_PATHWAY]


def test_empty_inputs_give_the_fixed_schemas() -> None:
    none, no_products = orders(), frame("climate.product", [])

    assert carbon_spend(none, no_products).schema == CARBON_SPEND_SCHEMA
    assert carbon_tonnes(none, no_products).schema == CARBON_TONNES_SCHEMA
    assert expected_deliveries(none).schema == EXPECTED_DELIVERIES_SCHEMA
    assert orders_by_status(none).schema == ORDERS_BY_STATUS_SCHEMA
    assert cost_per_tonne(none).schema == COST_PER_TONNE_SCHEMA
    assert pathway_mix(none, no_products).schema == PATHWAY_MIX_SCHEMA


# -- identities on generated frames --------------------------------------------------------------

generated_orders = st.lists(
    st.builds(
        order,
        tons=st.decimals(0, 10_000, places=3).map(str),
        total=st.integers(0, 10**9),
        status=st.sampled_from(["open", "confirmed", "delivered", "canceled", "awaiting_funds"]),
        product=st.sampled_from(["climsku_mix", "climsku_solo", "climsku_empty", "climsku_unknown"]),
        fees=st.integers(0, 1000),
        currency=st.sampled_from(["usd", "eur", "jpy"]),
        created=st.datetimes(datetime(2023, 1, 1), datetime(2025, 12, 31), timezones=st.just(UTC)),
    ),
    max_size=30,
)


def non_canceled(rows: list[dict[str, Any]], column: str) -> dict[str, Any]:
    totals: dict[str, Any] = {}
    for row in rows:
        if row["status"] != "canceled":
            totals[row["currency"]] = totals.get(row["currency"], 0) + row[column]
    return {currency: total for currency, total in totals.items() if total}


def per_currency(frame: pl.DataFrame, column: str) -> dict[str, Any]:
    return {
        currency: total
        for currency, total in frame.group_by("currency").agg(pl.col(column).sum()).rows()
        if total
    }


@settings(max_examples=30, deadline=None)
@given(rows=generated_orders, timezone=st.sampled_from(["UTC", "Europe/Paris", "America/New_York"]))
def test_spend_equals_non_canceled_order_totals(rows: list[dict[str, Any]], timezone: str) -> None:
    fees_ok = [row for row in rows if row["amount_total"] >= row["amount_fees"]]

    spend = carbon_spend(orders(*fees_ok), PRODUCTS, timezone=timezone)

    assert non_canceled(fees_ok, "amount_total") == per_currency(spend, "amount_total")
    assert non_canceled(fees_ok, "amount_subtotal") == per_currency(spend, "amount_subtotal")
    assert non_canceled(fees_ok, "amount_fees") == per_currency(spend, "amount_fees")


@settings(max_examples=30, deadline=None)
@given(rows=generated_orders)
def test_tonnes_add_up_in_every_breakdown(rows: list[dict[str, Any]]) -> None:
    frame_ = orders(*rows)
    ordered = sum((row["metric_tons"] for row in rows if row["status"] != "canceled"), Decimal(0))

    mix, tonnes, years = (
        pathway_mix(frame_, PRODUCTS),
        carbon_tonnes(frame_, PRODUCTS),
        expected_deliveries(frame_),
    )

    for breakdown in (mix, tonnes, years):
        assert ordered == breakdown["tonnes_ordered"].sum()
        total = breakdown["tonnes_delivered"] + breakdown["tonnes_outstanding"]
        assert breakdown["tonnes_ordered"].to_list() == total.to_list()
