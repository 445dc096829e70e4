"""Operations charts: the identity verification funnel and forwarding outcomes per destination.

`funnel_chart` takes the frame of :func:`finlab.analysis.operations.verification_funnel`,
`forwarding_chart` the frame of :func:`finlab.analysis.operations.forwarding_summary`.

Examples
--------
>>> from finlab.analysis.operations import VERIFICATION_FUNNEL_SCHEMA
>>> funnel_chart(pl.DataFrame(schema=VERIFICATION_FUNNEL_SCHEMA)).to_dict()["layer"][0]["mark"]["type"]
'bar'
"""

from __future__ import annotations

import altair as alt
import polars as pl

from finlab.analysis import require_columns
from finlab.analysis.operations import FORWARDING_SUMMARY_SCHEMA, VERIFICATION_FUNNEL_SCHEMA
from finlab.charts import inline_data
from finlab.charts.theme import PALETTE

__all__ = ["forwarding_chart", "funnel_chart"]

#: Forwarding outcomes and their colors, best first.
OUTCOMES = {
    "succeeded": "#2a9d8f",
    "client_errors": "#e8833a",
    "server_errors": "#d1495b",
    "no_response": "#b8c4d0",
}


def funnel_chart(funnel: pl.DataFrame) -> alt.LayerChart:
    """Horizontal bars of sessions per funnel step, labelled with the share of started sessions."""
    require_columns(
        funnel,
        VERIFICATION_FUNNEL_SCHEMA.names(),
        "the frame of finlab.analysis.operations.verification_funnel()",
    )
    base = alt.Chart(inline_data(funnel), title="Identity verification funnel").encode(
        y=alt.Y("step:N", title=None, sort=alt.EncodingSortField("step_index", order="ascending")),
        x=alt.X("sessions:Q", title="Sessions"),
        tooltip=[
            alt.Tooltip("step:N", title="Step"),
            alt.Tooltip("sessions:Q", title="Sessions"),
            alt.Tooltip("share_of_started:Q", title="Share of started", format=".0%"),
            alt.Tooltip("drop_off:Q", title="Lost since previous step"),
        ],
    )
    bars = base.mark_bar(color=PALETTE[0]).properties(height=alt.Step(36))
    labels = base.mark_text(align="left", dx=4).encode(text=alt.Text("share_of_started:Q", format=".0%"))
    layered: alt.LayerChart = alt.LayerChart(layer=[bars, labels])
    return layered


def forwarding_chart(summary: pl.DataFrame) -> alt.Chart:
    """Stacked horizontal bars of forwarded requests per destination, by outcome."""
    require_columns(
        summary,
        FORWARDING_SUMMARY_SCHEMA.names(),
        "the frame of finlab.analysis.operations.forwarding_summary()",
    )
    chart: alt.Chart = (
        alt.Chart(inline_data(summary), title="Forwarded requests by destination")
        .transform_fold(list(OUTCOMES), as_=["outcome", "count"])
        .mark_bar()
        .properties(height=alt.Step(32))
        .encode(
            y=alt.Y("destination:N", title="Destination", sort="-x"),
            x=alt.X("sum(count):Q", title="Requests"),
            color=alt.Color(
                "outcome:N",
                title="Outcome",
                scale=alt.Scale(domain=list(OUTCOMES), range=list(OUTCOMES.values())),
            ),
            order=alt.Order("outcome:N"),
            tooltip=[
                alt.Tooltip("destination:N", title="Destination"),
                alt.Tooltip("outcome:N", title="Outcome"),
                alt.Tooltip("sum(count):Q", title="Requests"),
                alt.Tooltip("median_duration_ms:Q", title="Median duration (ms)", format=",.0f"),
            ],
        )
    )
    return chart
