"""Cash-flow dashboard: in, out, net and balance of Financial Connections accounts.

Controls: connected account (platforms only, `finlab.dashboards.accounts`), accounts (multi-select),
currency, From / To dates (To is inclusive), granularity (day / week / month / quarter), timezone,
include pending. Only ``posted`` transactions count in the flows, net and balance (see
:mod:`finlab.analysis.cash_flow`); *include pending* shows ``pending`` ones beside them (a KPI tile,
table columns, chart tooltips) and leaves them out entirely when off.

Examples
--------
>>> import finlab
>>> dashboard = CashFlowDashboard.from_connection(finlab.connect())  # doctest: +SKIP
>>> dashboard.controls.granularity.value = "week"  # doctest: +SKIP
>>> dashboard.flows["period_start"].dt.weekday().unique().to_list()  # doctest: +SKIP
[1]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import ipywidgets as widgets
import polars as pl

from finlab.analysis import require_columns
from finlab.analysis.cash_flow import cash_flow_from_daily, daily_flows, filter_days
from finlab.charts.cash_flow import cash_flow_chart
from finlab.connection import Connection
from finlab.dashboards.accounts import account_control, of_account
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
    money_totals_of,
    multi_control,
    selected_currency,
    timezone_control,
    toggle_control,
)
from finlab.dashboards.html import Kpi

__all__ = ["GRANULARITIES", "CashFlowControls", "CashFlowDashboard", "cash_flow_view"]

#: Granularities the dashboard offers.
GRANULARITIES = ("day", "week", "month", "quarter")
TABLE_COLUMNS = (
    "account_name",
    "currency",
    "period_start",
    "period_end",
    "transaction_count",
    "inflow",
    "outflow",
    "net",
    "running_balance",
)
PENDING_COLUMNS = ("pending_count", "pending_net")


@dataclass(frozen=True)
class CashFlowControls(Controls):
    """The cash-flow dashboard's widgets; set ``.value`` on any of them to recompute."""

    stripe_account: widgets.Dropdown
    accounts: widgets.SelectMultiple
    currency: widgets.Dropdown
    start: widgets.DatePicker
    end: widgets.DatePicker
    granularity: widgets.ToggleButtons
    timezone: widgets.Dropdown
    include_pending: widgets.Checkbox


def cash_flow_view(
    transactions: pl.DataFrame,
    accounts: pl.DataFrame,
    *,
    selected_accounts: Iterable[str] | None = None,
    currency: str | None = None,
    start: date | None = None,
    end: date | None = None,
    granularity: str = "month",
    timezone: str = "UTC",
    include_pending: bool = True,
) -> View:
    """The cash-flow `View`: flows per account and period, KPIs per currency, chart, table.

    ``end`` is the last day shown (inclusive); ``None`` for accounts or currency means all. The view's
    frame ``flows`` has :data:`finlab.analysis.cash_flow.CASH_FLOW_SCHEMA`.
    """
    return _view(
        daily_flows(transactions, accounts, timezone),
        accounts,
        selected_accounts=selected_accounts,
        currency=currency,
        start=start,
        end=end,
        granularity=granularity,
        include_pending=include_pending,
    )


def _view(
    days: pl.DataFrame,
    accounts: pl.DataFrame,
    *,
    selected_accounts: Iterable[str] | None,
    currency: str | None,
    start: date | None,
    end: date | None,
    granularity: str,
    include_pending: bool,
) -> View:
    """`cash_flow_view` from the transactions' `daily_flows` in the chosen timezone."""
    check_choice(granularity, GRANULARITIES, "granularity")
    chosen = filter_days(
        days,
        accounts=None if selected_accounts is None else list(selected_accounts),
        currencies=currency,
        include_pending=include_pending,
    )
    first, stop, notes = date_window(start, end)
    flows = cash_flow_from_daily(chosen, accounts, period=granularity, start=first, end=stop)
    totals = money_totals_of(flows, ["inflow", "outflow", "net", "pending_net"])
    kpis = {
        "inflow": Kpi("Money in", totals["inflow"]),
        "outflow": Kpi("Money out", totals["outflow"]),
        "net": Kpi("Net cash flow", totals["net"]),
        "balance": Kpi("Balance at end", _closing_balances(flows)),
        "transactions": Kpi("Posted transactions", number=int(flows["transaction_count"].sum())),
    }
    columns = list(TABLE_COLUMNS)
    if include_pending:
        kpis["pending"] = Kpi("Pending (not in net)", totals["pending_net"])
        kpis["pending_transactions"] = Kpi("Pending transactions", number=int(flows["pending_count"].sum()))
        columns[5:5] = PENDING_COLUMNS
    money = [c for c in columns if c + "_major" in flows.columns]
    table = flows.select(*columns, *(c + "_major" for c in money))
    return View(
        frames={"flows": flows},
        kpis=kpis,
        charts={"cash_flow": cash_flow_chart(flows)},
        tables={"flows": Table("Flows per account and period", table)},
        notes=notes,
    )


