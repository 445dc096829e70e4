"""How one rate limit of the budget reacts to Stripe's answers: a controller that shapes the rate's curve.

A 429 can come from finlab's own rate (another client of the account takes the rest of the limit:
*contention*) or at random (Stripe sheds load, a proxy misbehaves). The two differ in how they depend on
finlab's rate: contention 429s vanish below the capacity left over and rise steeply above it, random
429s come at the same share at any rate. A `Controller` therefore learns from every answer, not only
from 429s (the client reports admitted answers too, with the instant each request was sent):

- ``background``: the share of 429s among requests sent below the ceiling estimate, well after a cut,
  where contention causes none. A 429 cuts the rate only if the 429s of the last second are too many to
  be that background by chance (binomial tail below 1%): random 429s are ignored, contention ones not.
  Above 0.95 x the ceiling, while the background is low, a tail below 10% is enough: there a single
  429 is most likely the capacity's edge, and waiting for three would cost two more.
- ``ceiling``: at a cut where finlab sent more than the server admitted over the last second of sends, what
  it admitted: under contention, the capacity left over. At any other cut, the ceiling drops to the rate of
  the cut if higher (429s beyond chance there put the capacity below it; a ceiling measured on ten answers
  can be 10% high), unless the last second held too few answers (`MIN_ANSWERS`). The rate drops to
  ``backoff`` x the ceiling, climbs slowly back to it over half of ``recovery``, stays within 5% above it
  until 0.8 of ``recovery`` (unless random 429s are common, which make the ceiling no capacity), then climbs
  to the limit, which it reaches ``recovery`` seconds after the cut (after the last 429, if a schedule is
  kept: `Controller._hold`). 429s to requests sent before a cut, or answered within ``hold`` of it, are that
  same overload: no second cut.
- a cluster of 429s in a row (another client took the whole limit for a while; one admitted answer between
  them may have slipped through: `LEAKS`) pauses the rate for ``pause`` seconds instead (until it should
  be over, `BURST_EARLY`, if it is another client's burst of a length seen before and no schedule covers
  it), then probes; the first admitted answer to a request sent after the pause began resumes the climb
  the cluster interrupted. If the answers before the cluster were calm, a cut its first 429 made is
  undone; if they held many 429s already, the last cluster ended moments ago, or finlab began less than
  `HISTORY` s before (nothing showed its rate was fine: `UNTRIED_START`), the rate is finlab's own and the
  climb restarts under the admitted rate, the ceiling at most ``backoff`` lower (`Controller._pause`).
  Without any answer the rate is back at its limit ``recovery`` s after the last 429.
- clusters that come back on a schedule (`finlab.rate_bursts`) are kept out of: the rate goes quiet
  just before the next one is due and until it should be over. A 429 within `EDGE` of a quiet spell
  moves that edge; any other 429 is tested as above (three random clusters evenly spaced make a
  schedule too, and a schedule must not make every random 429 cut), and the capacity is measured
  only on sends after the last spell. A cluster that begins within `SETTLE` of resuming, or in
  finlab's first `HISTORY` s, is no onset the schedule learns from: its own clusters, one period
  apart by chance, made false schedules that protected no burst.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, replace

from finlab.rate_bursts import Quiet, Recurrence
from finlab.rate_curve import PROBE_SPAN, Curve

#: Admitted answers in a row a run of 429s survives where 429s are otherwise `RARE` and not crowded: on the
#: loopback a request slipped through another client's burst now and then, split its run, moved its onset.
LEAKS = 1
#: A cluster in finlab's first `HISTORY` s is cut from this share of its rate: the account was busy
#: from the start (from the rate itself, the climb met the capacity left again within a second).
UNTRIED_START = 0.65
#: Seconds of sends the significance test and the admitted rate look at.
TEST_WINDOW = ADMITTED_WINDOW = 1.0
#: The shortest span over which the admitted rate is measured.
MIN_SPAN = 0.5
#: Fewer answers than this in the window measure no capacity, nor lower the ceiling to the rate of a
#: cut: at a low rate each burst met unprotected did, a ratchet (a model seed: 3/s to 1.1/s in 2 min).
MIN_ANSWERS = 5
#: Fewer 429s than this measure a capacity only if finlab sent `KEPT_UP` of what its rate allowed: a
#: request not sent could have been admitted (one 429 among 7 sends read 7/s against 17/s, on the loopback).
SURE_429S, KEPT_UP = 2, 0.8
#: The server admitted less than finlab sent, beyond the background 429s and this share: a capacity.
MARGIN = 0.03
#: 429s this unlikely (binomial tail) under the background share count as caused by finlab's rate.
SIGNIFICANCE = 0.01
#: ... or this unlikely, for 429s sent above `CALM` x the capacity measured, background below `RARE`.
LOOSE, RARE = 0.1, 0.02
#: Weight of one answer in the background share (an exponential average over ~200 answers).
BACKGROUND_WEIGHT = 1 / 200
#: This many 429s in a row, with no admitted answer between, are a cluster: pause.
CLUSTER = 3
#: Share of the climb spent going slowly from the cut rate back to the ceiling estimate.
SLOW_SHARE = 0.5
#: ... then, while 429s are otherwise `RARE`, up to `NEAR` x the ceiling by this share of it: above the
#: capacity measured, a faster climb only buys 429s (each cut costs the requests in flight).
NEAR_SHARE, NEAR = 0.8, 1.05
#: Share of the ceiling below which the rate is calm: contention refuses little there, even in bunches.
CALM = 0.95
#: Seconds over which the server may still refuse requests for the ones sent before them.
ECHO = 1.0
#: A cluster within this many seconds of resuming from the last one is finlab's own rate, not a burst.
REPEAT = 2.0
#: A run of 429s this soon after resuming (or in finlab's first `HISTORY` s) is its own rate: no onset.
SETTLE = 0.5
#: Seconds of answers kept.
HISTORY = 3.0
#: Seconds next to a quiet spell in which a 429 tells of the burst's edge, not of finlab's rate.
EDGE = 0.25
#: Requests per second while probing after a pause.
PROBE_RATE = 2.0
#: Seconds before another client's burst should be over (onset + length) that the pause after its onset
#: ends, while no schedule keeps finlab out of it: probing all through a 2-s burst cost a 429 every 0.75 s.
BURST_EARLY = 0.5
#: 429s up to this many `recovery` s after a cut hold the climb near the ceiling (`Controller._hold`).
HOLD_FOR = 2.0


@dataclass(frozen=True)
class Settings:
    """A controller's knobs (see `finlab.budget.Budget` for their meaning)."""

    backoff: float
    min_rate: float
    recovery: float
    hold: float
    pause: float


