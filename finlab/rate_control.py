"""How one rate limit of the budget reacts to Stripe's answers: the rate's curve over time and its controller.

A 429 can come from finlab's own rate (another client of the account takes the rest of the limit:
*contention*) or at random (Stripe sheds load, a proxy misbehaves). The two differ in how they depend on
finlab's rate: contention 429s vanish below the capacity left over and rise steeply above it, random
429s come at the same share at any rate. A `Controller` therefore learns from every answer, not only
from 429s (the client reports admitted answers too):

- ``background``: the share of 429s while the rate sits below its ceiling estimate, where contention
  causes none. A 429 cuts the rate only if the 429s of the last second are too many to be that
  background by chance (binomial tail below 1%): random 429s are ignored, contention ones are not.
- ``ceiling``: at a cut, the rate the server admitted over the last two seconds (since the last
  pause), which under contention is the capacity left over whatever finlab sent. The rate drops to
  ``backoff`` times it, climbs slowly back to it over half of ``recovery``, then quickly to the limit,
  which it reaches ``recovery`` seconds after the cut.
- a cluster of 429s in a row (another client took the whole limit for a while) pauses the rate for
  ``pause`` seconds instead, then probes; the first admitted answer after the pause resumes the climb
  the cluster interrupted. If the answers before the cluster were calm, a cut its first 429 made is
  undone; if they held many 429s already, the climb restarts under the admitted rate. Without any
  answer the rate is back at its limit ``recovery`` s after the last 429.

Examples
--------
>>> curve = Curve([(0.0, 10.0), (2.0, 20.0)])
>>> curve(1.0), curve.tokens(0.0, 3.0), curve.seconds_for(12.5, 0.0)
(15.0, 50.0, 1.0)
"""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

#: Seconds of answers the significance test looks at, and over which the admitted rate is measured.
TEST_WINDOW, ADMITTED_WINDOW = 1.0, 2.0
#: The shortest span over which the admitted rate is measured.
MIN_SPAN = 0.5
#: 429s this unlikely (binomial tail) under the background share count as caused by finlab's rate.
SIGNIFICANCE = 0.01
#: Weight of one answer in the background share (an exponential average over ~200 answers).
BACKGROUND_WEIGHT = 1 / 200
#: This many 429s in a row, with no admitted answer between, are a cluster: pause.
CLUSTER = 3
#: Share of the climb spent going slowly from the cut rate back to the ceiling estimate.
SLOW_SHARE = 0.5
#: Requests per second while probing after a pause.
PROBE_RATE = 2.0


@dataclass(frozen=True)
class Settings:
    """A controller's knobs (see `finlab.budget.Budget` for their meaning)."""

    backoff: float
    min_rate: float
    recovery: float
    hold: float
    pause: float


class Curve:
    """A rate over time, linear between ``points`` ``(t, rate)`` and constant outside them."""

    def __init__(self, points: list[tuple[float, float]]) -> None:
        self.points = points

    def __call__(self, now: float) -> float:
        points = self.points
        if now <= points[0][0]:
            return points[0][1]
        for (t0, r0), (t1, r1) in itertools.pairwise(points):
            if now < t1:
                return r0 + (r1 - r0) * (now - t0) / (t1 - t0)
        return points[-1][1]

    def _pieces(self, start: float) -> Iterator[tuple[float, float, float, float]]:
        """``(t0, t1, rate at t0, slope)`` of each linear piece from ``start`` on; the last is endless.

        Two points at one instant are a jump: the rate from then on is the second.
        """
        t, rate = start, self(start)
        for t1, r1 in self.points:
            if t1 <= t:
                rate = r1 if t1 == t else rate
                continue
            yield t, t1, rate, (r1 - rate) / (t1 - t)
            t, rate = t1, r1
        yield t, math.inf, self.points[-1][1], 0.0

    def tokens(self, start: float, end: float) -> float:
        """Requests the rate hands out over ``[start, end]``."""
        total = 0.0
        for t0, t1, rate, slope in self._pieces(start):
            if t0 >= end:
                break
            span = min(t1, end) - t0
            total += rate * span + slope * span * span / 2
        return total

    def seconds_for(self, tokens: float, now: float) -> float:
        """Seconds from ``now`` until the rate has handed out ``tokens``."""
        if tokens <= 0:
            return 0.0
        for t0, t1, rate, slope in self._pieces(now):
            span = t1 - t0
            piece = math.inf if math.isinf(span) else rate * span + slope * span * span / 2
            if tokens <= piece:
                if slope == 0:
                    return t0 - now + (tokens / rate if rate > 0 else math.inf)
                return t0 - now + (math.sqrt(rate * rate + 2 * slope * tokens) - rate) / slope
            tokens -= piece
        return math.inf  # a rate that stays at 0 (never: the last point is a positive rate)


