"""Stripe Tax liability per filing period and jurisdiction, and what to file under each registration.

Start from `tax_lines`: it joins ``tax.transaction_line_item`` rows to their ``tax.transaction``
(``tax_transaction`` -> ``id``) for the jurisdiction (customer address country, and state where there
is one), the dates and the type. Every other function takes those joined lines. The rules, each with
Stripe's definition behind it:

- **Taxable amount.** A line's ``amount`` *includes* its tax when ``tax_behavior`` is ``inclusive``
  and excludes it when ``exclusive`` (Stripe API reference, ``tax.transaction_line_item.amount``). So
  ``taxable_amount`` (the base tax is charged on, Stripe's own term in ``tax_breakdown``) is
  ``amount - amount_tax`` for inclusive lines and ``amount`` for exclusive ones, and
  ``gross_amount = taxable_amount + amount_tax`` is what the customer paid including tax.
- **Filing period.** Periods follow ``posted_at`` by default: "when the tax liability is assumed or
  reduced" (changelog 2024-09-30.acacia, which added it "to accurately record liability for tax
  reporting within correct periods"). ``tax_date`` only picks the rates; pass ``basis="tax_date"`` to
  bucket by it. A refund therefore reduces the liability of the period it posts in, not the period of
  the sale. Over a whole range both bases give the same totals. A transaction without ``posted_at``
  (older API versions) falls back to its ``tax_date``.
- **Types.** A line's ``type`` is its own (``transaction`` or ``reversal``), else its transaction's.
  Reversals carry negative amounts: ``tax_reversed`` is negative and ``net_tax = tax_collected +
  tax_reversed``. Lines of an unknown type count in the amounts but in neither tax column.
- Lines whose transaction is not in the transactions frame are left out (they have no date and no
  jurisdiction).
- **Shipping.** A transaction's ``shipping_cost`` (amount, tax and tax behavior, taxed like a line)
  is not a line item, but it is taxable and its tax is owed: `tax_lines` adds it as one more line,
  ``id = "<transaction id>:shipping"`` with ``tax_behavior`` from the shipping cost.

**Which registration a line is filed under** (`assign_registrations`). A registration is a candidate
when it is active on the line's ``tax_date`` (``active_from <= tax_date < expires_at``; dates decide,
not ``status``) and covers the line's place: its own country (and state in the US, where Stripe
registers per state), or, for the EU schemes, the member states the scheme covers. Stripe's
documentation reachable here does not state a precedence between a standard registration and an
OSS/IOSS one, so finlab follows the EU VAT rules the schemes implement (Council Directive
2006/112/EC, Title XII chapter 6, arts. 358-369x; European Commission, "Guide to the VAT One Stop
Shop"): a business that uses a scheme declares *every* supply the scheme covers through it, in
every member state, even where it also holds a local registration. Each line gets exactly one
registration, the first that applies of:

1. ``oss_non_union``: sales to consumers in every EU member state (sellers not established in the EU);
2. ``oss_union``: sales to consumers in EU member states other than the registration's own country
   (sales inside that country are domestic and go on its standard return);
3. a standard (or US state) registration of the line's own jurisdiction;
4. ``ioss``: sales to consumers in every EU member state (imported goods up to EUR 150; finlab cannot
   tell an import from the data, so IOSS only takes what nothing above takes);
5. none: ``registration_type = "not_registered"``.

A buyer with a tax id on the transaction (``customer_details.tax_ids``) buys as a business: the OSS
and IOSS schemes cover sales to consumers only, so business lines go to the standard registration or
to "not registered". Ties (two standard registrations active at once) go to the latest
``active_from``, then the smallest id.

Examples
--------
>>> from finlab.frames import build
>>> transactions = build("tax.transaction", [
...     {"id": "tax_1", "type": "transaction", "currency": "usd", "tax_date": 1705312800,
...      "posted_at": 1705312800, "customer_details": {"address": {"country": "US", "state": "CA"}}},
... ])
>>> items = build("tax.transaction_line_item", [
...     {"id": "tax_li_1", "_parent": "tax_1", "_currency": "usd", "amount": 1499, "amount_tax": 148,
...      "tax_behavior": "exclusive", "type": "transaction"},
... ])
>>> liability = tax_liability(tax_lines(items, transactions), period="quarter")
>>> liability.select("jurisdiction", "period_start", "taxable_amount", "gross_amount", "net_tax").row(0)
('US-CA', datetime.date(2024, 1, 1), 1499, 1647, 148)
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

from finlab.analysis import (
    PERIOD_DTYPE,
    UTC_DATETIME,
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
    "BASES",
    "EXPIRY_WARNING",
    "FILING_PERIODS",
    "FILING_SUMMARY_SCHEMA",
    "FLAG_EXPIRING",
    "FLAG_UNREGISTERED",
    "NOT_REGISTERED",
    "REGISTERED_LINES_SCHEMA",
    "REGISTRATION_FLAGS_SCHEMA",
    "TAX_LIABILITY_SCHEMA",
    "TAX_LINES_SCHEMA",
    "UNKNOWN_JURISDICTION",
    "assign_registrations",
    "filing_summary",
    "registration_flags",
    "tax_liability",
    "tax_lines",
]

FILING_PERIODS = ("month", "quarter", "year")
#: The dates a filing period can follow: ``posted_at`` (Stripe's liability date, the default) or
#: ``tax_date`` (the date whose rates applied).
BASES = ("posted_at", "tax_date")
#: Registrations that expire this soon after ``now`` are flagged.
EXPIRY_WARNING = timedelta(days=60)
FLAG_UNREGISTERED = "collected_without_registration"
FLAG_EXPIRING = "registration_expiring"
#: ``registration_type`` of lines (and filing-summary rows) that no registration covers.
NOT_REGISTERED = "not_registered"
#: Jurisdiction label of lines whose customer address has no country.
UNKNOWN_JURISDICTION = "unknown"

TAX_MONEY = ("taxable_amount", "gross_amount", "tax_collected", "tax_reversed", "net_tax")
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

#: `TAX_LINES_SCHEMA` plus the one registration each line is filed under (null: not registered).
REGISTERED_LINES_SCHEMA = pl.Schema(
    {
        **TAX_LINES_SCHEMA,
        "registration": pl.String(),
        "registration_type": pl.String(),
        "registration_country": pl.String(),
        "registration_state": pl.String(),
    }
)

#: One row per filing period, jurisdiction, currency and tax behavior.
TAX_LIABILITY_SCHEMA = pl.Schema(
    {
        "period_start": PERIOD_DTYPE,
        "period_end": PERIOD_DTYPE,
        **dict.fromkeys(JURISDICTION, pl.String()),
        "currency": pl.String(),
        "tax_behavior": pl.String(),
        "line_count": pl.Int64(),
        **money_schema(*TAX_MONEY),
    }
)

#: One row per flag: tax collected without an active registration (per jurisdiction and currency),
#: or a registration expiring within `EXPIRY_WARNING` of ``now``.
REGISTRATION_FLAGS_SCHEMA = pl.Schema(
    {
        "flag": pl.String(),
        **dict.fromkeys(JURISDICTION, pl.String()),
        "registration": pl.String(),
        "expires_at": UTC_DATETIME,
        "days_to_expiry": pl.Int64(),
        "currency": pl.String(),
        "line_count": pl.Int64(),
        "first_tax_date": UTC_DATETIME,
        "last_tax_date": UTC_DATETIME,
        **money_schema("tax_collected"),
    }
)

#: One row per registration (null: not registered), filing period and currency with activity.
FILING_SUMMARY_SCHEMA = pl.Schema(
    {
        "registration": pl.String(),
        "country": pl.String(),
        "state": pl.String(),
        "registration_type": pl.String(),
        "period_start": PERIOD_DTYPE,
        "period_end": PERIOD_DTYPE,
        "currency": pl.String(),
        "line_count": pl.Int64(),
        **money_schema(*TAX_MONEY),
    }
)

EU_MEMBER_STATES = tuple(
    sorted("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())
)
#: Precedence of the registration types that cover sales to consumers across EU member states
#: (lower first); every other type covers its own jurisdiction at `OWN_JURISDICTION_RANK`.
EU_SCHEME_RANKS = {"oss_non_union": 1, "oss_union": 2, "ioss": 4}
OWN_JURISDICTION_RANK = 3

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
REGISTRATION_COLUMNS = ("id", "country", "state", "registration_type", "active_from", "expires_at")
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
        _code("customer_details_address_country").alias("country"),
        _code("customer_details_address_state").alias("state"),
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


def tax_liability(
    lines: pl.DataFrame, *, period: str = "month", timezone: str = "UTC", basis: str = "posted_at"
) -> pl.DataFrame:
    """Taxable, gross, tax collected, reversed and net per period, jurisdiction, currency and behavior.

    ``lines`` come from `tax_lines` (filter them first, e.g. with :func:`finlab.analysis.between` on
    the ``basis`` column). Periods are ``month``, ``quarter`` or ``year`` in ``timezone``, by
    ``basis`` (``posted_at`` or ``tax_date``, see the module docstring).
    Returns a frame with `TAX_LIABILITY_SCHEMA`, sorted by period, jurisdiction, currency, behavior.
    """
    keys = ["period_start", *JURISDICTION, "currency", "tax_behavior"]
    liability = (
        _bucketed(lines, period, timezone, basis)
        .group_by(keys)
        .agg(*_tax_sums())
        .with_columns(period_end(pl.col("period_start"), period), _net_tax())
        .with_columns(major_columns(TAX_MONEY))
        .sort(keys, nulls_last=True)
    )
    return conform(liability, TAX_LIABILITY_SCHEMA)


def assign_registrations(lines: pl.DataFrame, registrations: pl.DataFrame) -> pl.DataFrame:
    """Each line with the one registration it is filed under (see the module docstring for the order).

    Lines no registration covers get a null ``registration`` and ``registration_type =
    "not_registered"``. Returns a frame with `REGISTERED_LINES_SCHEMA`, in the order of ``lines``.
    """
    require_columns(lines, TAX_LINES_SCHEMA.names(), LINES)
    require_columns(registrations, REGISTRATION_COLUMNS, "a tax.registration frame")
    numbered = lines.with_row_index("_line")
    chosen = (
        numbered.select("_line", "tax_date", "business_customer", key=_registration_key("country", "state"))
        .join(_coverage(registrations), on="key", how="inner")
        .filter(_active_on_tax_date() & (pl.col("business_customer").not_() | pl.col("covers_businesses")))
        .sort(["_line", "rank", "active_from", "registration"], descending=[False, False, True, False])
        .unique(subset="_line", keep="first")
        .select(
            "_line",
            "registration",
            "registration_type",
            pl.col("country").alias("registration_country"),
            pl.col("state").alias("registration_state"),
        )
    )
    registered = numbered.join(chosen, on="_line", how="left").sort("_line")
    registered = registered.with_columns(pl.col("registration_type").fill_null(NOT_REGISTERED))
    return conform(registered, REGISTERED_LINES_SCHEMA)


def registration_flags(
    lines: pl.DataFrame, registrations: pl.DataFrame, *, now: date | datetime
) -> pl.DataFrame:
    """What needs attention: tax collected without a registration, and registrations about to expire.

    (a) ``collected_without_registration``: lines of type ``transaction`` with non-zero tax that no
    registration active on their tax date covers (`assign_registrations`), per jurisdiction and
    currency. (b) ``registration_expiring``: registrations with ``now <= expires_at < now + 60 days``.
    ``now`` is a parameter (a date or naive datetime means UTC), never the clock.
    Returns a frame with `REGISTRATION_FLAGS_SCHEMA`.
    """
    registered = assign_registrations(lines, registrations)
    flags = pl.concat(
        [_unregistered(registered), _expiring(registrations, to_utc(now, "UTC"))],
        how="diagonal_relaxed",
    )
    return conform(flags, REGISTRATION_FLAGS_SCHEMA)


def filing_summary(
    lines: pl.DataFrame,
    registrations: pl.DataFrame,
    *,
    period: str,
    timezone: str = "UTC",
    basis: str = "posted_at",
) -> pl.DataFrame:
    """What to file per registration: taxable, gross, collected, reversed and net per period and currency.

    Every line counts under exactly one registration (`assign_registrations`), or in the row whose
    ``registration`` is null and ``registration_type`` is ``"not_registered"``. So per currency and
    period the rows add up to `tax_liability`. Periods without any line are not listed.
    Returns a frame with `FILING_SUMMARY_SCHEMA`, sorted by registration (not registered last),
    period and currency.
    """
    registered = assign_registrations(lines, registrations).with_columns(
        country=pl.col("registration_country"), state=pl.col("registration_state")
    )
    keys = ["registration", "period_start", "currency"]
    summary = (
        _bucketed(registered, period, timezone, basis)
        .group_by(keys)
        .agg(*_tax_sums(), *(pl.col(c).first() for c in ("country", "state", "registration_type")))
        .with_columns(period_end(pl.col("period_start"), period), _net_tax())
        .with_columns(major_columns(TAX_MONEY))
        .sort(keys, nulls_last=True)
    )
    return conform(summary, FILING_SUMMARY_SCHEMA)


def _code(column: str) -> pl.Expr:
    """Upper-case country or state code; empty strings become null."""
    code = pl.col(column).str.strip_chars().str.to_uppercase()
    return pl.when(code != "").then(code)


def _jurisdiction() -> pl.Expr:
    """``"US-CA"`` where the address has a state, ``"FR"`` where it has none."""
    with_state = pl.concat_str("country", pl.lit("-"), "state")
    return (
        pl.when(pl.col("country").is_null())
        .then(pl.lit(UNKNOWN_JURISDICTION))
        .otherwise(pl.coalesce(with_state, "country"))
    )


def _registration_key(country: str, state: str) -> pl.Expr:
    """Country, plus the state in the US (where Stripe registers per state)."""
    us = pl.col(country) == "US"
    return pl.when(us).then(pl.concat_str(country, pl.lit("-"), state)).otherwise(pl.col(country))


def _registrations(registrations: pl.DataFrame) -> pl.DataFrame:
    """Registrations with normalized codes and their own jurisdiction ``key``."""
    return registrations.select(
        pl.col("id").alias("registration"),
        _code("country").alias("country"),
        _code("state").alias("state"),
        "registration_type",
        "active_from",
        "expires_at",
    ).with_columns(key=_registration_key("country", "state"))


def _coverage(registrations: pl.DataFrame) -> pl.DataFrame:
    """One row per registration and jurisdiction ``key`` it covers, with its ``rank`` (lower wins).

    EU schemes cover every member state (``oss_union`` all but its own) and only sales to consumers;
    every other registration covers its own key, for any buyer.
    """
    kind = pl.col("registration_type")
    scheme = kind.is_in(list(EU_SCHEME_RANKS))
    union_states = pl.lit(list(EU_MEMBER_STATES)).list.set_difference(pl.concat_list("country"))
    keys = (
        pl.when(kind == "oss_union")
        .then(union_states)
        .when(scheme)
        .then(pl.lit(list(EU_MEMBER_STATES)))
        .otherwise(pl.concat_list("key"))
    )
    rank = kind.replace_strict(EU_SCHEME_RANKS, default=OWN_JURISDICTION_RANK, return_dtype=pl.Int64)
    return (
        _registrations(registrations)
        .with_columns(key=keys, rank=rank, covers_businesses=scheme.not_().fill_null(True))
        .explode("key")
    )


def _bucketed(lines: pl.DataFrame, period: str, timezone: str, basis: str) -> pl.DataFrame:
    require_columns(lines, TAX_LINES_SCHEMA.names(), LINES)
    check_period(period, FILING_PERIODS)
    check_timezone(timezone)
    if basis not in BASES:
        msg = f"Unknown period basis {basis!r}. Use 'posted_at' (when the liability posts) or 'tax_date'."
        raise ConfigurationError(msg)
    return lines.with_columns(period_start(basis, period, timezone))


def _tax_sums() -> list[pl.Expr]:
    tax = pl.col("amount_tax")
    return [
        pl.len().alias("line_count"),
        pl.col("taxable_amount").sum(),
        pl.col("gross_amount").sum(),
        tax.filter(pl.col("type") == "transaction").sum().alias("tax_collected"),
        tax.filter(pl.col("type") == "reversal").sum().alias("tax_reversed"),
    ]


def _net_tax() -> pl.Expr:
    return (pl.col("tax_collected") + pl.col("tax_reversed")).alias("net_tax")


def _active_on_tax_date() -> pl.Expr:
    started = pl.col("active_from").is_null() | (pl.col("active_from") <= pl.col("tax_date"))
    not_ended = pl.col("expires_at").is_null() | (pl.col("tax_date") < pl.col("expires_at"))
    return started & not_ended


def _unregistered(registered: pl.DataFrame) -> pl.DataFrame:
    """Collected tax per jurisdiction and currency on lines no registration covered."""
    collected = registered.filter(
        (pl.col("type") == "transaction") & (pl.col("amount_tax") != 0) & pl.col("registration").is_null()
    )
    keys = [*JURISDICTION, "currency"]
    return (
        collected.group_by(keys)
        .agg(
            line_count=pl.len(),
            first_tax_date=pl.col("tax_date").min(),
            last_tax_date=pl.col("tax_date").max(),
            tax_collected=pl.col("amount_tax").sum(),
        )
        .with_columns(major_columns(["tax_collected"]), flag=pl.lit(FLAG_UNREGISTERED))
        .sort(keys, nulls_last=True)
    )


def _expiring(registrations: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """Registrations whose ``expires_at`` falls within `EXPIRY_WARNING` after ``now``."""
    require_columns(registrations, REGISTRATION_COLUMNS, "a tax.registration frame")
    now_lit = pl.lit(now, UTC_DATETIME)
    soon = (pl.col("expires_at") >= now_lit) & (pl.col("expires_at") < now_lit + EXPIRY_WARNING)
    return (
        _registrations(registrations)
        .filter(soon)
        .with_columns(
            jurisdiction=pl.coalesce(pl.col("key"), pl.lit(UNKNOWN_JURISDICTION)),
            days_to_expiry=(pl.col("expires_at") - now_lit).dt.total_days(),
            flag=pl.lit(FLAG_EXPIRING),
        )
        .sort("expires_at", "registration")
    )
