"""What every dashboard shares: the `View` it computes, the `Dashboard` widget, control builders.

A dashboard holds its input frames in memory. Each control change calls `Dashboard.refresh`, which
reads the controls, computes a new `View` from those frames (pure functions of
:mod:`finlab.analysis` and :mod:`finlab.charts`: no I/O) and updates the KPI tiles, the chart widgets
(their ``chart`` is replaced in place) and the tables.

Browser tests find things by CSS class: ``finlab-dashboard``, ``finlab-control`` plus
``finlab-<control name>`` on each control, ``finlab-kpi`` plus ``finlab-kpi-<name>`` on each tile
(whose HTML carries ``data-name``), ``finlab-chart-<name>``, ``finlab-table-<name>`` and
``finlab-notes``.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from html import escape
from typing import Any, Generic, TypeVar

import altair as alt
import ipywidgets as widgets
import polars as pl
from IPython.display import display

from finlab.analysis import check_timezone
from finlab.charts import Chart
from finlab.dashboards.html import Kpi, kpi_html, table_html, unknown_currency_notes
from finlab.dashboards.rendering import chart_widget
from finlab.errors import ConfigurationError
from finlab.money import is_known
from finlab.resources import MAJOR_SUFFIX

__all__ = [
    "ALL",
    "TIMEZONES",
    "Controls",
    "Dashboard",
    "Table",
    "View",
    "as_date",
    "check_choice",
    "choice_control",
    "currency_control",
    "date_control",
    "date_window",
    "money_totals",
    "money_totals_of",
    "multi_control",
    "selected_currency",
    "timezone_control",
    "toggle_control",
]

#: Value of the currency control that selects every currency.
ALL = "all"
#: Timezones the timezone control offers (a dashboard's own timezone is added when missing).
TIMEZONES = (
    "UTC",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Tokyo",
    "Asia/Singapore",
    "Asia/Kolkata",
    "Australia/Sydney",
)


@dataclass(frozen=True)
class Table:
    """A titled table of a `View`: the aggregated frame behind a chart, in display columns."""

    title: str
    frame: pl.DataFrame


@dataclass(frozen=True)
class View:
    """Everything a dashboard shows for one setting of its controls.

    ``frames`` are the computed frames (Int64 minor units with ``_major`` twins), ``kpis`` the tiles,
    ``charts`` the Altair charts, ``tables`` what the tables show, ``notes`` messages for the analyst
    (e.g. an empty date range).
    """

    frames: dict[str, pl.DataFrame]
    kpis: dict[str, Kpi]
    charts: dict[str, Chart]
    tables: dict[str, Table]
    notes: tuple[str, ...] = ()

    @property
    def shown_notes(self) -> tuple[str, ...]:
        """``notes`` plus one for each currency on show whose decimals finlab does not know."""
        codes = [code for kpi in self.kpis.values() for code in kpi.money]
        for frame in self.frames.values():
            if "currency" in frame.columns:
                codes.extend(frame["currency"].drop_nulls().unique().to_list())
        return self.notes + unknown_currency_notes(codes)


class Controls:
    """Base of each dashboard's controls: a dataclass whose fields are widgets (or dicts of widgets)."""

    def members(self) -> list[Any]:
        """Every control widget, in field order."""
        found: list[Any] = []
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            found.extend(value.values() if isinstance(value, dict) else [value])
        return found

    def box(self) -> widgets.Box:
        """The controls laid out in wrapping rows."""
        box = widgets.HBox(self.members(), layout=widgets.Layout(flex_flow="row wrap"))
        box.add_class("finlab-controls")
        return box


C = TypeVar("C", bound=Controls)