def _currencies(transactions: pl.DataFrame | pl.LazyFrame) -> list[str]:
    """The transactions' currencies (a scan reads that column only)."""
    if isinstance(transactions, pl.DataFrame):
        return transactions.get_column("currency").unique().to_list()
    found = transactions.select(pl.col("currency").unique()).collect(engine="streaming")
    return found.get_column("currency").to_list()


def _closing_balances(flows: pl.DataFrame) -> dict[str, Decimal]:
    """Balance at the end of the last period, summed over accounts per currency (unknown: left out)."""
    last = flows.filter(pl.col("period_start") == pl.col("period_start").max())
    known = last.group_by("currency").agg(pl.col("running_balance").is_null().any().alias("unknown"))
    complete = last.join(known.filter(~pl.col("unknown")), on="currency", how="semi")
    return money_totals(complete, "running_balance")


class CashFlowDashboard(Dashboard[CashFlowControls]):
    """Cash flow of Financial Connections accounts, recomputed from frames in memory on each change.

    The transactions are summed per day once per timezone (`daily_flows`); a control change then
    works on those days, so it takes milliseconds whatever the number of transactions.

    Parameters
    ----------
    transactions, accounts
        ``financial_connections.transaction`` and ``.account`` frames (``stripe.transactions()``,
        ``stripe.accounts()``); pass the whole history, since balances are rebuilt from it. Or use
        `from_connection`, which fetches both once. ``transactions`` may be a `pl.LazyFrame`
        (``stripe.scan_transactions()``, a scan of the store): each timezone's per-day sums are then
        one streaming plan over it, and no transaction is held in memory.
    stripe_account, selected_accounts, currency, start, end, granularity, timezone, include_pending
        Initial control values: a connected account (``acct_...``, ``"own"``; None: all; it narrows
        the accounts chosen to its own), account ids (None: all), a currency (None: all), the first and
        last day shown (inclusive; dates or ISO strings), ``day``/``week``/``month``/``quarter``,
        an IANA timezone, whether to show pending transactions.

    Attributes
    ----------
    controls : CashFlowControls
        The widgets. ``flows``, ``kpis``, ``chart``, ``tables`` give what is shown now.
    """

    title = "Cash flow"
    slug = "cash-flow"

    def __init__(
        self,
        transactions: pl.DataFrame | pl.LazyFrame,
        accounts: pl.DataFrame,
        *,
        stripe_account: str | None = None,
        selected_accounts: Iterable[str] | None = None,
        currency: str | None = None,
        start: date | str | None = None,
        end: date | str | None = None,
        granularity: str = "month",
        timezone: str = "UTC",
        include_pending: bool = True,
    ) -> None:
        require_columns(accounts, ("id", "display_name", "currency"), "a financial_connections.account frame")
        self.transactions = transactions
        self.accounts = accounts
        self._days: dict[str, pl.DataFrame] = {}  # daily_flows by timezone: made once each
        names = accounts.select("id", "display_name", "currency").unique(
            "id", keep="first", maintain_order=True
        )
        options = [(f"{name or fca} ({(code or '?').upper()})", fca) for fca, name, code in names.iter_rows()]
        controls = CashFlowControls(
            stripe_account=account_control(accounts, stripe_account),
            accounts=multi_control(options, selected_accounts, "Accounts", "accounts"),
            currency=currency_control(_currencies(transactions), currency),
            start=date_control(as_date(start, "start"), "From", "start"),
            end=date_control(as_date(end, "end"), "To", "end"),
            granularity=choice_control(GRANULARITIES, granularity, "Period", "granularity"),
            timezone=timezone_control(timezone),
            include_pending=toggle_control(include_pending, "Include pending", "include-pending"),
        )
        super().__init__(controls)

    @classmethod
    def from_connection(cls, stripe: Connection, **options: Any) -> CashFlowDashboard:
        """Fetch accounts and all their transactions once, then build the dashboard.

        With a store the transactions are scanned, not loaded (`Connection.scan_transactions`).
        ``options`` are the class's keyword arguments.
        """
        return cls(stripe.scan_transactions(), stripe.accounts(), **options)

    @property
    def flows(self) -> pl.DataFrame:
        """Flows per account, currency and period for the current controls (``CASH_FLOW_SCHEMA``)."""
        return self.frames["flows"]

    def _selected(self) -> list[str]:
        """The accounts chosen, of the connected account chosen."""
        controls = self.controls
        mine = set(of_account(self.accounts, controls.stripe_account.value).get_column("id"))
        return [fca for fca in controls.accounts.value if fca in mine]

    def _compute(self) -> View:
        controls = self.controls
        timezone = controls.timezone.value
        if timezone not in self._days:
            self._days[timezone] = daily_flows(self.transactions, self.accounts, timezone)
        return _view(
            self._days[timezone],
            self.accounts,
            selected_accounts=self._selected(),
            currency=selected_currency(controls.currency.value),
            start=controls.start.value,
            end=controls.end.value,
            granularity=controls.granularity.value,
            include_pending=controls.include_pending.value,
        )
