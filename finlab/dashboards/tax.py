"""Tax-liability dashboard: Stripe Tax collected, reversed and net per filing period and jurisdiction.

Controls: filing period (month / quarter / year), the date periods follow (``posted_at``, when
Stripe books the liability, by default; or ``tax_date``), timezone, From / To dates on that same
date (To is inclusive), currency, jurisdictions (multi-select). Taxable amounts are net of tax
(see :mod:`finlab.analysis.tax`). With registrations it also flags tax collected where no
registration was active, and registrations expiring within 60 days of ``now`` (see
:func:`finlab.analysis.tax.registration_flags`). With Stripe's itemized tax export (``report``;
`from_connection` reads the newest succeeded run once) a tile says whether the selection is
"Reconciled with Stripe's export": ``matched`` or ``N differences``, listed in the table below it
(:mod:`finlab.dashboards.tax_export`); without a readable report the tile says so.

Examples
--------
>>> import finlab
>>> dashboard = TaxLiabilityDashboard.from_connection(finlab.connect())  # doctest: +SKIP
>>> dashboard.controls.period.value = "quarter"  # doctest: +SKIP
>>> dashboard.kpis["net_tax"].money  # doctest: +SKIP
{'eur': Decimal('...'), 'gbp': ..., 'jpy': ..., 'usd': ...}
>>> dashboard.kpis["reconciliation"].text  # doctest: +SKIP
'1 difference'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import ipywidgets as widgets
import polars as pl

from finlab.analysis.reconciliation import RECONCILIATION_SCHEMA
from finlab.analysis.tax import (
    BASES,
    FILING_PERIODS,
    FLAG_EXPIRING,
    FLAG_UNREGISTERED,
    REGISTRATION_FLAGS_SCHEMA,
    registration_flags,
    tax_liability,
    tax_lines,
)
from finlab.charts.tax import tax_bars, tax_heatmap
from finlab.connection import Connection
from finlab.dashboards.accounts import ALL_ACCOUNTS, account_control, of_account
from finlab.dashboards.base import (
    Controls,
    Dashboard,
    Table,
    View,
    as_date,
    check_choice,
    choice_control,
    currency_control,
    date_control,
    date_window,
    money_totals,
    multi_control,
    selected_currency,
    timezone_control,
)
from finlab.dashboards.html import Kpi
from finlab.dashboards.tax_export import NoReport, Selection, fetch_report, reconciliation_part

__all__ = ["TaxLiabilityControls", "TaxLiabilityDashboard", "tax_liability_view"]

LIABILITY_COLUMNS = (
    "period_start",
    "period_end",
    "jurisdiction",
    "currency",
    "tax_behavior",
    "line_count",
    "taxable_amount",
    "gross_amount",
    "tax_collected",
    "tax_reversed",
    "net_tax",
)
FLAG_COLUMNS = (
    "flag",
    "jurisdiction",
    "registration",
    "expires_at",
    "days_to_expiry",
    "currency",
    "line_count",
    "first_tax_date",
    "last_tax_date",
    "tax_collected",
)


#: What each period basis is called on screen.
BASIS_LABELS = {"posted_at": "By posting date", "tax_date": "By tax date"}


@dataclass(frozen=True)
class TaxLiabilityControls(Controls):
    """The tax dashboard's widgets; set ``.value`` on any of them to recompute."""

    stripe_account: widgets.Dropdown
    period: widgets.ToggleButtons
    basis: widgets.Dropdown
    timezone: widgets.Dropdown
    start: widgets.DatePicker
    end: widgets.DatePicker
    currency: widgets.Dropdown
    jurisdictions: widgets.SelectMultiple


