"""The demo account's calendar: two years of history before ``now`` and helpers to place events."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

DEMO_NOW = datetime(2026, 11, 1, tzinfo=UTC)
COMPANY = "Northwind Labs"
DAY = 86_400
_HISTORY_DAYS = 730
#: Minutes between the last bank refresh (also the balances' ``as_of``) and ``now``.
_REFRESH_LAG = 20 * 60


@dataclass(frozen=True)
class Calendar:
    """The 24 months of history before ``end`` and helpers to place events in them."""

    end: int

    @property
    def start(self) -> int:
        return self.end - _HISTORY_DAYS * DAY

    @property
    def cutoff(self) -> int:
        """Time of the last bank refresh; bank lines stop ten minutes before it."""
        return self.end - _REFRESH_LAG

    @property
    def days(self) -> list[date]:
        first = datetime.fromtimestamp(self.start, UTC).date()
        last = datetime.fromtimestamp(self.cutoff - 600, UTC).date()
        return [first + timedelta(days=k) for k in range((last - first).days + 1)]

    def months(self) -> list[tuple[int, int]]:
        return sorted({(day.year, day.month) for day in self.days})

    def at(self, day: date, hour: float) -> int:
        return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() + hour * 3_600)

    def growth(self, moment: int) -> float:
        """Business size at ``moment``: 1.0 two years ago, 1.6 now."""
        return 1 + 0.6 * (moment - self.start) / (self.end - self.start)


def weekday_before(day: date) -> date:
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def weekday_after(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def month_day(year: int, month: int, day: int) -> date:
    """Return ``day`` of the month, clamped to its last day (31 -> 28 in February)."""
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))
