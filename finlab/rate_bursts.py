"""Another client's bursts that come back on a schedule: learn their period, keep out of the next one.

A merchant's own batch jobs (a cron job every minute, a nightly export) take the account's whole rate
limit for a while, again and again. Reacting costs every request in flight when a burst starts: at
300 ms round trips, a few 429s each time. `Recurrence` learns the bursts a controller saw and names a
quiet spell around the next one, so the controller can go quiet just before it:

- the *onset* of a burst is when finlab sent the first request of a run of 429s. Once three onsets
  are evenly spaced, the newest among them, the first spell is set from them, starting `FIRST_LEAD`
  early: an onset is seen only once the server's window has filled, a while after the burst began.
  Up to `STRAYS` other onsets may come between (runs of 429s that were finlab's own rate), and the
  shortest such period wins (bursts two periods apart are evenly spaced too). Onsets wander by a few
  tenths of a second (how soon the server refuses depends on finlab's own rate just before), so three
  evenly spaced ones may be two or three periods apart with the ones between off by more than
  `TOLERANCE`: if onsets lie within `DIVIDED_TOLERANCE` of every point a half or a third of the period
  predicts between them, that is the period. Where no three agree, the last `FIT_ONSETS` onsets
  lying near a line through them (`FIT_TOLERANCE`) make the period its slope: on the loopback
  server onsets wandered by ±0.25 s, and three agreed only after six bursts. A burst lasts the
  median of the last three lengths seen, and a spell at most `SPARE` seconds longer;
- from then on the spell's two edges track the bursts by what happens at them. A 429 to a request
  sent just before the spell (the burst came early) moves the next spell's start out by `MISS_STEP`
  and by how early it came (at most `MAX_MOVE`); a 429 just after the spell (the burst outlasted it)
  moves the end out the same way, as soon as it is heard. An edge that let no 429 through moves in
  (`START_RELAX`, `END_RELAX`, doubled each further spell after `FAST_AFTER` in a row, up to
  `MAX_RELAX`), so each settles where it lets a 429 through now and then, and one far off comes back.
  A burst that came early to a spell longer than it (by `MISS_STEP`) whose end let no 429 through
  moves the end in with the start: on the loopback a first period 2.7% long walked the spells late,
  the starts moved out and the ends, hearing nothing, stayed, and 2-s bursts had 3-s spells for 80 s;
- the period is the slope through the centres of the last `FIT_SPELLS` spells, which the edges keep
  on the bursts: a few hundredths of a second off makes a spell drift off its burst within minutes.
  Bursts off schedule that make a period more than `TOLERANCE` apart replace it (`_replaces`), and
  `HALFWAY` of them in a row halfway between the spells halve it: a schedule at twice the period
  sees only the bursts it misses, one period (its own) apart;
- once `PROBE_EVERY` spells in a row let no 429 through at their edges, each spell sends one request
  late in the spell. A 429 confirms the burst; an answer means the bursts moved or stopped: after
  `MISSES` such answers in a row the schedule is forgotten (and learned again if the bursts come back).

Examples
--------
>>> bursts = Recurrence()
>>> for onset in (10.0, 15.0, 20.0):
...     bursts.began(onset)
...     bursts.ended(onset + 2.0)
>>> bursts.next_quiet(21.0)
Quiet(start=24.6, end=27.0, probe=None)
>>> bursts.early(24.5)  # the burst came before the spell: the next one comes earlier
>>> bursts.next_quiet(27.0)
Quiet(start=29.38, end=31.78, probe=None)
"""

from __future__ import annotations

