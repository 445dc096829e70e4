"""finlab.charts: specs built from aggregated frames (marks, fields, tooltips, inline rows, theme)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import altair as alt
import polars as pl
import pytest

from finlab.analysis import major_columns
from finlab.analysis.carbon import (
    CARBON_SPEND_SCHEMA,
    CARBON_TONNES_SCHEMA,
    EXPECTED_DELIVERIES_SCHEMA,
    PATHWAY_MIX_SCHEMA,
)
from finlab.analysis.cash_flow import CASH_FLOW_SCHEMA, cash_flow
from finlab.analysis.tax import TAX_LIABILITY_SCHEMA
from finlab.charts import filled_json, filled_spec, inline_data, json_rows
from finlab.charts.carbon import pathway_mix_chart, spend_chart, tonnes_chart
from finlab.charts.cash_flow import cash_flow_chart
from finlab.charts.tax import tax_bars, tax_heatmap
from finlab.charts.theme import FONT, THEME_NAME
from finlab.errors import ConfigurationError
from finlab.money import MAJOR_DTYPE
from finlab.resources import schema


def rows_of(frame_schema: pl.Schema, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """A frame with ``frame_schema`` from partial rows; each ``x_major`` is derived from ``x``."""
    frame = pl.DataFrame([{c: row.get(c) for c in frame_schema} for row in rows], schema=frame_schema)
    money = [name.removesuffix("_major") for name in frame_schema if name.endswith("_major")]
    return frame.with_columns(major_columns(money))


def months(count: int) -> Iterator[tuple[date, date]]:
    start = date(2024, 1, 1)
    for _ in range(count):
        end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        yield start, end
        start = end


def cash_flow_frame() -> pl.DataFrame:
    rows = [
        {
            "account": account,
            "account_name": account,
            "currency": currency,
            "period_start": start,
            "period_end": end,
            "inflow": 1999,
            "outflow": -500,
            "net": 1499,
            "pending_net": 0,
            "running_balance": 10_000,
            "transaction_count": 3,
            "pending_count": 0,
        }
        for account, currency in (("fca_1", "usd"), ("fca_2", "usd"), ("fca_3", "jpy"))
        for start, end in months(3)
    ]
    return rows_of(CASH_FLOW_SCHEMA, rows)


def liability_frame() -> pl.DataFrame:
    rows = [
        {
            "period_start": start,
            "period_end": end,
            "jurisdiction": jurisdiction,
            "country": jurisdiction[:2],
            "currency": currency,
            "tax_behavior": "exclusive",
            "line_count": 2,
            "taxable_amount": 10_000,
            "tax_collected": 900,
            "tax_reversed": -100,
            "net_tax": 800,
        }
        for jurisdiction, currency in (("US-CA", "usd"), ("US-NY", "usd"), ("FR", "eur"))
        for start, end in months(2)
    ]
    return rows_of(TAX_LIABILITY_SCHEMA, rows)


def spend_frame() -> pl.DataFrame:
    rows = [
        {
            "period_start": start,
            "period_end": end,
            "currency": "usd",
            "product": "climsku_1",
            "product_name": None,
            "supplier": supplier,
            "amount_subtotal": 1000,
            "amount_fees": 30,
            "amount_total": 1030,
            "order_count": 1,
        }
        for supplier in ("climsup_a", "climsup_b")
        for start, end in months(4)
    ]
    return rows_of(CARBON_SPEND_SCHEMA, rows)


def tonnes(value: str) -> Decimal:
    return Decimal(value)


def spec_rows(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every inline data row of a spec (Altair moves them all into ``datasets``)."""
    return [row for rows in spec.get("datasets", {}).values() for row in rows]


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def units(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The single-view specs (those with a mark) inside a layered or concatenated spec."""
    return [node for node in walk(spec) if "mark" in node]


def mark_types(spec: dict[str, Any]) -> list[str]:
    return [unit["mark"]["type"] if isinstance(unit["mark"], dict) else unit["mark"] for unit in units(spec)]


def fields(unit: dict[str, Any], channel: str) -> Any:
    return unit["encoding"][channel].get("field")


def test_cash_flow_chart_layers_bars_net_and_balance_per_currency() -> None:
    frame = cash_flow_frame()

    spec = cash_flow_chart(frame).to_dict()

    assert len(spec["vconcat"]) == 2  # jpy, usd
    assert mark_types(spec) == ["bar", "line", "line"] * 2
    bars, net, balance = units(spec["vconcat"][1])
    assert (fields(bars, "x"), fields(bars, "x2"), fields(bars, "y")) == (
        "period_start",
        "period_end",
        "amount",
    )
    assert bars["transform"] == [{"fold": ["inflow", "outflow"], "as": ["flow", "amount"]}]
    assert (fields(net, "x"), fields(net, "y")) == ("period_mid", "net")
    assert (fields(balance, "x"), fields(balance, "y")) == ("period_end", "running_balance")
    assert all(unit["encoding"]["tooltip"] for unit in units(spec))
    assert bars["encoding"]["y"]["axis"]["title"] == "In / out / net (USD)"
    assert frame.select("currency", "period_start").n_unique() == len(spec_rows(spec))


def test_cash_flow_chart_sums_accounts_and_leaves_a_partly_unknown_balance_out() -> None:
    frame = cash_flow_frame().with_columns(
        running_balance=pl.when((pl.col("account") == "fca_2") & (pl.col("period_start") == date(2024, 3, 1)))
        .then(None)
        .otherwise(pl.col("running_balance"))
    )

    datasets = cash_flow_chart(frame).to_dict()["datasets"]

    usd = {row["period_start"]: row for row in datasets["cash-flow-usd"]}
    assert [39.98, 39.98, 39.98] == [usd[day]["inflow"] for day in sorted(usd)]
    assert [6, 6, 6] == [usd[day]["transaction_count"] for day in sorted(usd)]
    assert [200.0, 200.0, None] == [usd[day]["running_balance"] for day in sorted(usd)]


def test_a_currency_finlab_does_not_know_is_drawn_in_minor_units_not_zeros() -> None:
    frame = cash_flow_frame().with_columns(currency=pl.lit("xcg"))  # no decimals known: majors null
    money = [name.removesuffix("_major") for name in frame.columns if name.endswith("_major")]
    frame = frame.with_columns(major_columns(money))

    spec = cash_flow_chart(frame).to_dict()

    rows = spec["datasets"]["cash-flow-xcg"]
    assert [3 * 1999.0] * 3 == [row["inflow"] for row in rows]  # three accounts' minor units
    panel_axis = units(spec)[0]["encoding"]["y"]["axis"]["title"]
    assert panel_axis == "In / out / net (XCG minor units)"


def test_chart_rows_are_in_major_units_of_their_own_currency() -> None:
    spec = cash_flow_chart(cash_flow_frame()).to_dict()

    inflow = {name: rows[0]["inflow"] for name, rows in spec["datasets"].items()}

    # One dataset per currency panel, its rows without a currency column (it would repeat on each).
    assert inflow == {"cash-flow-jpy": 1999.0, "cash-flow-usd": 39.98}  # two usd accounts
    assert all("currency" not in row for row in spec_rows(spec))
    assert {"2024-01-01", "2024-02-01", "2024-03-01"} == {row["period_start"] for row in spec_rows(spec)}


def test_tax_bars_stack_jurisdictions_over_filing_periods() -> None:
    frame = liability_frame()

    spec = tax_bars(frame).to_dict()

    assert mark_types(spec) == ["bar", "bar"]
    usd = units(spec["vconcat"][1])[0]
    assert (fields(usd, "x"), fields(usd, "x2"), fields(usd, "color")) == (
        "period_start",
        "period_end",
        "jurisdiction",
    )
    assert (fields(usd, "y"), fields(usd, "y2")) == ("stack_start", "stack_end")
    stack = next(step for step in usd["transform"] if "stack" in step)
    assert (stack["stack"], stack["groupby"]) == ("net_tax", ["period_start"])
    assert {"jurisdiction", "net_tax", "tax_collected", "tax_reversed", "taxable_amount", "line_count"} <= {
        tip["field"] for tip in usd["encoding"]["tooltip"]
    }
    assert frame.height == len(spec_rows(spec))


def test_tax_heatmap_crosses_periods_and_jurisdictions() -> None:
    frame = liability_frame()

    spec = tax_heatmap(frame, value="tax_collected").to_dict()

    assert mark_types(spec) == ["rect", "rect"]
    for unit in units(spec):
        assert tuple(fields(unit, channel) for channel in ("x", "y", "color")) == (
            "period_start",
            "jurisdiction",
            "tax_collected",
        )
        assert (unit["encoding"]["x"]["type"], unit["encoding"]["color"]["aggregate"]) == ("ordinal", "sum")
        assert unit["encoding"]["tooltip"]
    assert frame.height == len(spec_rows(spec))


def test_spend_chart_stacks_products_and_names_unnamed_ones() -> None:
    frame = spend_frame()

    spec = spend_chart(frame).to_dict()

    assert mark_types(spec) == ["bar"]
    unit = units(spec)[0]
    assert (fields(unit, "color"), unit["encoding"]["y"]["title"]) == ("product_name", "Spend (USD)")
    assert unit["encoding"]["tooltip"]
    assert {"climsku_1"} == {row["product_name"] for row in spec_rows(spec)}
    assert frame.height == len(spec_rows(spec))


def test_tonnes_chart_shows_delivered_and_outstanding_per_product_or_year() -> None:
    per_product = rows_of(
        CARBON_TONNES_SCHEMA,
        [
            {
                "product": "p",
                "product_name": "Portfolio",
                "order_count": 2,
                "tonnes_ordered": tonnes("3"),
                "tonnes_delivered": tonnes("1"),
                "tonnes_outstanding": tonnes("2"),
            }
        ],
    )
    per_year = rows_of(
        EXPECTED_DELIVERIES_SCHEMA,
        [
            {
                "expected_delivery_year": year,
                "order_count": 1,
                "tonnes_ordered": tonnes("1"),
                "tonnes_delivered": tonnes("0"),
                "tonnes_outstanding": tonnes("1"),
            }
            for year in (2026, 2027)
        ],
    )

    product_spec = tonnes_chart(per_product).to_dict()
    year_spec = tonnes_chart(per_year, by="expected_delivery_year").to_dict()

    assert ["bar"] == mark_types(product_spec) == mark_types(year_spec)
    unit = units(product_spec)[0]
    assert tuple(fields(unit, c) for c in ("y", "x", "color")) == ("product_name", "tonnes", "state")
    assert unit["encoding"]["tooltip"]
    assert [row["tonnes_delivered"] for row in spec_rows(product_spec)] == [1.0]
    assert (len(spec_rows(product_spec)), len(spec_rows(year_spec))) == (1, 2)


def test_pathway_mix_chart_is_a_donut_of_ordered_tonnes() -> None:
    mix = rows_of(
        PATHWAY_MIX_SCHEMA,
        [
            {
                "removal_pathway": pathway,
                "tonnes_ordered": tonnes("2"),
                "tonnes_delivered": tonnes("1"),
                "tonnes_outstanding": tonnes("1"),
                "share": 0.5,
            }
            for pathway in ("direct_air_capture", "enhanced_weathering")
        ],
    )

    spec = pathway_mix_chart(mix).to_dict()

    assert mark_types(spec) == ["arc"]
    unit = units(spec)[0]
    assert (fields(unit, "theta"), fields(unit, "color")) == ("tonnes_ordered", "pathway")
    assert {"pathway", "share", "tonnes_delivered", "tonnes_outstanding"} <= {
        tip["field"] for tip in unit["encoding"]["tooltip"]
    }
    assert len(spec_rows(spec)) == 2


@pytest.mark.parametrize(
    ("builder", "frame_schema"),
    [
        (cash_flow_chart, CASH_FLOW_SCHEMA),
        (tax_bars, TAX_LIABILITY_SCHEMA),
        (tax_heatmap, TAX_LIABILITY_SCHEMA),
        (spend_chart, CARBON_SPEND_SCHEMA),
        (tonnes_chart, CARBON_TONNES_SCHEMA),
        (pathway_mix_chart, PATHWAY_MIX_SCHEMA),
    ],
)
def test_empty_frames_give_valid_empty_charts(builder: Any, frame_schema: pl.Schema) -> None:
    spec = builder(pl.DataFrame(schema=frame_schema)).to_dict()

    assert spec_rows(spec) == []
    assert mark_types(spec)


def test_large_aggregated_frames_never_hit_max_rows_and_never_point_at_a_url() -> None:
    start = date(2000, 1, 1)
    days = [start + timedelta(days=i) for i in range(6000)]
    frame = rows_of(
        CASH_FLOW_SCHEMA,
        [
            {
                "account": "fca_1",
                "currency": "usd",
                "period_start": d,
                "period_end": d + timedelta(days=1),
                "inflow": 1,
                "outflow": 0,
                "net": 1,
                "pending_net": 0,
                "running_balance": i,
                "transaction_count": 1,
                "pending_count": 0,
            }
            for i, d in enumerate(days)
        ],
    )

    spec = cash_flow_chart(frame).to_dict()

    assert len(spec_rows(spec)) == 6000
    assert not [node for node in walk(spec) if "url" in node]


def test_charts_built_from_analysis_output_compile_to_vega() -> None:
    vl_convert = pytest.importorskip("vl_convert")
    transactions = pl.DataFrame(
        [
            {
                "account": "fca_1",
                "amount": 500,
                "currency": "usd",
                "status": "posted",
                "transacted_at": datetime(2024, 1, 5, tzinfo=UTC),
            }
        ],
        schema=schema("financial_connections.transaction"),
    )
    accounts = pl.DataFrame(schema=schema("financial_connections.account"))
    charts = [
        cash_flow_chart(cash_flow(transactions, accounts)),
        cash_flow_chart(cash_flow_frame()),
        tax_bars(liability_frame()),
        tax_heatmap(liability_frame()),
        spend_chart(spend_frame()),
    ]

    for chart in charts:
        assert vl_convert.vegalite_to_vega(chart.to_dict())["marks"]


def test_the_finlab_theme_is_enabled_and_applied() -> None:
    spec = tax_bars(liability_frame()).to_dict()

    assert alt.theme.active == THEME_NAME
    assert spec["config"]["font"] == FONT


def test_builders_refuse_frames_that_are_not_their_aggregates() -> None:
    raw = pl.DataFrame(schema=schema("financial_connections.transaction"))

    with pytest.raises(ConfigurationError, match="cash_flow"):
        cash_flow_chart(raw)
    with pytest.raises(ConfigurationError, match="tax_liability"):
        tax_bars(raw)
    with pytest.raises(ConfigurationError, match="Unknown value"):
        tax_heatmap(liability_frame(), value="amount")


def test_inline_data_converts_decimals_dates_and_datetimes_to_json() -> None:
    frame = pl.DataFrame(
        {
            "currency": ["usd"],
            "net": [1999],
            "day": [date(2024, 1, 1)],
            "at": [datetime(2024, 1, 1, 12, tzinfo=UTC)],
            "tons": [Decimal("1.5")],
        },
        schema_overrides={"tons": pl.Decimal(38, 9)},
    ).with_columns(net_major=pl.col("net").cast(MAJOR_DTYPE) / 100)

    values = inline_data(frame)["values"]

    assert values == (
        {"currency": "usd", "net": 19.99, "day": "2024-01-01", "at": "2024-01-01T12:00:00Z", "tons": 1.5},
    )
    assert list(values) == json_rows(frame)


@pytest.mark.parametrize("frame", [cash_flow_frame(), cash_flow_frame().filter(pl.col("currency") == "usd"),
                                   pl.DataFrame(schema=CASH_FLOW_SCHEMA)])  # fmt: skip
def test_a_filled_layout_carries_its_spec_ready(frame: pl.DataFrame) -> None:
    chart = cash_flow_chart(frame)

    assert chart.to_dict() == filled_spec(chart)
    assert filled_spec(cash_flow_chart(frame).copy()) is None  # a changed chart is serialised anew
    assert filled_spec(alt.Chart().mark_point()) is None


def test_chart_widgets_take_a_ready_spec_and_keep_altairs_path_for_parameters() -> None:
    from finlab.dashboards.rendering import ChartWidget

    widget = ChartWidget(cash_flow_chart(cash_flow_frame()))
    ready = cash_flow_chart(cash_flow_frame().filter(pl.col("currency") == "jpy"))
    widget.chart = ready
    assert widget.spec is filled_spec(ready)

    brush = alt.selection_interval(name="brush")
    selecting = alt.Chart({"values": [{"x": 1}]}).mark_point().encode(x="x:Q").add_params(brush)
    widget.chart = selecting
    assert "brush" in widget.selections.trait_names()
    widget.chart = ready
    assert "brush" not in widget.selections.trait_names()
    assert ready.to_dict() == widget.spec


def test_chart_widgets_send_the_spec_as_json_bytes() -> None:
    from finlab.dashboards.rendering import ChartWidget

    widget = ChartWidget(cash_flow_chart(cash_flow_frame()))
    assert "_spec_json" in widget.keys
    assert "spec" not in widget.keys  # a dict would be walked value by value before it is sent
    assert json.loads(widget._spec_json) == widget.spec == cash_flow_chart(cash_flow_frame()).to_dict()
    assert widget._spec_json is filled_json(widget.chart)  # written by Polars as the layout was filled

    widget.chart = alt.Chart({"values": [{"x": "é"}]}).mark_point().encode(x="x:N")  # Altair's own path
    assert json.loads(widget._spec_json.decode()) == widget.spec
    widget.chart = None
    assert widget._spec_json == b"null"
