"""finlab.report and `finlab report`: one offline HTML file plus a PNG and an SVG of every chart."""

from __future__ import annotations

import os
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from finlab.cli import main
from finlab.report import REPORT_FILE, SECTIONS

STEMS = [stem for section in SECTIONS for stem in section.files.values()]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHROMIUM = os.environ.get("FINLAB_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of the demo account, written once by the command line."""
    folder = tmp_path_factory.mktemp("report")
    assert 0 == main(["report", "--out", str(folder), "--timezone", "Europe/Paris"])
    return folder


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
    """Chromium with no network draws one Vega view per chart from the inlined JavaScript."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            context = browser.new_context(offline=True)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto((out / REPORT_FILE).as_uri())
            page.wait_for_function(
                f"document.querySelectorAll('.finlab-chart svg.marks').length === {len(STEMS)}"
            )
            assert [] == errors
        finally:
            browser.close()
