"""Pure frame -> Altair chart builders, all in one theme; plus the helpers they share.

The modules:

- :mod:`finlab.charts.cash_flow`: in/out bars, net line and balance line per currency.
- :mod:`finlab.charts.tax`: stacked tax bars by jurisdiction and period; period x jurisdiction heat map.
- :mod:`finlab.charts.carbon`: spend over time, tonnes delivered vs outstanding, removal-pathway mix.
- :mod:`finlab.charts.operations`: identity verification funnel, forwarding outcomes per destination.
- :mod:`finlab.charts.theme`: the ``"finlab"`` theme, enabled when this package is imported.

Builders take the *aggregated* frames of :mod:`finlab.analysis`, never raw transactions, so charts
stay small. Data is inlined into the spec (`inline_data`): no URL, no data transformer, so neither a
``MaxRowsError`` nor a remote fetch can happen. Money becomes float major units only here, and each
currency gets its own panel and axis title: amounts in two currencies never share an axis.

Examples
--------
>>> frame = pl.DataFrame({"currency": ["jpy"], "net": [1500]})
>>> frame = frame.with_columns(net_major=pl.col("net").cast(pl.Decimal(38, 3)))
>>> inline_data(frame)["values"]
({'currency': 'jpy', 'net': 1500.0},)
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import polars as pl

from finlab.extras import needs
from finlab.money import is_known
from finlab.resources import MAJOR_SUFFIX

with needs("dashboards"):
    import altair as alt

    from finlab.charts import theme

__all__ = [
    "MONEY_FORMAT",
    "Chart",
    "InlineValues",
    "Layout",
    "currencies_of",
    "currency_panels",
    "currency_title",
    "filled_json",
    "filled_spec",
    "inline_data",
    "json_rows",
    "period_axis",
    "period_tooltip",
    "stack",
    "stacked_period_bars",
]

#: Inline chart data: JSON rows under ``"values"`` (a tuple: Altair copies lists on every chart
#: method, tuples it passes by reference).
InlineValues = dict[str, tuple[dict[str, Any], ...]]
#: Anything a builder returns: a single, layered or concatenated chart.
Chart = alt.Chart | alt.LayerChart | alt.VConcatChart

#: d3 format of money in major units.
MONEY_FORMAT = ",.2f"
#: d3 time format of a day.
DATE_FORMAT = "%Y-%m-%d"

theme.enable()


def inline_data(frame: pl.DataFrame) -> InlineValues:
    """The frame as inline JSON rows (``{"values": [...]}``), ready to draw.

    A plain dict rather than ``alt.InlineData``: Altair validates ``InlineData`` row by row when it is
    built (seconds for thousands of rows), and a dict passes no data transformer (no ``MaxRowsError``).

    Each money column ``x`` that has an ``x_major`` twin is replaced by the twin as a float (major
    units: yen stay yen, cents become dollars); where the twin is null because finlab does not know
    the currency's decimals, by ``x`` itself (minor units, as `currency_title` says). Other decimals
    become floats, dates ISO ``YYYY-MM-DD`` strings (which Vega reads as UTC midnight), datetimes ISO
    strings with ``Z``. The rows are a tuple, which Altair does not copy each time a chart is layered
    or concatenated.
    """
    return {"values": tuple(json_rows(frame))}


def json_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """The frame's rows as `inline_data` writes them (money in float major units, ISO dates)."""
    return _json_frame(frame).to_dicts()


