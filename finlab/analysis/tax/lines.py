"""Tax line items joined to their transactions: the lines every tax sum starts from (`tax_lines`).

The rules, each with Stripe's definition behind it:

- **Taxable amount.** A line's ``amount`` *includes* its tax when ``tax_behavior`` is ``inclusive``
  and excludes it when ``exclusive`` (Stripe API reference, ``tax.transaction_line_item.amount``). So
  ``taxable_amount`` (the base tax is charged on, Stripe's own term in ``tax_breakdown``) is
  ``amount - amount_tax`` for inclusive lines and ``amount`` for exclusive ones, and
  ``gross_amount = taxable_amount + amount_tax`` is what the customer paid including tax.
- **Types.** A line's ``type`` is its own (``transaction`` or ``reversal``), else its transaction's.
  Reversals carry negative amounts: ``tax_reversed`` is negative and ``net_tax = tax_collected +
  tax_reversed``. Lines of an unknown type count in the amounts but in neither tax column.
- **Dates.** A transaction without ``posted_at`` (older API versions) falls back to its ``tax_date``.
- Lines whose transaction is not in the transactions frame are left out (they have no date and no
  jurisdiction).
- **Shipping.** A transaction's ``shipping_cost`` (amount, tax and tax behavior, taxed like a line)
  is not a line item, but it is taxable and its tax is owed: `tax_lines` adds it as one more line,
  ``id = "<transaction id>:shipping"`` with ``tax_behavior`` from the shipping cost.
"""

from __future__ import annotations

import polars as pl

from finlab.analysis import UTC_DATETIME, conform, require_columns

__all__ = ["TAX_LINES_SCHEMA", "UNKNOWN_JURISDICTION", "place_code", "tax_lines"]

#: Jurisdiction label of lines whose customer address has no country.
UNKNOWN_JURISDICTION = "unknown"
JURISDICTION = ["jurisdiction", "country", "state"]

#: One row per line item, with its transaction's jurisdiction and dates.
TAX_LINES_SCHEMA = pl.Schema(
    {
        "id": pl.String(),
        "tax_transaction": pl.String(),
        "type": pl.String(),
        "tax_behavior": pl.String(),
        "currency": pl.String(),
        "jurisdiction": pl.String(),
        "country": pl.String(),
        "state": pl.String(),
        "business_customer": pl.Boolean(),
        "tax_date": UTC_DATETIME,
        "posted_at": UTC_DATETIME,
        "amount": pl.Int64(),
        "amount_tax": pl.Int64(),
        "taxable_amount": pl.Int64(),
        "gross_amount": pl.Int64(),
    }
)

LINE_ITEM_COLUMNS = ("id", "tax_transaction", "type", "tax_behavior", "currency", "amount", "amount_tax")
TRANSACTION_COLUMNS = (
    "id",
    "type",
    "currency",
    "customer_details_address_country",
    "customer_details_address_state",
    "customer_details_tax_id_types",
    "tax_date",
    "posted_at",
    "shipping_cost_amount",
    "shipping_cost_amount_tax",
    "shipping_cost_tax_behavior",
)
#: Suffix of the line `tax_lines` makes of a transaction's shipping cost.
SHIPPING_LINE = ":shipping"
#: What the functions taking joined lines say when given something else.
LINES = "tax lines: call tax_lines(line_items, transactions) first"


def tax_lines(line_items: pl.DataFrame, transactions: pl.DataFrame) -> pl.DataFrame:
    """Line items joined to their transactions' jurisdiction, dates and type, with taxable and gross.

    Returns a frame with `TAX_LINES_SCHEMA` (line items without a known transaction are left out).
    """
    require_columns(line_items, LINE_ITEM_COLUMNS, "a tax.transaction_line_item frame")
    require_columns(transactions, TRANSACTION_COLUMNS, "a tax.transaction frame")
    parents = transactions.select(
        pl.col("id").alias("tax_transaction"),
        pl.col("type").alias("transaction_type"),
        pl.col("currency").alias("transaction_currency"),
        place_code("customer_details_address_country").alias("country"),
        place_code("customer_details_address_state").alias("state"),
        business_customer=pl.col("customer_details_tax_id_types").list.len().fill_null(0) > 0,
        tax_date="tax_date",
        posted_at=pl.coalesce("posted_at", "tax_date"),
    ).unique(subset="tax_transaction", keep="first", maintain_order=True)
    inclusive = pl.col("tax_behavior") == "inclusive"
    items = pl.concat(
        [line_items.select(LINE_ITEM_COLUMNS), _shipping_lines(transactions)], how="vertical_relaxed"
    )
    joined = items.join(parents, on="tax_transaction", how="inner").with_columns(
        type=pl.coalesce("type", "transaction_type"),
        currency=pl.coalesce("currency", "transaction_currency"),
        jurisdiction=_jurisdiction(),
        taxable_amount=pl.when(inclusive)
        .then(pl.col("amount") - pl.col("amount_tax"))
        .otherwise(pl.col("amount")),
    )
    return conform(
        joined.with_columns(gross_amount=pl.col("taxable_amount") + pl.col("amount_tax")), TAX_LINES_SCHEMA
    )


def place_code(column: str) -> pl.Expr:
    """Upper-case country or state code; empty strings become null."""
    code = pl.col(column).str.strip_chars().str.to_uppercase()
    return pl.when(code != "").then(code)


def _shipping_lines(transactions: pl.DataFrame) -> pl.DataFrame:
    """Each transaction's shipping cost as a line (``<id>:shipping``); none where it has none."""
    return transactions.filter(pl.col("shipping_cost_amount").is_not_null()).select(
        pl.concat_str("id", pl.lit(SHIPPING_LINE)).alias("id"),
        pl.col("id").alias("tax_transaction"),
        "type",
        pl.col("shipping_cost_tax_behavior").alias("tax_behavior"),
        "currency",
        pl.col("shipping_cost_amount").alias("amount"),
        pl.col("shipping_cost_amount_tax").fill_null(0).alias("amount_tax"),
    )


def _jurisdiction() -> pl.Expr:
    """``"US-CA"`` where the address has a state, ``"FR"`` where it has none."""
    with_state = pl.concat_str("country", pl.lit("-"), "state")
    return (
        pl.when(pl.col("country").is_null())
        .then(pl.lit(UNKNOWN_JURISDICTION))
        .otherwise(pl.coalesce(with_state, "country"))
    )
