"""What callers pass, checked before any request: date bounds and Stripe ids.

Examples
--------
>>> to_epoch("2026-01-31", "start")
1769817600
>>> time_window("2026-01-01", "2026-02-01")
{'gte': 1767225600, 'lt': 1769904000}
>>> check_ids("fca_1", "fca_", "Financial Connections account")
['fca_1']
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from finlab import resources
from finlab.errors import ConfigurationError
from finlab.resources import STORED, Resource

#: A date bound as callers may give it.
Instant = datetime | date | str | int | None


def to_epoch(value: Instant, name: str) -> int | None:
    """Seconds since the epoch for a date bound.

    Aware datetimes and ISO strings with an offset are taken as given; dates and ``YYYY-MM-DD``
    strings mean midnight UTC; ints are epoch seconds. Naive datetimes are refused, because the same
    wall-clock time is a different instant in every timezone.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        msg = f"{name} must be a date or datetime, not a bool."
        raise ConfigurationError(msg)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = _parse_iso(value, name)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            msg = (
                f"{name}={value.isoformat()} has no timezone, so it names a different instant in every "
                "zone. Pass datetime(..., tzinfo=UTC), a zoneinfo-aware datetime, or a date."
            )
            raise ConfigurationError(msg)
        return int(value.timestamp())
    return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())


def _parse_iso(value: str, name: str) -> datetime | date:
    try:
        return datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
    except ValueError:
        msg = f"{name}={value!r} is not an ISO date: use '2026-01-31' or '2026-01-31T00:00:00+00:00'."
        raise ConfigurationError(msg) from None


def time_window(start: Instant, end: Instant) -> dict[str, int] | None:
    """``{"gte": start, "lt": end}`` in epoch seconds (None for no bound at all); start must be before end."""
    gte, lt = to_epoch(start, "start"), to_epoch(end, "end")
    if gte is not None and lt is not None and gte >= lt:
        msg = f"start must be before end (start={start!r}, end={end!r}); end is exclusive."
        raise ConfigurationError(msg)
    window = {k: v for k, v in (("gte", gte), ("lt", lt)) if v is not None}
    return window or None


def check_seconds(value: float, name: str) -> float:
    """A positive, finite number of seconds; anything else raises a clear error."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        msg = f"{name} must be a positive number of seconds, e.g. 600; got {value!r}."
        raise ConfigurationError(msg)
    return float(value)


def check_ids(ids: Iterable[str], prefix: str, what: str) -> list[str]:
    """The ids as a list, refusing any without Stripe's prefix for ``what`` or not shaped like an id."""
    if isinstance(ids, str):
        ids = [ids]
    checked = list(dict.fromkeys(ids))
    wrong = [i for i in checked if not isinstance(i, str) or not i.startswith(prefix)]
    if wrong:
        msg = (
            f"{what} ids start with {prefix!r}; these do not: {wrong[:5]!r}. Check you passed the right ids."
        )
        raise ConfigurationError(msg)
    return [resources.check_id(i, what) for i in checked]


def check_list_filters(res: Resource, filters: Mapping[str, Any]) -> Resource:
    """``res`` if it has a list endpoint that takes these filters, else a clear error."""
    if res.list_path is None or res.parent is not None:
        msg = f"{res.object} has no list endpoint in Stripe; use stripe.{res.method}(ids=...) instead."
        raise ConfigurationError(msg)
    unknown = sorted(set(filters) - res.filters)
    if unknown:
        allowed = ", ".join(sorted(res.filters)) or "none"
        msg = f"{res.object} lists take no filter {unknown!r}; allowed: {allowed}."
        raise ConfigurationError(msg)
    return res


def not_stored(resource: str, filtered: bool) -> ConfigurationError:
    """The error for ``as_of=`` on a frame that is not read from a store."""
    msg = (
        f"as_of= reads an earlier version of a stored frame, and {resource} "
        f"{'with these filters ' if filtered else ''}is not read from a store here. Stored: "
        f"{', '.join(STORED)}; connect(store=...) or set FINLAB_STORE to keep them."
    )
    return ConfigurationError(msg)
