"""Which transactions and which days a cash flow counts: by account, currency, dates and status."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime

import polars as pl

from finlab.analysis import between, require_columns
from finlab.analysis.cash_flow.daily import TRANSACTION_COLUMNS

__all__ = ["filter_days", "filter_transactions"]


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


def _of(accounts: str | Collection[str] | None, currencies: str | Collection[str] | None) -> pl.Expr:
    """Rows of these accounts and currencies (None: any); currencies match case-insensitively."""
    condition = pl.lit(True)
    if accounts is not None:
        condition &= pl.col("account").is_in(_as_list(accounts))
    if currencies is not None:
        wanted = [code.lower() for code in _as_list(currencies)]
        condition &= pl.col("currency").str.to_lowercase().is_in(wanted)
    return condition


def _as_list(values: str | Collection[str]) -> list[str]:
    return [values] if isinstance(values, str) else list(values)
