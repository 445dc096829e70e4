"""tax_report(): Stripe's tax reports read from the newest succeeded run, or created when asked."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import httpx
import polars as pl
import pytest

from finlab import errors, report_runs
from finlab.connection import Connection
from finlab.demo import reporting
from finlab.demo.dataset import Dataset, default_dataset
from finlab.demo.server import DEMO_API_KEY, DemoStripe
from finlab.tax_reports import ITEMIZED, ITEMIZED_EXPORT, SCHEMAS


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return default_dataset()


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_runs, "POLL_EVERY", 0.0)


def connect(server: DemoStripe) -> Connection:
    return Connection(DEMO_API_KEY, transport=httpx.MockTransport(server.handle), is_demo=True)


def test_the_newest_succeeded_run_is_read_with_get_only(dataset: Dataset) -> None:
    server = DemoStripe(copy.deepcopy(dataset))
    frame = connect(server).tax_report()
    assert frame.drop("stripe_account").schema == SCHEMAS[ITEMIZED]
    assert frame.height == frame["stripe_account"].null_count()  # the key's own account
    assert frame.height > 0
    assert {"GET"} == {r.method for r in server.requests}
    assert [] == [r for r in server.requests if r.status != 200]


def test_start_and_end_keep_the_rows_of_that_range(dataset: Dataset) -> None:
    server = DemoStripe(copy.deepcopy(dataset))
    frame = connect(server).tax_report(start="2026-03-01", end="2026-04-01")
    dates = frame.get_column("transaction_date")
    assert frame.height > 0
    assert dates.min() >= datetime(2026, 3, 1, tzinfo=UTC)  # type: ignore[operator]
    assert dates.max() < datetime(2026, 4, 1, tzinfo=UTC)  # type: ignore[operator]


def test_create_true_posts_one_run_polls_it_and_reads_its_file(dataset: Dataset) -> None:
    server = DemoStripe(copy.deepcopy(dataset))
    frame = connect(server).tax_report(ITEMIZED, "2026-01-01", "2026-04-01", create=True)
    posts = [r for r in server.requests if r.method != "GET"]
    assert [("POST", "/v1/reporting/report_runs")] == [(r.method, r.path) for r in posts]
    assert frame.height > 0
    polls = [r for r in server.requests if r.path.startswith("/v1/reporting/report_runs/frr_")]
    assert len(polls) >= 2  # pending, then succeeded


def test_without_create_no_run_is_ever_created(dataset: Dataset) -> None:
    server = DemoStripe(copy.deepcopy(dataset))
    with pytest.raises(errors.ReportRunError, match="create=True"):  # its runs: pending, then failed
        connect(server).tax_report(ITEMIZED_EXPORT, "2026-08-01", "2026-11-01")
    assert {"GET"} == {r.method for r in server.requests}


def test_a_failed_run_says_stripes_error(dataset: Dataset) -> None:
    data = copy.deepcopy(dataset)
    data.objects["reporting.report_run"] = [
        r for r in data.objects["reporting.report_run"] if r["status"] != "pending"
    ]
    with pytest.raises(errors.ReportRunError, match="failed: An internal error occurred"):
        connect(DemoStripe(data)).tax_report(ITEMIZED_EXPORT, "2026-08-01", "2026-11-01")


def test_an_expired_file_says_so_and_how_to_get_a_new_one(dataset: Dataset) -> None:
    data = copy.deepcopy(dataset)
    runs = data.objects["reporting.report_run"]
    whole = max((r for r in runs if r["report_type"] == ITEMIZED), key=lambda r: r["created"])
    runs.remove(whole)  # what is left of the itemized runs: one whose file expired
    with pytest.raises(errors.ConfigurationError, match=r"expired at .*create=True"):
        connect(DemoStripe(data)).tax_report(ITEMIZED, "2024-12-01", "2025-01-01")


def test_an_interval_outside_the_available_data_is_refused_before_any_run_is_read(dataset: Dataset) -> None:
    server = DemoStripe(copy.deepcopy(dataset))
    with pytest.raises(errors.ConfigurationError, match=r"has data from .* lies outside it"):
        connect(server).tax_report(ITEMIZED, "2001-01-01", "2002-01-01")
    assert ["/v1/reporting/report_types/" + ITEMIZED] == [r.path for r in server.requests]


def test_an_unknown_report_type_is_refused_before_any_request(dataset: Dataset) -> None:
    server = DemoStripe(copy.deepcopy(dataset))
    with pytest.raises(errors.ConfigurationError, match="is not a tax report type"):
        connect(server).tax_report("balance.summary.1")
    assert [] == list(server.requests)


def test_a_test_mode_key_for_a_live_only_report_type_is_told_to_use_a_live_key(dataset: Dataset) -> None:
    server = DemoStripe(copy.deepcopy(dataset))

    def live_only(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v1/reporting/report_types/"):
            error = {"type": "invalid_request_error", "message": "No such report type"}
            return httpx.Response(404, json={"error": {**error, "code": "resource_missing"}})
        return server.handle(request)

    stripe = Connection(DEMO_API_KEY, transport=httpx.MockTransport(live_only))
    with pytest.raises(errors.NotFoundError, match="test mode; some report types are live-mode only"):
        stripe.tax_report()


def test_the_report_reconciles_with_the_discovered_liability_except_the_planted_sale(
    dataset: Dataset,
) -> None:
    from finlab.analysis.reconciliation import tax_reconciliation
    from finlab.analysis.tax import tax_liability, tax_lines

    stripe = connect(DemoStripe(copy.deepcopy(dataset)))
    lines = tax_lines(stripe.tax_line_items(), stripe.tax_transactions())
    differences = tax_reconciliation(tax_liability(lines), stripe.tax_report(), lines=lines)
    assert 1 == differences.height
    row = differences.row(0, named=True)
    assert ("US-NY", "usd") == (row["jurisdiction"], row["currency"])
    assert isinstance(differences, pl.DataFrame)


def test_a_run_still_pending_after_wait_says_so_and_how_to_read_it_later(
    dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reporting, "POLLS_TO_SUCCEED", 10**9)  # Stripe never finishes it
    server = DemoStripe(copy.deepcopy(dataset))
    with pytest.raises(errors.ReportRunError, match=r"still pending after 0\.01 s.*without create=True"):
        connect(server).tax_report(ITEMIZED, "2026-01-01", "2026-04-01", create=True, wait=0.01)
    assert 1 == sum(r.method == "POST" for r in server.requests)  # created once, never again


@pytest.mark.parametrize("wait", [0, -1, float("inf"), float("nan"), "600", True])
def test_wait_must_be_a_positive_number_of_seconds(dataset: Dataset, wait: object) -> None:
    server = DemoStripe(copy.deepcopy(dataset))
    with pytest.raises(errors.ConfigurationError, match="wait must be a positive number of seconds"):
        connect(server).tax_report(create=True, wait=wait)  # type: ignore[arg-type]
    assert not server.requests