class Dashboard(ABC, Generic[C]):
    """An ipywidgets dashboard: controls, KPI tiles, charts and tables over frames held in memory.

    Display it as a cell's last expression, or with `show`. ``widget`` is the root ipywidgets box.
    """

    #: Heading shown above the controls.
    title: str = "Dashboard"
    #: CSS class suffix of the root box: ``finlab-dashboard-<slug>``.
    slug: str = "dashboard"

    def __init__(self, controls: C) -> None:
        self.controls: C = controls
        self._view = self._compute()
        self._notes = widgets.HTML()
        self._notes.add_class("finlab-notes")
        self._tiles: dict[str, widgets.HTML] = {}
        self._tile_box = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self._tile_box.add_class("finlab-kpis")
        self._charts = {name: chart_widget(chart, name) for name, chart in self._view.charts.items()}
        self._tables = {name: widgets.HTML() for name in self._view.tables}
        for name, table in self._tables.items():
            table.add_class("finlab-table")
            table.add_class(f"finlab-table-{name}")
        heading = widgets.HTML(f"<h3 style='margin:4px 0'>{escape(self.title)}</h3>")
        self.widget = widgets.VBox(
            [
                heading,
                controls.box(),
                self._notes,
                self._tile_box,
                *self._charts.values(),
                *self._tables.values(),
            ]
        )
        self.widget.add_class("finlab-dashboard")
        self.widget.add_class(f"finlab-dashboard-{self.slug}")
        self._render()
        for control in controls.members():
            control.observe(self._on_change, names="value")

    @abstractmethod
    def _compute(self) -> View:
        """The view for the controls' current values, from the frames in memory (no I/O)."""

    def refresh(self) -> None:
        """Recompute from the frames in memory and update every tile, chart and table."""
        self._view = self._compute()
        self._render()

    def _on_change(self, _change: dict[str, Any]) -> None:
        self.refresh()

    def _render(self) -> None:
        view = self._view
        self._notes.value = "".join(
            f"<p style='color:#b44d12;margin:2px 0'>{escape(note)}</p>" for note in view.shown_notes
        )
        for name, kpi in view.kpis.items():
            if name not in self._tiles:
                tile = widgets.HTML(layout=widgets.Layout(margin="0 8px 8px 0"))
                tile.add_class("finlab-kpi")
                tile.add_class(f"finlab-kpi-{name}")
                self._tiles[name] = tile
            self._tiles[name].value = kpi_html(name, kpi)
        self._tile_box.children = [self._tiles[name] for name in view.kpis]
        for name, chart in view.charts.items():
            self._charts[name].chart = chart
        for name, table in view.tables.items():
            self._tables[name].value = (
                f"<h4 style='margin:12px 0 4px'>{escape(table.title)}</h4>"
                f"<div style='max-height:360px;overflow:auto'>{table_html(table.frame, name)}</div>"
            )

    @property
    def view(self) -> View:
        """The current `View` (recomputed on every control change)."""
        return self._view

    @property
    def frames(self) -> dict[str, pl.DataFrame]:
        """The current computed frames, by name."""
        return self._view.frames

    @property
    def kpis(self) -> dict[str, Kpi]:
        """The current KPI tiles, by name."""
        return self._view.kpis

    @property
    def charts(self) -> dict[str, Chart]:
        """The current Altair charts, by name (the first is `chart`)."""
        return self._view.charts

    @property
    def chart(self) -> Chart:
        """The main chart, as an Altair chart (``.to_dict()`` gives its Vega-Lite spec)."""
        return next(iter(self._view.charts.values()))

    @property
    def chart_widgets(self) -> dict[str, alt.JupyterChart]:
        """The chart widgets, by name; each keeps its identity and gets a new ``chart`` on changes."""
        return dict(self._charts)

    @property
    def tables(self) -> dict[str, Table]:
        """The current tables, by name."""
        return self._view.tables

    @property
    def notes(self) -> tuple[str, ...]:
        """Messages for the analyst about the current selection (unknown currencies included)."""
        return self._view.shown_notes

    def show(self) -> None:
        """Display the dashboard (a bare ``dashboard`` as a cell's last expression does the same)."""
        display(self.widget)  # type: ignore[no-untyped-call]

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle: dict[str, Any] | None = self.widget._repr_mimebundle_(**kwargs)
        if bundle is not None:
            bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {', '.join(self._view.frames)}>"


