"""The Altair internals finlab relies on, held so that an Altair upgrade that moves them fails here.

Two places reach past Altair's public API for speed (issue 13 chose a pin plus this test over the
slower public path): `finlab.charts.Layout.fill` copies a chart and gives it new ``_kwds`` (Altair's
``copy()`` re-runs the constructor and deep-copies every panel), and
`finlab.dashboards.rendering.ChartWidget` overrides ``JupyterChart._on_change_chart`` and reads
``_params``, ``_selection_types`` and ``_esm``. pyproject pins Altair to the minor version checked here.
"""

from __future__ import annotations

import copy

import altair as alt
import polars as pl

from finlab.charts import Layout
from finlab.dashboards.rendering import ChartWidget

PINNED_MINOR = (6, 3)


def test_altair_is_the_pinned_minor_version() -> None:
    assert PINNED_MINOR == tuple(int(part) for part in alt.__version__.split(".")[:2])


def test_a_chart_keeps_its_properties_in_kwds_and_a_shallow_copy_shares_them() -> None:
    chart = alt.Chart(alt.NamedData(name="rows")).mark_point().encode(x="x:Q")
    kwds = vars(chart)["_kwds"]

    assert {"mark", "encoding", "data"} <= set(kwds)
    assert copy.copy(chart)._kwds is kwds
    object.__setattr__(chart, "_kwds", {**kwds, "datasets": {"rows": [{"x": 1}]}})
    assert {"rows": [{"x": 1}]} == chart.to_dict()["datasets"]


def test_layout_fill_gives_the_same_spec_as_altair() -> None:
    layout = Layout(alt.Chart(alt.NamedData(name="rows")).mark_bar().encode(x="x:Q"))

    filled = layout.fill({"rows": pl.DataFrame({"x": [1.0, 2.0]})})

    assert filled.to_dict() == {**layout.spec, "datasets": {"rows": [{"x": 1.0}, {"x": 2.0}]}}


def test_jupyter_chart_still_has_the_handler_and_state_the_widget_overrides() -> None:
    widget = alt.JupyterChart(alt.Chart({"values": [{"x": 1}]}).mark_point().encode(x="x:Q"))

    handler = alt.JupyterChart._on_change_chart  # a traitlets observer of "chart"
    assert {"chart"} == set(handler.trait_names)
    assert isinstance(alt.JupyterChart._esm, str)  # the module ChartWidget replaces with its loader
    assert {} == dict(widget._params)
    assert {} == dict(widget._selection_types)
    assert ChartWidget._on_change_chart is not alt.JupyterChart._on_change_chart
