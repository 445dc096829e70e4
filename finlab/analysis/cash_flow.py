"""Cash flow of Financial Connections accounts: in, out, net and balance per period.

Input frames are ``financial_connections.transaction`` and ``financial_connections.account`` frames
(see :func:`finlab.resources.schema`). Choices, so that numbers add up the way an analyst expects:

- Only ``posted`` transactions count in ``inflow``, ``outflow``, ``net`` and the balance. ``pending``
  ones are shown apart (``pending_net``, ``pending_count``) and never enter ``net``; ``void`` ones are
  dropped.
- ``outflow`` is the sum of the negative amounts, kept **negative**, so ``net = inflow + outflow``.
- Each account and currency gets a row for *every* period between the first and the last one in range
  (zeros where nothing happened), so balances of accounts in one currency can be summed per period.
- ``running_balance`` is the balance at the end of the period, rebuilt from the account's
  ``balance_current`` at ``balance_as_of``. Stripe: a ``posted`` transaction "affects the account's
  balance", a ``pending`` one "does not yet", and a ``void`` one "no longer" does. So a transaction is
  in the balance from its posting (``status_transitions.posted_at``; ``transacted_at`` when a posted
  transaction lacks it) until it is voided (``status_transitions.void_at``), whatever its
  ``transacted_at``: a balance refreshed while transactions were pending, or before they posted,
  counts exactly those that had posted by ``as_of`` (`balance_at` gives it back). The balance moves
  on posting days, the flows on transaction days. It is null when the account, its balance or its
  ``as_of`` is unknown, or when the account's balance is in another currency.

Examples
--------
>>> from finlab.frames import build
>>> jan_15, feb_1 = 1705312800, 1706745600
>>> transactions = build("financial_connections.transaction", [
...     {"id": "fctxn_1", "account": "fca_1", "amount": 5000, "currency": "usd", "status": "posted",
...      "description": "Sale", "transacted_at": jan_15},
...     {"id": "fctxn_2", "account": "fca_1", "amount": -1250, "currency": "usd", "status": "posted",
...      "description": "Rent", "transacted_at": jan_15},
... ])
>>> accounts = build("financial_connections.account", [
...     {"id": "fca_1", "display_name": "Checking", "balance": {"as_of": feb_1, "current": {"usd": 10000}}},
... ])
>>> cash_flow(transactions, accounts).select("inflow", "outflow", "net", "running_balance").row(0)
(5000, -1250, 3750, 10000)
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta

import polars as pl

from finlab.analysis import (
    PERIOD_DTYPE,
    PERIODS,
    UTC_DATETIME,
    between,
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
from finlab.errors import ConfigurationError

__all__ = [
    "CASH_FLOW_PERIODS",
    "CASH_FLOW_SCHEMA",
    "COUNTERPARTIES_SCHEMA",
    "DAILY_SCHEMA",
    "NO_DESCRIPTION",
    "balance_at",
    "cash_flow",
    "cash_flow_from_daily",
    "daily_flows",
    "filter_days",
    "filter_transactions",
    "top_counterparties",
]

CASH_FLOW_PERIODS = ("day", "week", "month", "quarter", "year")
PAIR = ["account", "currency"]
KEYS = [*PAIR, "period_start"]
FLOWS = ("inflow", "outflow", "net", "pending_net")
COUNTS = ("transaction_count", "pending_count")

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

#: One row per account, currency and local day with posted or pending transactions (`daily_flows`).
DAILY_SCHEMA = pl.Schema(
    {
        "account": pl.String(),
        "currency": pl.String(),
        "day": PERIOD_DTYPE,
        **dict.fromkeys((*FLOWS, *COUNTS), pl.Int64()),
        "balance_change": pl.Int64(),
        "balance_base": pl.Int64(),
    }
)

#: One row per currency and counterparty, ``rank`` 1 = largest outflow (``outflow`` is negative).
COUNTERPARTIES_SCHEMA = pl.Schema(
    {
        "currency": pl.String(),
        "rank": pl.Int64(),
        "counterparty": pl.String(),
        "transaction_count": pl.Int64(),
        **money_schema("outflow"),
    }
)

#: Counterparty label for transactions without a description.
NO_DESCRIPTION = "(no description)"

TRANSACTION_COLUMNS = (
    "account",
    "amount",
    "currency",
    "description",
    "status",
    "transacted_at",
    "status_transitions_posted_at",
    "status_transitions_void_at",
)
ACCOUNT_COLUMNS = ("id", "display_name", "currency", "balance_current", "balance_as_of")
POSTED = pl.col("status") == "posted"
PENDING = pl.col("status") == "pending"


def filter_transactions(
    frame: pl.DataFrame,
    *,
    accounts: str | Collection[str] | None = None,
    currencies: str | Collection[str] | None = None,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    statuses: str | Collection[str] | None = None,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """Transactions matching every given filter (None means "any").

    ``start`` is inclusive and ``end`` exclusive, on ``transacted_at``; dates and naive datetimes are
    read in ``timezone``. Currencies match case-insensitively; a single string means a one-item list.
    """
    require_columns(frame, TRANSACTION_COLUMNS, "a financial_connections.transaction frame")
    condition = between("transacted_at", start, end, timezone) & _of(accounts, currencies)
    if statuses is not None:
        condition &= pl.col("status").is_in(_as_list(statuses))
    return frame.filter(condition)


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
        shown = _day_sums(transactions.filter(between("transacted_at", start, end, timezone)), timezone)
    first = None if start is None else _period_of(to_utc(start, timezone), period, timezone)
    last = (
        None
        if end is None
        else _period_of(to_utc(end, timezone) - timedelta(microseconds=1), period, timezone)
    )
    return _assemble(days, shown, accounts, period, first, last)


def daily_flows(transactions: pl.DataFrame, accounts: pl.DataFrame, timezone: str = "UTC") -> pl.DataFrame:
    """Flows per account, currency and local day, with each pair's ``balance_base``: `DAILY_SCHEMA`.

    This is all of `cash_flow`'s work per transaction; `cash_flow_from_daily` turns it into periods
    in milliseconds, so a dashboard makes it once per timezone. Flows are by local transaction day;
    ``balance_change`` is what entered (posted) less what left (voided after posting) the balance
    that local day. Days with neither have no row. ``balance_base`` is the pair's balance before
    any transaction (``balance_current`` less those in the balance at ``balance_as_of``); null when
    unknown.
    """
    check_timezone(timezone)
    require_columns(transactions, TRANSACTION_COLUMNS, "a financial_connections.transaction frame")
    require_columns(accounts, ACCOUNT_COLUMNS, "a financial_connections.account frame")
    bases = _balance_bases(transactions, accounts)
    flows = _day_sums(transactions, timezone)
    changes = _balance_changes(transactions, timezone)
    days = (
        flows.join(changes, on=[*PAIR, "day"], how="full", coalesce=True)
        .with_columns(pl.col(*FLOWS, *COUNTS, "balance_change").fill_null(0))
        .join(bases, on=PAIR, how="left")
    )
    return conform(days.sort(*PAIR, "day"), DAILY_SCHEMA)


def balance_at(transactions: pl.DataFrame, accounts: pl.DataFrame, at: datetime) -> pl.DataFrame:
    """Each account and currency's balance at the instant ``at``, rebuilt from ``balance_current``.

    Returns ``account``, ``currency`` and ``balance`` (Int64 minor units, null when unknown). At
    ``balance_as_of`` it is ``balance_current`` itself: the identity the rebuilt balances rest on.
    """
    require_columns(transactions, TRANSACTION_COLUMNS, "a financial_connections.transaction frame")
    require_columns(accounts, ACCOUNT_COLUMNS, "a financial_connections.account frame")
    moment = pl.lit(to_utc(at, "UTC"), UTC_DATETIME)
    inside = transactions.filter(_in_balance_at(moment)).group_by(PAIR).agg(inside=pl.col("amount").sum())
    return (
        _balance_bases(transactions, accounts)
        .join(inside, on=PAIR, how="left")
        .select(*PAIR, balance=pl.col("balance_base") + pl.col("inside").fill_null(0))
        .sort(PAIR)
    )


def filter_days(
    days: pl.DataFrame,
    *,
    accounts: str | Collection[str] | None = None,
    currencies: str | Collection[str] | None = None,
    include_pending: bool = True,
) -> pl.DataFrame:
    """`daily_flows` rows of these accounts and currencies (None: all); without pending, as if none were.

    The same as `filter_transactions` before `daily_flows` (statuses ``posted`` alone, or with
    ``pending``).
    """
    chosen = days.filter(_of(accounts, currencies))
    if include_pending:
        return chosen
    moved = (pl.col("transaction_count") > 0) | (pl.col("balance_change") != 0)
    return chosen.filter(moved).with_columns(
        pending_net=pl.lit(0, pl.Int64), pending_count=pl.lit(0, pl.Int64)
    )


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


def top_counterparties(transactions: pl.DataFrame, n: int = 10) -> pl.DataFrame:
    """The ``n`` counterparties (``description``) with the largest posted outflow, per currency.

    Filter first (`filter_transactions`) to choose accounts and dates. Ties rank alphabetically.
    Returns a frame with `COUNTERPARTIES_SCHEMA`, sorted by currency and rank.
    """
    require_columns(transactions, TRANSACTION_COLUMNS, "a financial_connections.transaction frame")
    if n < 0:
        msg = f"n must be 0 or more, got {n}."
        raise ConfigurationError(msg)
    ranked = (
        transactions.filter(POSTED & (pl.col("amount") < 0))
        .with_columns(counterparty=pl.col("description").fill_null(NO_DESCRIPTION))
        .group_by("currency", "counterparty")
        .agg(outflow=pl.col("amount").sum(), transaction_count=pl.len())
        .sort("currency", "outflow", "counterparty")
        .with_columns(rank=pl.int_range(1, pl.len() + 1).over("currency"))
        .filter(pl.col("rank") <= n)
        .with_columns(major_columns(["outflow"]))
    )
    return conform(ranked, COUNTERPARTIES_SCHEMA)


def _of(accounts: str | Collection[str] | None, currencies: str | Collection[str] | None) -> pl.Expr:
    """Rows of these accounts and currencies (None: any); currencies match case-insensitively."""
    condition = pl.lit(True)
    if accounts is not None:
        condition &= pl.col("account").is_in(_as_list(accounts))
    if currencies is not None:
        wanted = [code.lower() for code in _as_list(currencies)]
        condition &= pl.col("currency").str.to_lowercase().is_in(wanted)
    return condition


def _day_sums(transactions: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """Posted and pending flows and counts per account, currency and local ``day`` (void ones left out)."""
    amount = pl.col("amount")
    counted = transactions.filter(POSTED | PENDING)
    return counted.group_by(*PAIR, period_start("transacted_at", "day", timezone).alias("day")).agg(
        inflow=amount.filter(POSTED & (amount > 0)).sum(),
        outflow=amount.filter(POSTED & (amount < 0)).sum(),
        net=amount.filter(POSTED).sum(),
        pending_net=amount.filter(PENDING).sum(),
        transaction_count=POSTED.sum(),
        pending_count=PENDING.sum(),
    )


def _as_list(values: str | Collection[str]) -> list[str]:
    return [values] if isinstance(values, str) else list(values)


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


def _entered() -> pl.Expr:
    """When a transaction entered the balance: its posting (null: never, for pending and voids)."""
    posted_at = pl.col("status_transitions_posted_at")
    return pl.when(POSTED).then(pl.coalesce(posted_at, "transacted_at")).otherwise(posted_at)


def _left() -> pl.Expr:
    """When a transaction that had entered the balance left it: voided after posting (else null)."""
    return pl.when(pl.col("status") == "void").then(pl.col("status_transitions_void_at"))


def _in_balance_at(moment: pl.Expr) -> pl.Expr:
    """Whether each transaction is in the balance at ``moment`` (a UTC datetime expression)."""
    entered, left = _entered(), _left()
    return (entered <= moment) & (left.is_null() | (left > moment) | (left < entered))


def _balance_changes(transactions: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """Per account, currency and local ``day``: amounts that entered the balance less those that left."""
    events = pl.concat(
        [
            transactions.select(*PAIR, at=_entered(), change=pl.col("amount")),
            transactions.filter(_entered().is_not_null() & (_left() >= _entered())).select(
                *PAIR, at=_left(), change=-pl.col("amount")
            ),
        ]
    ).filter(pl.col("at").is_not_null())
    day = period_start("at", "day", timezone).alias("day")
    return events.group_by(*PAIR, day).agg(balance_change=pl.col("change").sum())


def _balance_bases(transactions: pl.DataFrame, accounts: pl.DataFrame) -> pl.DataFrame:
    """Balance before any transaction per account and currency (null when unknown)."""
    balances = accounts.select(
        pl.col("id").alias("account"), "currency", "balance_current", "balance_as_of"
    ).unique(subset=PAIR, keep="first", maintain_order=True)
    through_as_of = (
        transactions.join(balances, on=PAIR, how="inner")
        .group_by(PAIR)
        .agg(through=pl.col("amount").filter(_in_balance_at(pl.col("balance_as_of"))).sum())
    )
    known = pl.col("balance_as_of").is_not_null()
    return balances.join(through_as_of, on=PAIR, how="left").select(
        *PAIR, balance_base=pl.when(known).then(pl.col("balance_current") - pl.col("through").fill_null(0))
    )


def _account_names(accounts: pl.DataFrame) -> pl.DataFrame:
    return accounts.select(
        pl.col("id").alias("account"), pl.col("display_name").alias("account_name")
    ).unique(subset="account", keep="first", maintain_order=True)