def tax_liability_view(
    lines: pl.DataFrame,
    registrations: pl.DataFrame | None = None,
    *,
    now: date | datetime,
    report: pl.DataFrame | NoReport | None = None,
    period: str = "month",
    basis: str = "posted_at",
    timezone: str = "UTC",
    start: date | None = None,
    end: date | None = None,
    currency: str | None = None,
    jurisdictions: Iterable[str] | None = None,
) -> View:
    """The tax `View` of ``lines`` (from :func:`finlab.analysis.tax.tax_lines`).

    Frames: ``lines`` (the selected lines), ``liability`` (``TAX_LIABILITY_SCHEMA``), ``flags``
    (``REGISTRATION_FLAGS_SCHEMA``; empty without registrations) and ``reconciliation``
    (``RECONCILIATION_SCHEMA``: the differences from ``report``, Stripe's itemized export; empty
    without one). ``start`` and ``end`` (inclusive) apply to ``basis``, the date periods follow.
    """
    first, stop, notes = date_window(start, end)
    check_choice(basis, BASES, "basis")
    chosen_places = None if jurisdictions is None else tuple(jurisdictions)
    selection = Selection(basis, timezone, first, stop, currency, chosen_places)
    chosen = lines.filter(selection.of_lines())
    liability = tax_liability(chosen, period=period, timezone=timezone, basis=basis)
    kpis = _liability_kpis(chosen, liability)
    title = f"Tax per filing period ({BASIS_LABELS[basis].lower()}) and jurisdiction"
    tables = {"liability": Table(title, _display(liability, LIABILITY_COLUMNS))}
    frames = {"lines": chosen, "liability": liability, "flags": REGISTRATION_FLAGS_SCHEMA.to_frame()}
    if registrations is not None:
        frames["flags"] = registration_flags(chosen, registrations, now=now)
        kpis.update(_flag_kpis(frames["flags"]))
        tables["flags"] = Table("Needs attention", _display(frames["flags"], FLAG_COLUMNS))
    frames["reconciliation"] = RECONCILIATION_SCHEMA.to_frame()
    if report is not None:
        part = reconciliation_part(report, lines, liability, selection, period)
        kpis["reconciliation"], table, frames["reconciliation"], more = part
        tables.update({"reconciliation": table} if table is not None else {})
        notes += more
    charts = {"liability": tax_bars(liability), "heatmap": tax_heatmap(liability)}
    return View(frames=frames, kpis=kpis, charts=charts, tables=tables, notes=notes)


def _liability_kpis(chosen: pl.DataFrame, liability: pl.DataFrame) -> dict[str, Kpi]:
    """The tiles of the liability: tax collected, reversed and net, amounts, and counts."""
    return {
        "tax_collected": Kpi("Tax collected", money_totals(liability, "tax_collected")),
        "tax_reversed": Kpi("Tax reversed (refunds)", money_totals(liability, "tax_reversed")),
        "net_tax": Kpi("Net tax liability", money_totals(liability, "net_tax")),
        "taxable_amount": Kpi("Taxable amount (excl. tax)", money_totals(liability, "taxable_amount")),
        "gross_amount": Kpi("Gross amount (incl. tax)", money_totals(liability, "gross_amount")),
        "jurisdictions": Kpi("Jurisdictions", number=liability["jurisdiction"].n_unique()),
        "line_items": Kpi("Line items", number=chosen.height),
    }


def _flag_kpis(flags: pl.DataFrame) -> dict[str, Kpi]:
    """The tiles of the registration flags: jurisdictions collected without one, expiring ones."""
    unregistered = flags.filter(pl.col("flag") == FLAG_UNREGISTERED)
    return {
        "unregistered": Kpi("Collected without registration", number=unregistered["jurisdiction"].n_unique()),
        "expiring": Kpi(
            "Registrations expiring in 60 days", number=flags.filter(pl.col("flag") == FLAG_EXPIRING).height
        ),
    }


def basis_control(basis: str) -> widgets.Dropdown:
    """Which date filing periods follow (class ``finlab-basis``): posting date or tax date."""
    check_choice(basis, BASES, "basis")
    options = [(BASIS_LABELS[name], name) for name in BASES]
    dropdown = widgets.Dropdown(options=options, value=basis, description="Periods")
    dropdown.add_class("finlab-control")
    dropdown.add_class("finlab-basis")
    return dropdown


def _display(frame: pl.DataFrame, columns: Iterable[str]) -> pl.DataFrame:
    names = list(columns)
    return frame.select(*names, *(c + "_major" for c in names if c + "_major" in frame.columns))


