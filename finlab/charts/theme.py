"""The finlab Altair theme: one palette, one font stack, one set of sizes for every chart.

Importing this module registers the theme as ``"finlab"``; importing :mod:`finlab.charts` enables it.
Fonts are system font stacks (no web-font URL), so charts render the same offline.

Examples
--------
>>> from typing import Final

import altair as alt
>>> enable()
>>> alt.theme.active
'finlab'
"""

from __future__ import annotations

from typing import Final

import altair as alt

__all__ = [
    "BALANCE_COLOR",
    "FLOW_COLORS",
    "FONT",
    "HEIGHT",
    "NET_COLOR",
    "PALETTE",
    "SEQUENTIAL_SCHEME",
    "THEME_NAME",
    "TONNES_COLORS",
    "WIDTH",
    "enable",
    "finlab_theme",
]

THEME_NAME = "finlab"
FONT = "'Inter', 'Segoe UI', 'Helvetica Neue', Arial, sans-serif"
WIDTH = 560
HEIGHT = 240
FONT_SIZES = {"label": 11, "title": 12, "header": 13, "chart_title": 15}
INK = "#1f2933"
GRID = "#e4e7eb"
#: Categorical colors (jurisdictions, products, pathways), colorblind-safe first.
PALETTE = (
    "#2f6fdf",
    "#e8833a",
    "#2a9d8f",
    "#c2407a",
    "#7c5cc4",
    "#d9b310",
    "#5a8f29",
    "#8c564b",
    "#6b7c93",
    "#17becf",
)
#: Money coming in and going out; net and balance lines.
FLOW_COLORS = {"inflow": "#2a9d8f", "outflow": "#d1495b"}
NET_COLOR = INK
BALANCE_COLOR = "#2f6fdf"
#: Delivered and outstanding tonnes.
TONNES_COLORS = {"delivered": "#2a9d8f", "outstanding": "#b8c4d0"}
#: Heat-map color scheme (Vega's built-in scheme: no URL).
SEQUENTIAL_SCHEME: Final = "blues"


@alt.theme.register(THEME_NAME, enable=False)
def finlab_theme() -> alt.theme.ThemeConfig:
    """The theme's configuration (registered as ``"finlab"``)."""
    axis: alt.theme.AxisConfigKwds = {
        "labelColor": INK,
        "labelFontSize": FONT_SIZES["label"],
        "titleColor": INK,
        "titleFontSize": FONT_SIZES["title"],
        "titleFontWeight": "normal",
        "gridColor": GRID,
        "domainColor": GRID,
        "tickColor": GRID,
    }
    return {
        "config": {
            "font": FONT,
            "background": "white",
            "view": {"stroke": None, "continuousWidth": WIDTH, "continuousHeight": HEIGHT},
            "axis": axis,
            "legend": {
                "labelFontSize": FONT_SIZES["label"],
                "titleFontSize": FONT_SIZES["title"],
                "orient": "bottom",
                "direction": "horizontal",
            },
            "header": {"labelFontSize": FONT_SIZES["header"], "titleFontSize": FONT_SIZES["header"]},
            "title": {"fontSize": FONT_SIZES["chart_title"], "anchor": "start", "color": INK},
            "range": {"category": list(PALETTE)},
            "bar": {"cornerRadiusEnd": 2},
            "line": {"strokeWidth": 2},
            "point": {"size": 40, "filled": True},
        },
    }


def enable() -> None:
    """Use the finlab theme for every chart from now on (``alt.theme.enable("default")`` undoes it)."""
    alt.theme.enable(THEME_NAME)
