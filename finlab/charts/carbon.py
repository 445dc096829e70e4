"""Carbon charts: spend over time, tonnes delivered vs outstanding, removal-pathway mix.

Each takes one frame of :mod:`finlab.analysis.carbon`: `spend_chart` the frame of ``carbon_spend``,
`tonnes_chart` the frame of ``carbon_tonnes`` (or of ``expected_deliveries`` with
``by="expected_delivery_year"``), `pathway_mix_chart` the frame of ``pathway_mix``.

Examples
--------
>>> from finlab.analysis.carbon import PATHWAY_MIX_SCHEMA
>>> pathway_mix_chart(pl.DataFrame(schema=PATHWAY_MIX_SCHEMA)).to_dict()["mark"]["type"]
'arc'
"""

from __future__ import annotations

import altair as alt
import polars as pl

from finlab.analysis import require_columns
from finlab.analysis.carbon import CARBON_SPEND_SCHEMA, PATHWAY_MIX_SCHEMA
from finlab.charts import Chart, currency_panels, currency_title, inline_data, stacked_period_bars
from finlab.charts.theme import TONNES_COLORS

__all__ = ["pathway_mix_chart", "spend_chart", "tonnes_chart"]

SPEND_LABELS = {"amount_subtotal": "Subtotal", "amount_fees": "Fees", "amount_total": "Total"}
TONNES_FORMAT = ",.3f"
TONNES_COLUMNS = ("tonnes_ordered", "tonnes_delivered", "tonnes_outstanding")


def spend_chart(spend: pl.DataFrame) -> Chart:
    """Total spend per period stacked by product, per currency; subtotal and fees in the tooltip."""
    require_columns(spend, CARBON_SPEND_SCHEMA.names(), "the frame of finlab.analysis.carbon.carbon_spend()")
    labelled = spend.with_columns(product_name=pl.coalesce("product_name", "product", pl.lit("unknown")))

    def panel(rows: pl.DataFrame, currency: str) -> alt.Chart:
        return stacked_period_bars(
            inline_data(rows),
            value="amount_total",
            category="product_name",
            category_title="Product",
            y_title=currency_title("Spend", currency),
            sums={name: currency_title(label, currency) for name, label in SPEND_LABELS.items()},
            counts={"order_count": "Orders (split across suppliers)"},
            title=f"Carbon removal spend, {currency.upper()}" if currency else "Carbon removal spend",
        )

    return currency_panels(labelled, panel)


def tonnes_chart(tonnes: pl.DataFrame, *, by: str = "product_name") -> alt.Chart:
    """Horizontal bars of delivered and outstanding tonnes per ``by`` (a product or a year)."""
    require_columns(tonnes, (by, *TONNES_COLUMNS), "a tonnes frame of finlab.analysis.carbon")
    labelled = tonnes.with_columns(pl.col(by).cast(pl.String).fill_null("unknown"))
    chart: alt.Chart = (
        alt.Chart(inline_data(labelled), title="Tonnes delivered and outstanding")
        .transform_fold(["tonnes_delivered", "tonnes_outstanding"], as_=["measure", "tonnes"])
        .transform_calculate(state="replace(datum.measure, 'tonnes_', '')")
        .mark_bar()
        .properties(height=alt.Step(32))
        .encode(
            y=alt.Y(f"{by}:N", title=by.replace("_", " ").capitalize(), sort="ascending"),
            x=alt.X("sum(tonnes):Q", title="Metric tons"),
            color=alt.Color(
                "state:N",
                title="Tonnes",
                scale=alt.Scale(domain=list(TONNES_COLORS), range=list(TONNES_COLORS.values())),
            ),
            order=alt.Order("state:N"),
            tooltip=[
                alt.Tooltip(f"{by}:N", title=by.replace("_", " ").capitalize()),
                alt.Tooltip("state:N", title="Tonnes"),
                alt.Tooltip("sum(tonnes):Q", title="Metric tons", format=TONNES_FORMAT),
            ],
        )
    )
    return chart


def pathway_mix_chart(mix: pl.DataFrame) -> alt.Chart:
    """Donut of ordered tonnes per removal pathway, with delivered/outstanding in the tooltip."""
    require_columns(mix, PATHWAY_MIX_SCHEMA.names(), "the frame of finlab.analysis.carbon.pathway_mix()")
    chart: alt.Chart = (
        alt.Chart(inline_data(mix), title="Removal pathway mix")
        .transform_calculate(pathway="replace(datum.removal_pathway, /_/g, ' ')")
        .mark_arc(innerRadius=60)
        .encode(
            theta=alt.Theta("tonnes_ordered:Q", title="Metric tons ordered", stack=True),
            color=alt.Color(
                "pathway:N", title="Removal pathway", legend=alt.Legend(orient="right", labelLimit=320)
            ),
            order=alt.Order("tonnes_ordered:Q", sort="descending"),
            tooltip=[
                alt.Tooltip("pathway:N", title="Removal pathway"),
                alt.Tooltip("share:Q", title="Share of tonnes", format=".1%"),
                *(
                    alt.Tooltip(f"{name}:Q", title=name.replace("_", " ").capitalize(), format=TONNES_FORMAT)
                    for name in TONNES_COLUMNS
                ),
            ],
        )
    )
    return chart
