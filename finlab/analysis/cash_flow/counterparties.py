"""Who the money goes to: the counterparties with the largest posted outflow, per currency."""

from __future__ import annotations

import polars as pl

from finlab.analysis import conform, major_columns, money_schema, require_columns
from finlab.analysis.cash_flow.daily import POSTED, TRANSACTION_COLUMNS
from finlab.errors import ConfigurationError

__all__ = ["COUNTERPARTIES_SCHEMA", "NO_DESCRIPTION", "top_counterparties"]

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
