"""Cash flow per period: in, out, net, pending and end-of-period balance (`cash_flow`).

`cash_flow_from_daily` makes the same rows from :func:`finlab.analysis.cash_flow.daily.daily_flows`,
so a dashboard sums transactions once per timezone and regroups them per period in milliseconds.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

from finlab.analysis import (
    PERIOD_DTYPE,
    PERIODS,
    between,
    check_period,
    conform,
    major_columns,
    money_schema,
    period_end,
    period_start,
    require_columns,
    to_utc,
)
from finlab.analysis.cash_flow.daily import COUNTS, DAILY_SCHEMA, FLOWS, PAIR, daily_flows, day_sums

__all__ = ["CASH_FLOW_PERIODS", "CASH_FLOW_SCHEMA", "cash_flow", "cash_flow_from_daily"]

CASH_FLOW_PERIODS = ("day", "week", "month", "quarter", "year")
KEYS = [*PAIR, "period_start"]

#: One row per account, currency and period. Money in Int64 minor units; ``*_major`` for display.
CASH_FLOW_SCHEMA = pl.Schema(
    {
        "account": pl.String(),
        "account_name": pl.String(),
        "currency": pl.String(),
        "period_start": PERIOD_DTYPE,
        "period_end": PERIOD_DTYPE,
        **dict.fromkeys(COUNTS, pl.Int64()),
        **money_schema(*FLOWS, "running_balance"),
    }
)


def cash_flow(
    transactions: pl.DataFrame,
    accounts: pl.DataFrame,
    *,
    period: str = "month",
    timezone: str = "UTC",
    start: date | datetime | None = None,
    end: date | datetime | None = None,
) -> pl.DataFrame:
    """Inflow, outflow, net, pending and end-of-period balance per account, currency and period.

    Periods are local calendar periods in ``timezone`` (see :mod:`finlab.analysis`). ``start``
    (inclusive) and ``end`` (exclusive) limit the flows and the periods shown, but the balance is
    rebuilt from *all* given transactions, so pass the history through ``balance_as_of`` for exact
    balances. With ``start``/``end`` the periods holding them are shown even when empty.

    Returns a frame with `CASH_FLOW_SCHEMA`, sorted by account, currency and period.
    """
    check_period(period, CASH_FLOW_PERIODS)
    days = daily_flows(transactions, accounts, timezone)
    shown = days
    if start is not None or end is not None:
        shown = day_sums(transactions.filter(between("transacted_at", start, end, timezone)), timezone)
    first = None if start is None else _period_of(to_utc(start, timezone), period, timezone)
    last = (
        None
        if end is None
        else _period_of(to_utc(end, timezone) - timedelta(microseconds=1), period, timezone)
    )
    return _assemble(days, shown, accounts, period, first, last)


def cash_flow_from_daily(
    days: pl.DataFrame,
    accounts: pl.DataFrame,
    *,
    period: str = "month",
    start: date | None = None,
    end: date | None = None,
) -> pl.DataFrame:
    """`cash_flow` from `daily_flows` (maybe `filter_days`): equal to it for the same transactions.

    ``start`` (inclusive) and ``end`` (exclusive) are local days in the timezone the days were made in.
    """
    check_period(period, CASH_FLOW_PERIODS)
    require_columns(days, DAILY_SCHEMA.names(), "a frame of finlab.analysis.cash_flow.daily_flows()")
    shown = days.filter(_between_days("day", start, end))
    first = None if start is None else _period_of(to_utc(start, "UTC"), period, "UTC")
    last = None if end is None else _period_of(to_utc(end - timedelta(days=1), "UTC"), period, "UTC")
    return _assemble(days, shown, accounts, period, first, last)


def _between_days(column: str, start: date | None, end: date | None) -> pl.Expr:
    """Boolean expression: ``start <= column < end`` on a Date column (either bound may be None)."""
    condition = pl.lit(True)
    if start is not None:
        condition &= pl.col(column) >= pl.lit(start, pl.Date)
    if end is not None:
        condition &= pl.col(column) < pl.lit(end, pl.Date)
    return condition


def _assemble(
    days: pl.DataFrame,
    shown: pl.DataFrame,
    accounts: pl.DataFrame,
    period: str,
    first: date | None,
    last: date | None,
) -> pl.DataFrame:
    """`CASH_FLOW_SCHEMA` rows: flows of the ``shown`` days, balances from all ``days``.

    ``first`` and ``last`` are the first and last period to show whatever the days hold (None: as
    far as the shown days go).
    """
    in_period = pl.col("day").dt.truncate(PERIODS[period]).alias("period_start")
    shown = shown.with_columns(in_period)
    periods = _period_range(shown, period, first, last)
    grid = days.select(PAIR).unique().join(periods.to_frame(), how="cross")
    sums = shown.group_by(KEYS).agg(pl.col(*FLOWS, *COUNTS).sum())
    flows = grid.join(sums, on=KEYS, how="left").with_columns(pl.col(*FLOWS, *COUNTS).fill_null(0))
    balances = _running_balances(grid, days.with_columns(in_period), periods[0] if periods.len() else None)
    result = (
        flows.join(balances, on=KEYS, how="left")
        .join(_account_names(accounts), on="account", how="left")
        .with_columns(period_end(pl.col("period_start"), period))
        .with_columns(major_columns([*FLOWS, "running_balance"]))
        .sort(KEYS)
    )
    return conform(result, CASH_FLOW_SCHEMA)


def _period_range(shown: pl.DataFrame, period: str, first: date | None, last: date | None) -> pl.Series:
    """Every period start from ``first`` (else the first shown) to ``last`` (else the last shown)."""
    if first is None:
        first = shown["period_start"].min()  # type: ignore[assignment]
    if last is None:
        last = shown["period_start"].max()  # type: ignore[assignment]
    first, last = first or last, last or first
    if first is None or last is None or first > last:
        return pl.Series("period_start", [], PERIOD_DTYPE)
    return pl.date_range(first, last, PERIODS[period], eager=True).alias("period_start")


def _period_of(instant: datetime, period: str, timezone: str) -> date:
    frame = pl.DataFrame({"at": [instant]})
    value: date = frame.select(period_start("at", period, timezone)).item()
    return value


def _running_balances(grid: pl.DataFrame, days: pl.DataFrame, first: date | None) -> pl.DataFrame:
    """End-of-period balance per account, currency and period of ``grid``.

    balance(end of P) = balance_base + balance changes of every period up to P (shown or not).
    """
    by_period = days.group_by(KEYS).agg(period_net=pl.col("balance_change").sum())
    before_first = pl.col("balance_change").filter(pl.col("day") < pl.lit(first, pl.Date)).sum()
    opening = days.group_by(PAIR).agg(opening=pl.col("balance_base").first() + before_first)
    return (
        grid.join(by_period, on=KEYS, how="left")
        .join(opening, on=PAIR, how="left")
        .sort(KEYS)
        .select(
            *KEYS,
            running_balance=pl.col("opening") + pl.col("period_net").fill_null(0).cum_sum().over(PAIR),
        )
    )


def _account_names(accounts: pl.DataFrame) -> pl.DataFrame:
    return accounts.select(
        pl.col("id").alias("account"), pl.col("display_name").alias("account_name")
    ).unique(subset="account", keep="first", maintain_order=True)
