"""Tax charts: liability stacked by jurisdiction over time, and a period x jurisdiction heat map.

Both take the frame of :func:`finlab.analysis.tax.tax_liability` and draw one panel per currency.
``value`` picks the measure: ``net_tax`` (default), ``tax_collected``, ``tax_reversed`` or
``taxable_amount``. Tax behaviors of one jurisdiction and period are summed.

Examples
--------
>>> from finlab.analysis.tax import TAX_LIABILITY_SCHEMA
>>> tax_heatmap(pl.DataFrame(schema=TAX_LIABILITY_SCHEMA)).to_dict()["mark"]["type"]
'rect'
"""

from __future__ import annotations

import altair as alt
import polars as pl

from finlab.analysis import require_columns
from finlab.analysis.tax import TAX_LIABILITY_SCHEMA
from finlab.charts import (
    MONEY_FORMAT,
    Chart,
    currency_panels,
    currency_title,
    inline_data,
    period_tooltip,
    stacked_period_bars,
)
from finlab.charts.theme import SEQUENTIAL_SCHEME, WIDTH
from finlab.errors import ConfigurationError

__all__ = ["tax_bars", "tax_heatmap"]

CELL_HEIGHT = 28
LABELS = {
    "taxable_amount": "Taxable amount",
    "tax_collected": "Tax collected",
    "tax_reversed": "Tax reversed",
    "net_tax": "Net tax",
}


def tax_bars(liability: pl.DataFrame, *, value: str = "net_tax") -> Chart:
    """Bars per filing period, stacked by jurisdiction, per currency."""
    _check(liability, value)

    def panel(rows: pl.DataFrame, currency: str) -> alt.Chart:
        return stacked_period_bars(
            inline_data(rows),
            value=value,
            category="jurisdiction",
            category_title="Jurisdiction",
            y_title=currency_title(LABELS[value], currency),
            sums={name: currency_title(label, currency) for name, label in LABELS.items()},
            counts={"line_count": "Line items"},
            title=_title(value, currency),
        )

    return currency_panels(liability, panel)


def tax_heatmap(liability: pl.DataFrame, *, value: str = "net_tax") -> Chart:
    """Filing period (columns) x jurisdiction (rows), colored by ``value``, per currency."""
    _check(liability, value)

    def panel(rows: pl.DataFrame, currency: str) -> alt.Chart:
        chart = (
            alt.Chart(inline_data(rows), title=_title(value, currency))
            .mark_rect(stroke="white", strokeWidth=1)
            .properties(width=WIDTH, height=alt.Step(CELL_HEIGHT))
        )
        encoded: alt.Chart = chart.encode(
            x=alt.X(
                "period_start:O",
                title="Filing period (first day)",
                sort="ascending",
                axis=alt.Axis(labelAngle=0),
            ),
            y=alt.Y("jurisdiction:N", title="Jurisdiction", sort="ascending"),
            color=alt.Color(
                f"sum({value}):Q",
                title=currency_title(LABELS[value], currency),
                scale=alt.Scale(scheme=SEQUENTIAL_SCHEME),
            ),
            tooltip=_tooltip(currency),
        )
        return encoded

    return currency_panels(liability, panel)


def _check(liability: pl.DataFrame, value: str) -> None:
    require_columns(
        liability, TAX_LIABILITY_SCHEMA.names(), "the frame of finlab.analysis.tax.tax_liability()"
    )
    if value not in LABELS:
        msg = f"Unknown value {value!r}. Use one of: {', '.join(LABELS)}."
        raise ConfigurationError(msg)


def _title(value: str, currency: str) -> str:
    return f"{LABELS[value]} by jurisdiction, {currency.upper()}" if currency else LABELS[value]


def _tooltip(currency: str) -> list[alt.Tooltip]:
    return [
        alt.Tooltip("jurisdiction:N", title="Jurisdiction"),
        *period_tooltip(),
        *(
            alt.Tooltip(f"sum({name}):Q", title=currency_title(label, currency), format=MONEY_FORMAT)
            for name, label in LABELS.items()
        ),
        alt.Tooltip("sum(line_count):Q", title="Line items"),
    ]
