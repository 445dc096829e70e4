"""Tax sums per filing period: per jurisdiction (`tax_liability`) and per registration (`filing_summary`).

**Filing period.** Periods follow ``posted_at`` by default: "when the tax liability is assumed or
reduced" (changelog 2024-09-30.acacia, which added it "to accurately record liability for tax
reporting within correct periods"). ``tax_date`` only picks the rates; pass ``basis="tax_date"`` to
bucket by it. A refund therefore reduces the liability of the period it posts in, not the period of
the sale. Over a whole range both bases give the same totals.

Both take the lines of :func:`finlab.analysis.tax.lines.tax_lines`; `filing_summary` first files
each line under one registration (:mod:`finlab.analysis.tax.registrations`).
"""

from __future__ import annotations

import polars as pl

from finlab.analysis import (
    PERIOD_DTYPE,
    check_period,
    check_timezone,
    conform,
    major_columns,
    money_schema,
    period_end,
    period_start,
    require_columns,
)
from finlab.analysis.tax.detail import filing_detail
from finlab.analysis.tax.lines import JURISDICTION, LINES, TAX_LINES_SCHEMA
from finlab.analysis.tax.registrations import assign_registrations
from finlab.errors import ConfigurationError

__all__ = [
    "BASES",
    "FILING_PERIODS",
    "FILING_SUMMARY_SCHEMA",
    "TAX_LIABILITY_SCHEMA",
    "filing_summary",
    "tax_liability",
]

FILING_PERIODS = ("month", "quarter", "year")
#: The dates a filing period can follow: ``posted_at`` (Stripe's liability date, the default) or
#: ``tax_date`` (the date whose rates applied).
BASES = ("posted_at", "tax_date")
TAX_MONEY = ("taxable_amount", "gross_amount", "tax_collected", "tax_reversed", "net_tax")

#: One row per filing period, jurisdiction, currency and tax behavior.
TAX_LIABILITY_SCHEMA = pl.Schema(
    {
        "period_start": PERIOD_DTYPE,
        "period_end": PERIOD_DTYPE,
        **dict.fromkeys(JURISDICTION, pl.String()),
        "currency": pl.String(),
        "tax_behavior": pl.String(),
        "line_count": pl.Int64(),
        **money_schema(*TAX_MONEY),
    }
)

#: One row per registration (null: not registered), filing period and currency with activity.
FILING_SUMMARY_SCHEMA = pl.Schema(
    {
        "registration": pl.String(),
        "country": pl.String(),
        "state": pl.String(),
        "registration_type": pl.String(),
        "period_start": PERIOD_DTYPE,
        "period_end": PERIOD_DTYPE,
        "currency": pl.String(),
        "line_count": pl.Int64(),
        **money_schema(*TAX_MONEY),
    }
)


def tax_liability(
    lines: pl.DataFrame, *, period: str = "month", timezone: str = "UTC", basis: str = "posted_at"
) -> pl.DataFrame:
    """Taxable, gross, tax collected, reversed and net per period, jurisdiction, currency and behavior.

    ``lines`` come from `tax_lines` (filter them first, e.g. with :func:`finlab.analysis.between` on
    the ``basis`` column). Periods are ``month``, ``quarter`` or ``year`` in ``timezone``, by
    ``basis`` (``posted_at`` or ``tax_date``, see the module docstring).
    Returns a frame with `TAX_LIABILITY_SCHEMA`, sorted by period, jurisdiction, currency, behavior.
    """
    keys = ["period_start", *JURISDICTION, "currency", "tax_behavior"]
    liability = (
        _bucketed(lines, period, timezone, basis)
        .group_by(keys)
        .agg(*_tax_sums())
        .with_columns(period_end(pl.col("period_start"), period), _net_tax())
        .with_columns(major_columns(TAX_MONEY))
        .sort(keys, nulls_last=True)
    )
    return conform(liability, TAX_LIABILITY_SCHEMA)


def filing_summary(
    lines: pl.DataFrame,
    registrations: pl.DataFrame,
    *,
    period: str,
    timezone: str = "UTC",
    basis: str = "posted_at",
    report: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """What to file per registration: taxable, gross, collected, reversed and net per period and currency.

    Every line counts under exactly one registration (`assign_registrations`), or in the row whose
    ``registration`` is null and ``registration_type`` is ``"not_registered"``. So per currency and
    period the rows add up to `tax_liability`. Periods without any line are not listed.
    Returns a frame with `FILING_SUMMARY_SCHEMA`, sorted by registration (not registered last),
    period and currency.

    With ``report`` (Stripe's itemized export, cut to the same dates) it returns Stripe's amounts
    instead, in more detail: per jurisdiction level and name (state, county, city) and in the filing
    currency, with `FILING_DETAIL_SCHEMA` (:func:`finlab.analysis.tax.detail.filing_detail`).
    """
    _check(lines, period, timezone, basis)
    if report is not None:
        return filing_detail(lines, registrations, report, period=period, timezone=timezone, basis=basis)
    registered = assign_registrations(lines, registrations).with_columns(
        country=pl.col("registration_country"), state=pl.col("registration_state")
    )
    keys = ["registration", "period_start", "currency"]
    summary = (
        _bucketed(registered, period, timezone, basis)
        .group_by(keys)
        .agg(*_tax_sums(), *(pl.col(c).first() for c in ("country", "state", "registration_type")))
        .with_columns(period_end(pl.col("period_start"), period), _net_tax())
        .with_columns(major_columns(TAX_MONEY))
        .sort(keys, nulls_last=True)
    )
    return conform(summary, FILING_SUMMARY_SCHEMA)


def _bucketed(lines: pl.DataFrame, period: str, timezone: str, basis: str) -> pl.DataFrame:
    _check(lines, period, timezone, basis)
    return lines.with_columns(period_start(basis, period, timezone))


def _check(lines: pl.DataFrame, period: str, timezone: str, basis: str) -> None:
    require_columns(lines, TAX_LINES_SCHEMA.names(), LINES)
    check_period(period, FILING_PERIODS)
    check_timezone(timezone)
    if basis not in BASES:
        msg = f"Unknown period basis {basis!r}. Use 'posted_at' (when the liability posts) or 'tax_date'."
        raise ConfigurationError(msg)


def _tax_sums() -> list[pl.Expr]:
    tax = pl.col("amount_tax")
    return [
        pl.len().alias("line_count"),
        pl.col("taxable_amount").sum(),
        pl.col("gross_amount").sum(),
        tax.filter(pl.col("type") == "transaction").sum().alias("tax_collected"),
        tax.filter(pl.col("type") == "reversal").sum().alias("tax_reversed"),
    ]


def _net_tax() -> pl.Expr:
    return (pl.col("tax_collected") + pl.col("tax_reversed")).alias("net_tax")
