"""The filing summary's detail from Stripe's itemized tax export: county and city rows, filing currency.

finlab's tax transactions know a line's country and US state; Stripe's itemized export
(``tax.transactions.itemized.2``, parsed by `finlab.tax_reports.parse_report`) has one row per line
item and *jurisdiction*: a US sale has a state, a county and a city row whose tax adds up to the
line's, and each row carries the amounts in the ``filing_currency`` the return is filed in.
`filing_detail` files every export row under one registration with the same rules as finlab's own
lines (:mod:`finlab.analysis.tax.registrations`) and sums Stripe's amounts per registration, filing
period, currency, jurisdiction level and name, and filing currency.

- The rows' dates: a transaction finlab also has keeps finlab's ``tax_date`` (the registration check
  needs the instant); one only the export has uses its ``tax_date`` day at midnight in ``timezone``.
  Periods follow ``basis``: ``transaction_date`` (Stripe's posting date, finlab's ``posted_at``) or
  that ``tax_date``.
- ``type`` ``refund`` (or ``reversal``) rows are reversals: ``tax_reversed``; the others ``tax_collected``.
- ``taxable_amount`` is the export's ``subtotal`` (net of tax, taxed or not, like finlab's), counted
  on each jurisdiction row: it is the base every level taxes. ``filing_taxable_amount`` is the same
  in the filing currency (Stripe's ``filing_taxable_amount`` plus ``filing_non_taxable_amount``) and
  ``filing_net_tax`` the tax there. ``filing_*`` amounts are in minor units of ``filing_currency``
  (their ``_major`` twins too); amounts in two currencies are never added.
"""

from __future__ import annotations

import polars as pl

from finlab.analysis import (
    PERIOD_DTYPE,
    UTC_DATETIME,
    conform,
    major_columns,
    money_schema,
    period_end,
    period_start,
    require_columns,
)
from finlab.analysis.tax.lines import TAX_LINES_SCHEMA, place_code
from finlab.analysis.tax.registrations import assign_registrations

__all__ = ["FILING_DETAIL_SCHEMA", "filing_detail"]

DETAIL_MONEY = ("taxable_amount", "tax_collected", "tax_reversed", "net_tax")
FILING_MONEY = ("filing_taxable_amount", "filing_net_tax")
#: One row per registration (null: not registered), filing period, currency, jurisdiction and
#: filing currency with activity in the export.
FILING_DETAIL_SCHEMA = pl.Schema(
    {
        "registration": pl.String(),
        "country": pl.String(),
        "state": pl.String(),
        "registration_type": pl.String(),
        "period_start": PERIOD_DTYPE,
        "period_end": PERIOD_DTYPE,
        "currency": pl.String(),
        "jurisdiction_level": pl.String(),
        "jurisdiction_name": pl.String(),
        "line_count": pl.Int64(),
        **money_schema(*DETAIL_MONEY),
        "filing_currency": pl.String(),
        **money_schema(*FILING_MONEY),
    }
)
REPORT_COLUMNS = (
    "tax_transaction",
    "line_item",
    "type",
    "currency",
    "transaction_date",
    "tax_date",
    "country_code",
    "state_code",
    "customer_tax_id",
    "jurisdiction",
    "jurisdiction_level",
    "jurisdiction_name",
    "subtotal",
    "tax_amount",
    "filing_currency",
    "filing_taxable_amount",
    "filing_non_taxable_amount",
    "filing_tax_amount",
)
#: Order of the jurisdiction levels within a registration's rows (others after them).
LEVELS = {"country": 0, "state": 1, "county": 2, "city": 3}
_REVERSALS = ("refund", "reversal")


