"""``finlab app`` in Chromium: the Voilà web app shows the three dashboards, without code, offline.

The server is started the way an analyst starts it (``python -m finlab.cli app``), on the demo
account. The test checks that no code and no error is shown, that every chart of every tab drew Vega
marks, that the tiles show the values computed here from the demo account, and that moving controls
changes the charts and tiles.
"""

from __future__ import annotations

from typing import Any

import pytest

try:
    import browserkit as kit
except ImportError:  # pragma: no cover - imported as a package
    from tests.browser import browserkit as kit  # type: ignore[no-redef]

pytestmark = pytest.mark.browser


def open_tab(page: Any, title: str, slug: str, charts: int) -> Any:
    """Click the app's tab ``title``; the dashboard's locator once its charts rendered."""
    page.locator(".finlab-app-tabs .lm-TabBar-tab", has_text=title).click()
    dashboard = page.locator(f".finlab-app .finlab-dashboard-{slug}")
    dashboard.wait_for(state="visible")
    kit.wait_for_charts(dashboard, charts)
    return dashboard


def test_voila_app(
    watched: kit.Tab, voila_app: kit.Server, demo: kit.DemoFrames, screenshots: kit.Screenshots
) -> None:
    page = watched.page
    voila_app.wait_ready()
    since = voila_app.log_size()
    page.goto(voila_app.url("/"), timeout=kit.RUN_TIMEOUT_MS)
    page.locator(".finlab-app").wait_for(timeout=kit.RUN_TIMEOUT_MS)
    kit.step("app shown")

    text = page.locator("body").inner_text()
    assert "import finlab" not in text  # --strip_sources: no code
    assert "There was an error when executing cell" not in text
    assert [] == [
        out
        for out in page.locator(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
        ).all_inner_texts()
        if "Traceback" in out or "Error" in out
    ]
    assert "Demo account" in page.locator(".finlab-app-source").inner_text()

    # Cash flow (the first tab): charts, tiles, then a currency and a period.
    cash = open_tab(page, "Cash flow", "cash-flow", 1)
    everything = kit.cash_flow_kpis(demo)
    kit.wait_for_kpis(cash, everything)
    before = kit.charts(cash)["cash_flow"]
    kit.dashboard_shot(screenshots, page, page.locator(".finlab-app"), "app", gallery="app")

    cash.locator(".finlab-currency select").select_option(value="USD")
    usd = kit.cash_flow_kpis(demo, currency="usd")
    assert usd != everything
    kit.wait_for_kpis(cash, usd)
    usd_monthly = kit.wait_for_chart_change(cash, "cash_flow", before)
    cash.locator('.finlab-granularity button[data-value="week"]').click()
    usd_weekly = kit.wait_for_chart_change(cash, "cash_flow", usd_monthly)
    assert usd_weekly.items is not None
    assert usd_monthly.items is not None
    assert usd_weekly.items > usd_monthly.items
    kit.dashboard_shot(screenshots, page, page.locator(".finlab-app"), "app_cash_flow_usd_week", gallery=None)

    # Tax liability: charts and tiles of the hidden tab render once it is shown.
    tax = open_tab(page, "Tax liability", "tax-liability", 2)
    kit.wait_for_kpis(tax, kit.tax_kpis(demo, "month"))
    kit.dashboard_shot(screenshots, page, page.locator(".finlab-app"), "app_tax_liability", gallery=None)

    # Carbon removal: spend per year instead of per month.
    carbon = open_tab(page, "Carbon removal", "carbon", 3)
    kit.wait_for_kpis(carbon, kit.carbon_kpis(demo))
    before_spend = kit.charts(carbon)["spend"]
    carbon.locator('.finlab-period button[data-value="year"]').click()
    kit.wait_for_chart_change(carbon, "spend", before_spend)
    kit.dashboard_shot(screenshots, page, page.locator(".finlab-app"), "app_carbon_year", gallery=None)

    assert [] == kit.kernel_tracebacks(voila_app, since)
    watched.watch.check()