def _json_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame in the columns and values of `json_rows`."""
    majors = {name for name in frame.columns if name + MAJOR_SUFFIX in frame.columns}
    columns: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        if name.endswith(MAJOR_SUFFIX) and name.removesuffix(MAJOR_SUFFIX) in majors:
            continue
        if name in majors:
            major = _json_ready(pl.col(name + MAJOR_SUFFIX), frame.schema[name + MAJOR_SUFFIX])
            columns.append(pl.coalesce(major, pl.col(name).cast(pl.Float64)).alias(name))
        else:
            columns.append(_json_ready(pl.col(name), dtype).alias(name))
    return frame.select(columns)


def _json_ready(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Decimal | pl.Float32 | pl.Float64):
        as_float = column.cast(pl.Float64)
        return pl.when(as_float.is_finite()).then(as_float)
    if isinstance(dtype, pl.Date):
        return column.dt.strftime("%Y-%m-%d")
    if isinstance(dtype, pl.Datetime):
        return column.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ")
    return column


def currency_title(label: str, currency: str) -> str:
    """Axis title naming the currency: ``currency_title("Net", "usd") == "Net (USD)"``.

    A currency finlab does not know is drawn in minor units, and the title says so.
    """
    if not currency:
        return label
    return (
        f"{label} ({currency.upper()})" if is_known(currency) else f"{label} ({currency.upper()} minor units)"
    )


def currency_panels(frame: pl.DataFrame, panel: Callable[[pl.DataFrame, str], Chart]) -> Chart:
    """One ``panel(rows, currency)`` per currency, stacked vertically; time aligned, amounts not.

    A frame without rows still gives one (empty) panel, so every builder returns a valid chart.
    """
    currencies = currencies_of(frame)
    if not currencies:
        return panel(frame, "")
    return stack([panel(frame.filter(pl.col("currency") == code), code) for code in currencies])


def currencies_of(frame: pl.DataFrame) -> list[str]:
    """The frame's currencies, sorted: one panel each."""
    return sorted(frame["currency"].drop_nulls().unique().to_list())


def stack(panels: Sequence[Chart]) -> Chart:
    """Panels one above the other (one alone as it is): time axes shared, amounts and colours not."""
    if len(panels) == 1:
        return panels[0]
    stacked: alt.VConcatChart = alt.vconcat(*panels).resolve_scale(
        x="shared", y="independent", color="independent"
    )
    return stacked


class Layout:
    """A chart whose rows come later: its data are named datasets, which `fill` supplies.

    Altair's build and serialisation of a layered, per-currency chart costs the same whatever its
    rows (`benchmarks/dashboard.py` times it). A layout is built and serialised once; `fill` then
    costs only the rows, and the chart it returns carries its spec ready-made for `filled_spec` (so a
    dashboard update sends it at once).
    """

    def __init__(self, chart: Chart, spec: dict[str, Any] | None = None) -> None:
        self.chart = chart
        if spec is not None:  # already known (`Layout.stacked`): not serialised again
            self.__dict__["spec"] = spec

    @functools.cached_property
    def spec(self) -> dict[str, Any]:
        """The layout's Vega-Lite spec, without ``datasets``."""
        spec: dict[str, Any] = self.chart.to_dict()
        return spec

    @classmethod
    def stacked(cls, layouts: Sequence[Layout]) -> Layout:
        """`stack` of the layouts' charts, its spec put together from theirs (one alone as it is).

        A stacked Altair chart costs 0.1-0.6 s to build and serialise, panels included, for every
        new set of panels; this copies one stack made once and reuses each panel's spec.
        """
        if len(layouts) == 1:
            return layouts[0]
        template = _stacked()
        chart = copy.copy(template)
        object.__setattr__(chart, "_kwds", {**template._kwds, "vconcat": [part.chart for part in layouts]})
        top = {key: value for key, value in layouts[0].spec.items() if key in _TOP_LEVEL}
        panels = [{k: v for k, v in part.spec.items() if k not in _TOP_LEVEL} for part in layouts]
        return cls(chart, {**top, "vconcat": panels, "resolve": template.resolve.to_dict()})

    @functools.cached_property
    def _json_head(self) -> str:
        """The spec's JSON up to where its ``datasets`` go (the spec has none of its own)."""
        text = json.dumps(self.spec, ensure_ascii=False, allow_nan=False)
        return text[:-1] + ("," if self.spec else "")

    def fill(self, datasets: Mapping[str, pl.DataFrame]) -> Chart:
        """The chart with these rows as its named datasets (see `json_rows`).

        It carries its spec ready-made (`filled_spec`), and that spec's JSON (`filled_json`), whose
        rows Polars writes.
        """
        frames = {name: _json_frame(frame) for name, frame in datasets.items()}
        rows = {name: frame.to_dicts() for name, frame in frames.items()}
        # A copy that shares the layout's parts: Altair's own copy() re-runs the constructor, which
        # deep-copies every panel. Its properties live in ``_kwds``, given a new dict here.
        chart = copy.copy(self.chart)
        object.__setattr__(chart, "_kwds", {**self.chart._kwds, "datasets": rows})
        object.__setattr__(chart, _FILLED_SPEC, {**self.spec, "datasets": rows})
        written = ",".join(f"{json.dumps(name)}:{frame.write_json()}" for name, frame in frames.items())
        object.__setattr__(chart, _FILLED_JSON, f'{self._json_head}"datasets":{{{written}}}}}'.encode())
        return chart


