"""Another client's bursts that come back on a schedule: learn their period, keep out of the next one.

A merchant's own batch jobs (a cron job every minute, a nightly export) take the account's whole rate
limit for a while, again and again. Reacting costs every request in flight when a burst starts: at
300 ms round trips, a few 429s each time. `Recurrence` learns the bursts a controller saw and names a
quiet spell around the next one, so the controller can go quiet just before it:

- the *onset* of a burst is when finlab sent the first request of a run of 429s. Once `ONSETS` onsets
  in a row came at one period, the first spell is set from them, starting `FIRST_LEAD` early: an
  onset is seen only once the server's window has filled, a while after the burst began;
- from then on the spell's two edges track the bursts by what happens at them. A 429 to a request
  sent just before the spell (the burst came early) moves the next spell's start out by `MISS_STEP`
  and by how early it came (at most `MAX_MOVE`); a 429 just after the spell (the burst outlasted it)
  moves the end out the same way, as soon as it is heard. An edge that let no 429 through moves in
  (`START_RELAX`, `END_RELAX`), so each settles where it lets a 429 through now and then;
- the period is the slope through the centres of the last `FIT_SPELLS` spells, which the edges keep
  on the bursts: a few hundredths of a second off makes a spell drift off its burst within minutes;
- every `PROBE_EVERY`-th spell sends one request late in the spell. A 429 confirms the burst; an
  answer means the bursts moved or stopped: after `MISSES` such answers in a row the schedule is
  forgotten (and learned again if the bursts come back).

Examples
--------
>>> bursts = Recurrence()
>>> for onset in (10.0, 15.0, 20.0, 25.0):
...     bursts.began(onset)
...     bursts.ended(onset + 2.0)
>>> bursts.next_quiet(26.0)
Quiet(start=29.6, end=32.0, probe=None)
>>> bursts.early(29.5)  # the burst came before the spell: the next one starts earlier
>>> bursts.next_quiet(32.0)
Quiet(start=34.38, end=36.97, probe=None)
"""

from __future__ import annotations

import collections
import itertools
from dataclasses import dataclass

#: Seconds before the first predicted onset at which finlab stops sending: the onsets seen are late.
FIRST_LEAD = 0.4
#: Onsets in a row that make a schedule.
ONSETS = 4
#: Two intervals between onsets agree if they differ by at most this share of the period (or 0.25 s).
TOLERANCE = 0.1
#: Seconds an edge that let a 429 through moves out for the next spell ...
MISS_STEP = 0.12
#: ... plus how far past the edge the 429s went, up to this.
MAX_MOVE = 0.1
#: Seconds the start and the end of a spell that let no 429 through move in for the next one.
START_RELAX, END_RELAX = 0.08, 0.03
#: The period is fitted through the centres of up to this many spells (at least `MIN_FIT`).
FIT_SPELLS, MIN_FIT = 16, 4
#: The shortest quiet spell, in seconds.
MIN_SPELL = 0.5
#: Where in a spell (a share of its length) the confirming request goes: late, where the other
#: client's requests fill the server's whole window.
PROBE_AT = 0.7
#: One spell in this many sends a confirming request.
PROBE_EVERY = 4
#: Admitted confirming requests in a row after which the schedule is forgotten.
MISSES = 3
#: A schedule shorter than this is not a schedule (a burst that outlasts its pause looks like one).
MIN_PERIOD = 3.0


@dataclass(frozen=True)
class Quiet:
    """A spell in which to send nothing, from ``start`` to ``end``, but one request at ``probe`` (if set)."""

    start: float
    end: float
    probe: float | None


