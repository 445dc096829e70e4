"""The dashboard notebooks in JupyterLab, in Chromium: run all, see charts, move controls, check tiles.

Each test opens a notebook from a fresh copy of notebooks/, runs every cell from the menu, checks
that no cell failed and that every chart drew Vega marks, then changes two controls and checks that
the chart changed and that the KPI tiles show the values computed here, in the test process, from the
demo account with finlab's analysis functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest

from finlab.demo.tax_exports import planted

try:
    import browserkit as kit
except ImportError:  # pragma: no cover - imported as a package
    from tests.browser import browserkit as kit  # type: ignore[no-redef]

pytestmark = pytest.mark.browser


NOTEBOOKS = ("cash_flow.ipynb", "tax_liability.ipynb", "carbon_spend.ipynb")


@pytest.fixture(scope="module")
def running(jupyterlab: kit.Server, browser: Any) -> Iterator[dict[str, kit.Tab]]:
    """The three dashboard notebooks, each in its own page, all running at once ("Run All Cells").

    Running them side by side keeps the suite short: most of the time goes to the kernels.
    """
    tabs: dict[str, kit.Tab] = {}
    try:
        for name in NOTEBOOKS:
            tabs[name] = kit.Tab.open(browser, jupyterlab, name)
        for tab in tabs.values():
            kit.wait_for_notebook(tab.page)
            kit.wait_for_kernel_idle(tab.page)
            kit.start_run_all(tab.page)
        yield tabs
    finally:
        for tab in tabs.values():
            tab.close()
        jupyterlab.shutdown_sessions()


@pytest.fixture
def tab(
    request: pytest.FixtureRequest,
    running: dict[str, kit.Tab],
    jupyterlab: kit.Server,
    screenshots: kit.Screenshots,
) -> Iterator[kit.Tab]:
    """The running notebook the test names (``@pytest.mark.parametrize("tab", [...], indirect=True)``)."""
    opened = running[request.param]
    kit.restart_clock()
    yield opened
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        print(opened.watch.report())
        print(kit.diagnose(opened.page, screenshots, opened.name, jupyterlab))


def ran_dashboard(tab: kit.Tab, slug: str, charts: int) -> Any:
    """Wait for ``tab``'s cells, check for errors and rendered charts; the dashboard's locator."""
    page = tab.page
    kit.wait_until_ran(page)
    assert [] == kit.cell_errors(page)
    dashboard = page.locator(f".jp-Notebook .finlab-dashboard-{slug}").first
    dashboard.wait_for()
    kit.wait_for_charts(dashboard, charts)
    # Any other chart in the notebook must have rendered too, and no widget may have failed.
    kit.wait_for_every_chart(page.locator(".jp-Notebook").first)
    return dashboard


def shown(dashboard: Any, names: list[str] | dict[str, Any]) -> dict[str, list[str]]:
    """The tiles ``names`` as the dashboard shows them now."""
    values = kit.kpis(dashboard)
    return {name: values.get(name, []) for name in names}


# --- cash flow -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("tab", ["cash_flow.ipynb"], indirect=True)
def test_cash_flow_notebook(
    tab: kit.Tab, jupyterlab: kit.Server, demo: kit.DemoFrames, screenshots: kit.Screenshots
) -> None:
    since, page = jupyterlab.log_size(), tab.page
    dashboard = ran_dashboard(tab, "cash-flow", 1)
    everything = kit.cash_flow_kpis(demo)
    assert everything == shown(dashboard, everything)
    before = kit.charts(dashboard)["cash_flow"]
    kit.dashboard_shot(screenshots, page, dashboard, "cash_flow", gallery="cash_flow")

    # One account instead of all: new tiles, new chart.
    account, name, currency = demo.accounts.select("id", "display_name", "currency").row(
        by_predicate=pl.col("currency") == "eur"
    )
    dashboard.locator(".finlab-accounts select").select_option(value=f"{name} ({currency.upper()})")
    one = kit.cash_flow_kpis(demo, [account])
    assert one != everything
    kit.wait_for_kpis(dashboard, one)
    monthly = kit.wait_for_chart_change(dashboard, "cash_flow", before)

    # Quarters instead of months: the chart changes, the totals do not.
    dashboard.locator('.finlab-granularity button[data-value="quarter"]').click()
    quarterly = kit.wait_for_chart_change(dashboard, "cash_flow", monthly)
    assert one == shown(dashboard, one)
    assert quarterly.items is not None
    assert monthly.items is not None
    assert quarterly.items < monthly.items  # fewer bars per series
    kit.dashboard_shot(screenshots, page, dashboard, "cash_flow_eur_quarter", gallery=None)
    assert [] == kit.cell_errors(page)
    assert [] == kit.kernel_tracebacks(jupyterlab, since)
    tab.watch.check()


# --- tax liability -------------------------------------------------------------------------------------


@pytest.mark.parametrize("tab", ["tax_liability.ipynb"], indirect=True)
def test_tax_liability_notebook(
    tab: kit.Tab, jupyterlab: kit.Server, demo: kit.DemoFrames, screenshots: kit.Screenshots
) -> None:
    since, page = jupyterlab.log_size(), tab.page
    dashboard = ran_dashboard(tab, "tax-liability", 2)
    everything = kit.tax_kpis(demo, "quarter")
    assert everything == shown(dashboard, everything)
    # Tied out to Stripe's export: the one planted sale, named in the table under the tiles.
    assert {"reconciliation": ["1 difference"]} == shown(dashboard, ["reconciliation"])
    differences = dashboard.locator(".finlab-table-reconciliation")
    assert planted()[0]["id"] in differences.inner_text()
    before = kit.charts(dashboard)
    kit.dashboard_shot(screenshots, page, dashboard, "tax_liability", gallery="tax_liability")

    # Euro only: new tiles, new charts.
    dashboard.locator(".finlab-currency select").select_option(value="EUR")
    euro = kit.tax_kpis(demo, "quarter", "eur")
    assert euro != everything
    kit.wait_for_kpis(dashboard, {**euro, "reconciliation": ["matched"]})
    quarterly = kit.wait_for_chart_change(dashboard, "liability", before["liability"])
    kit.wait_for_chart_change(dashboard, "heatmap", before["heatmap"])

    # Years instead of quarters: the charts change, the totals do not.
    dashboard.locator('.finlab-period button[data-value="year"]').click()
    yearly = kit.wait_for_chart_change(dashboard, "liability", quarterly)
    assert euro == shown(dashboard, kit.tax_kpis(demo, "year", "eur"))
    assert yearly.items is not None
    assert quarterly.items is not None
    assert yearly.items < quarterly.items
    kit.dashboard_shot(screenshots, page, dashboard, "tax_liability_eur_year", gallery=None)
    assert [] == kit.cell_errors(page)
    assert [] == kit.kernel_tracebacks(jupyterlab, since)
    tab.watch.check()


# --- carbon --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tab", ["carbon_spend.ipynb"], indirect=True)
def test_carbon_spend_notebook(
    tab: kit.Tab, jupyterlab: kit.Server, demo: kit.DemoFrames, screenshots: kit.Screenshots
) -> None:
    since, page = jupyterlab.log_size(), tab.page
    dashboard = ran_dashboard(tab, "carbon", 3)
    everything = kit.carbon_kpis(demo)
    assert everything == shown(dashboard, everything)
    before = kit.charts(dashboard)
    kit.dashboard_shot(screenshots, page, dashboard, "carbon_spend", gallery="carbon_spend")

    # Leave delivered orders out: new tiles, new charts.
    dashboard.locator(".finlab-status-delivered").click()
    statuses = set(demo.climate_orders["status"].unique().to_list()) - {"delivered"}
    undelivered = kit.carbon_kpis(demo, statuses)
    assert undelivered != everything
    kit.wait_for_kpis(dashboard, undelivered)
    quarterly = kit.wait_for_chart_change(dashboard, "spend", before["spend"])
    kit.wait_for_chart_change(dashboard, "tonnes", before["tonnes"])

    # Months instead of quarters: the spend chart changes, the totals do not.
    dashboard.locator('.finlab-period button[data-value="month"]').click()
    monthly = kit.wait_for_chart_change(dashboard, "spend", quarterly)
    assert undelivered == shown(dashboard, undelivered)
    assert monthly.items is not None
    assert quarterly.items is not None
    assert monthly.items > quarterly.items
    kit.dashboard_shot(screenshots, page, dashboard, "carbon_spend_undelivered_month", gallery=None)
    assert [] == kit.cell_errors(page)
    assert [] == kit.kernel_tracebacks(jupyterlab, since)
    tab.watch.check()
