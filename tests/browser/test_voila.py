"""``finlab app``: the Voilà web app shows the three dashboards, without code, offline.

The browser test starts the server the way an analyst does (``python -m finlab.cli app``), on the
demo account. It checks that no code and no error is shown, that every chart of every tab drew Vega
marks, that the tiles show the values computed here from the demo account, and that moving controls
changes the charts and tiles. The other tests check the command itself, without a browser.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from finlab.cli import main

try:
    import browserkit as kit
except ImportError:  # pragma: no cover - imported as a package
    from tests.browser import browserkit as kit  # type: ignore[no-redef]


@pytest.fixture
def app_server(voila_app: kit.Server) -> Iterator[kit.Server]:
    """The app's server, stopped as soon as its test is done (not idle, preheated, to the session's end)."""
    yield voila_app
    voila_app.stop()


def open_tab(page: Any, title: str, slug: str, charts: int) -> Any:
    """Click the app's tab ``title``; the dashboard's locator once its charts rendered."""
    page.locator(".finlab-app-tabs .lm-TabBar-tab", has_text=title).click()
    dashboard = page.locator(f".finlab-app .finlab-dashboard-{slug}")
    dashboard.wait_for(state="visible")
    kit.wait_for_charts(dashboard, charts)
    return dashboard


@pytest.mark.browser
def test_voila_app(
    watched: kit.Tab, app_server: kit.Server, demo: kit.DemoFrames, screenshots: kit.Screenshots
) -> None:
    voila_app = app_server
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
    kit.wait_for_every_chart(page.locator("body"))

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
    kit.wait_for_kpis(tax, {**kit.tax_kpis(demo, "month"), "reconciliation": ["1 difference"]})
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


class FakeVoila:
    """Stands in for the Voilà process: records what `finlab app` would run."""

    runs: ClassVar[list[tuple[list[str], dict[str, str]]]] = []

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.runs.append((command, env))

    def wait(self, timeout: float | None = None) -> int:
        return 0


def test_app_serves_the_demo_account_without_code(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeVoila.runs.clear()
    monkeypatch.setattr(subprocess, "Popen", FakeVoila)
    monkeypatch.setenv("STRIPE_API_KEY", "rk_live_example")
    monkeypatch.setenv("FINLAB_STORE", "/somewhere")

    assert 0 == main(["app", "--port", "8999"])

    [(command, env)] = FakeVoila.runs
    assert command[1:4] == ["-m", "finlab.app", str(kit.REPO / "finlab" / "app.ipynb")]  # notebooks/app.ipynb
    assert {"--port=8999", "--Voila.ip=127.0.0.1", "--strip_sources=True", "--no-browser"} <= set(command)
    assert "--preheat_kernel=True" in command
    assert "STRIPE_API_KEY" not in env  # the demo account
    assert "FINLAB_STORE" not in env


def test_app_prints_a_random_token_and_keeps_it_off_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    FakeVoila.runs.clear()
    monkeypatch.setattr(subprocess, "Popen", FakeVoila)
    monkeypatch.delenv("JUPYTER_TOKEN", raising=False)

    assert 0 == main(["app"])
    assert 0 == main(["app"])

    [(first, env), (_, other)] = FakeVoila.runs
    token = env["JUPYTER_TOKEN"]
    assert len(token) >= 32
    assert token != other["JUPYTER_TOKEN"]
    assert f"http://127.0.0.1:8866/?token={token} " in capsys.readouterr().out
    assert not any(token in arg for arg in first)  # `ps` shows command lines to every local user
    assert "--any-host" not in first  # the Host check stays on
    assert {"--MappingKernelManager.cull_idle_timeout=120", "--MappingKernelManager.cull_interval=30"} <= set(
        first
    )


def test_app_takes_the_token_from_jupyter_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    FakeVoila.runs.clear()
    monkeypatch.setattr(subprocess, "Popen", FakeVoila)
    monkeypatch.setenv("JUPYTER_TOKEN", "chosen-token")

    assert 0 == main(["app", "--port", "9000"])

    [(_, env)] = FakeVoila.runs
    assert "chosen-token" == env["JUPYTER_TOKEN"]
    assert "http://127.0.0.1:9000/?token=chosen-token " in capsys.readouterr().out


def test_app_with_an_explicit_host_accepts_any_host_name(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeVoila.runs.clear()
    monkeypatch.setattr(subprocess, "Popen", FakeVoila)

    assert 0 == main(["app", "--host", "0.0.0.0", "--idle-timeout", "40"])

    [(command, _)] = FakeVoila.runs
    assert {"--Voila.ip=0.0.0.0", "--any-host", "--MappingKernelManager.cull_idle_timeout=40"} <= set(command)
    assert "--MappingKernelManager.cull_interval=10" in command


def test_app_live_keeps_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeVoila.runs.clear()
    monkeypatch.setattr(subprocess, "Popen", FakeVoila)
    monkeypatch.setenv("STRIPE_API_KEY", "rk_live_example")

    assert 0 == main(["app", "--live", "--no-preheat"])

    [(command, env)] = FakeVoila.runs
    assert "rk_live_example" == env["STRIPE_API_KEY"]
    assert "--preheat_kernel=True" not in command


def test_app_live_without_a_key_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)

    assert 2 == main(["app", "--live"])

    assert "--live reads STRIPE_API_KEY, which is not set" in capsys.readouterr().err


def test_app_without_its_notebook_says_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "app.ipynb"

    assert 2 == main(["app", "--notebook", str(missing)])

    assert f"No app notebook at {missing}" in capsys.readouterr().err
