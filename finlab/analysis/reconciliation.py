"""finlab's tax liability against Stripe's itemized tax export: what differs, where, and why.

`tax_reconciliation(liability, report)` sums both sides per filing period, jurisdiction and currency
and returns one row per difference (an empty frame means they tie out):

- finlab's side is `finlab.analysis.tax.tax_liability` (``net_tax`` and ``taxable_amount``, summed
  over tax behaviors);
- Stripe's side is an itemized export parsed by `finlab.tax_reports.parse_report`
  (``tax.transactions.itemized.2`` or ``tax.itemized_export.1``): ``tax_amount`` summed over every
  jurisdiction row, and ``subtotal`` (taxable or non-taxable amount, net of tax like finlab's
  ``taxable_amount``) once per line item, as a line repeats it on each of its jurisdiction rows.
  Rows fall into periods by ``transaction_date`` (when the liability posted: finlab's default
  ``basis="posted_at"``) or by ``tax_date`` with ``basis="tax_date"``, in ``timezone``.

Likely causes (`CAUSES`). With ``lines`` (the `finlab.analysis.tax.tax_lines` the liability came
from) each difference is traced to transactions: one Stripe reports and finlab does not have
(``missing_in_finlab``: typically a transaction no PaymentIntent leads to), one finlab has and the
export does not (``missing_in_report``), one both have in different periods or places
(``other_period``: e.g. a reversal filed in another period), or the same transaction with amounts a
few minor units apart (``rounding``; more than that is ``amount_differs``). Without ``lines`` the
cause is inferred from the sums: differences of one place and currency that cancel across periods
are ``other_period``, a difference of at most one minor unit per line item is ``rounding``, else the
side with more is missing a transaction.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from finlab.analysis import (
    PERIOD_DTYPE,
    PERIODS,
    UTC_DATETIME,
    check_period,
    check_timezone,
    conform,
    major_columns,
    money_schema,
    period_end,
    period_start,
    require_columns,
    to_utc,
)
from finlab.analysis.tax import LINES, TAX_LIABILITY_SCHEMA, TAX_LINES_SCHEMA
from finlab.errors import ConfigurationError

CAUSES = ("missing_in_finlab", "missing_in_report", "other_period", "rounding", "amount_differs")
KEYS = ["period_start", "jurisdiction", "currency"]
MONEY = (
    "finlab_taxable_amount",
    "report_taxable_amount",
    "taxable_difference",
    "finlab_tax",
    "report_tax",
    "tax_difference",
)
#: One row per difference: where, how much on each side, the likely cause and the transactions behind it.
RECONCILIATION_SCHEMA = pl.Schema(
    {
        "period_start": PERIOD_DTYPE,
        "period_end": PERIOD_DTYPE,
        "jurisdiction": pl.String(),
        "currency": pl.String(),
        "cause": pl.String(),
        "transactions": pl.List(pl.String()),
        **money_schema(*MONEY),
    }
)
REPORT_COLUMNS = (
    "tax_transaction",
    "line_item",
    "currency",
    "transaction_date",
    "tax_date",
    "jurisdiction",
    "subtotal",
    "tax_amount",
)
_DAYS_TO_PERIOD = {range(28, 32): "month", range(89, 93): "quarter", range(365, 367): "year"}


def tax_reconciliation(
    liability: pl.DataFrame,
    report: pl.DataFrame,
    *,
    lines: pl.DataFrame | None = None,
    period: str | None = None,
    timezone: str = "UTC",
    basis: str = "posted_at",
) -> pl.DataFrame:
    """Differences between finlab's ``liability`` and Stripe's itemized ``report``, with likely causes.

    ``period`` is the liability's (inferred from its ``period_start``/``period_end`` when None);
    ``timezone`` and ``basis`` must be those the liability was made with. Returns a frame with
    `RECONCILIATION_SCHEMA`, sorted by period, jurisdiction, currency and cause.
    """
    require_columns(
        liability, TAX_LIABILITY_SCHEMA.names(), "a tax liability: call tax_liability(lines) first"
    )
    require_columns(report, REPORT_COLUMNS, "an itemized tax report: call parse_report(kind, content) first")
    period = check_period(period or _period_of(liability), ("month", "quarter", "year"))
    check_timezone(timezone)
    date_column = {"posted_at": "transaction_date", "tax_date": "tax_date"}.get(basis)
    if date_column is None:
        msg = f"Unknown period basis {basis!r}. Use 'posted_at' (when the liability posts) or 'tax_date'."
        raise ConfigurationError(msg)
    finlab = liability.group_by(KEYS).agg(
        pl.col("taxable_amount").sum().alias("finlab_taxable_amount"),
        pl.col("net_tax").sum().alias("finlab_tax"),
    )
    stripe = _report_cells(report, date_column, period, timezone)
    cells = (
        finlab.join(stripe, on=KEYS, how="full", coalesce=True)
        .with_columns(pl.col(name).fill_null(0) for name in (*MONEY[:2], *MONEY[3:5], "report_lines"))
        .with_columns(
            taxable_difference=pl.col("report_taxable_amount") - pl.col("finlab_taxable_amount"),
            tax_difference=pl.col("report_tax") - pl.col("finlab_tax"),
        )
        .filter((pl.col("taxable_difference") != 0) | (pl.col("tax_difference") != 0))
    )
    if lines is None:
        found = _inferred(cells)
    else:
        require_columns(lines, TAX_LINES_SCHEMA.names(), LINES)
        found = _traced(cells, _transactions(report, lines, date_column, basis, period, timezone))
    found = found.with_columns(period_end(pl.col("period_start"), period), *major_columns(MONEY))
    return conform(found.sort([*KEYS, "cause"]), RECONCILIATION_SCHEMA)


def report_between(basis: str, start: date | None, end: date | None, timezone: str = "UTC") -> pl.Expr:
    """Boolean expression: the report rows dated ``start <= day < end`` (either bound may be None).

    The export's side of a selection made on finlab's lines with :func:`finlab.analysis.between`:
    ``basis="posted_at"`` reads ``transaction_date`` (days local to ``timezone``), ``"tax_date"`` the
    report's ``tax_date`` (already a date in the run's timezone).
    """
    tax_date = basis == "tax_date"
    column = pl.col("tax_date" if tax_date else "transaction_date")

    def bound(day: date) -> pl.Expr:
        return pl.lit(day, pl.Date) if tax_date else pl.lit(to_utc(day, timezone), UTC_DATETIME)

    condition = pl.lit(True)
    if start is not None:
        condition &= column >= bound(start)
    if end is not None:
        condition &= column < bound(end)
    return condition


def _period_of(liability: pl.DataFrame) -> str:
    if liability.is_empty():
        return "month"
    days = (liability["period_end"][0] - liability["period_start"][0]).days
    return next((name for span, name in _DAYS_TO_PERIOD.items() if days in span), "month")


def _bucket(column: str, period: str, timezone: str) -> pl.Expr:
    if column == "tax_date":  # a date in the run's timezone already
        return pl.col("tax_date").dt.truncate(PERIODS[period]).alias("period_start")
    return period_start(column, period, timezone)


def _report_cells(report: pl.DataFrame, date_column: str, period: str, timezone: str) -> pl.DataFrame:
    """Stripe's tax and taxable amount (once per line item) per period, jurisdiction and currency."""
    rows = report.with_columns(_bucket(date_column, period, timezone))
    first = pl.struct("tax_transaction", "line_item").is_first_distinct()
    return rows.group_by(KEYS).agg(
        pl.col("subtotal").filter(first).sum().alias("report_taxable_amount"),
        pl.col("tax_amount").sum().alias("report_tax"),
        first.sum().cast(pl.Int64).alias("report_lines"),
    )