def filing_detail(
    lines: pl.DataFrame,
    registrations: pl.DataFrame,
    report: pl.DataFrame,
    *,
    period: str,
    timezone: str = "UTC",
    basis: str = "posted_at",
) -> pl.DataFrame:
    """Stripe's export per registration, period, currency, jurisdiction level and name, filing currency.

    ``lines`` (from `tax_lines`) give the exact tax dates of the transactions finlab has; cut
    ``report`` to the same dates first (:func:`finlab.analysis.reconciliation.report_between`).
    Returns a frame with `FILING_DETAIL_SCHEMA`, sorted by registration (not registered last),
    period, currency, level (country, state, county, city) and name.
    """
    require_columns(report, REPORT_COLUMNS, "an itemized tax report: call parse_report(kind, content) first")
    rows = _as_lines(report, lines, timezone)
    registered = assign_registrations(rows.select(TAX_LINES_SCHEMA.names()), registrations)
    rows = rows.with_columns(
        registered.select(
            "registration",
            "registration_type",
            pl.col("registration_country").alias("country"),
            pl.col("registration_state").alias("state"),
        )
    )
    keys = ["registration", "period_start", "currency", "jurisdiction_level", "jurisdiction_name"]
    tax = pl.col("amount_tax")
    reversal = pl.col("type") == "reversal"
    detail = (
        rows.with_columns(period_start(basis, period, timezone))
        .group_by(*keys, "filing_currency")
        .agg(
            pl.struct("tax_transaction", "id").n_unique().alias("line_count"),
            pl.col("taxable_amount").sum(),
            tax.filter(~reversal).sum().alias("tax_collected"),
            tax.filter(reversal).sum().alias("tax_reversed"),
            tax.sum().alias("net_tax"),
            pl.col("filing_taxable_amount").sum(),
            pl.col("filing_tax_amount").sum().alias("filing_net_tax"),
            *(pl.col(c).first() for c in ("country", "state", "registration_type")),
        )
        .with_columns(period_end(pl.col("period_start"), period), *major_columns(DETAIL_MONEY))
        .with_columns(*major_columns(FILING_MONEY, "filing_currency"))
    )
    rank = pl.col("jurisdiction_level").replace_strict(LEVELS, default=len(LEVELS), return_dtype=pl.Int64)
    order = [*keys[:3], rank, "jurisdiction_name", "filing_currency"]
    return conform(detail.sort(order, nulls_last=True), FILING_DETAIL_SCHEMA)


def _as_lines(report: pl.DataFrame, lines: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """The export's rows with the columns of `TAX_LINES_SCHEMA` (and their own), one per row."""
    known = lines.select("tax_transaction", pl.col("tax_date").alias("_tax_date")).unique("tax_transaction")
    local_day = pl.col("tax_date").cast(pl.Datetime("us")).dt.replace_time_zone(timezone)
    return report.join(known, on="tax_transaction", how="left", maintain_order="left").select(
        pl.col("line_item").alias("id"),
        "tax_transaction",
        type=pl.when(pl.col("type").is_in(_REVERSALS))
        .then(pl.lit("reversal"))
        .otherwise(pl.lit("transaction")),
        tax_behavior=pl.lit(None, pl.String),
        currency="currency",
        jurisdiction="jurisdiction",
        country=place_code("country_code"),
        state=place_code("state_code"),
        business_customer=pl.col("customer_tax_id").fill_null("").str.strip_chars() != "",
        tax_date=pl.coalesce("_tax_date", local_day.dt.convert_time_zone("UTC").cast(UTC_DATETIME)),
        posted_at="transaction_date",
        amount=pl.col("subtotal") + pl.col("tax_amount"),
        amount_tax="tax_amount",
        taxable_amount="subtotal",
        gross_amount=pl.col("subtotal") + pl.col("tax_amount"),
        jurisdiction_level="jurisdiction_level",
        jurisdiction_name="jurisdiction_name",
        filing_currency="filing_currency",
        filing_taxable_amount=pl.col("filing_taxable_amount")
        + pl.col("filing_non_taxable_amount").fill_null(0),
        filing_tax_amount="filing_tax_amount",
    )