@dataclass(frozen=True)
class _Onset:
    """Where a run of 429s began: the first one's send, the rate then, the 429 share and capacity before."""

    sent: float
    rate: float
    share: float
    capacity: float | None


@dataclass
class _Pause:
    """A pause after a cluster: since ``started``, until ``until``; then the ``resume`` curve, shifted."""

    started: float
    until: float
    resume: Curve
    over: float = -math.inf  # when the burst that began the cluster should be over (if known)


class Controller:
    """One limit's rate: at ``limit`` until the answers say otherwise (see the module docstring)."""

    def __init__(self, limit: float, settings: Settings) -> None:
        self.limit, self.settings = limit, settings
        self.base = self.curve = Curve([(-math.inf, limit)])  # the rate, without and with a quiet spell
        self.bursts = Recurrence()
        self.quiet: Quiet | None = None
        self.overrun = False  # whether the last quiet spell ended before its burst
        self.ceiling: float | None = None
        self.background = 0.0
        self.pending: list[bool] = []  # answers of a run of 429s not yet known not to be a cluster
        self.cut_at = self.resumed_at = -math.inf
        self.before_cut: tuple[Curve, float | None] | None = None
        self.streak, self.leaked = 0, 0  # 429s in a run, and admitted answers since its last 429
        self.onset = _Onset(0.0, limit, 0.0, None)
        self.paused: _Pause | None = None
        self.answers: collections.deque[tuple[float, bool]] = collections.deque()  # (sent, limited)
        self.first_sent = math.inf  # the first answered request's send

    def __call__(self, now: float) -> float:
        """The rate at ``now``."""
        return self.curve(now)

    def tokens(self, start: float, end: float) -> float:
        """Requests the rate hands out over ``[start, end]``."""
        return self.curve.tokens(start, end)

    def seconds_for(self, tokens: float, now: float) -> float:
        """Seconds from ``now`` until the rate has handed out ``tokens``, if nothing changes it."""
        return self.curve.seconds_for(tokens, now)

    def answer(self, now: float, limited: bool, sent: float | None = None) -> None:
        """Learn from one answer at ``now`` to a request ``sent`` then (default: now); 429 if ``limited``."""
        sent = now if sent is None else sent
        self.first_sent = min(self.first_sent, sent)
        self._arm(now)
        if limited:
            self._hold(sent)
        if self._spell_answer(sent, limited):
            self._arm(now)  # the spell's edges may have moved
            return
        self.answers.append((sent, limited))
        while self.answers[0][0] <= now - HISTORY:
            self.answers.popleft()
        if not limited:
            self.leaked += 1
            if self._slipped_through():
                self._learn(sent, limited=False, settles=False)
                return
            self.streak = 0
            self._learn(sent, limited=False)
            if self.paused is not None and sent >= self.paused.started:
                self._resume(now, sent)
            return
        self.streak, self.leaked = self.streak + 1, 0
        if self.streak == 1:
            self.onset = _Onset(sent, self.base(sent), self._limited_share(sent), self._capacity(sent))
        elif sent < self.onset.sent:  # answers come out of order: the run began with this request
            self.onset = replace(self.onset, sent=sent)
        if self.streak >= CLUSTER:
            self.pending.clear()
            self._pause(now)
            return
        self._learn(sent, limited=True)
        fresh = sent >= self.cut_at and now - self.cut_at >= self.settings.hold
        if self.paused is None and fresh and self._significant(sent):
            self._cut(now)

    # --- what the answers tell -----------------------------------------------------------------------

    def _learn(self, sent: float, *, limited: bool, settles: bool = True) -> None:
        """Fold an answer into the background share if it was sent at a calm time: an admitted one that
        ``settles`` the run of 429s before it (it was no cluster), with the run's answers."""
        if not self._calm(sent):
            return
        self.pending.append(limited)
        if limited or not settles:  # counted once an admitted answer shows they started no cluster
            return
        for outcome in self.pending:
            self.background += (outcome - self.background) * BACKGROUND_WEIGHT
        self.pending.clear()

    def _slipped_through(self) -> bool:
        """Whether the admitted answer just heard slipped through a burst: the run goes on (`LEAKS`)."""
        rare = self.background < RARE and not self._crowded()
        return self.streak > 0 and self.paused is None and self.leaked <= LEAKS and rare

    def _crowded(self) -> bool:
        """Whether 429s were common before the run began (beyond the background by more than a cut)."""
        return self.onset.share > self.background + 1 - self.settings.backoff

    def _calm(self, sent: float) -> bool:
        """Whether a request sent then tells the background share: below the ceiling (or the limit, while
        no capacity was measured), well after a cut."""
        ceiling = self.limit if self.ceiling is None else self.ceiling
        return (
            self.paused is None
            and sent - max(self.cut_at, self.resumed_at) >= ECHO
            and self.base(sent) <= CALM * ceiling
        )

    def _recent(self) -> list[bool]:
        newest = self.answers[-1][0]
        return [limited for sent, limited in self.answers if sent > newest - TEST_WINDOW]

    def _significant(self, sent: float) -> bool:
        """Whether the last second's 429s are too many to be the background share by chance (a looser
        test above the capacity measured, where a 429 is likely contention, while 429s are `RARE`)."""
        recent = self._recent()
        n, k, p = len(recent), sum(recent), self.background
        below = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k))
        loose = self.ceiling is not None and self.base(sent) > CALM * self.ceiling and p < RARE
        return 1 - below < (LOOSE if loose else SIGNIFICANCE)

    def _limited_share(self, before: float) -> float:
        """The share of 429s among the answers to requests sent before ``before``."""
        earlier = [limited for sent, limited in self.answers if sent < before]
        return sum(earlier) / max(1, len(earlier))

    def _capacity(self, before: float | None = None) -> float | None:
        """Admitted answers per second over the last `ADMITTED_WINDOW` of sends (``before`` then), if the
        server admitted fewer than finlab sent (beyond background and `MARGIN`; `SURE_429S`): the capacity
        left over. None if the window is too short, or shows finlab's demand, not the server's limit."""
        sends = [(sent, limited) for sent, limited in self.answers if before is None or sent < before]
        if not sends:
            return None
        newest = sends[-1][0] if before is None else before
        spell = self.bursts.previous
        silent = -math.inf if spell is None else spell.end  # a quiet spell's sends say nothing of capacity
        start = max(newest - ADMITTED_WINDOW, sends[0][0], self.resumed_at, silent)
        if newest - start < MIN_SPAN:
            return None
        window = [limited for sent, limited in sends if sent >= start]
        count, refused = len(window), sum(window)
        if count < MIN_ANSWERS or count - refused >= (1 - self.background - MARGIN) * count:
            return None
        if refused < SURE_429S and count < KEPT_UP * self.base.tokens(start, newest):
            return None
        return (count - refused) / (newest - start)

    # --- how the rate changes ------------------------------------------------------------------------

    def _cut(self, now: float) -> None:
        """Cut to ``backoff`` x the capacity the server showed, if finlab sent more than it admitted;
        otherwise to ``backoff`` x the ceiling (lowered to the rate of the cut) or the rate, and back."""
        self.before_cut = (self.base, self.ceiling)
        self.cut_at = now
        self._set_base(self._lowered(now, self.base(now), self._capacity()))

    def _lowered(self, now: float, rate: float, capacity: float | None, stepwise: bool = False) -> Curve:
        """The climb after ``rate`` proved too high, with the ``capacity`` measured (``stepwise``: _pause)."""
        if capacity is not None and capacity < rate:
            step = 0.0 if self.ceiling is None or not stepwise else self.settings.backoff * self.ceiling
            self.ceiling = max(self._floor(), capacity, step)
            start = self.ceiling * self.settings.backoff
        else:
            if self.ceiling is not None and len(self._recent()) >= MIN_ANSWERS:
                self.ceiling = max(self._floor(), min(self.ceiling, rate))  # the capacity is below it
            start = (rate if self.ceiling is None else min(self.ceiling, rate)) * self.settings.backoff
        return self._climb(now, max(self._floor(), start))

    def _pause(self, now: float) -> None:
        """Pause after a cluster (see the module docstring). A cluster taken for finlab's own rate lowers the
        ceiling by ``backoff`` at most: a probe slipped through a burst on the loopback, finlab resumed in it,
        and the rest of the burst read as 6/s against 15/s (the climb held near it for 80 s)."""
        s = self.settings
        if self.paused is None:
            resume, onset = self.base, self.onset
            recent, crowded = now - self.resumed_at < REPEAT, self._crowded()
            untried = onset.sent - self.first_sent < HISTORY  # nothing has shown the rate is fine yet
            own = not self.overrun and (recent or crowded or untried or not self.bursts.expects(onset.sent))
            if own:  # finlab's own rate: below what got through before
                rate = onset.rate * (UNTRIED_START if untried else 1.0)
                resume = self._lowered(now, rate, onset.capacity, stepwise=True)
            elif self.before_cut is not None and now - self.cut_at < s.hold:
                resume, self.ceiling = self.before_cut  # the burst, not finlab, caused that cut
            self.paused = _Pause(now, now + s.pause, resume)
            if not (onset.sent - self.resumed_at < SETTLE or untried):
                self.bursts.began(onset.sent)
            if not own and not self.overrun and self.quiet is None and self.bursts.durations:
                self.paused.over = onset.sent + self.bursts.duration() - BURST_EARLY
        self.paused.until = max(now + s.pause, self.paused.over)
        until, probe = self.paused.until, min(PROBE_RATE, self.limit)
        end = max(now + s.recovery, until)
        self._set_base(Curve([(now, 0.0), (until, 0.0), (until, probe), (end, self.limit)]))

    def _resume(self, now: float, sent: float) -> None:
        """Go on with the climb the cluster interrupted, as if the pause had not been."""
        assert self.paused is not None
        paused, self.paused = self.paused, None
        self.resumed_at = now
        self.bursts.ended(sent)
        self._set_base(paused.resume.shifted(now - paused.started))

    def _climb(self, now: float, start: float) -> Curve:
        """From ``start`` slowly to the ceiling estimate, near it a while, then to the limit ``recovery`` s
        from ``now``."""
        s = self.settings
        ceiling = self.limit if self.ceiling is None else max(start, min(self.ceiling, self.limit))
        points = [(now, start), (now + SLOW_SHARE * s.recovery, ceiling)]
        if self.background < RARE:  # random 429s make the ceiling the rate of a cut, not a capacity
            points.append((now + NEAR_SHARE * s.recovery, min(self.limit, NEAR * ceiling)))
        return Curve([*points, (now + s.recovery, self.limit)])

    def _hold(self, sent: float) -> None:
        """A 429 to a request ``sent`` while the rate is near the ceiling: the climb above it waits.

        Within `NEAR` x the ceiling until `NEAR_SHARE` of ``recovery`` after the 429, at the limit
        ``recovery`` after it: with bursts, 429s come every few seconds (at a spell's edges), and a climb
        that went on met the capacity every 30 s. Only up to `HOLD_FOR` x ``recovery`` after the last cut.
        """
        recovery = self.settings.recovery
        if self.background >= RARE or self.quiet is None or self.ceiling is None or self.paused is not None:
            return  # without a schedule, random 429s or bursts met at a low rate set ceilings too low
        near, limit_at = min(self.limit, NEAR * self.ceiling), sent + recovery
        late = sent > self.cut_at + HOLD_FOR * recovery
        if late or self.base(sent) > near or self.base.points[-1][0] >= limit_at:
            return  # too long after the cut, already above the ceiling, or already later
        self._set_base(self.base.held(near, sent + NEAR_SHARE * recovery, limit_at, self.limit))

    def _floor(self) -> float:
        return min(self.settings.min_rate, self.limit)

    # --- recurring bursts ----------------------------------------------------------------------------

    def _arm(self, now: float) -> None:
        """Silence the rate for the next burst the schedule predicts, with its edges where they are now:
        an end moved out by an overrun (`Recurrence.overran`), followed only once the old one had
        passed, let finlab send into the burst for a round trip after every overrun."""
        quiet = self.bursts.next_quiet(now)
        if quiet == self.quiet:
            return
        if self.quiet is None or now >= self.quiet.end:  # a new spell, not the same one moved
            self.overrun = False
        self.quiet = quiet
        self._set_base(self.base)

    def _spell_answer(self, sent: float, limited: bool) -> bool:
        """Learn from an answer about the quiet spell (True: it was its confirming request)."""
        quiet = self.quiet
        if quiet is None:
            return False
        if quiet.probe is not None and quiet.probe <= sent <= quiet.probe + PROBE_SPAN:
            if limited:
                self.bursts.confirmed()
            else:
                self.bursts.missed()
            return True
        if limited and quiet.start - EDGE <= sent < quiet.start:
            self.bursts.early(sent)
            return True
        previous = self.bursts.previous
        if limited and previous is not None and previous.end <= sent < previous.end + EDGE:
            self.bursts.overran(sent)
            self.overrun = True  # the run of 429s this starts is the burst's, not finlab's
            return True
        return False

    def _set_base(self, curve: Curve) -> None:
        self.base = curve
        quiet = self.quiet
        self.curve = curve if quiet is None else curve.silenced(quiet.start, quiet.end, quiet.probe)
