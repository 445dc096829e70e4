"""Which registration each tax line is filed under, and which registrations need attention.

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

**What needs attention** (`registration_flags`): tax collected where no registration covers the
line, and registrations about to expire.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

from finlab.analysis import UTC_DATETIME, conform, major_columns, money_schema, require_columns, to_utc
from finlab.analysis.tax.lines import (
    JURISDICTION,
    LINES,
    TAX_LINES_SCHEMA,
    UNKNOWN_JURISDICTION,
    place_code,
)

__all__ = [
    "EXPIRY_WARNING",
    "FLAG_EXPIRING",
    "FLAG_UNREGISTERED",
    "NOT_REGISTERED",
    "REGISTERED_LINES_SCHEMA",
    "REGISTRATION_FLAGS_SCHEMA",
    "assign_registrations",
    "registration_flags",
]

#: Registrations that expire this soon after ``now`` are flagged.
EXPIRY_WARNING = timedelta(days=60)
FLAG_UNREGISTERED = "collected_without_registration"
FLAG_EXPIRING = "registration_expiring"
#: ``registration_type`` of lines (and filing-summary rows) that no registration covers.
NOT_REGISTERED = "not_registered"

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

EU_MEMBER_STATES = tuple(
    sorted("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())
)
#: Precedence of the registration types that cover sales to consumers across EU member states
#: (lower first); every other type covers its own jurisdiction at `OWN_JURISDICTION_RANK`.
EU_SCHEME_RANKS = {"oss_non_union": 1, "oss_union": 2, "ioss": 4}
OWN_JURISDICTION_RANK = 3

REGISTRATION_COLUMNS = ("id", "country", "state", "registration_type", "active_from", "expires_at")


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


def _registration_key(country: str, state: str) -> pl.Expr:
    """Country, plus the state in the US (where Stripe registers per state)."""
    us = pl.col(country) == "US"
    return pl.when(us).then(pl.concat_str(country, pl.lit("-"), state)).otherwise(pl.col(country))


def _registrations(registrations: pl.DataFrame) -> pl.DataFrame:
    """Registrations with normalized codes and their own jurisdiction ``key``."""
    return registrations.select(
        pl.col("id").alias("registration"),
        place_code("country").alias("country"),
        place_code("state").alias("state"),
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
