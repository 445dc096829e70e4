"""The Altair internals finlab relies on, held so that an Altair upgrade that moves them fails here.

Two places reach past Altair's public API for speed (issue 13 chose a pin plus this test over the
slower public path): `finlab.charts.Layout.fill` and `Layout.stacked` copy a chart and give it new
``_kwds`` (Altair's ``copy()`` re-runs the constructor and deep-copies every panel), and
`finlab.dashboards.rendering.ChartWidget` overrides ``JupyterChart._on_change_chart`` and reads
``_params``, ``_selection_types`` and ``_esm``. pyproject pins Altair to the minor version checked here.
"""

from __future__ import annotations

import copy

import altair as alt
import polars as pl

from finlab.charts import Layout, stack
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


def test_a_stacked_layout_gives_the_same_spec_and_chart_as_altairs_stack() -> None:
    """`Layout.stacked` copies a stack and gives it new panels in ``_kwds``, and puts the spec together
    from the panels' specs (Altair's top-level keys once, ``vconcat``, ``resolve``)."""
    panels = [
        alt.Chart(alt.NamedData(name=name), title=name).mark_bar().encode(x="x:Q") for name in ("a", "b", "c")
    ]
    for chosen in (panels[:1], panels[:2], panels, panels[1:]):
        stacked = Layout.stacked([Layout(panel) for panel in chosen])
        expected = stack(chosen).to_dict()

        assert stacked.spec == expected
        assert stacked.chart.to_dict() == expected
        filled = stacked.fill({"a": pl.DataFrame({"x": [1.0]})})
        assert filled.to_dict() == {**expected, "datasets": {"a": [{"x": 1.0}]}}


def test_jupyter_chart_still_has_the_handler_and_state_the_widget_overrides() -> None:
    widget = alt.JupyterChart(alt.Chart({"values": [{"x": 1}]}).mark_point().encode(x="x:Q"))

    handler = alt.JupyterChart._on_change_chart  # a traitlets observer of "chart"
    assert {"chart"} == set(handler.trait_names)
    assert isinstance(alt.JupyterChart._esm, str)  # the module ChartWidget replaces with its loader
    assert {} == dict(widget._params)
    assert {} == dict(widget._selection_types)
    assert ChartWidget._on_change_chart is not alt.JupyterChart._on_change_chart
