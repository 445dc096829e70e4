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
    money_schema,
    period_end,
    period_start,
    require_columns,
    to_utc,
)
from finlab.analysis.cash_flow.daily import COUNTS, DAILY_SCHEMA, FLOWS, PAIR, daily_flows, day_sums
from finlab.money import major_of, scale_expr
from finlab.resources import MAJOR_SUFFIX

__all__ = ["CASH_FLOW_PERIODS", "CASH_FLOW_SCHEMA", "cash_flow", "cash_flow_from_daily"]

CASH_FLOW_PERIODS = ("day", "week", "month", "quarter", "year")
KEYS = [*PAIR, "period_start"]
#: The money columns, each shown beside its ``_major`` twin.
MONEY = (*FLOWS, "running_balance")

#: One row per account, currency and period. Money in Int64 minor units; ``*_major`` for display.
CASH_FLOW_SCHEMA = pl.Schema(
    {
        "account": pl.String(),
        "account_name": pl.String(),
        "currency": pl.String(),
        "period_start": PERIOD_DTYPE,
        "period_end": PERIOD_DTYPE,
        **dict.fromkeys(COUNTS, pl.Int64()),
        **money_schema(*MONEY),
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
    days = shown = daily_flows(transactions, accounts, timezone)
    if start is not None or end is not None:  # flows of the days in range, the balance from all days
        shown = day_sums(transactions.filter(between("transacted_at", start, end, timezone)), timezone)
        no_flows = days.with_columns(pl.lit(0, pl.Int64).alias(name) for name in (*FLOWS, *COUNTS))
        days = pl.concat([no_flows, shown], how="diagonal_relaxed")
    first = None if start is None else _period_of(to_utc(start, timezone), period, timezone)
    last = (
        None
        if end is None
        else _period_of(to_utc(end, timezone) - timedelta(microseconds=1), period, timezone)
    )
    return _assemble(days, _period_range(shown, period, first, last), accounts, period)


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
    inside = _between_days("day", start, end)
    first = None if start is None else _period_of(to_utc(start, "UTC"), period, "UTC")
    last = None if end is None else _period_of(to_utc(end - timedelta(days=1), "UTC"), period, "UTC")
    periods = _period_range(days.filter(inside), period, first, last)
    flows = days.with_columns(pl.when(inside).then(pl.col(*FLOWS, *COUNTS)).otherwise(0))
    return _assemble(flows, periods, accounts, period)


def _between_days(column: str, start: date | None, end: date | None) -> pl.Expr:
    """Boolean expression: ``start <= column < end`` on a Date column (either bound may be None)."""
    condition = pl.lit(True)
    if start is not None:
        condition &= pl.col(column) >= pl.lit(start, pl.Date)
    if end is not None:
        condition &= pl.col(column) < pl.lit(end, pl.Date)
    return condition


def _assemble(days: pl.DataFrame, periods: pl.Series, accounts: pl.DataFrame, period: str) -> pl.DataFrame:
    """`CASH_FLOW_SCHEMA` rows for these ``periods``: the flows and balance changes of ``days``.

    ``days`` holds the flows to show (zero, or no row, outside them) and every balance change, since
    the balance is rebuilt from all of them. The rows are a grid, every pair of ``days`` (sorted)
    times every period, built in order: each day's sums land on their grid row by its number
    (`_grid_rows`), with no join or sort on the string keys over all rows.
    """
    pairs = _pairs(days, accounts, periods[0] if periods.len() else None)
    grid = pairs.join(periods.to_frame(), how="cross", maintain_order="left_right").with_row_index("row")
    sums = (
        _grid_rows(days, pairs, periods, period)
        .group_by("row")
        .agg(pl.col(*FLOWS, *COUNTS).sum(), period_net=pl.col("balance_change").sum())
    )
    result = (
        grid.join(sums, on="row", how="left", maintain_order="left")
        .with_columns(pl.col(*FLOWS, *COUNTS, "period_net").fill_null(0))
        .with_columns(
            period_end(pl.col("period_start"), period),
            running_balance=pl.col("opening") + pl.col("period_net").cum_sum().over("pair"),
        )
    )
    majors = (major_of(pl.col(name), pl.col("scale")).alias(name + MAJOR_SUFFIX) for name in MONEY)
    return conform(result.with_columns(majors), CASH_FLOW_SCHEMA)


def _pairs(days: pl.DataFrame, accounts: pl.DataFrame, first: date | None) -> pl.DataFrame:
    """Each account and currency of ``days``, sorted and numbered (``pair``), with its name, its
    balance before the ``first`` period (``opening``) and its currency's ``scale``.

    A pair with a null key gets no opening balance (nothing joins to it).
    """
    before = pl.col("balance_change").filter(pl.col("day") < pl.lit(first, pl.Date)).sum()
    keyed = pl.all_horizontal(pl.col(PAIR).is_not_null())
    base = pl.col("balance_base").drop_nulls().first()
    return (
        days.group_by(PAIR)
        .agg(opening=pl.when(keyed.first()).then(base + before))
        .sort(PAIR)
        .with_row_index("pair")
        .join(_account_names(accounts), on="account", how="left", maintain_order="left")
        .with_columns(scale=scale_expr(pl.col("currency")))
    )


def _grid_rows(days: pl.DataFrame, pairs: pl.DataFrame, periods: pl.Series, period: str) -> pl.DataFrame:
    """The ``days`` within ``periods``, each with the number of its grid row (``row``): pair by pair,
    period by period, as `_assemble` builds the grid."""
    if periods.is_empty():
        return days.clear().with_columns(row=pl.lit(0, pl.UInt32))
    in_period = pl.col("day").dt.truncate(PERIODS[period])
    inside = days.filter(in_period.is_between(periods[0], periods[-1]))
    numbered = inside.join(pairs.select(*PAIR, "pair"), on=PAIR, how="inner")
    index = periods.search_sorted(numbered.select(in_period).to_series()).cast(pl.UInt32)
    return numbered.with_columns(row=pl.col("pair") * periods.len() + index)


def _period_range(days: pl.DataFrame, period: str, first: date | None, last: date | None) -> pl.Series:
    """Every period start from ``first`` (else the first of ``days``) to ``last`` (else the last)."""
    if first is None:
        first = days["day"].dt.truncate(PERIODS[period]).min()  # type: ignore[assignment]
    if last is None:
        last = days["day"].dt.truncate(PERIODS[period]).max()  # type: ignore[assignment]
    first, last = first or last, last or first
    if first is None or last is None or first > last:
        return pl.Series("period_start", [], PERIOD_DTYPE)
    return pl.date_range(first, last, PERIODS[period], eager=True).alias("period_start")


def _period_of(instant: datetime, period: str, timezone: str) -> date:
    frame = pl.DataFrame({"at": [instant]})
    value: date = frame.select(period_start("at", period, timezone)).item()
    return value


def _account_names(accounts: pl.DataFrame) -> pl.DataFrame:
    return accounts.select(
        pl.col("id").alias("account"), pl.col("display_name").alias("account_name")
    ).unique(subset="account", keep="first", maintain_order=True)