class Recurrence:
    """The bursts seen, and the quiet spell around the next one they predict (module docstring)."""

    def __init__(self) -> None:
        self.onsets: collections.deque[float] = collections.deque(maxlen=ONSETS)
        self.durations: collections.deque[float] = collections.deque(maxlen=3)
        self.anchor: float | None = None  # the latest onset seen
        self.open = False  # whether the burst at the anchor has not ended yet
        self.period: float | None = None
        self.spell: Quiet | None = None  # the current or next quiet spell
        self.previous: Quiet | None = None  # the spell before it
        self.centres: collections.deque[float] = collections.deque(maxlen=FIT_SPELLS)
        self.came_early = self.outlasted = 0.0  # what the current spell's edges let through
        self.misses = self.spells = 0

    def began(self, onset: float) -> None:
        """A burst began: finlab's first refused request went at ``onset``.

        On schedule it changes nothing (the edges track the phase); off schedule it counts towards a
        schedule of its own, which replaces the old one once `ONSETS` agree.
        """
        if self.onsets and onset - self.onsets[-1] < MIN_PERIOD:
            return  # the same burst, seen again after a pause or a quiet spell
        self.anchor, self.open = onset, True
        if self.spell is not None and self.expects(onset):
            return
        self.onsets.append(onset)
        period = self._period()
        if period is not None:
            self.period, self.spell, self.misses = period, None, 0

    def ended(self, end: float) -> None:
        """The burst that began last is over: finlab's first request admitted again went at ``end``."""
        if self.open and self.anchor is not None and 0 < end - self.anchor < (self.period or MIN_PERIOD * 5):
            self.durations.append(end - self.anchor)
        self.open = False

    def early(self, sent: float) -> None:
        """A request sent at ``sent``, just before the quiet spell, was refused: the burst came early."""
        if self.spell is not None:  # else a new schedule replaced the spell meanwhile
            self.came_early = max(self.came_early, self.spell.start - sent)

    def overran(self, sent: float) -> None:
        """A request sent at ``sent``, just after the last quiet spell, was refused: the burst outlasted it.

        It is heard after the next spell was set: that spell's end moves out at once.
        """
        if self.previous is None or self.spell is None:
            return
        over = min(sent - self.previous.end, MAX_MOVE)
        if over <= self.outlasted:
            return
        move = over - self.outlasted + (0.0 if self.outlasted else MISS_STEP + END_RELAX)
        self.outlasted = over
        spell = self.spell
        self.spell = Quiet(spell.start, spell.end + move, spell.probe)

    def duration(self) -> float:
        """How long a burst lasts: the longest of the last ones seen (0 before any)."""
        return max(self.durations) if self.durations else 0.0

    def expects(self, onset: float) -> bool:
        """Whether a burst beginning at ``onset`` is one the schedule predicts (True without a schedule)."""
        if self.spell is None or self.period is None:
            return True
        into = (onset - self.spell.start) % self.period
        slack = TOLERANCE * self.period
        return into <= self.spell.end - self.spell.start + slack or into >= self.period - slack

    def confirmed(self) -> None:
        """The confirming request was refused: the burst came on schedule."""
        self.misses = 0

    def missed(self) -> None:
        """The confirming request was admitted: the burst did not come (after `MISSES`: forget them)."""
        self.misses += 1
        if self.misses >= MISSES:
            self.forget()

    def forget(self) -> None:
        """Drop the schedule: bursts are reacted to again until `ONSETS` more agree."""
        self.onsets.clear()
        self.durations.clear()
        self.anchor = self.period = self.spell = self.previous = None
        self.centres.clear()
        self.came_early = self.outlasted = 0.0
        self.misses = self.spells = 0

    def next_quiet(self, now: float) -> Quiet | None:
        """The quiet spell of the next predicted burst not over at ``now`` (None: no schedule)."""
        if self.period is None or not self.durations or self.anchor is None:
            return None
        if self.spell is None:
            onset = self.anchor + self.period
            self.spell = Quiet(onset - FIRST_LEAD, onset + self.duration(), None)
        elif self.spell.end <= now:
            self._advance()
        while self.spell.end <= now:  # spells nobody was there to see: no edge learned anything
            self.centres.append(_centre(self.spell))
            self.spell = self._shifted(self.spell, self.period)
        return self.spell

    def _advance(self) -> None:
        """The spell after the current one, its edges moved by what they let through."""
        assert self.spell is not None
        assert self.period is not None
        spell = self.previous = self.spell
        self.centres.append(_centre(spell))
        self.period = _slope(self.centres) or self.period
        early, self.came_early, self.outlasted = self.came_early, 0.0, 0.0
        start = spell.start + self.period + (-(min(early, MAX_MOVE) + MISS_STEP) if early else START_RELAX)
        end = spell.end + self.period - END_RELAX  # an overrun, heard later, moves it out (`overran`)
        if end - start < MIN_SPELL:
            middle = (start + end) / 2
            start, end = middle - MIN_SPELL / 2, middle + MIN_SPELL / 2
        self.spells += 1
        probe = start + PROBE_AT * (end - start) if self.spells % PROBE_EVERY == 0 else None
        self.spell = Quiet(round(start, 9), round(end, 9), probe and round(probe, 9))

    @staticmethod
    def _shifted(spell: Quiet, seconds: float) -> Quiet:
        probe = None if spell.probe is None else spell.probe + seconds
        return Quiet(spell.start + seconds, spell.end + seconds, probe)

    def _period(self) -> float | None:
        """The period the last `ONSETS` onsets agree on, if they do."""
        if len(self.onsets) < ONSETS:
            return None
        intervals = [b - a for a, b in itertools.pairwise(self.onsets)]
        period = sum(intervals) / len(intervals)
        agree = max(intervals) - min(intervals) <= max(TOLERANCE * period, 0.25)
        return period if agree and period >= MIN_PERIOD else None


def _centre(spell: Quiet) -> float:
    return (spell.start + spell.end) / 2


def _slope(centres: collections.deque[float]) -> float | None:
    """The least-squares period through spell centres one period apart (None: too few to tell)."""
    n = len(centres)
    if n < MIN_FIT:
        return None
    mean_k, mean_c = (n - 1) / 2, sum(centres) / n
    covariance = sum((k - mean_k) * (c - mean_c) for k, c in enumerate(centres))
    return covariance / sum((k - mean_k) ** 2 for k in range(n))