#: What Altair puts at the top level of a whole chart's spec only (not on a panel of a stack).
_TOP_LEVEL = ("$schema", "config")


@functools.cache
def _stacked() -> alt.VConcatChart:
    """A `stack` of two empty charts: what `Layout.stacked` copies (how a stack is resolved)."""
    chart = stack([alt.Chart(), alt.Chart()])
    assert isinstance(chart, alt.VConcatChart)
    return chart


def filled_spec(chart: Chart | None) -> dict[str, Any] | None:
    """The spec of a chart made by `Layout.fill` (equal to its ``to_dict()``); None for any other."""
    spec: dict[str, Any] | None = None if chart is None else vars(chart).get(_FILLED_SPEC)
    return spec


def filled_json(chart: Chart | None) -> bytes | None:
    """`filled_spec` as UTF-8 JSON (the same value once parsed); None for any chart not made by `fill`."""
    data: bytes | None = None if chart is None else vars(chart).get(_FILLED_JSON)
    return data


#: Where `Layout.fill` keeps a chart's ready spec and its JSON (attributes Altair does not serialise).
_FILLED_SPEC = "_finlab_filled_spec"
_FILLED_JSON = "_finlab_filled_json"


def period_axis(title: str = "Period") -> alt.X:
    """Temporal x on ``period_start`` (a UTC calendar date), labelled in UTC so dates never shift."""
    return alt.X("period_start:T", title=title, scale=alt.Scale(type="utc"))


def period_tooltip() -> list[alt.Tooltip]:
    """Tooltips for the period's first and last day, shown as dates (``2025-04-01``).

    The charts also use these fields on time axes, so Vega-Lite parses them to instants (UTC midnight);
    a nominal tooltip then showed epoch milliseconds. A UTC day time unit formats them back.
    """
    return [
        alt.Tooltip("utcyearmonthdate(period_start):T", title="From", format=DATE_FORMAT),
        alt.Tooltip("utcyearmonthdate(period_end):T", title="Until (excl.)", format=DATE_FORMAT),
    ]


def stacked_period_bars(
    data: InlineValues,
    *,
    value: str,
    category: str,
    category_title: str,
    y_title: str,
    sums: Mapping[str, str],
    counts: Mapping[str, str],
    title: str,
) -> alt.Chart:
    """Bars spanning each period (``period_start`` to ``period_end``), stacked by ``category``.

    ``sums`` maps the money columns summed per period and category to their tooltip titles (``value``
    among them), ``counts`` the count columns. Stacking is explicit (a stack transform) because
    Vega-Lite does not stack bars whose x is a range; negative values stack below zero.
    """
    chart: alt.Chart = (
        alt.Chart(data, title=title)
        .transform_aggregate(
            [alt.AggregatedFieldDef(op="sum", field=name, **{"as": name}) for name in (*sums, *counts)],
            groupby=["period_start", "period_end", category],
        )
        .transform_stack(
            stack=value,
            groupby=["period_start"],
            as_=["stack_start", "stack_end"],
            sort=[alt.SortField(category)],
        )
        .mark_bar(xOffset=1, x2Offset=-1)
        .encode(
            x=period_axis(),
            x2="period_end:T",
            y=alt.Y("stack_start:Q", title=y_title),
            y2="stack_end:Q",
            color=alt.Color(f"{category}:N", title=category_title),
            tooltip=[
                alt.Tooltip(f"{category}:N", title=category_title),
                *period_tooltip(),
                *(alt.Tooltip(f"{name}:Q", title=label, format=MONEY_FORMAT) for name, label in sums.items()),
                *(alt.Tooltip(f"{name}:Q", title=label) for name, label in counts.items()),
            ],
        )
    )
    return chart
