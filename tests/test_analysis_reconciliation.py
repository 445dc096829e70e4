"""finlab's tax liability against Stripe's itemized export: the demo's planted difference, and every cause."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

import finlab
from finlab.analysis.reconciliation import RECONCILIATION_SCHEMA, tax_reconciliation
from finlab.analysis.tax import TAX_LIABILITY_SCHEMA, TAX_LINES_SCHEMA, tax_liability, tax_lines
from finlab.demo import default_dataset
from finlab.demo.tax_exports import ITEMIZED, planted
from finlab.demo.tax_exports import export_csv as demo_export
from finlab.errors import ConfigurationError
from finlab.tax_reports import SCHEMAS, parse_report

PLANTED = planted()[0]["id"]
WHERE = ["period_start", "jurisdiction", "currency", "cause"]


@pytest.fixture(scope="module")
def lines() -> pl.DataFrame:
    stripe = finlab.connect()
    return tax_lines(stripe.tax_line_items(), stripe.tax_transactions())


@pytest.fixture(scope="module")
def report() -> pl.DataFrame:
    return parse_report(ITEMIZED, demo_export(default_dataset(), ITEMIZED, 0, 2**40))


def test_the_demo_reconciles_but_for_the_planted_sale(lines: pl.DataFrame, report: pl.DataFrame) -> None:
    found = tax_reconciliation(tax_liability(lines), report)
    expected = [(date(2026, 3, 1), "US-NY", "usd", "missing_in_finlab", 19_900, 1_766, [])]
    assert expected == found.select(*WHERE, "taxable_difference", "tax_difference", "transactions").rows()
    assert found.schema == RECONCILIATION_SCHEMA


@pytest.mark.parametrize(
    ("period", "basis", "start"),
    [
        ("month", "posted_at", date(2026, 3, 1)),
        ("quarter", "posted_at", date(2026, 1, 1)),
        ("year", "posted_at", date(2026, 1, 1)),
        ("month", "tax_date", date(2026, 3, 1)),
    ],
)
def test_with_lines_the_difference_is_traced_to_the_planted_transaction(
    lines: pl.DataFrame, report: pl.DataFrame, period: str, basis: str, start: date
) -> None:
    liability = tax_liability(lines, period=period, basis=basis)
    found = tax_reconciliation(liability, report, lines=lines, basis=basis)
    expected = [(start, "US-NY", "usd", "missing_in_finlab", 1_766, [PLANTED])]
    assert expected == found.select(*WHERE, "tax_difference", "transactions").rows()


def _one(report: pl.DataFrame, jurisdiction: str, kind: str = "transaction") -> str:
    candidates = report.filter(
        (pl.col("jurisdiction") == jurisdiction)
        & (pl.col("tax_amount") != 0)
        & ((pl.col("type") == "refund") == (kind == "reversal"))
        & (pl.col("transaction_date").dt.day() < 20)
    )
    return str(candidates["tax_transaction"][0])


@pytest.fixture(scope="module")
def broken(report: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, str]]:
    """The demo export with one difference of each kind, each in its own place."""
    ids = {
        "other_period": _one(report, "GB", "reversal"),
        "missing_in_report": _one(report, "JP"),
        "rounding": _one(report, "FR"),
        "amount_differs": _one(report, "US-TX"),
    }
    is_ = {cause: pl.col("tax_transaction") == txn for cause, txn in ids.items()}
    first_row = pl.int_range(pl.len()).over("tax_transaction") == 0
    changed = report.filter(~is_["missing_in_report"]).with_columns(
        transaction_date=pl.when(is_["other_period"])
        .then(pl.col("transaction_date") + timedelta(days=31))
        .otherwise("transaction_date"),
        tax_amount=pl.col("tax_amount")
        + pl.when(is_["rounding"] & first_row).then(1).otherwise(0)
        + pl.when(is_["amount_differs"] & first_row).then(500).otherwise(0),
    )
    return changed, ids


def test_each_cause_is_traced_to_its_transaction(
    lines: pl.DataFrame, broken: tuple[pl.DataFrame, dict[str, str]]
) -> None:
    report, ids = broken
    found = tax_reconciliation(tax_liability(lines), report, lines=lines)
    traced = {(cause, tuple(txns)) for cause, txns in found.select("cause", "transactions").rows()}
    expected = {(cause, (txn,)) for cause, txn in ids.items()} | {("missing_in_finlab", (PLANTED,))}
    assert expected == traced  # the moved transaction is traced out of one period and into the next
    moved = found.filter(pl.col("cause") == "other_period")
    assert moved.height == 2  # out of one period, into the next
    assert moved["tax_difference"].sum() == 0
    assert found.filter(pl.col("cause") == "rounding")["tax_difference"].to_list() == [1]


def test_without_lines_causes_are_inferred_from_the_sums(
    lines: pl.DataFrame, broken: tuple[pl.DataFrame, dict[str, str]]
) -> None:
    report, _ = broken
    found = tax_reconciliation(tax_liability(lines), report)
    causes = dict(found.group_by("jurisdiction").agg(pl.col("cause").unique().sort()).rows())
    expected = {
        "GB": ["other_period"],
        "JP": ["missing_in_report"],
        "FR": ["rounding"],
        "US-TX": ["missing_in_finlab"],  # a bigger amount: from the sums alone, a missing transaction
        "US-NY": ["missing_in_finlab"],
    }
    assert expected == causes


def test_empty_sides_give_the_fixed_schema() -> None:
    empty = tax_reconciliation(TAX_LIABILITY_SCHEMA.to_frame(), SCHEMAS[ITEMIZED].to_frame())
    assert (empty.schema, empty.height) == (RECONCILIATION_SCHEMA, 0)
    traced = tax_reconciliation(
        TAX_LIABILITY_SCHEMA.to_frame(), SCHEMAS[ITEMIZED].to_frame(), lines=TAX_LINES_SCHEMA.to_frame()
    )
    assert traced.schema == RECONCILIATION_SCHEMA


def test_bad_input_is_named(lines: pl.DataFrame, report: pl.DataFrame) -> None:
    liability = tax_liability(lines)
    with pytest.raises(ConfigurationError, match="basis 'created'"):
        tax_reconciliation(liability, report, basis="created")
    with pytest.raises(ConfigurationError, match="itemized tax report"):
        tax_reconciliation(liability, report.drop("subtotal"))
    with pytest.raises(ConfigurationError, match="tax liability"):
        tax_reconciliation(report, report)
