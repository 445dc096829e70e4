"""Cash-flow chart: inflow and outflow bars, a net line and a balance line, one panel per currency.

Takes the frame of :func:`finlab.analysis.cash_flow.cash_flow`. Accounts in one currency are summed
per period (the analysis gives every account a row in every period, so balance sums are complete).
Inflow bars span their period and rise above zero, outflow bars hang below; the net point sits in
the middle of the period on the left axis, the balance point at the period's end on the right axis
(balances dwarf monthly flows).

Examples
--------
>>> from finlab.analysis.cash_flow import CASH_FLOW_SCHEMA
>>> spec = cash_flow_chart(pl.DataFrame(schema=CASH_FLOW_SCHEMA)).to_dict()
>>> [layer["mark"]["type"] for layer in spec["layer"][0]["layer"]], spec["layer"][1]["mark"]["type"]
(['bar', 'line'], 'line')
"""

from __future__ import annotations

import functools

import altair as alt
import polars as pl

from finlab.analysis import require_columns
from finlab.analysis.cash_flow import CASH_FLOW_SCHEMA
from finlab.charts import (
    MONEY_FORMAT,
    Chart,
    Layout,
    currencies_of,
    currency_title,
    period_axis,
    period_tooltip,
)
from finlab.charts.theme import BALANCE_COLOR, FLOW_COLORS, NET_COLOR
from finlab.resources import MAJOR_SUFFIX

__all__ = ["cash_flow_chart"]

#: The flows columns the chart draws, summed over accounts.
DRAWN = ("inflow", "outflow", "net", "pending_net", "transaction_count", "running_balance")
#: Vega expression: the middle of the period, where its net point sits (dates parse as UTC).
MIDPOINT = "(time(toDate(datum.period_start)) + time(toDate(datum.period_end))) / 2"


def cash_flow_chart(flows: pl.DataFrame) -> Chart:
    """Layered in/out bars, net line and balance line per currency, with tooltips."""
    require_columns(flows, CASH_FLOW_SCHEMA.names(), "the frame of finlab.analysis.cash_flow.cash_flow()")
    rows = _per_currency(flows)
    currencies = tuple(currencies_of(rows))
    if not currencies:
        return _layout(("",)).fill({_dataset(""): rows})
    # Each panel's rows are of one currency: the column would only repeat it on every point.
    panels = {_dataset(c): rows.filter(pl.col("currency") == c).drop("currency") for c in currencies}
    return _layout(currencies).fill(panels)


@functools.lru_cache(maxsize=32)
def _layout(currencies: tuple[str, ...]) -> Layout:
    """The chart for these currencies, its rows left out (`Layout`), stacked from each one's panel."""
    return Layout.stacked([_panel_layout(code) for code in currencies])


@functools.lru_cache(maxsize=64)
def _panel_layout(currency: str) -> Layout:
    """One currency's panel as a `Layout`: built and serialised once per currency."""
    return Layout(_panel(alt.NamedData(name=_dataset(currency)), currency))


def _dataset(currency: str) -> str:
    return f"cash-flow-{currency or 'none'}"


def _per_currency(flows: pl.DataFrame) -> pl.DataFrame:
    """Accounts summed per currency and period: the rows the chart draws, one per period.

    A third of the payload for three accounts. A period's balance is null (a gap in the line) when
    any account's balance in it is unknown, as the dashboard's closing-balance tile leaves it out. A
    major-unit sum is null where a major amount is (a currency finlab does not know), so the chart
    draws that currency's minor units instead of zeros.
    """
    majors = [name + MAJOR_SUFFIX for name in DRAWN if name + MAJOR_SUFFIX in flows.columns]
    return (
        flows.group_by("currency", "period_start", "period_end", maintain_order=True)
        .agg(
            pl.col(*DRAWN).sum(),
            *(_sum_unless_null(name) for name in majors),
            unknown=pl.col("running_balance").is_null().any(),
        )
        .with_columns(
            pl.when(~pl.col("unknown")).then(pl.col(name)).alias(name)
            for name in ("running_balance", "running_balance" + MAJOR_SUFFIX)
        )
        .drop("unknown")
    )