def _inferred(cells: pl.DataFrame) -> pl.DataFrame:
    """Causes from the sums alone (no transaction ids on finlab's side)."""
    place = ["jurisdiction", "currency"]
    cancels = (pl.col("tax_difference").sum().over(place) == 0) & (pl.len().over(place) > 1)
    rounding = pl.col("tax_difference").abs() <= pl.max_horizontal(pl.col("report_lines"), 1)
    cause = (
        pl.when(cancels)
        .then(pl.lit("other_period"))
        .when(rounding & (pl.col("taxable_difference") == 0))
        .then(pl.lit("rounding"))
        .when((pl.col("tax_difference") > 0) | (pl.col("taxable_difference") > 0))
        .then(pl.lit("missing_in_finlab"))
        .otherwise(pl.lit("missing_in_report"))
    )
    return cells.with_columns(cause=cause, transactions=pl.lit([], pl.List(pl.String)))


def _transactions(
    report: pl.DataFrame, lines: pl.DataFrame, date_column: str, basis: str, period: str, timezone: str
) -> pl.DataFrame:
    """Both sides per transaction: its cell on each side and its amounts there."""
    first = pl.struct("tax_transaction", "line_item").is_first_distinct()
    stripe = (
        report.with_columns(_bucket(date_column, period, timezone))
        .group_by("tax_transaction", *KEYS)
        .agg(
            pl.col("subtotal").filter(first).sum().alias("report_taxable_amount"),
            pl.col("tax_amount").sum().alias("report_tax"),
            first.sum().cast(pl.Int64).alias("report_lines"),
        )
    )
    finlab = (
        lines.with_columns(period_start(basis, period, timezone))
        .group_by("tax_transaction", *KEYS)
        .agg(
            pl.col("taxable_amount").sum().alias("finlab_taxable_amount"),
            pl.col("amount_tax").sum().alias("finlab_tax"),
        )
    )
    both = finlab.join(stripe, on=["tax_transaction", *KEYS], how="full", coalesce=True)
    found = {
        "in_finlab": pl.col("tax_transaction").is_in(finlab["tax_transaction"].implode()),
        "in_report": pl.col("tax_transaction").is_in(stripe["tax_transaction"].implode()),
        "both_here": pl.col("finlab_tax").is_not_null() & pl.col("report_tax").is_not_null(),
    }
    money = (*MONEY[:2], *MONEY[3:5], "report_lines")
    return both.with_columns(**found).with_columns(pl.col(name).fill_null(0) for name in money)