def as_date(value: date | str | None, name: str) -> date | None:
    """A date from a date or an ISO ``YYYY-MM-DD`` string (None stays None)."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        msg = f"{name}={value!r} is not a date: pass datetime.date(2026, 1, 31) or '2026-01-31'."
        raise ConfigurationError(msg) from None


def date_window(start: date | None, end: date | None) -> tuple[date | None, date | None, tuple[str, ...]]:
    """``start`` and the exclusive end for an inclusive ``end`` date, with a note if the range is empty."""
    end_exclusive = end + timedelta(days=1) if end is not None else None
    if start is not None and end is not None and start > end:
        note = (
            f"From ({start.isoformat()}) is after To ({end.isoformat()}), so nothing is selected: "
            "pick a From date on or before the To date."
        )
        return start, end_exclusive, (note,)
    return start, end_exclusive, ()


def check_choice(value: str, allowed: Sequence[str], name: str) -> str:
    """``value`` if it is one of ``allowed``, else a `ConfigurationError` listing them."""
    if value not in allowed:
        msg = f"{name}={value!r} is not available here; use one of: {', '.join(allowed)}."
        raise ConfigurationError(msg)
    return value


def money_totals(frame: pl.DataFrame, column: str) -> dict[str, Decimal]:
    """Sum of ``<column>_major`` per currency (major units; rows without a currency are left out).

    A currency finlab does not know has no major units: its total is the sum of minor units, which
    `format_money` shows as such.
    """
    return money_totals_of(frame, [column])[column]


def money_totals_of(frame: pl.DataFrame, columns: Sequence[str]) -> dict[str, dict[str, Decimal]]:
    """`money_totals` of each of ``columns``, summed in one pass over ``frame``."""
    majors = [pl.col(column + MAJOR_SUFFIX).sum().alias(f"major{i}") for i, column in enumerate(columns)]
    minors = [pl.col(column).sum().alias(f"minor{i}") for i, column in enumerate(columns)]
    sums = frame.filter(pl.col("currency").is_not_null()).group_by("currency").agg(*majors, *minors)
    sums = sums.sort("currency")
    codes = sums.get_column("currency").to_list()
    return {
        column: {
            code: major if is_known(code) else Decimal(minor)
            for code, major, minor in zip(codes, sums[f"major{i}"], sums[f"minor{i}"], strict=True)
        }
        for i, column in enumerate(columns)
    }


def _tag(widget: Any, name: str) -> Any:
    widget.add_class("finlab-control")
    widget.add_class(f"finlab-{name}")
    return widget


def timezone_control(timezone: str) -> widgets.Dropdown:
    """Dropdown of IANA timezones (class ``finlab-timezone``), set to ``timezone``."""
    check_timezone(timezone)
    options = list(TIMEZONES) if timezone in TIMEZONES else [timezone, *TIMEZONES]
    return _tag(widgets.Dropdown(options=options, value=timezone, description="Timezone"), "timezone")


def date_control(value: date | None, description: str, name: str) -> widgets.DatePicker:
    """A date picker (class ``finlab-<name>``); empty means unbounded."""
    return _tag(widgets.DatePicker(value=value, description=description), name)


def currency_control(currencies: Iterable[str], value: str | None) -> widgets.Dropdown:
    """Dropdown of the frames' currencies plus "All currencies" (value `ALL`; class ``finlab-currency``)."""
    codes = sorted({code for code in currencies if code})
    if value is not None:
        check_choice(value, codes, "currency")
    options = [("All currencies", ALL), *((code.upper(), code) for code in codes)]
    return _tag(widgets.Dropdown(options=options, value=value or ALL, description="Currency"), "currency")


def choice_control(options: Sequence[str], value: str, description: str, name: str) -> widgets.ToggleButtons:
    """One-of-several toggle buttons (class ``finlab-<name>``)."""
    check_choice(value, options, name)
    buttons = widgets.ToggleButtons(options=list(options), value=value, description=description)
    buttons.style.button_width = "72px"
    return _tag(buttons, name)


def toggle_control(value: bool, description: str, name: str) -> widgets.Checkbox:
    """An on/off checkbox (class ``finlab-<name>``)."""
    return _tag(widgets.Checkbox(value=value, description=description, indent=False), name)


def multi_control(
    options: Sequence[tuple[str, str]], value: Iterable[str] | None, description: str, name: str
) -> widgets.SelectMultiple:
    """Multi-select of ``(label, value)`` options, all selected when ``value`` is None."""
    known = [option for _, option in options]
    chosen = tuple(known) if value is None else tuple(value)
    unknown = [item for item in chosen if item not in known]
    if unknown:
        msg = f"{name}: {unknown!r} not in the data; use some of: {', '.join(known) or 'none available'}."
        raise ConfigurationError(msg)
    select = widgets.SelectMultiple(
        options=list(options), value=chosen, description=description, rows=min(max(len(options), 2), 6)
    )
    return _tag(select, name)


def selected_currency(value: str) -> str | None:
    """The currency control's value as a filter: None for `ALL`."""
    return None if value == ALL else value
