"""The tax dashboard's "Reconciled with Stripe's export" tile and its differences table, on the demo."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import httpx
import polars as pl
import pytest

import finlab
from finlab import resources
from finlab.analysis.reconciliation import RECONCILIATION_SCHEMA
from finlab.client import RetryPolicy
from finlab.connection import Connection
from finlab.dashboards import NoReport, TaxLiabilityDashboard, fetch_report
from finlab.dashboards.html import kpi_html
from finlab.demo import default_dataset
from finlab.demo.server import DemoStripe
from finlab.demo.tax_exports import ITEMIZED, planted
from finlab.demo.tax_exports import export_csv as demo_export
from finlab.errors import PermissionError as StripePermissionError
from finlab.tax_reports import parse_report

try:
    import storekit
except ImportError:  # pragma: no cover - imported as a package
    from tests import storekit  # type: ignore[no-redef]

NOW = datetime(2026, 11, 1, tzinfo=UTC)
PLANTED = planted()[0]["id"]
LIVE_KEY = "rk_live_51TaxViewNoReportingPermission00000000000000000000"


@pytest.fixture(scope="module")
def tax() -> dict[str, Any]:
    stripe = finlab.connect(demo=True)
    return {
        "line_items": stripe.tax_line_items(),
        "transactions": stripe.tax_transactions(),
        "registrations": stripe.tax_registrations(),
        "report": parse_report(ITEMIZED, demo_export(default_dataset(), ITEMIZED, 0, 2**40)),
    }


def dashboard(tax: dict[str, Any], report: Any, **options: Any) -> TaxLiabilityDashboard:
    return TaxLiabilityDashboard(
        tax["line_items"], tax["transactions"], tax["registrations"], report=report, now=NOW, **options
    )


def test_the_tile_finds_the_one_planted_difference(tax: dict[str, Any]) -> None:
    board = dashboard(tax, tax["report"], period="quarter")
    tile = board.kpis["reconciliation"]
    assert (tile.label, tile.lines()) == ("Reconciled with Stripe's export", ["1 difference"])
    row = board.reconciliation.select("period_start", "jurisdiction", "currency", "cause", "transactions")
    assert [(date(2026, 1, 1), "US-NY", "usd", "missing_in_finlab", [PLANTED])] == row.rows()
    assert board.reconciliation["tax_difference"].to_list() == [1_766]
    table = board._tables["reconciliation"].value  # what the page shows under the tiles
    assert PLANTED in table
    assert ">17.66 USD<" in table
    assert "Differences from Stripe&#x27;s itemized tax export" in table
    tiles = {tile._dom_classes[1]: tile.value for tile in board._tile_box.children}
    assert ">1 difference<" in tiles["finlab-kpi-reconciliation"]


def test_the_tile_follows_the_controls_without_fetching(tax: dict[str, Any]) -> None:
    board = dashboard(tax, tax["report"])
    assert board.kpis["reconciliation"].lines() == ["1 difference"]
    board.controls.currency.value = "eur"
    assert (board.kpis["reconciliation"].lines(), board.reconciliation.height) == (["matched"], 0)
    board.controls.currency.value = "usd"
    board.controls.jurisdictions.value = ("US-CA", "US-TX")
    assert board.kpis["reconciliation"].lines() == ["matched"]
    board.controls.jurisdictions.value = ("US-NY",)
    board.controls.end.value = date(2026, 2, 28)
    assert board.kpis["reconciliation"].lines() == ["matched"]  # before the planted sale
    board.controls.start.value, board.controls.end.value = date(2026, 3, 11), date(2026, 3, 11)
    assert board.reconciliation["transactions"].to_list() == [[PLANTED]]
    board.controls.timezone.value = "America/Los_Angeles"
    board.controls.period.value = "year"
    assert board.kpis["reconciliation"].lines() == ["1 difference"]


def test_a_report_with_two_more_differences_counts_three(tax: dict[str, Any]) -> None:
    report = tax["report"]
    japan, britain = (
        report.filter((pl.col("jurisdiction") == place) & (pl.col("tax_amount") > 0))["tax_transaction"][0]
        for place in ("JP", "GB")
    )
    changed = report.filter(pl.col("tax_transaction") != japan).with_columns(
        tax_amount=pl.when(pl.col("tax_transaction") == britain)
        .then(pl.col("tax_amount") * 2)
        .otherwise("tax_amount")
    )
    board = dashboard(tax, changed, period="year")
    assert board.kpis["reconciliation"].lines() == ["3 differences"]
    causes = dict(board.reconciliation.select("jurisdiction", "cause").rows())
    assert causes == {"GB": "amount_differs", "JP": "missing_in_report", "US-NY": "missing_in_finlab"}


def test_without_a_report_the_tile_says_so(tax: dict[str, Any]) -> None:
    reason = "Stripe's tax export could not be read: the key lacks the Reporting permission."
    board = dashboard(tax, NoReport(reason))
    assert board.kpis["reconciliation"].lines() == ["no report available"]
    assert reason in board.notes
    assert "reconciliation" not in board.tables
    assert (board.reconciliation.schema, board.reconciliation.height) == (RECONCILIATION_SCHEMA, 0)
    assert "no report available" in kpi_html("reconciliation", board.kpis["reconciliation"])
    board.controls.period.value = "year"  # still no failure on a change
    assert board.kpis["reconciliation"].lines() == ["no report available"]


def test_without_report_argument_there_is_no_tile(tax: dict[str, Any]) -> None:
    board = dashboard(tax, None)
    assert "reconciliation" not in board.kpis
    assert "reconciliation" not in board.tables


class NoPermission:
    """A connection whose key lacks the Reporting permission."""

    def tax_report(self, kind: str, start: Any, end: Any) -> pl.DataFrame:
        msg = "This API key lacks the permission 'Reporting: read' (rak_report_run_read); add it to the key."
        raise StripePermissionError(msg, status=403)


def test_fetch_report_turns_a_refusal_into_no_report() -> None:
    found = fetch_report(NoPermission())  # type: ignore[arg-type]
    assert isinstance(found, NoReport)
    assert "lacks the permission 'Reporting: read'" in found.reason
    assert found.reason.startswith("Stripe's tax export could not be read, so nothing was reconciled")


def live(server: DemoStripe) -> Connection:
    transport = httpx.MockTransport(server.handle)
    return Connection(LIVE_KEY, transport=transport, retry=RetryPolicy(base_delay=0, max_delay=0))


def test_a_key_without_the_reporting_permission_builds_the_dashboard_and_says_why() -> None:
    every = {r.permission for r in resources.RESOURCES.values()}
    every |= {"rak_payment_intent_read", "rak_refund_read", "rak_reporting_report_type_read", "rak_file_read"}
    data = storekit.small_dataset()
    server = DemoStripe(data, api_keys={LIVE_KEY: frozenset(every)})
    ids = [txn["id"] for txn in data["tax.transaction"]]
    board = TaxLiabilityDashboard.from_connection(live(server), ids=ids, now=NOW)
    assert board.kpis["reconciliation"].lines() == ["no report available"]
    [note] = [note for note in board.notes if "Stripe's tax export" in note]
    assert "'Reporting: Report runs and report types'" in note
    assert LIVE_KEY not in note
    assert not board.liability.is_empty()  # the rest of the dashboard is there
    assert {"GET"} == {r.method for r in server.requests}


def test_no_succeeded_run_says_so_and_creates_none() -> None:
    data = storekit.small_dataset()
    runs = data.objects["reporting.report_run"]
    runs[:] = [run for run in runs if run["report_type"] != ITEMIZED]
    server = DemoStripe(data, api_keys={LIVE_KEY: None})
    found = fetch_report(live(server))
    assert isinstance(found, NoReport)
    assert "create=True" in found.reason
    assert {"GET"} == {r.method for r in server.requests}