def _traced(cells: pl.DataFrame, transactions: pl.DataFrame) -> pl.DataFrame:
    """Each differing cell split by cause, with the transactions behind each part."""
    differing = transactions.with_columns(
        taxable_difference=pl.col("report_taxable_amount") - pl.col("finlab_taxable_amount"),
        tax_difference=pl.col("report_tax") - pl.col("finlab_tax"),
    ).filter((pl.col("taxable_difference") != 0) | (pl.col("tax_difference") != 0))
    small = pl.col("tax_difference").abs() <= pl.max_horizontal(pl.col("report_lines"), 1)
    cause = (
        pl.when(~pl.col("in_finlab"))
        .then(pl.lit("missing_in_finlab"))
        .when(~pl.col("in_report"))
        .then(pl.lit("missing_in_report"))
        .when(~pl.col("both_here"))
        .then(pl.lit("other_period"))
        .when(small & (pl.col("taxable_difference") == 0))
        .then(pl.lit("rounding"))
        .otherwise(pl.lit("amount_differs"))
    )
    parts = (
        differing.with_columns(cause=cause)
        .group_by(*KEYS, "cause")
        .agg(
            pl.col("tax_transaction").sort().alias("transactions"),
            *(pl.col(name).sum() for name in MONEY),
        )
    )
    return parts.join(cells.select(KEYS), on=KEYS, how="inner")
