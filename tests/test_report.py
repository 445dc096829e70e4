"""finlab.report and `finlab report`: one offline HTML file plus a PNG and an SVG of every chart."""

from __future__ import annotations

import json
import os
import re
import stat
import struct
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from finlab import report
from finlab.cli import main
from finlab.dashboards import View
from finlab.report import REPORT_FILE, SECTIONS

STEMS = [stem for section in SECTIONS for stem in section.files.values()]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHROMIUM = os.environ.get("FINLAB_CHROMIUM", "/usr/bin/chromium")
#: Raw in a script, it makes the HTML parser read past the script's end: every chart was blank.
POISON = "<!--<script>&amp;</script>-->"


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of the demo account, written once by the command line into new directories."""
    folder = tmp_path_factory.mktemp("report") / "new" / "report"
    previous = os.umask(0o022)  # the usual umask, which alone gives 0644 files and 0755 directories
    try:
        assert 0 == main(["report", "--out", str(folder), "--timezone", "Europe/Paris"])
    finally:
        os.umask(previous)
    return folder


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report whose every chart carries markup in its data (as a customer's address could)."""
    real = report.report_views

    def views(*args: Any, **kwargs: Any) -> dict[str, View]:
        found = real(*args, **kwargs)
        for view in found.values():
            view.charts.update({name: chart.properties(title=POISON) for name, chart in view.charts.items()})
        return found

    folder = tmp_path_factory.mktemp("poisoned")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report, "report_views", views)
        assert 0 == main(["report", "--out", str(folder)])
    return folder


def draws_every_chart_offline(html: Path) -> None:
    """Chromium with no network draws one Vega view per chart of ``html`` and raises no error."""
    sync_api = pytest.importorskip("playwright.sync_api")  # tests/conftest.py skips without Chromium
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            context = browser.new_context(offline=True)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(html.as_uri())
            page.wait_for_function(
                f"document.querySelectorAll('.finlab-chart svg.marks').length === {len(STEMS)}"
            )
            assert [] == errors
        finally:
            browser.close()


def test_writes_html_and_every_chart(out: Path) -> None:
    expected = {REPORT_FILE, *(f"{stem}.{ext}" for stem in STEMS for ext in ("png", "svg"))}
    assert expected == {path.name for path in out.iterdir()}
    assert {"cash_flow", "tax_liability", "carbon_spend"} <= set(STEMS)


def test_html_loads_nothing_from_the_network(out: Path) -> None:
    html = (out / REPORT_FILE).read_text(encoding="utf-8")
    assert [] == re.findall(r"<script[^>]*\bsrc\s*=", html, flags=re.IGNORECASE)
    assert [] == re.findall(r"<link[^>]*href\s*=\s*[\"']?https?:", html, flags=re.IGNORECASE)
    assert [] == re.findall(r"@import|url\(\s*[\"']?https?:", html)
    assert "vegaEmbed(" in html


def test_html_has_tiles_charts_and_tables(out: Path) -> None:
    html = (out / REPORT_FILE).read_text(encoding="utf-8")
    for stem in STEMS:
        assert f'id="chart-{stem}"' in html
    for name in ("net", "net_tax", "spend"):
        assert f'data-name="{name}"' in html
    assert html.count('<table class="finlab-table"') == 6
    assert re.search(r">[\d,]+ JPY</div>", html)  # yen shown in yen: no decimals
    assert "periods in Europe/Paris" in html
    assert "the demo account" in html


@pytest.mark.parametrize("stem", STEMS)
def test_png_and_svg_are_valid_images(out: Path, stem: str) -> None:
    png = (out / f"{stem}.png").read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    assert b"IHDR" == png[12:16]
    width, height = struct.unpack(">II", png[16:24])
    assert width > 100
    assert height > 100
    root = ET.fromstring((out / f"{stem}.svg").read_text(encoding="utf-8"))
    assert root.tag.endswith("svg")
    assert float(root.attrib["width"]) > 100


def test_live_report_needs_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    assert 2 == main(["report", "--live", "--out", str(tmp_path)])
    assert "--live reads STRIPE_API_KEY, which is not set" in capsys.readouterr().err
    assert [] == list(tmp_path.iterdir())


def test_unknown_timezone_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert 2 == main(["report", "--out", str(tmp_path / "r"), "--timezone", "Mars/Olympus"])
    assert "Unknown timezone 'Mars/Olympus'" in capsys.readouterr().err


@pytest.mark.browser
def test_report_draws_every_chart_offline(out: Path) -> None:
    draws_every_chart_offline(out / REPORT_FILE)


def test_report_files_and_new_directories_are_for_the_owner_only(out: Path) -> None:
    files = sorted(out.iterdir())
    assert {path.name: 0o600 for path in files} == {
        path.name: stat.S_IMODE(path.stat().st_mode) for path in files
    }
    folders = [out, out.parent]
    assert {f: 0o700 for f in folders} == {f: stat.S_IMODE(f.stat().st_mode) for f in folders}


def test_markup_in_chart_data_is_escaped_in_the_page(poisoned: Path) -> None:
    html = (poisoned / REPORT_FILE).read_text(encoding="utf-8")
    specs = html.split("const specs = ", 1)[1].split(";\n", 1)[0]
    assert ("<", ">", "&") == tuple(c for c in "<>&" if c not in specs)
    assert {stem: POISON for stem in STEMS} == {
        stem: spec["title"] for stem, spec in json.loads(specs).items()
    }


@pytest.mark.browser
def test_markup_in_chart_data_leaves_every_chart_drawn(poisoned: Path) -> None:
    draws_every_chart_offline(poisoned / REPORT_FILE)


def test_a_currency_finlab_does_not_know_is_shown_in_minor_units_with_a_note(out: Path) -> None:
    html = (out / REPORT_FILE).read_text(encoding="utf-8")
    assert re.search(r">-?[\d,]+ XCG \(minor units\)</div>", html)  # the demo's Curaçao account
    assert "XCG: finlab does not know this currency&#x27;s decimals" in html


def test_period_tooltips_show_dates_not_epoch_milliseconds(out: Path) -> None:
    html = (out / REPORT_FILE).read_text(encoding="utf-8")
    specs = html[html.index("const specs = ") :]
    period_tips = re.findall(
        r'\{[^{}]*"field": "period_(?:start|end)"[^{}]*"title": "(?:From|Until[^"]*)"[^{}]*\}', specs
    )
    assert period_tips
    for tip in period_tips:
        assert '"type": "temporal"' in tip
        assert '"format": "%Y-%m-%d"' in tip
        assert '"timeUnit": "utcyearmonthdate"' in tip
