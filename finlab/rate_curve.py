"""A rate over time: piecewise linear, with the tokens it hands out and the time they take.

Examples
--------
>>> curve = Curve([(0.0, 10.0), (2.0, 20.0)])
>>> curve(1.0), curve.tokens(0.0, 3.0), curve.seconds_for(12.5, 0.0)
(15.0, 50.0, 1.0)
>>> quiet = curve.silenced(1.0, 2.0)
>>> quiet(0.5), quiet(1.5), quiet(2.5), quiet.tokens(0.0, 3.0)
(12.5, 0.0, 20.0, 32.5)
>>> held = curve.held(15.0, 3.0, 4.0, 25.0)  # at most 15 until 3 s, then up to 25 at 4 s
>>> held(0.5), held(1.5), held(3.0), held(3.5)
(12.5, 15.0, 15.0, 20.0)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

#: Points closer than this many seconds are one instant (a jump), not a piece with a slope.
INSTANT = 1e-9
#: Seconds over which a probe's one request of rate is handed out.
PROBE_SPAN = 0.01
#: Relative rounding in summed token counts: a leftover this small of a piece's tokens is that piece's
#: (else a rate falling to 0 just as they run out would push the last token past a quiet spell).
ROUNDING = 1e-9


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

        Two points at one instant (or within `INSTANT` of each other, too close for a finite slope) are
        a jump: the rate from then on is the second.
        """
        t, rate = start, self(start)
        for t1, r1 in self.points:
            if t1 - t <= INSTANT:
                rate = r1 if t1 >= t else rate
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
            if piece > 0 and tokens <= piece + ROUNDING * max(1.0, piece):  # give or take rounding
                if slope == 0:
                    return t0 - now + (tokens / rate if rate > 0 else math.inf)
                # >= 0 exactly (the piece's end rate squared); rounding can dip it below 0 (NaN)
                discriminant = max(0.0, rate * rate + 2 * slope * tokens)
                return t0 - now + (math.sqrt(discriminant) - rate) / slope
            tokens -= piece
        return math.inf  # a rate that stays at 0 (never: the last point is a positive rate)

    def held(self, level: float, until: float, end: float, rate: float) -> Curve:
        """This curve at most ``level`` until ``until``, then rising straight to ``rate`` at ``end``."""
        points = [(t, r) for t, r in self.points if -math.inf < t < until] + [(until, self(until))]
        held = [(points[0][0], min(points[0][1], level))]
        for (t0, r0), (t1, r1) in itertools.pairwise(points):
            if (r0 - level) * (r1 - level) < 0:  # crosses the level between the two
                held.append((t0 + (level - r0) / (r1 - r0) * (t1 - t0), level))
            held.append((t1, min(r1, level)))
        return Curve([*held, (end, rate)])

    def shifted(self, seconds: float) -> Curve:
        """The same curve ``seconds`` later."""
        return Curve([(t + seconds, rate) for t, rate in self.points])

    def silenced(self, start: float, end: float, probe: float | None = None) -> Curve:
        """This curve at 0 from ``start`` to ``end``, but for one request's worth of rate at ``probe``."""
        before = [(t, r) for t, r in self.points if t < start]
        after = [(t, r) for t, r in self.points if t > end]
        quiet = [(start, self(start)), (start, 0.0)]
        if probe is not None and start < probe < end - PROBE_SPAN:
            burst = 1.0 / PROBE_SPAN  # one token over the span
            quiet += [(probe, 0.0), (probe, burst), (probe + PROBE_SPAN, burst), (probe + PROBE_SPAN, 0.0)]
        quiet += [(end, 0.0), (end, self(end))]
        return Curve(before + quiet + after)
