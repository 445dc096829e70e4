"""The tax dashboard's tie-out to Stripe's itemized tax export: the report, fetched once, and its tile.

`fetch_report` asks the connection once, when the dashboard is built, for the newest succeeded run
of Stripe's ``tax.transactions.itemized.2`` report; when there is none to read (a key without the
Reporting permission, no succeeded run, an expired file) it returns `NoReport` with Stripe's or
finlab's reason instead of failing. `reconciliation_part` is pure: for each setting of the controls
(a `Selection`) it selects the same rows of the report as of finlab's lines (dates on the same
basis, currency, jurisdictions) and returns the "Reconciled with Stripe's export" tile and the
differences table (:func:`finlab.analysis.reconciliation.tax_reconciliation`, traced to
transactions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from finlab.analysis import between
from finlab.analysis.reconciliation import RECONCILIATION_SCHEMA, report_between, tax_reconciliation
from finlab.arguments import Instant
from finlab.connection import Connection
from finlab.dashboards.base import Table
from finlab.dashboards.html import Kpi
from finlab.errors import FinlabError
from finlab.tax_reports import ITEMIZED

__all__ = ["RECONCILIATION_COLUMNS", "NoReport", "Selection", "fetch_report", "reconciliation_part"]

#: What the differences table shows (money with its ``_major`` twin).
RECONCILIATION_COLUMNS = (
    "period_start",
    "jurisdiction",
    "currency",
    "cause",
    "transactions",
    "finlab_tax",
    "report_tax",
    "tax_difference",
    "taxable_difference",
)
TILE = "Reconciled with Stripe's export"
TAX_DATE_NOTE = (
    "Stripe's export gives each tax date as a day in its report run's timezone (usually UTC): "
    "by tax date, differences at the edges of periods and of the From/To dates can come from that. "
    "Pick the run's timezone, or periods by posting date, to compare exactly."
)


@dataclass(frozen=True)
class NoReport:
    """Why Stripe's export is not there to compare with: the tile says so, the reason is a note."""

    reason: str


def fetch_report(
    stripe: Connection,
    kind: str = ITEMIZED,
    start: Instant = None,
    end: Instant = None,
) -> pl.DataFrame | NoReport:
    """The ``kind`` report's frame (``stripe.tax_report``) over ``start``..``end``, or why there is none.

    ``stripe.tax_report`` reads the newest succeeded run that covers the range (default: all its
    data); it never creates one here. Any error finlab raises on purpose (a missing Reporting
    permission, no succeeded run, an expired file, a file finlab cannot read) becomes `NoReport`.
    """
    try:
        return stripe.tax_report(kind, start, end)
    except FinlabError as error:
        return NoReport(f"Stripe's tax export could not be read, so nothing was reconciled: {error}")


@dataclass(frozen=True)
class Selection:
    """What the tax dashboard's controls select, as filters on finlab's lines and on Stripe's export.

    ``start`` and ``stop`` (exclusive) are days on ``basis`` in ``timezone``; None: unbounded.
    """

    basis: str
    timezone: str
    start: date | None = None
    stop: date | None = None
    currency: str | None = None
    jurisdictions: tuple[str, ...] | None = None

    def of_lines(self) -> pl.Expr:
        """The selected lines of :func:`finlab.analysis.tax.tax_lines`."""
        condition = between(self.basis, self.start, self.stop, self.timezone)
        if self.currency is not None:
            condition &= pl.col("currency") == self.currency
        if self.jurisdictions is not None:
            condition &= pl.col("jurisdiction").is_in(list(self.jurisdictions))
        return condition

    def of_report(self, lines: pl.DataFrame) -> pl.Expr:
        """The same rows of an itemized export; a place ``lines`` do not have is never left out."""
        condition = report_between(self.basis, self.start, self.stop, self.timezone)
        if self.currency is not None:
            condition &= pl.col("currency") == self.currency
        if self.jurisdictions is not None:
            left_out = set(lines["jurisdiction"].unique().to_list()) - set(self.jurisdictions)
            condition &= ~pl.col("jurisdiction").is_in(sorted(left_out))
        return condition


def reconciliation_part(
    report: pl.DataFrame | NoReport,
    lines: pl.DataFrame,
    liability: pl.DataFrame,
    selection: Selection,
    period: str,
) -> tuple[Kpi, Table | None, pl.DataFrame, tuple[str, ...]]:
    """The tile, the differences table (None without a report), the differences and notes.

    ``lines`` are all of finlab's lines and ``liability`` that of the ``selection`` of them per
    ``period``; the report is cut with the same ``selection``.
    """
    if isinstance(report, NoReport):
        kpi = Kpi(TILE, text="no report available")
        return kpi, None, RECONCILIATION_SCHEMA.to_frame(), (report.reason,)
    basis, timezone = selection.basis, selection.timezone
    differences = tax_reconciliation(
        liability,
        report.filter(selection.of_report(lines)),
        lines=lines.filter(selection.of_lines()),
        period=period,
        timezone=timezone,
        basis=basis,
    )
    count = differences.height
    text = "matched" if not count else f"{count:,} difference{'s' if count > 1 else ''}"
    columns = [*RECONCILIATION_COLUMNS, *(c + "_major" for c in RECONCILIATION_COLUMNS[5:])]
    table = Table("Differences from Stripe's itemized tax export", differences.select(columns))
    notes = (TAX_DATE_NOTE,) if count and basis == "tax_date" and timezone != "UTC" else ()
    return Kpi(TILE, text=text), table, differences, notes
