"""Pure frame -> frame analysis, and the vocabulary the analysis modules share.

The modules:

- :mod:`finlab.analysis.cash_flow`: inflow, outflow, net and running balance of Financial Connections
  accounts; top counterparties; the transaction filter dashboards use.
- :mod:`finlab.analysis.tax`: Stripe Tax liability per filing period and jurisdiction, registration
  gaps and expiries, per-registration filing summaries.
- :mod:`finlab.analysis.carbon`: Stripe Climate spend, tonnes, cost per tonne and removal-pathway mix.
- :mod:`finlab.analysis.operations`: identity verification funnel, forwarding health, webhook
  endpoints, crypto onramp sessions.

Conventions every function follows:

- Money stays Int64 minor units through every aggregation, and ``currency`` is always a group key.
  Each money output column ``x`` has a Decimal ``x_major`` beside it, for display only.
- Timestamps are UTC-aware. Bucketing functions take ``period`` and ``timezone`` (IANA) and bucket in
  local time. A period is reported as ``period_start`` and ``period_end`` (exclusive): local calendar
  *dates* (``pl.Date``), so the schema does not depend on the timezone. Weeks start on Monday.
- Every output frame has a fixed schema, also when empty: each module defines them as constants.

Examples
--------
>>> from datetime import UTC, datetime
>>> frame = pl.DataFrame({"at": [datetime(2024, 3, 31, 23, 30, tzinfo=UTC)]})
>>> frame.select(period_start("at", "day", "Europe/Paris")).item()
datetime.date(2024, 4, 1)
>>> frame.select(period_start("at", "day", "America/New_York")).item()
datetime.date(2024, 3, 31)
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, date, datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from finlab.errors import ConfigurationError
from finlab.money import MAJOR_DTYPE, major_expr
from finlab.resources import MAJOR_SUFFIX

__all__ = [
    "MAJOR_SUFFIX",
    "PERIODS",
    "PERIOD_DTYPE",
    "UTC_DATETIME",
    "Period",
    "between",
    "check_period",
    "check_timezone",
    "conform",
    "major_columns",
    "money_schema",
    "period_end",
    "period_start",
    "require_columns",
    "to_utc",
]

Period = Literal["day", "week", "month", "quarter", "year"]
#: Every period a bucketing function may accept, with its Polars duration.
PERIODS: dict[str, str] = {"day": "1d", "week": "1w", "month": "1mo", "quarter": "1q", "year": "1y"}

#: Polars type of ``period_start`` / ``period_end`` columns.
PERIOD_DTYPE = pl.Date()
UTC_DATETIME = pl.Datetime("us", "UTC")


def check_period(period: str, allowed: Collection[str] = tuple(PERIODS)) -> str:
    """Return ``period`` if it is one of ``allowed``, else raise `ConfigurationError`."""
    if period not in allowed:
        msg = f"Unknown period {period!r}. Use one of: {', '.join(allowed)}."
        raise ConfigurationError(msg)
    return period


def check_timezone(timezone: str) -> str:
    """Return ``timezone`` if it is an IANA zone name (``"Europe/Paris"``), else raise."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        msg = f"Unknown timezone {timezone!r}. Pass an IANA name such as 'UTC' or 'Europe/Paris'."
        raise ConfigurationError(msg) from None
    return timezone


def period_start(column: str, period: str, timezone: str) -> pl.Expr:
    """Local calendar date on which the ``period`` holding each UTC timestamp starts in ``timezone``.

    The timestamp is converted to local wall time and truncated there, so a DST change never moves
    a bucket boundary off local midnight.
    """
    every = PERIODS[check_period(period)]
    local = pl.col(column).dt.convert_time_zone(check_timezone(timezone)).dt.replace_time_zone(None)
    return local.dt.truncate(every).dt.date().alias("period_start")


def period_end(start: pl.Expr, period: str) -> pl.Expr:
    """First local date after the period that starts on ``start`` (the exclusive end)."""
    return start.dt.offset_by(PERIODS[check_period(period)]).alias("period_end")


def to_utc(value: date | datetime, timezone: str) -> datetime:
    """An instant in UTC: a date means local midnight, a naive datetime local wall time, in ``timezone``.

    >>> to_utc(date(2024, 7, 1), "Europe/Paris")
    datetime.datetime(2024, 6, 30, 22, 0, tzinfo=datetime.timezone.utc)
    """
    zone = ZoneInfo(check_timezone(timezone))
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def between(
    column: str,
    start: date | datetime | None = None,
    end: date | datetime | None = None,
    timezone: str = "UTC",
) -> pl.Expr:
    """Boolean expression: ``start <= column < end`` (either bound may be None).

    Dates and naive datetimes are read in ``timezone`` (see `to_utc`); the end is exclusive, so
    ``end=date(2024, 2, 1)`` stops before February. Works on any UTC timestamp column, e.g.
    ``lines.filter(between("tax_date", date(2024, 1, 1), date(2024, 4, 1), "Europe/Paris"))``.
    """
    condition = pl.lit(True)
    if start is not None:
        condition &= pl.col(column) >= pl.lit(to_utc(start, timezone), UTC_DATETIME)
    if end is not None:
        condition &= pl.col(column) < pl.lit(to_utc(end, timezone), UTC_DATETIME)
    return condition


def major_columns(money: Iterable[str], currency: str = "currency") -> list[pl.Expr]:
    """``<name>_major`` Decimal display columns for Int64 minor-unit columns (JPY stays in yen)."""
    return [major_expr(pl.col(name), pl.col(currency)).alias(name + MAJOR_SUFFIX) for name in money]


def money_schema(*names: str) -> dict[str, pl.DataType]:
    """Schema entries for Int64 minor-unit columns followed by their Decimal ``_major`` columns."""
    fields: dict[str, pl.DataType] = dict.fromkeys(names, pl.Int64())
    fields.update(dict.fromkeys((name + MAJOR_SUFFIX for name in names), MAJOR_DTYPE))
    return fields


def conform(frame: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    """Exactly ``schema``'s columns, in its order and types (an empty frame keeps them too)."""
    return frame.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])


def require_columns(frame: pl.DataFrame | pl.LazyFrame, columns: Iterable[str], what: str) -> None:
    """Raise `ConfigurationError` naming the missing columns when ``frame`` is not ``what``."""
    names = frame.collect_schema().names()
    missing = [name for name in columns if name not in names]
    if missing:
        msg = f"Expected {what}, but the frame lacks the columns {', '.join(missing)}."
        raise ConfigurationError(msg)
