"""Stripe Tax liability per filing period and jurisdiction, and what to look at in registrations.

Start from `tax_lines`: it joins ``tax.transaction_line_item`` rows to their ``tax.transaction``
(``tax_transaction`` -> ``id``) for the jurisdiction (customer address country, and state where there
is one), the tax date and the type. Every other function takes those joined lines. Choices:

- A line's ``type`` is its own (``transaction`` or ``reversal``), else its transaction's. Reversals
  carry negative amounts: ``tax_reversed`` is negative and ``net_tax = tax_collected + tax_reversed``.
  Lines of an unknown type count in ``taxable_amount`` but in neither tax column.
- ``taxable_amount`` is the sum of Stripe's line ``amount``, which *includes* the tax when
  ``tax_behavior`` is ``inclusive``: that is why ``tax_behavior`` is a group key.
- Lines whose transaction is not in the transactions frame are left out (they have no date and no
  jurisdiction). Shipping-cost tax sits on the transaction, not on a line item, and is not counted.
- A registration covers a line when the country matches (and the state, for the US: Stripe registers
  per state only there) and ``active_from <= tax_date < expires_at`` (no ``expires_at``: open-ended).
  An EU OSS or IOSS registration (``oss_union``, ``oss_non_union``, ``ioss``) covers every EU member
  state, as it does for Stripe Tax. Dates decide, not ``status``, so the answer holds for any past
  tax date.

Examples
--------
>>> from finlab.frames import build
>>> transactions = build("tax.transaction", [
...     {"id": "tax_1", "type": "transaction", "currency": "usd", "tax_date": 1705312800,
...      "customer_details": {"address": {"country": "US", "state": "CA"}}},
... ])
>>> items = build("tax.transaction_line_item", [
...     {"id": "tax_li_1", "_parent": "tax_1", "_currency": "usd", "amount": 1499, "amount_tax": 148,
...      "tax_behavior": "exclusive", "type": "transaction"},
... ])
>>> liability = tax_liability(tax_lines(items, transactions), period="quarter")
>>> liability.select("jurisdiction", "period_start", "taxable_amount", "net_tax").row(0)
('US-CA', datetime.date(2024, 1, 1), 1499, 148)
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

__all__ = [
    "EXPIRY_WARNING",
    "FILING_PERIODS",
    "FILING_SUMMARY_SCHEMA",
    "FLAG_EXPIRING",
    "FLAG_UNREGISTERED",
    "REGISTRATION_FLAGS_SCHEMA",
    "TAX_LIABILITY_SCHEMA",
    "TAX_LINES_SCHEMA",
    "UNKNOWN_JURISDICTION",
    "filing_summary",
    "registration_flags",
    "tax_liability",
    "tax_lines",
]

FILING_PERIODS = ("month", "quarter", "year")
#: Registrations that expire this soon after ``now`` are flagged.
EXPIRY_WARNING = timedelta(days=60)
FLAG_UNREGISTERED = "collected_without_registration"
FLAG_EXPIRING = "registration_expiring"
#: Jurisdiction label of lines whose customer address has no country.
UNKNOWN_JURISDICTION = "unknown"

TAX_MONEY = ("taxable_amount", "tax_collected", "tax_reversed", "net_tax")
JURISDICTION = ["jurisdiction", "country", "state"]

#: One row per line item, with its transaction's jurisdiction and tax date.
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
        "tax_date": UTC_DATETIME,
        "amount": pl.Int64(),
        "amount_tax": pl.Int64(),
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

#: One row per registration, filing period and currency with activity.
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

#: Registration types through which one registration covers every EU member state.
EU_WIDE_TYPES = ("ioss", "oss_non_union", "oss_union")
EU_MEMBER_STATES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)

LINE_ITEM_COLUMNS = ("id", "tax_transaction", "type", "tax_behavior", "currency", "amount", "amount_tax")
TRANSACTION_COLUMNS = (
    "id",
    "type",
    "currency",
    "customer_details_address_country",
    "customer_details_address_state",
    "tax_date",
)
REGISTRATION_COLUMNS = ("id", "country", "state", "registration_type", "active_from", "expires_at")
LINES = "tax lines: call tax_lines(line_items, transactions) first"


def tax_lines(line_items: pl.DataFrame, transactions: pl.DataFrame) -> pl.DataFrame:
    """Line items joined to their transactions' jurisdiction, tax date and type.

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
        "tax_date",
    ).unique(subset="tax_transaction", keep="first", maintain_order=True)
    joined = line_items.join(parents, on="tax_transaction", how="inner").with_columns(
        type=pl.coalesce("type", "transaction_type"),
        currency=pl.coalesce("currency", "transaction_currency"),
        jurisdiction=_jurisdiction(),
    )
    return conform(joined, TAX_LINES_SCHEMA)