import collections
import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: Seconds before the first predicted onset at which finlab stops sending: the onsets seen are late.
FIRST_LEAD = 0.4
#: Onsets kept: a schedule is three of them evenly spaced, the newest among them. Runs of 429s that
#: were not bursts (finlab's own rate too high for a moment) come between, and are passed over.
ONSETS = 8
#: Two intervals between onsets agree if they differ by at most this share of the later one.
TOLERANCE = 0.05
#: An onset this share of a half or a third of the period from where it predicts one counts as there.
DIVIDED_TOLERANCE = 0.1
#: Or the last this many onsets lie within `FIT_TOLERANCE` of the period of a line through them: onsets
#: wander by a few tenths of a second, so three may take many bursts to agree.
FIT_ONSETS, FIT_TOLERANCE = 4, 0.06
#: Onsets between three evenly spaced ones that may be passed over (runs of 429s that were no burst).
STRAYS = 2
#: An onset this share of the period before or after a spell is one the schedule expects.
SLACK = 0.1
#: Seconds an edge that let a 429 through moves out for the next spell ...
MISS_STEP = 0.12
#: ... plus how far past the edge the 429s went, up to this.
MAX_MOVE = 0.1
#: Seconds the start and the end of a spell that let no 429 through move in for the next one ...
START_RELAX, END_RELAX = 0.04, 0.01
#: ... doubled for each further spell in a row that let none through after `FAST_AFTER`, up to
#: `MAX_RELAX`: an edge far off (a first period a little wrong walks a spell off its burst) comes back
#: within a few cycles. A larger step overshoots the edge by more: each 0.01 s is about one more 429
#: at 16 requests/s. At 0.04 s an edge 1.2 s off (a period 1% short) never came back: it lost ground
#: to the period each spell.
FAST_AFTER, MAX_RELAX = 5, 0.08
#: The period is fitted through the centres of up to this many spells (at least `MIN_FIT`).
FIT_SPELLS, MIN_FIT = 16, 4
#: Seconds a spell may be longer than a burst lasts (`Recurrence.duration`).
SPARE = 1.0
#: The shortest quiet spell, in seconds.
MIN_SPELL = 0.5
#: Where in a spell (a share of its length) the confirming request goes: late, where the other
#: client's requests fill the server's whole window.
PROBE_AT = 0.7
#: Spells in a row with no 429 at their edges after which each sends a confirming request.
PROBE_EVERY = 6
#: Admitted confirming requests in a row after which the schedule is forgotten.
MISSES = 3
#: A schedule shorter than this is not a schedule (a burst that outlasts its pause looks like one).
MIN_PERIOD = 3.0
#: Bursts off schedule in a row, each halfway between two spells, that halve the period.
HALFWAY = 2
#: A new period this many times the schedule's, or more, does not replace it (`Recurrence._replaces`).
LONGER = 1.5


@dataclass(frozen=True)
class Quiet:
    """A spell in which to send nothing, from ``start`` to ``end``, but one request at ``probe`` (if set)."""

    start: float
    end: float
    probe: float | None


