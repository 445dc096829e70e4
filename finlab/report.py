"""A static report of the three dashboards: one self-contained HTML file, plus PNG and SVG charts.

The HTML inlines Vega, Vega-Lite and vega-embed from the JavaScript bundle that vl-convert ships in
its Python package, and every chart's data is inline, so the file opens offline and can be mailed.
It shows each dashboard's KPI tiles, charts and tables for its default settings (all accounts and
currencies, the whole history; cash flow per month, tax and carbon per quarter). PNG and SVG files
come from vl-convert too.

Examples
--------
>>> import finlab
>>> report = write_report(finlab.connect(demo=True), "finlab-report")  # doctest: +SKIP
>>> report.html.name, sorted(report.images)[0]  # doctest: +SKIP
('report.html', 'carbon_pathways')
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from html import escape
from pathlib import Path

from finlab.analysis import check_timezone
from finlab.analysis.tax import tax_lines
from finlab.connection import Connection
from finlab.extras import needs
from finlab.files import private_directory, private_file

with needs("images"):
    import altair as alt
    import vl_convert as vlc

    from finlab.dashboards import View, carbon_view, cash_flow_view, tax_liability_view
    from finlab.dashboards.html import kpi_html, script_json, table_html

__all__ = ["REPORT_FILE", "SECTIONS", "Report", "Section", "report_views", "write_report"]

#: Name of the HTML file in the output directory.
REPORT_FILE = "report.html"
#: vl-convert renders PNGs at this multiple of the charts' CSS size.
PNG_SCALE = 1.0
#: The Vega-Lite version Altair writes specs for, as vl-convert names it (``"6.4"``).
VEGALITE_VERSION = ".".join(alt.VEGALITE_VERSION.split(".")[:2])

PAGE_STYLE = (
    "body{font-family:'Segoe UI','Helvetica Neue',Arial,sans-serif;color:#1f2933;margin:24px auto;"
    "max-width:1100px;padding:0 16px}h1{font-size:24px}h2{font-size:20px;margin-top:40px;"
    "border-bottom:1px solid #e4e7eb}h4{margin:16px 0 4px}.finlab-kpis{display:flex;flex-wrap:wrap;"
    "gap:8px}.finlab-chart{margin:16px 0}.finlab-table-box{max-height:420px;overflow:auto}"
    ".finlab-notes{color:#b44d12}"
)


@dataclass(frozen=True)
class Section:
    """One dashboard in the report: its key, heading and chart files (chart name -> file stem)."""

    key: str
    title: str
    files: dict[str, str]


#: The report's sections, in order.
SECTIONS = (
    Section("cash_flow", "Cash flow", {"cash_flow": "cash_flow"}),
    Section("tax_liability", "Tax liability", {"liability": "tax_liability", "heatmap": "tax_heatmap"}),
    Section(
        "carbon",
        "Carbon removal",
        {"spend": "carbon_spend", "tonnes": "carbon_tonnes", "pathways": "carbon_pathways"},
    ),
)


@dataclass(frozen=True)
class Report:
    """What `write_report` wrote: the HTML file and, per chart file stem, its PNG and SVG."""

    html: Path
    images: dict[str, tuple[Path, Path]]


def report_views(
    stripe: Connection, *, timezone: str = "UTC", now: date | datetime | None = None
) -> dict[str, View]:
    """Fetch every frame once and compute each dashboard's default `View`, keyed like `SECTIONS`."""
    check_timezone(timezone)
    lines = tax_lines(stripe.tax_line_items(), stripe.tax_transactions())
    return {
        "cash_flow": cash_flow_view(stripe.transactions(), stripe.accounts(), timezone=timezone),
        "tax_liability": tax_liability_view(
            lines,
            stripe.tax_registrations(),
            now=now if now is not None else datetime.now(UTC),
            period="quarter",
            timezone=timezone,
        ),
        "carbon": carbon_view(
            stripe.climate_orders(),
            stripe.climate_products(),
            stripe.climate_suppliers(),
            period="quarter",
            timezone=timezone,
        ),
    }


def write_report(
    stripe: Connection,
    out: str | Path,
    *,
    timezone: str = "UTC",
    now: date | datetime | None = None,
) -> Report:
    """Write ``report.html`` and ``<chart>.png`` / ``<chart>.svg`` for every chart into ``out``.

    Parameters
    ----------
    stripe
        A connection (``finlab.connect()``); every frame is fetched once.
    out
        Directory to write to (created if missing; existing files of the same names are replaced).
        New directories are 0700 and every file 0600: the report holds the account's figures.
    timezone
        IANA timezone of the periods and dates.
    now
        The instant registrations are checked against for expiry (default: the current time).
    """
    views = report_views(stripe, timezone=timezone, now=now)
    folder = private_directory(out)
    images: dict[str, tuple[Path, Path]] = {}
    specs: dict[str, object] = {}
    for section in SECTIONS:
        for name, stem in section.files.items():
            spec = views[section.key].charts[name].to_dict()
            png, svg = folder / f"{stem}.png", folder / f"{stem}.svg"
            _write(png, vlc.vegalite_to_png(spec, vl_version=VEGALITE_VERSION, scale=PNG_SCALE))
            _write(svg, vlc.vegalite_to_svg(spec, vl_version=VEGALITE_VERSION).encode())
            images[stem] = (png, svg)
            specs[stem] = spec
    source = "the demo account (fictional data)" if stripe.is_demo else "a live Stripe account"
    html = folder / REPORT_FILE
    _write(html, _page(views, specs, source, timezone).encode())
    return Report(html=html, images=images)


def _write(path: Path, content: bytes) -> None:
    with private_file(path) as handle:
        handle.write(content)


def _page(views: dict[str, View], specs: dict[str, object], source: str, timezone: str) -> str:
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        "<h1>finlab report</h1>",
        f"<p>Read from {escape(source)} on {made}; periods in {escape(timezone)}. Money is in major "
        "units of each currency; amounts in different currencies are never added up.</p>",
    ]
    for section in SECTIONS:
        view = views[section.key]
        body.append(f'<section id="{section.key}"><h2>{escape(section.title)}</h2>')
        body.extend(f'<p class="finlab-notes">{escape(note)}</p>' for note in view.shown_notes)
        tiles = "".join(kpi_html(name, kpi) for name, kpi in view.kpis.items())
        body.append(f'<div class="finlab-kpis">{tiles}</div>')
        body.extend(f'<div class="finlab-chart" id="chart-{stem}"></div>' for stem in section.files.values())
        for name, table in view.tables.items():
            body.append(
                f"<h4>{escape(table.title)}</h4>"
                f'<div class="finlab-table-box">{table_html(table.frame, name)}</div>'
            )
        body.append("</section>")
    embed = (
        f"const specs = {script_json(specs)};\n"
        "for (const [stem, spec] of Object.entries(specs)) {\n"
        '  vegaEmbed("#chart-" + stem, spec, {renderer: "svg", actions: false});\n'
        "}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>finlab report</title><style>{PAGE_STYLE}</style>"
        f"<script>{_javascript()}</script></head>\n<body>{''.join(body)}"
        f"<script>{embed}</script></body></html>\n"
    )


def _javascript() -> str:
    """Vega, Vega-Lite and vega-embed as one script that defines ``window.vegaEmbed`` (no URL)."""
    bundle: str = vlc.javascript_bundle("window.vegaEmbed = vegaEmbed;", vl_version=VEGALITE_VERSION)
    return bundle.replace("</script", "<\\/script")
