"""Another client's bursts that come back on a schedule: learn their period, keep out of the next one.

A merchant's own batch jobs (a cron job every minute, a nightly export) take the account's whole rate
limit for a while, again and again. Reacting costs every request in flight when a burst starts: at
300 ms round trips, a few 429s each time. `Recurrence` learns the bursts a controller saw (when each
began and ended, by the time its requests were sent) and, once three in a row came at one period,
names the next one so the controller can go quiet just before it:

- the *onset* of a burst is when finlab sent the first request of a run of 429s; its *end* is when it
  sent the first request admitted again;
- a prediction needs three onsets whose two intervals agree within `TOLERANCE`;
- the quiet spell starts `LEAD` seconds before the predicted onset and ends at the longest burst seen;
- every other quiet spell sends one request just after the predicted onset. A 429 confirms the burst;
  an answer means the schedule has moved later, or the bursts have stopped: after `MISSES` such answers
  in a row the schedule is forgotten (and learned again if the bursts come back).

Examples
--------
>>> bursts = Recurrence()
>>> for onset in (10.0, 15.0, 20.0):
...     bursts.began(onset)
...     bursts.ended(onset + 2.0)
>>> bursts.next_quiet(21.0)
Quiet(start=24.85, end=27.0, probe=25.05)
"""

from __future__ import annotations

import collections
import statistics
from dataclasses import dataclass

#: Seconds before a predicted onset at which finlab stops sending.
LEAD = 0.15
#: Onsets in a row that make a schedule.
ONSETS = 4
#: Two intervals between onsets agree if they differ by at most this share of the period (or 0.25 s).
TOLERANCE = 0.1
#: Seconds before a refused request just ahead of a quiet spell at which its burst is taken to begin.
EARLY = 0.05
#: Where in a predicted burst (a share of its longest duration) the confirming request goes: late, where
#: the other client's requests fill the server's whole window.
PROBE_AT = 0.7
#: Admitted confirming requests in a row after which the schedule is forgotten.
MISSES = 2
#: A schedule shorter than this is not a schedule (a burst that outlasts its pause looks like one).
MIN_PERIOD = 3.0


@dataclass(frozen=True)
class Quiet:
    """A spell in which to send nothing, from ``start`` to ``end``, but one request at ``probe`` (if set)."""

    start: float
    end: float
    probe: float | None


class Recurrence:
    """The onsets and ends of the bursts seen, and the next burst they predict (module docstring)."""

    def __init__(self) -> None:
        self.onsets: collections.deque[float] = collections.deque(maxlen=ONSETS)
        self.durations: collections.deque[float] = collections.deque(maxlen=3)
        self.anchor: float | None = None  # the latest onset seen or confirmed
        self.open = False  # whether the burst at the anchor has not ended yet
        self.period: float | None = None
        self.misses = 0
        self.spells = 0  # quiet spells handed out since the schedule was learned

    def began(self, onset: float) -> None:
        """A burst began: finlab's first refused request went at ``onset``.

        On schedule it moves the phase (and half its error per cycle into the period); off schedule it
        counts towards a schedule of its own, which replaces the old one once `ONSETS` agree.
        """
        if self.onsets and onset - self.onsets[-1] < MIN_PERIOD:
            return  # the same burst, seen again after a pause or a quiet spell
        self.onsets.append(onset)
        self.open = True
        if self.period is not None and self.expects(onset):
            self._track(onset)
            self.misses = 0
            return
        period = self._period()
        if period is not None:
            self.anchor, self.period, self.misses = onset, period, 0
        elif self.period is None:
            self.anchor = onset

    def early(self, sent: float) -> None:
        """A request sent at ``sent``, just before a quiet spell, was refused: the burst came early."""
        if self.anchor is not None and self.period is not None:
            self.anchor = min(sent - EARLY, self._due(sent))  # the phase only: early 429s are noisy

    def overran(self, sent: float) -> None:
        """A request sent at ``sent``, just after a quiet spell, was refused: the burst is still on.

        Its end, when it comes, is measured from the predicted onset.
        """
        if self.anchor is not None and self.period is not None:
            self.anchor, self.open = self._due(sent - self.duration()), True

    def duration(self) -> float:
        """How long a burst lasts: the median of the last ones seen (0 before any)."""
        return max(self.durations) if self.durations else 0.0

    def ended(self, end: float) -> None:
        """The burst that began last is over: finlab's first request admitted again went at ``end``."""
        if self.open and self.anchor is not None and 0 < end - self.anchor < (self.period or MIN_PERIOD * 5):
            self.durations.append(end - self.anchor)
        self.open = False

    def expects(self, onset: float) -> bool:
        """Whether a burst beginning at ``onset`` is one the schedule predicts (True without a schedule)."""
        if self.anchor is None or self.period is None:
            return True
        cycles = round((onset - self.anchor) / self.period)
        return abs(onset - self.anchor - cycles * self.period) <= TOLERANCE * self.period

    def confirmed(self) -> None:
        """The confirming request was refused: the burst came on schedule."""
        self.misses = 0

    def missed(self) -> None:
        """The confirming request was admitted: the burst did not come (after `MISSES`: forget them)."""
        self.misses += 1
        if self.misses >= MISSES:
            self.forget()

    def forget(self) -> None:
        """Drop the schedule: bursts are reacted to again until three more agree."""
        self.onsets.clear()
        self.durations.clear()
        self.anchor = self.period = None
        self.misses = self.spells = 0

    def next_quiet(self, now: float) -> Quiet | None:
        """The quiet spell of the next predicted burst still to come after ``now`` (None: no schedule)."""
        if self.anchor is None or self.period is None or not self.durations:
            return None
        onset, duration = self.anchor + self.period, self.duration()
        while onset + duration <= now:
            onset += self.period
        self.spells += 1
        probe = onset + PROBE_AT * duration if self.spells % 2 == 0 else None
        return Quiet(round(onset - LEAD, 9), round(onset + duration, 9), probe and round(probe, 9))

    def _due(self, moment: float) -> float:
        """The predicted onset nearest ``moment``."""
        assert self.anchor is not None and self.period is not None
        return self.anchor + self.period * round((moment - self.anchor) / self.period)

    def _track(self, onset: float) -> None:
        """Move the phase to an onset seen, and half of its error per cycle into the period."""
        assert self.anchor is not None and self.period is not None
        cycles = round((onset - self.anchor) / self.period)
        if cycles >= 1:
            self.period += (onset - self.anchor - cycles * self.period) / cycles / 2
        self.anchor = onset

    def _period(self) -> float | None:
        """The period the last `ONSETS` onsets agree on, if they do."""
        if len(self.onsets) < ONSETS:
            return None
        onsets = list(self.onsets)
        intervals = [b - a for a, b in zip(onsets, onsets[1:], strict=False)]
        period = sum(intervals) / len(intervals)
        agree = max(intervals) - min(intervals) <= max(TOLERANCE * period, 0.25)
        return period if agree and period >= MIN_PERIOD else None