def tax_liability(lines: pl.DataFrame, *, period: str = "month", timezone: str = "UTC") -> pl.DataFrame:
    """Taxable amount, tax collected, reversed and net per period, jurisdiction, currency, tax behavior.

    ``lines`` come from `tax_lines` (filter them first, e.g. with :func:`finlab.analysis.between` on
    ``tax_date``). Periods are ``month``, ``quarter`` or ``year`` in ``timezone``.
    Returns a frame with `TAX_LIABILITY_SCHEMA`, sorted by period, jurisdiction, currency, behavior.
    """
    keys = ["period_start", *JURISDICTION, "currency", "tax_behavior"]
    liability = (
        _bucketed(lines, period, timezone)
        .group_by(keys)
        .agg(*_tax_sums())
        .with_columns(period_end(pl.col("period_start"), period), _net_tax())
        .with_columns(major_columns(TAX_MONEY))
        .sort(keys, nulls_last=True)
    )
    return conform(liability, TAX_LIABILITY_SCHEMA)


def registration_flags(
    lines: pl.DataFrame, registrations: pl.DataFrame, *, now: date | datetime
) -> pl.DataFrame:
    """What needs attention: tax collected without a registration, and registrations about to expire.

    (a) ``collected_without_registration``: lines of type ``transaction`` with non-zero tax whose
    jurisdiction had no registration active on their tax date, per jurisdiction and currency.
    (b) ``registration_expiring``: registrations with ``now <= expires_at < now + 60 days``.
    ``now`` is a parameter (a date or naive datetime means UTC), never the clock.
    Returns a frame with `REGISTRATION_FLAGS_SCHEMA`.
    """
    require_columns(lines, TAX_LINES_SCHEMA.names(), LINES)
    require_columns(registrations, REGISTRATION_COLUMNS, "a tax.registration frame")
    flags = pl.concat(
        [_unregistered(lines, registrations), _expiring(registrations, to_utc(now, "UTC"))],
        how="diagonal_relaxed",
    )
    return conform(flags, REGISTRATION_FLAGS_SCHEMA)


def filing_summary(
    lines: pl.DataFrame, registrations: pl.DataFrame, *, period: str, timezone: str = "UTC"
) -> pl.DataFrame:
    """What to file per registration: taxable, collected, reversed and net tax per period and currency.

    A line belongs to every registration that covers it (see the module docstring); periods without
    any line are not listed. Returns a frame with `FILING_SUMMARY_SCHEMA`.
    """
    require_columns(registrations, REGISTRATION_COLUMNS, "a tax.registration frame")
    covered = _bucketed(lines, period, timezone).join(_coverage(registrations), on="key", how="inner")
    keys = ["registration", "period_start", "currency"]
    summary = (
        covered.filter(_active_on_tax_date())
        .group_by(keys)
        .agg(
            *_tax_sums(), *(pl.col(c).first() for c in ("country_right", "state_right", "registration_type"))
        )
        .rename({"country_right": "country", "state_right": "state"})
        .with_columns(period_end(pl.col("period_start"), period), _net_tax())
        .with_columns(major_columns(TAX_MONEY))
        .sort(keys)
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
    """One row per registration and jurisdiction ``key`` it covers (every EU state for OSS/IOSS)."""
    eu_wide = pl.col("registration_type").is_in(EU_WIDE_TYPES)
    keys = pl.when(eu_wide).then(pl.lit(sorted(EU_MEMBER_STATES))).otherwise(pl.concat_list("key"))
    return _registrations(registrations).with_columns(key=keys).explode("key")


def _bucketed(lines: pl.DataFrame, period: str, timezone: str) -> pl.DataFrame:
    require_columns(lines, TAX_LINES_SCHEMA.names(), LINES)
    check_period(period, FILING_PERIODS)
    check_timezone(timezone)
    return lines.with_columns(
        period_start("tax_date", period, timezone), key=_registration_key("country", "state")
    )


def _tax_sums() -> list[pl.Expr]:
    tax = pl.col("amount_tax")
    return [
        pl.len().alias("line_count"),
        pl.col("amount").sum().alias("taxable_amount"),
        tax.filter(pl.col("type") == "transaction").sum().alias("tax_collected"),
        tax.filter(pl.col("type") == "reversal").sum().alias("tax_reversed"),
    ]


def _net_tax() -> pl.Expr:
    return (pl.col("tax_collected") + pl.col("tax_reversed")).alias("net_tax")


def _active_on_tax_date() -> pl.Expr:
    started = pl.col("active_from").is_null() | (pl.col("active_from") <= pl.col("tax_date"))
    not_ended = pl.col("expires_at").is_null() | (pl.col("tax_date") < pl.col("expires_at"))
    return started & not_ended


def _unregistered(lines: pl.DataFrame, registrations: pl.DataFrame) -> pl.DataFrame:
    """Collected tax per jurisdiction and currency on lines no registration covered."""
    collected = lines.filter((pl.col("type") == "transaction") & (pl.col("amount_tax") != 0)).with_columns(
        key=_registration_key("country", "state")
    )
    covered = (
        collected.join(_coverage(registrations), on="key", how="inner")
        .filter(_active_on_tax_date())
        .select("id")
        .unique()
    )
    keys = [*JURISDICTION, "currency"]
    return (
        collected.join(covered, on="id", how="anti")
        .group_by(keys)
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
