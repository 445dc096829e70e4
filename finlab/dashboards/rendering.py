"""Offline chart rendering in JupyterLab and Voilà: the one place that sets it up.

Altair's default renderer loads Vega from a CDN, so charts stay blank without internet. Here charts
are `ChartWidget` widgets: ``alt.JupyterChart`` (anywidget) running the JavaScript bundle that
vl-convert builds from the packages installed with it (Altair's ``JupyterChart.enable_offline``):
nothing is fetched. Each chart widget carries that bundle (~900 KB) in its state, so notebooks are
committed with outputs stripped.

Building the bundle takes vl-convert a few seconds, in every new kernel. It is therefore kept in
``$XDG_CACHE_HOME/finlab`` (default ``~/.cache/finlab``), one file per Altair and vl-convert version;
an unreadable or unwritable cache only means bundling again.

`enable_offline_rendering` also makes ``"finlab"`` Altair's renderer, so that a chart left as a cell's
last expression shows as a `ChartWidget` too. Unlike Altair's ``"jupyter"`` renderer it passes the
spec on as it is instead of rebuilding the chart from it (which refuses the top-level ``width`` and
``height`` that the finlab theme puts on concatenated, multi-currency charts).

Examples
--------
>>> enable_offline_rendering()  # doctest: +SKIP
>>> chart_widget(alt.Chart({"values": [{"x": 1}]}).mark_point().encode(x="x:Q"))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import os
from importlib.metadata import version
from pathlib import Path
from typing import Any

import altair as alt
import anywidget  # noqa: F401  (without it, alt.JupyterChart is a stub that fails only when drawn)
import traitlets
import vl_convert  # noqa: F401  (builds the offline bundle; imported here so that its absence shows early)

from finlab.charts import Chart, filled_json, filled_spec

__all__ = ["RENDERER", "ChartWidget", "bundle_path", "chart_widget", "enable_offline_rendering"]

#: Name of the Altair renderer `enable_offline_rendering` enables.
RENDERER = "finlab"


#: Each chart widget's own module: it imports the Vega bundle once per page and delegates to it.
#: anywidget drops a widget's later updates if its module takes over 2 s to load, which a 900 KB
#: module per chart can on a busy page; a tiny module plus one shared bundle stays well inside that.
#: The spec comes as JSON bytes (`ChartWidget._spec_json`); Altair's renderer reads ``spec`` and
#: listens for its changes, so it gets a model that hands it the parsed spec under that name.
_LOADER = """
export default {
  async render(props) {
    globalThis.__finlabChartBundle ??= import(
      URL.createObjectURL(new Blob([props.model.get("_bundle")], {type: "text/javascript"})));
    const bundle = await globalThis.__finlabChartBundle;
    return bundle.default.render({...props, model: withSpec(props.model)});
  },
};

function withSpec(model) {
  let bytes, spec = null;
  const parsed = () => {
    const now = model.get("_spec_json");
    if (now !== bytes) {
      bytes = now;
      spec = JSON.parse(new TextDecoder().decode(now));
    }
    return spec;
  };
  const renamed = (event) => event.replace(/\\bchange:spec\\b/g, "change:_spec_json");
  return new Proxy(model, {
    get(target, key) {
      if (key === "get") return (name) => (name === "spec" ? parsed() : target.get(name));
      if (key === "on" || key === "off") return (event, ...rest) => target[key](renamed(event), ...rest);
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
"""


class ChartWidget(alt.JupyterChart):
    """``alt.JupyterChart`` with Vega bundled in (set by `enable_offline_rendering`): renders offline."""

    _esm = _LOADER
    _bundle = traitlets.Unicode("").tag(sync=True)
    #: Altair's spec, kept here; the front end gets it as `_spec_json`.
    spec = traitlets.Dict(allow_none=True)
    #: The spec as UTF-8 JSON: ipywidgets sends bytes as one binary buffer, where it walks a dict
    #: value by value (thousands of rows at day granularity) and the kernel then encodes it again.
    _spec_json = traitlets.Bytes(b"null").tag(sync=True)
    #: The offline bundle, set once by `enable_offline_rendering`.
    _source = ""
    _offline = False

    @traitlets.default("_bundle")
    def _default_bundle(self) -> str:
        return self._source

    @traitlets.observe("chart")
    def _on_change_chart(self, change: dict[str, Any]) -> None:
        """Send the new chart's spec; a filled `finlab.charts.Layout` sends its ready spec at once.

        The ready spec skips Altair's serialisation of the whole chart. It is only taken when
        neither chart has parameters or selections, which are the only state Altair's handler sets
        besides the spec.
        """
        spec = filled_spec(change["new"])
        if spec is None or self._params or self._selection_types or _has_params(spec):
            super()._on_change_chart(change)
        else:
            self.spec = spec

    @traitlets.observe("spec")
    def _on_change_spec(self, change: dict[str, Any]) -> None:
        """Send the spec as JSON: a filled layout's ready JSON, else the spec encoded here."""
        spec, chart = change["new"], self.chart
        ready = None
        if spec is not None and isinstance(chart, Chart) and spec is filled_spec(chart):
            ready = filled_json(chart)
        self._spec_json = ready or json.dumps(spec, ensure_ascii=False, allow_nan=False).encode()


def _has_params(spec: dict[str, Any]) -> bool:
    """Whether the spec declares parameters anywhere (its layers or panels included)."""
    return "params" in spec or any(
        _has_params(part) for key in ("layer", "vconcat", "hconcat", "concat") for part in spec.get(key, ())
    )


def bundle_path() -> Path:
    """Where the offline JavaScript bundle of this Altair and vl-convert is cached."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    name = f"jupyterchart-altair-{alt.__version__}-vl-convert-{version('vl-convert-python')}.js"
    return root / "finlab" / name


def enable_offline_rendering() -> None:
    """Render charts offline: `ChartWidget` gets the bundled JavaScript, ``"finlab"`` becomes the renderer.

    Idempotent. Reads the bundle from the cache (`bundle_path`), else has vl-convert build it
    (a few seconds) and caches it.
    """
    if not ChartWidget._offline:
        ChartWidget._source = _offline_bundle()
        ChartWidget._offline = True
    alt.renderers.register(RENDERER, _render)
    alt.renderers.enable(RENDERER)


def chart_widget(chart: Chart, name: str = "chart") -> ChartWidget:
    """A chart widget (CSS classes ``finlab-chart`` and ``finlab-chart-<name>``) rendered offline."""
    enable_offline_rendering()
    widget = ChartWidget(chart)
    widget.add_class("finlab-chart")
    widget.add_class(f"finlab-chart-{name}")
    return widget


def _render(spec: dict[str, Any], **metadata: Any) -> Any:
    """Altair renderer: the spec as it is, in a `ChartWidget` (whose mimebundle it returns)."""
    # No chart object: its ``chart`` trait may be None, and the spec is set as given.
    widget = ChartWidget(None, embed_options=metadata.get("embed_options"))  # type: ignore[arg-type]
    widget.spec = spec
    widget.add_class("finlab-chart")
    return widget._repr_mimebundle_()


def _offline_bundle() -> str:
    """The JavaScript of an offline ``JupyterChart``: from the cache, else built and cached."""
    path = bundle_path()
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        pass
    alt.JupyterChart.enable_offline(offline=True)
    bundle = str(alt.JupyterChart._esm)
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(bundle, encoding="utf-8")
        partial.replace(path)  # atomic: kernels starting together never read half a file
    except OSError:  # an unwritable cache only means bundling again in the next kernel
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
    return bundle
