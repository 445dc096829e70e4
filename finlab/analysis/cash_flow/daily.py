"""Per-day flows of Financial Connections transactions, and the balance rebuilt from them.

`daily_flows` is all of :func:`finlab.analysis.cash_flow.cash_flow`'s work per transaction: flows by
local transaction day, and ``balance_change`` by the day a transaction entered (posted) or left
(voided after posting) the balance. `balance_at` gives the balance at any instant from the same rules
(see :mod:`finlab.analysis.cash_flow` for them).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from finlab.analysis import (
    PERIOD_DTYPE,
    UTC_DATETIME,
    check_timezone,
    conform,
    period_start,
    require_columns,
    to_utc,
)

__all__ = ["DAILY_SCHEMA", "balance_at", "daily_flows", "day_sums"]

PAIR = ["account", "currency"]
FLOWS = ("inflow", "outflow", "net", "pending_net")
COUNTS = ("transaction_count", "pending_count")

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
#: What the per-day sums read of each transaction (a lazy scan reads these columns only).
USED_COLUMNS = [
    "account",
    "amount",
    "currency",
    "status",
    "transacted_at",
    "status_transitions_posted_at",
    "status_transitions_void_at",
]
ACCOUNT_COLUMNS = ("id", "display_name", "currency", "balance_current", "balance_as_of")
POSTED = pl.col("status") == "posted"
PENDING = pl.col("status") == "pending"


def daily_flows(
    transactions: pl.DataFrame | pl.LazyFrame, accounts: pl.DataFrame, timezone: str = "UTC"
) -> pl.DataFrame:
    """Flows per account, currency and local day, with each pair's ``balance_base``: `DAILY_SCHEMA`.

    This is all of `cash_flow`'s work per transaction; `cash_flow_from_daily` turns it into periods
    in milliseconds, so a dashboard makes it once per timezone. Flows are by local transaction day;
    ``balance_change`` is what entered (posted) less what left (voided after posting) the balance
    that local day. Days with neither have no row. ``balance_base`` is the pair's balance before
    any transaction (``balance_current`` less those in the balance at ``balance_as_of``); null when
    unknown.

    ``transactions`` may be a `pl.LazyFrame` (a scan of the store, `finlab.Connection.scan_transactions`),
    run on Polars' streaming engine. Either way the transactions are read in one pass that keeps only
    sums per account, currency, status, sign and local day (`_groups`); the rest works on those.
    """
    check_timezone(timezone)
    require_columns(transactions, TRANSACTION_COLUMNS, "a financial_connections.transaction frame")
    require_columns(accounts, ACCOUNT_COLUMNS, "a financial_connections.account frame")
    balances = _balances(accounts.lazy())
    streaming = isinstance(transactions, pl.LazyFrame)
    plan = _groups(transactions.lazy(), balances, timezone)
    groups = plan.collect(engine="streaming" if streaming else "auto").lazy()
    events = [groups.select(*PAIR, day=column, change=change) for column, change in _EVENTS]
    changes = (
        pl.concat(events)
        .filter(pl.col("day").is_not_null())
        .group_by(*PAIR, "day")
        .agg(balance_change=pl.col("change").sum())
    )
    through = groups.filter("inside").group_by(PAIR).agg(through=pl.col("amount").sum())
    days = (
        _flows(groups)
        .join(changes, on=[*PAIR, "day"], how="full", coalesce=True)
        .with_columns(pl.col(*FLOWS, *COUNTS, "balance_change").fill_null(0))
        .join(_bases(balances, through), on=PAIR, how="left")
        .sort(*PAIR, "day")
    )
    return conform(days.collect(), DAILY_SCHEMA)


def _flows(groups: pl.LazyFrame) -> pl.LazyFrame:
    """Posted and pending flows and counts per account, currency and local ``day``, from `_groups`."""
    amount, count, sign = pl.col("amount"), pl.col("count"), pl.col("sign")
    return (
        groups.filter(POSTED | PENDING)
        .group_by(*PAIR, "day")
        .agg(
            inflow=amount.filter(POSTED & (sign > 0)).sum(),
            outflow=amount.filter(POSTED & (sign < 0)).sum(),
            net=amount.filter(POSTED).sum(),
            pending_net=amount.filter(PENDING).sum(),
            transaction_count=count.filter(POSTED).sum(),
            pending_count=count.filter(PENDING).sum(),
        )
    )


#: Balance events of `_groups`: each entering amount on its day, each leaving one negated on its own.
_EVENTS = ((pl.col("entered_day"), pl.col("amount")), (pl.col("left_day"), -pl.col("amount")))


def _groups(transactions: pl.LazyFrame, balances: pl.LazyFrame, timezone: str) -> pl.LazyFrame:
    """The one pass over the transactions: ``amount`` sums and ``count`` per account, currency,
    status, sign, local day made (``day``), entered and left the balance, and whether ``inside`` the
    balance at the pair's ``balance_as_of``. Integer sums, so every later sum is exact."""
    entered, left = _entered(), _left()
    leaves = entered.is_not_null() & (left >= entered)
    return (
        transactions.select(USED_COLUMNS)
        .join(balances.select(*PAIR, "balance_as_of"), on=PAIR, how="left")
        .with_columns(
            entered=entered,
            left=pl.when(leaves).then(left),
            inside=_in_balance_at(pl.col("balance_as_of")).fill_null(value=False),
            sign=pl.col("amount").sign(),
        )
        .group_by(
            *PAIR,
            "status",
            "sign",
            "inside",
            period_start("transacted_at", "day", timezone).alias("day"),
            period_start("entered", "day", timezone).alias("entered_day"),
            period_start("left", "day", timezone).alias("left_day"),
        )
        .agg(amount=pl.col("amount").sum(), count=pl.len().cast(pl.Int64))
    )


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
        _balance_bases(transactions.lazy(), accounts.lazy())
        .collect()
        .join(inside, on=PAIR, how="left")
        .select(*PAIR, balance=pl.col("balance_base") + pl.col("inside").fill_null(0))
        .sort(PAIR)
    )


def day_sums(transactions: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """Posted and pending flows and counts per account, currency and local ``day`` (void ones left out)."""
    return _day_sums(transactions.lazy(), timezone).collect()


def _day_sums(transactions: pl.LazyFrame, timezone: str) -> pl.LazyFrame:
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


def _balances(accounts: pl.LazyFrame) -> pl.LazyFrame:
    """Each account and currency's ``balance_current`` and ``balance_as_of`` (the first row of a pair)."""
    return accounts.select(
        pl.col("id").alias("account"), "currency", "balance_current", "balance_as_of"
    ).unique(subset=PAIR, keep="first", maintain_order=True)


def _bases(balances: pl.LazyFrame, through: pl.LazyFrame) -> pl.LazyFrame:
    """``balance_base``: ``balance_current`` less what was ``through`` it at ``balance_as_of`` (null when
    unknown)."""
    known = pl.col("balance_as_of").is_not_null()
    return balances.join(through, on=PAIR, how="left").select(
        *PAIR, balance_base=pl.when(known).then(pl.col("balance_current") - pl.col("through").fill_null(0))
    )


def _balance_bases(transactions: pl.LazyFrame, accounts: pl.LazyFrame) -> pl.LazyFrame:
    """Balance before any transaction per account and currency (null when unknown)."""
    balances = _balances(accounts)
    through = (
        transactions.join(balances, on=PAIR, how="inner")
        .group_by(PAIR)
        .agg(through=pl.col("amount").filter(_in_balance_at(pl.col("balance_as_of"))).sum())
    )
    return _bases(balances, through)