class Recurrence:
    """The bursts seen, and the quiet spell around the next one they predict (module docstring)."""

    onsets: collections.deque[float]
    durations: collections.deque[float]  # the last bursts' lengths
    anchor: float | None  # the latest onset seen
    open: bool  # whether the burst at the anchor has not ended yet
    period: float | None
    spell: Quiet | None  # the current or next quiet spell
    previous: Quiet | None  # the spell before it
    centres: collections.deque[float]  # of the last spells, for the period's fit
    came_early: float  # what the current spell's edges let through
    outlasted: float
    tight_start: int  # spells in a row whose start, or end, let no 429 through
    tight_end: int
    halfway: int  # bursts off schedule in a row that began halfway between two spells
    end_relax: float  # how far the current spell's end moved in
    misses: int  # confirming requests admitted in a row
    unheard: int  # spells since a 429 last showed the burst there

    def __init__(self) -> None:
        self.forget()

    def began(self, onset: float) -> None:
        """A burst began: finlab's first refused request went at ``onset``.

        On schedule it changes nothing (the edges track the phase), but a burst seen after its spell
        began with it: its length counts from the spell's start, or a spell too short would measure it
        short and stay so. Off schedule it counts towards a schedule of its own, once three are evenly
        spaced (`_period`); that replaces the old one if it is shorter or the old one went unheard
        (`_replaces`).
        """
        self.anchor, self.open = onset, True
        if self.spell is not None and self.expects(onset):
            assert self.period is not None
            into = self._into(onset)
            if into < self.period / 2:  # seen late, after a spell too short: the burst began with the spell
                self.anchor = onset - into
            return
        if self._halfway(onset):
            return
        self.onsets.append(onset)
        period = self._period()
        if period is not None and self._replaces(period):
            self.period, self.spell, self.misses = period, None, 0
            self.centres.clear()

    def _halfway(self, onset: float) -> bool:
        """Whether a burst off schedule began halfway between two spells, the `HALFWAY`-th in a row: the
        schedule covers every other burst, so its period is halved (True) and the spells start again.

        Only the bursts between the spells are seen, so their onsets make the same long period again.
        """
        if self.spell is None or self.period is None or self.period / 2 < MIN_PERIOD:
            return False
        if abs(self._into(onset) - self.period / 2) > SLACK * self.period:
            self.halfway = 0
            return False
        self.halfway += 1
        if self.halfway < HALFWAY:
            return False
        self.period, self.spell, self.halfway = self.period / 2, None, 0
        self.centres.clear()
        return True

    def _replaces(self, period: float) -> bool:
        """Whether a new ``period`` replaces the schedule's.

        A schedule whose spells went unheard is replaced. One whose spells still hear their bursts is
        replaced by a period more than `TOLERANCE` apart (its spells drift off the bursts that made the
        new one: a first period 10% long, from onsets that wandered, never came back), unless that is
        `LONGER` times it or more: onsets kept from minutes before made long false ones, and a period
        twice as long protects every other burst.
        """
        old = self.period
        if old is None or self.unheard >= PROBE_EVERY:
            return True
        return abs(period - old) > TOLERANCE * old and period < LONGER * old

    def ended(self, end: float) -> None:
        """The burst that began last is over: finlab's first request admitted again went at ``end``.

        Unless a quiet spell ended between: finlab sent nothing then, so the burst may have ended earlier.
        """
        anchor, spell, was_open, self.open = self.anchor, self.previous, self.open, False
        if not was_open or anchor is None or not 0 < end - anchor < (self.period or MIN_PERIOD * 5):
            return
        if spell is None or not anchor < spell.end <= end:  # a spell between: finlab was not sending
            self.durations.append(end - anchor)

    def early(self, sent: float) -> None:
        """A request sent at ``sent``, just before the quiet spell, was refused: the burst came early."""
        if self.spell is not None:  # else a new schedule replaced the spell meanwhile
            self.came_early = max(self.came_early, self.spell.start - sent)
            self.confirmed()

    def overran(self, sent: float) -> None:
        """A request sent at ``sent``, just after the last quiet spell, was refused: the burst outlasted it.

        It is heard after the next spell was set: that spell's end moves out at once.
        """
        if self.previous is None or self.spell is None:
            return
        self.confirmed()
        over = min(sent - self.previous.end, MAX_MOVE)
        if over <= self.outlasted:
            return
        move = over - self.outlasted + (0.0 if self.outlasted else MISS_STEP + self.end_relax)
        self.outlasted = over
        spell = self.spell
        end = spell.end + move
        start = max(spell.start, end - self._longest())
        probe = spell.probe if spell.probe is not None and spell.probe > start else None
        self.spell = Quiet(start, end, probe)

    def duration(self) -> float:
        """How long a burst lasts: the median of the last ones seen (0 before any)."""
        return statistics.median(self.durations) if self.durations else 0.0

    def _longest(self) -> float:
        """The longest a spell may be: `SPARE` seconds more than a burst lasts."""
        return self.duration() + SPARE

    def expects(self, onset: float) -> bool:
        """Whether a burst beginning at ``onset`` is one the schedule predicts (True without a schedule)."""
        if self.spell is None or self.period is None:
            return True
        into = self._into(onset)
        slack = SLACK * self.period
        return into <= self.spell.end - self.spell.start + slack or into >= self.period - slack

    def _into(self, onset: float) -> float:
        """Seconds from the start of the spell (one period earlier or later) before ``onset``."""
        assert self.spell is not None
        assert self.period is not None
        return (onset - self.spell.start) % self.period

    def confirmed(self) -> None:
        """The burst came on schedule: the confirming request, or one next to a spell, was refused."""
        self.misses = self.unheard = 0

    def missed(self) -> None:
        """The confirming request was admitted: the burst did not come (after `MISSES`: forget them)."""
        self.misses += 1
        if self.misses >= MISSES:
            self.forget()

    def forget(self) -> None:
        """Drop the schedule (or start without one): bursts are reacted to until three are evenly spaced."""
        self.onsets = collections.deque(maxlen=ONSETS)
        self.durations = collections.deque(maxlen=3)
        self.anchor = self.period = self.spell = self.previous = None
        self.open = False
        self.centres = collections.deque(maxlen=FIT_SPELLS)
        self.came_early = self.outlasted = self.end_relax = 0.0
        self.tight_start = self.tight_end = self.misses = self.unheard = self.halfway = 0

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
        early, outlasted, self.came_early, self.outlasted = self.came_early, self.outlasted, 0.0, 0.0
        self.tight_start = 0 if early else self.tight_start + 1
        self.tight_end = 0 if outlasted else self.tight_end + 1
        self.end_relax = _relax(END_RELAX, self.tight_end)
        start_move = -(min(early, MAX_MOVE) + MISS_STEP) if early else _relax(START_RELAX, self.tight_start)
        start = spell.start + self.period + start_move
        end = spell.end + self.period - self.end_relax  # an overrun, heard later, moves it out (`overran`)
        if early and self.tight_end and spell.end - spell.start > self.duration() + MISS_STEP:
            end = spell.end + self.period + start_move  # the burst came early, no longer: shift
        if end - start > self._longest():  # the edge quiet the longest moves in to the length
            if self.tight_start >= self.tight_end:
                start = end - self._longest()
            else:
                end = start + self._longest()
        if end - start < MIN_SPELL:
            middle = (start + end) / 2
            start, end = middle - MIN_SPELL / 2, middle + MIN_SPELL / 2
        self.unheard += 1
        probe = start + PROBE_AT * (end - start) if self.unheard >= PROBE_EVERY else None
        self.spell = Quiet(round(start, 9), round(end, 9), probe and round(probe, 9))

    @staticmethod
    def _shifted(spell: Quiet, seconds: float) -> Quiet:
        probe = None if spell.probe is None else spell.probe + seconds
        return Quiet(spell.start + seconds, spell.end + seconds, probe)

    def _period(self) -> float | None:
        """The shortest period of three evenly spaced onsets, the newest one last (None: none are).

        The shortest: onsets two periods apart are evenly spaced too. At most `STRAYS` other onsets
        may come between the three.
        """
        onsets = list(self.onsets)
        newest, period = onsets[-1], None
        for i, j in itertools.combinations(range(len(onsets) - 1), 2):
            later, earlier = newest - onsets[j], onsets[j] - onsets[i]
            agree = abs(later - earlier) <= TOLERANCE * later
            if agree and min(later, earlier) >= MIN_PERIOD and len(onsets) - 3 - i <= STRAYS:
                period = min(period or math.inf, _divided(onsets, onsets[i], (newest - onsets[i]) / 2))
        if period is None and len(onsets) >= FIT_ONSETS:
            period = _fitted(onsets[-FIT_ONSETS:])
        return period