class Controller:
    """One limit's rate: at ``limit`` until the answers say otherwise (see the module docstring)."""

    def __init__(self, limit: float, settings: Settings) -> None:
        self.limit, self.settings = limit, settings
        self.curve = Curve([(-math.inf, limit)])
        self.ceiling: float | None = None
        self.background = 0.0
        self.cut_at = -math.inf
        self.streak = 0  # 429s in a row
        self.paused_until: float | None = None  # set while paused or probing
        self.interrupted = (self.curve, 0.0)  # the climb a pause interrupted, and when
        self.streak_start: tuple[float, float | None] = (0.0, None)
        self.before_cut: tuple[Curve, float | None] | None = None
        self.answers: collections.deque[tuple[float, bool]] = collections.deque()
        self.first_answer = math.inf
        self.resumed_at = -math.inf
        self.pending = 0  # 429s at calm times not yet in the background share

    def __call__(self, now: float) -> float:
        """The rate at ``now``."""
        return self.curve(now)

    def tokens(self, start: float, end: float) -> float:
        """Requests the rate hands out over ``[start, end]``."""
        return self.curve.tokens(start, end)

    def seconds_for(self, tokens: float, now: float) -> float:
        """Seconds from ``now`` until the rate has handed out ``tokens``, if nothing changes it."""
        return self.curve.seconds_for(tokens, now)

    def answer(self, now: float, limited: bool) -> None:
        """Learn from one answer at ``now``: ``limited`` if it was a 429."""
        self.first_answer = min(self.first_answer, now)
        if self._calm(now):  # a 429 counts once it is known not to start a cluster
            self.pending += limited
            if not limited:
                for outcome in [True] * self.pending + [False]:
                    self.background += (outcome - self.background) * BACKGROUND_WEIGHT
                self.pending = 0
        self.answers.append((now, limited))
        while self.answers[0][0] <= now - ADMITTED_WINDOW:
            self.answers.popleft()
        if not limited:
            self.streak = 0
            if self.paused_until is not None and now >= self.paused_until:
                self._resume(now)
            return
        self.streak += 1
        if self.streak == 1:  # the share of 429s before this run of 429s
            self.streak_start = (self._limited_share(), self._capacity(now))
        if self.streak >= CLUSTER:
            self.pending = 0
            self._pause(now)
        elif self.paused_until is None and now - self.cut_at >= self.settings.hold and self._significant(now):
            self._cut(now)

    def _calm(self, now: float) -> bool:
        """Whether an answer now tells the background share: below the ceiling, long enough after a cut."""
        return (
            self.ceiling is not None
            and self.paused_until is None
            and now - self.cut_at >= self.settings.hold
            and self(now) <= self.ceiling
        )

    def _significant(self, now: float) -> bool:
        """Whether the last second's 429s are too many to be the background share by chance."""
        recent = [limited for t, limited in self.answers if t > now - TEST_WINDOW]
        n, k = len(recent), sum(recent)
        p = self.background
        below = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k))
        return 1 - below < SIGNIFICANCE

    def _limited_share(self) -> float:
        """The share of 429s among the answers of the last `ADMITTED_WINDOW` seconds."""
        return sum(limited for _, limited in self.answers) / max(1, len(self.answers))

    def _capacity(self, now: float) -> float | None:
        """Admitted answers per second over the last `ADMITTED_WINDOW` (None if too short or paused in it).

        When finlab sends faster than the capacity left over, this is that capacity.
        """
        start = max(now - ADMITTED_WINDOW, self.first_answer, self.resumed_at)
        if now - start < MIN_SPAN:
            return None
        return sum(1 for t, limited in self.answers if t >= start and not limited) / (now - start)

    def _cut(self, now: float) -> None:
        """Cut to ``backoff`` x the capacity the server shows while finlab probes above its ceiling.

        Below the ceiling the admitted rate is finlab's own, not a capacity: the cut is then plain
        (``backoff`` x the rate) and the climb goes back to the rate of the cut.
        """
        rate = self(now)
        capacity = self._capacity(now)
        self.before_cut = (self.curve, self.ceiling)
        if capacity is not None and (self.ceiling is None or rate > self.ceiling):
            self.ceiling = max(self._floor(), min(rate, capacity))
            start = self.ceiling * self.settings.backoff
        else:
            self.ceiling = None if self.ceiling is None else min(self.ceiling, rate)
            start = rate * self.settings.backoff
        self.cut_at = now
        self.curve = self._climb(now, max(self._floor(), start))

    def _pause(self, now: float) -> None:
        if self.paused_until is None:
            self.interrupted = (self.curve, now)
            share, capacity = self.streak_start
            if share <= 1 - self.settings.backoff:  # out of the blue: another client's burst
                if self.before_cut is not None and now - self.cut_at < self.settings.hold:
                    self.interrupted = self.before_cut[0], now  # the burst, not finlab, caused that cut
                    self.ceiling = self.before_cut[1]
            elif capacity is not None:  # 429s were many already: finlab's own rate is too high
                self.ceiling = max(self._floor(), min(self(now), capacity))
                start = max(self._floor(), self.ceiling * self.settings.backoff)
                self.interrupted = self._climb(now, start), now
        s = self.settings
        self.paused_until = now + s.pause
        probe = min(PROBE_RATE, self.limit)
        end = max(now + s.recovery, self.paused_until)
        until = self.paused_until
        self.curve = Curve([(now, 0.0), (until, 0.0), (until, probe), (end, self.limit)])

    def _resume(self, now: float) -> None:
        """Go on with the climb the cluster interrupted, as if the pause had not been."""
        assert self.paused_until is not None
        # Answers tell of the resumed rate one round trip on: at most the time since the pause ended,
        # which the probe that brought this answer took.
        self.resumed_at = now + min(now - self.paused_until, 1.0)
        self.paused_until = None
        curve, since = self.interrupted
        self.curve = Curve([(t + now - since, rate) for t, rate in curve.points])

    def _climb(self, now: float, start: float) -> Curve:
        """From ``start`` slowly to the ceiling estimate, then to the limit ``recovery`` s from ``now``."""
        s = self.settings
        ceiling = self.limit if self.ceiling is None else max(start, min(self.ceiling, self.limit))
        return Curve([(now, start), (now + SLOW_SHARE * s.recovery, ceiling), (now + s.recovery, self.limit)])

    def _floor(self) -> float:
        return min(self.settings.min_rate, self.limit)