def _sum_unless_null(name: str) -> pl.Expr:
    """The column's sum, or null if any of its values is (Polars' own sum would skip them)."""
    return pl.when(pl.col(name).null_count() == 0).then(pl.col(name).sum()).alias(name)


def _panel(data: alt.NamedData, currency: str) -> alt.LayerChart:
    """One currency's panel: flow bars and the net line on the left axis, the balance on the right."""
    base = alt.Chart()
    flow_axis = alt.Axis(title=currency_title("In / out / net", currency))
    title = f"Cash flow, {currency.upper()}" if currency else "Cash flow"
    flows_and_net = alt.LayerChart(
        layer=[_flow_bars(base, flow_axis, currency), _net_line(base, flow_axis, currency)]
    )
    layered = alt.LayerChart(layer=[flows_and_net, _balance_line(base, currency)], data=data, title=title)
    resolved: alt.LayerChart = layered.resolve_scale(y="independent")
    return resolved


def _flow_bars(base: alt.Chart, axis: alt.Axis, currency: str) -> alt.Chart:
    """Inflow above zero and outflow below, each bar spanning its period."""
    bars: alt.Chart = (
        base.transform_fold(["inflow", "outflow"], as_=["flow", "amount"])
        .mark_bar(xOffset=1, x2Offset=-1)
        .encode(
            x=period_axis(),
            x2="period_end:T",
            y=alt.Y("sum(amount):Q", axis=axis),
            y2=alt.Y2(datum=0),
            color=alt.Color(
                "flow:N",
                title="Flow",
                scale=alt.Scale(domain=list(FLOW_COLORS), range=list(FLOW_COLORS.values())),
            ),
            tooltip=[
                *period_tooltip(),
                alt.Tooltip("flow:N", title="Flow"),
                alt.Tooltip("sum(amount):Q", title=currency_title("Amount", currency), format=MONEY_FORMAT),
            ],
        )
    )
    return bars


def _net_line(base: alt.Chart, axis: alt.Axis, currency: str) -> alt.Chart:
    """Net per period, its point in the middle of the period; pending shown in the tooltip only."""
    net: alt.Chart = (
        base.transform_calculate(period_mid=MIDPOINT)
        .mark_line(color=NET_COLOR, point=alt.OverlayMarkDef(color=NET_COLOR))
        .encode(
            x=alt.X("period_mid:T", title="Period"),
            y=alt.Y("sum(net):Q", axis=axis),
            tooltip=[
                *period_tooltip(),
                alt.Tooltip("sum(net):Q", title=currency_title("Net", currency), format=MONEY_FORMAT),
                alt.Tooltip(
                    "sum(pending_net):Q",
                    title=currency_title("Pending (not in net)", currency),
                    format=MONEY_FORMAT,
                ),
                alt.Tooltip("sum(transaction_count):Q", title="Posted transactions"),
            ],
        )
    )
    return net


def _balance_line(base: alt.Chart, currency: str) -> alt.Chart:
    """The balance at each period's end, dashed, on its own right-hand axis."""
    balance: alt.Chart = base.mark_line(
        color=BALANCE_COLOR, strokeDash=[6, 3], point=alt.OverlayMarkDef(color=BALANCE_COLOR)
    ).encode(
        x=alt.X("period_end:T", title="Period"),
        y=alt.Y(
            "sum(running_balance):Q",
            axis=alt.Axis(title=currency_title("Balance at period end", currency), orient="right"),
        ),
        tooltip=[
            *period_tooltip(),
            alt.Tooltip(
                "sum(running_balance):Q",
                title=currency_title("Balance at end", currency),
                format=MONEY_FORMAT,
            ),
        ],
    )
    return balance