def _divided(onsets: list[float], first: float, period: float) -> float:
    """A third or a half of ``period`` if the ``onsets`` show every burst it predicts after ``first``."""
    for part in (3, 2):
        shorter = period / part
        predicted = [first + k * shorter for k in range(1, 2 * part) if k % part]
        near = DIVIDED_TOLERANCE * shorter
        if shorter >= MIN_PERIOD and all(any(abs(o - p) <= near for o in onsets) for p in predicted):
            return shorter
    return period


def _fitted(onsets: list[float]) -> float | None:
    """The slope of the line through ``onsets`` one period apart, if each lies within `FIT_TOLERANCE`
    of the period from it (None: not)."""
    period = _slope(onsets)
    if period is None or period < MIN_PERIOD:
        return None
    mean_k, mean_t = (len(onsets) - 1) / 2, sum(onsets) / len(onsets)
    off = [abs(t - mean_t - (k - mean_k) * period) for k, t in enumerate(onsets)]
    return period if max(off) <= FIT_TOLERANCE * period else None


def _relax(step: float, tight: int) -> float:
    """How far an edge that let no 429 through in ``tight`` spells in a row moves in."""
    return min(MAX_RELAX, step * 2.0 ** max(0, tight - FAST_AFTER))


def _centre(spell: Quiet) -> float:
    return (spell.start + spell.end) / 2


def _slope(centres: Sequence[float]) -> float | None:
    """The least-squares period through spell centres (or onsets) one period apart (None: too few)."""
    n = len(centres)
    if n < MIN_FIT:
        return None
    mean_k, mean_c = (n - 1) / 2, sum(centres) / n
    covariance = sum((k - mean_k) * (c - mean_c) for k, c in enumerate(centres))
    return covariance / sum((k - mean_k) ** 2 for k in range(n))