class TaxLiabilityDashboard(Dashboard[TaxLiabilityControls]):
    """Stripe Tax liability per filing period and jurisdiction, recomputed in memory on each change.

    Parameters
    ----------
    line_items, transactions
        ``tax.transaction_line_item`` and ``tax.transaction`` frames (``stripe.tax_line_items()``,
        ``stripe.tax_transactions()``), joined once with :func:`finlab.analysis.tax.tax_lines`.
        Or use `from_connection`, which fetches them (and the registrations) once.
    registrations
        ``tax.registration`` frame; without it there are no registration flags.
    report
        Stripe's itemized tax export (``stripe.tax_report()``, a ``tax.transactions.itemized.2``
        frame) for the "Reconciled with Stripe's export" tile and its differences table, or
        `NoReport` (the tile says none is available, the reason is a note); None: no tile.
    now
        The instant registrations are checked against for expiry (default: the current time).
    stripe_account, period, basis, timezone, start, end, currency, jurisdictions
        Initial control values: a connected account (``acct_...``, ``"own"``; None: all; see
        `finlab.dashboards.accounts`), ``month``/``quarter``/``year``, the date periods follow
        (``posted_at`` or ``tax_date``), an IANA timezone, the first and last day shown (inclusive;
        dates or ISO strings), a currency and jurisdictions (None: all).

    Attributes
    ----------
    controls : TaxLiabilityControls
        The widgets. ``liability``, ``flags``, ``kpis``, ``chart`` give what is shown now.
    """

    title = "Tax liability"
    slug = "tax-liability"

    def __init__(
        self,
        line_items: pl.DataFrame,
        transactions: pl.DataFrame,
        registrations: pl.DataFrame | None = None,
        *,
        report: pl.DataFrame | NoReport | None = None,
        now: date | datetime | None = None,
        stripe_account: str | None = None,
        period: str = "month",
        basis: str = "posted_at",
        timezone: str = "UTC",
        start: date | str | None = None,
        end: date | str | None = None,
        currency: str | None = None,
        jurisdictions: Iterable[str] | None = None,
    ) -> None:
        self.lines = tax_lines(line_items, transactions)
        self._owners = transactions.rename({"id": "tax_transaction"})  # whose each transaction is
        self.registrations = registrations
        self.report = report
        self.now = now if now is not None else datetime.now(UTC)
        codes = sorted(self.lines["jurisdiction"].unique().to_list())
        controls = TaxLiabilityControls(
            stripe_account=account_control(transactions, stripe_account),
            period=choice_control(FILING_PERIODS, period, "Period", "period"),
            basis=basis_control(basis),
            timezone=timezone_control(timezone),
            start=date_control(as_date(start, "start"), "From", "start"),
            end=date_control(as_date(end, "end"), "To", "end"),
            currency=currency_control(self.lines["currency"].unique().to_list(), currency),
            jurisdictions=multi_control(
                [(c, c) for c in codes], jurisdictions, "Jurisdictions", "jurisdictions"
            ),
        )
        super().__init__(controls)

    @classmethod
    def from_connection(
        cls,
        stripe: Connection,
        *,
        ids: Iterable[str] | None = None,
        payment_intents: Iterable[str] | None = None,
        **options: Any,
    ) -> TaxLiabilityDashboard:
        """Fetch tax transactions, their line items, the registrations and Stripe's export once.

        ``ids`` / ``payment_intents`` choose the tax transactions as in ``stripe.tax_transactions``
        (Stripe cannot list them: on a live account pass one of the two). The export is the newest
        succeeded ``tax.transactions.itemized.2`` run (`fetch_report`: read, never created; when
        none can be read the tile says so). ``options``: see the class.
        """
        items = stripe.tax_line_items(ids=ids, payment_intents=payment_intents)
        transactions = stripe.tax_transactions(ids=ids, payment_intents=payment_intents)
        report = fetch_report(stripe)
        return cls(items, transactions, stripe.tax_registrations(), report=report, **options)

    @property
    def liability(self) -> pl.DataFrame:
        """Tax per filing period, jurisdiction, currency and tax behavior (``TAX_LIABILITY_SCHEMA``)."""
        return self.frames["liability"]

    @property
    def flags(self) -> pl.DataFrame:
        """Registration flags of the selected lines (``REGISTRATION_FLAGS_SCHEMA``)."""
        return self.frames["flags"]

    @property
    def reconciliation(self) -> pl.DataFrame:
        """Differences of the selection from Stripe's export (``RECONCILIATION_SCHEMA``; empty: none)."""
        return self.frames["reconciliation"]

    def _compute(self) -> View:
        controls = self.controls
        chosen = controls.stripe_account.value
        lines, registrations, report = self.lines, self.registrations, self.report
        if chosen != ALL_ACCOUNTS:  # one account's lines, registrations and export
            mine = of_account(self._owners, chosen).select("tax_transaction")
            lines = lines.join(mine, on="tax_transaction", how="semi")
            registrations = None if registrations is None else of_account(registrations, chosen)
            report = of_account(report, chosen) if isinstance(report, pl.DataFrame) else report
        return tax_liability_view(
            lines,
            registrations,
            now=self.now,
            report=report,
            period=controls.period.value,
            basis=controls.basis.value,
            timezone=controls.timezone.value,
            start=controls.start.value,
            end=controls.end.value,
            currency=selected_currency(controls.currency.value),
            jurisdictions=controls.jurisdictions.value,
        )
