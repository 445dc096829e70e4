"""Rate budget: one global and one per-endpoint token bucket that slow down when Stripe answers 429.

Stripe counts every request against the account (global) and against its endpoint. A request here first
takes a ticket in its endpoint's first-come first-served queue, so a deep queue on one endpoint waits
there and never holds back the others. At the head of the queue it takes a token from its endpoint's
bucket and from the global bucket at the same instant: the next free global instant, booked in order of
arrival, so endpoints share the global rate fairly. It sleeps (``time.sleep`` or ``asyncio.sleep``)
until that instant; a request behind the head sleeps for as long as the tickets ahead of it take at the
current rate (at most 0.25 s: a paused rate may resume sooner), then looks again. One lock makes a
`Budget` safe to share between threads and any number of event loops (``run_sync`` starts one per
worker thread). Each bucket's rate follows a controller (`finlab.rate_control`) that learns from every
answer: the client reports 429s (`Budget.rate_limited`) and admitted answers (`Budget.admitted`). A
bucket's debt is counted in tokens, paid back at whatever the rate is, so a cut never outlives its
climb back: cuts never compound.

Library check: aiolimiter is asyncio-only with a fixed rate, and pyrate-limiter (sync and async) takes
one key's bucket per acquisition with rates fixed at construction, so neither grants a global and an
endpoint token together or adapts to 429s; this is stdlib instead.

Examples
--------
>>> endpoint_of("/v1/tax/transactions/tax_1Pgc7AB7WZ01zgkW5XONRnmb/line_items")
'/v1/tax/transactions/{id}/line_items'
>>> budget = Budget.for_key_mode("test")
>>> budget.acquire("/v1/climate/orders")
0.0
>>> budget.rates()
{'global': 25.0, '/v1/climate/orders': 25.0}
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from finlab.errors import ConfigurationError
from finlab.rate_control import Controller, Settings

#: Stripe's documented limits in requests per second, as ``(global, per endpoint)`` by key mode.
STRIPE_LIMITS: dict[str, tuple[float, float]] = {"live": (100.0, 25.0), "test": (25.0, 25.0)}

#: What an id segment becomes in an endpoint key.
ID = "{id}"

# An id with a random tail: a lowercase prefix, "_", and a tail with a digit or capital somewhere
# (fca_1Mw…, tax_123, tax_li_QXh…). Static segments (line_items, verification_sessions) have neither.
_RANDOM_ID = re.compile(r"[a-z][a-z0-9]*_[A-Za-z0-9_]*[0-9A-Z][A-Za-z0-9_]*")
_PLACEHOLDER = re.compile(r"\{[^{}/]+\}")
# Prefixes of the objects finlab reads, for ids that are slugs (climsup_heirloom, climsku_…). "tax" is
# left out: static segments such as tax_ids and tax_rates start with it; tax ids are random anyway.
_ID_PREFIXES = frozenset("climorder climsku climsup cos fca fctxn fwdreq taxcalc taxreg vr vs we".split())

# A token due this close (in seconds) counts as there: float rounding must not cause a tiny extra sleep.
_SLACK = 1e-9
# A waiting request looks again after at most this many seconds: the rate may have resumed meanwhile.
_LOOK_AGAIN = 0.25


def endpoint_of(path: str) -> str:
    """The endpoint key of ``path``: the path without query, with every id segment replaced by ``{id}``.

    A segment is an id if it is a ``{placeholder}``, all digits, a Stripe id with a random tail (a digit
    or capital after the first ``_``), or starts with a known id prefix such as ``climsup_``. The
    segment right after the version (``webhook_endpoints``, ``3d_secure``) is never an id.

    Examples
    --------
    >>> endpoint_of("/v1/climate/suppliers/climsup_heirloom?expand[]=locations")
    '/v1/climate/suppliers/{id}'
    >>> endpoint_of("/v1/identity/verification_sessions")
    '/v1/identity/verification_sessions'
    """
    segments = urlsplit(path).path.strip("/").split("/")
    return "/" + "/".join(ID if i > 1 and _is_id(s) else s for i, s in enumerate(segments))


def _is_id(segment: str) -> bool:
    return bool(
        _PLACEHOLDER.fullmatch(segment)
        or segment.isdigit()
        or _RANDOM_ID.fullmatch(segment)
        or ("_" in segment and segment.split("_", 1)[0] in _ID_PREFIXES)
    )


@dataclass(frozen=True)
class BudgetStats:
    """Counters since the budget was made: requests ``granted``, seconds ``waited``, 429s ``rate_limited``."""

    granted: int
    waited: float
    rate_limited: int


class _Bucket:
    """A token bucket that refills at its (varying) rate; a negative level is tokens booked ahead.

    The debt is kept in tokens, not seconds, so it is paid back at whatever the rate is: a cut slows
    the payback and the climb back speeds it up again (nothing booked stays stretched).
    """

    def __init__(self, rate: Controller, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.level = float(burst)
        self.updated = -math.inf

    def refill(self, now: float) -> None:
        """Add the tokens the rate handed out since the last refill (at most ``burst`` in the bucket)."""
        if now > self.updated:
            if self.updated > -math.inf:
                self.level = min(self.size(), self.level + self.rate.tokens(self.updated, now))
            self.updated = now

    def size(self) -> int:
        """How many tokens the bucket holds at most: one while another client shares the limit.

        A burst sent at once on top of the rate is refused when the capacity left over is all taken.
        """
        return 1 if self.rate.ceiling is not None else self.burst

    def earliest(self, now: float) -> float:
        """The earliest instant the bucket has a token (``now`` if it has one)."""
        self.refill(now)
        start = max(now, self.updated)  # after a booking ahead, the level is the one at that instant
        return start + self.rate.seconds_for(1.0 - self.level - _SLACK, start)

    def take(self, at: float) -> None:
        """Spend one token at instant ``at`` (not before `earliest`)."""
        self.refill(at)
        self.level -= 1.0


class _Endpoint:
    """One endpoint: its rate, its bucket, and a first-come first-served queue of numbered tickets.

    Only the head of the queue (ticket ``served``) may book a token; the others sleep for as long as the
    tickets ahead of them take at the current rate (climbing back after a cut), then look again.
    """

    def __init__(self, rate: Controller, burst: int) -> None:
        self.rate = rate
        self.bucket = _Bucket(rate, burst)
        self.issued = 0  # the next ticket
        self.served = 0  # the head of the queue
        self.abandoned: set[int] = set()  # tickets whose waiter gave up (cancelled)

    def ahead(self, ticket: int) -> int:
        """How many tickets are before ``ticket`` (0: it is the head)."""
        while self.served in self.abandoned:
            self.abandoned.discard(self.served)
            self.served += 1
        return ticket - self.served


class Budget:
    """Token buckets for Stripe's rate limits: one global, one per endpoint (see `endpoint_of`).

    Implements the client's ``RateGate`` protocol for threads (`acquire`) and asyncio (`acquire_async`);
    one instance may be shared by both at once.

    Parameters
    ----------
    global_rate, endpoint_rate
        Requests per second for the whole account and for each endpoint; ``None`` means unlimited.
    burst
        Bucket size: how many requests may go at once after a quiet spell (each bucket).
    backoff
        A 429 that chance cannot explain cuts the endpoint's and the global rate to this share of
        the rate the server admitted over the last two seconds, or of the rate if finlab has not
        reported admitted answers (``0 < backoff < 1``; see `finlab.rate_control`).
    min_rate
        Floor of a cut rate, in requests per second.
    recovery
        Seconds after a cut (or the last 429 of a cluster) by which the rate is back at its limit.
    hold
        429s within this many seconds of a rate's last cut count as the same overload: no new cut.
    pause
        Seconds a rate stops after a cluster of 429s in a row, before it probes again.
    clock, sleep, async_sleep
        Monotonic seconds and the two ways to wait; tests inject fakes.

    Examples
    --------
    >>> budget = Budget(global_rate=100, endpoint_rate=25, clock=lambda: 0.0)
    >>> budget.rate_limited("/v1/climate/orders")
    >>> budget.rates()
    {'global': 90.0, '/v1/climate/orders': 22.5}
    """

    def __init__(
        self,
        global_rate: float | None = 100.0,
        endpoint_rate: float | None = 25.0,
        *,
        burst: int = 5,
        backoff: float = 0.9,
        min_rate: float = 1.0,
        recovery: float = 30.0,
        hold: float = 1.0,
        pause: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        async_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        for name, rate in (("global_rate", global_rate), ("endpoint_rate", endpoint_rate)):
            if rate is not None:
                _check(name, rate, "a positive number of requests per second, or None for unlimited")
        _check("burst", burst, "a whole number, at least 1", ok=burst >= 1 and burst == int(burst))
        _check("backoff", backoff, "a factor between 0 and 1, e.g. 0.7", ok=0 < backoff < 1)
        _check("min_rate", min_rate, "a positive number of requests per second")
        _check("recovery", recovery, "a positive number of seconds")
        _check("hold", hold, "a number of seconds, 0 or more", ok=hold >= 0)
        _check("pause", pause, "a number of seconds below recovery", ok=0 < pause < recovery)
        self.global_rate, self.endpoint_rate, self.burst = global_rate, endpoint_rate, int(burst)
        self.backoff, self.min_rate, self.recovery, self.hold = backoff, min_rate, recovery, hold
        self._settings = Settings(backoff, min_rate, recovery, hold, pause)
        self._clock, self._sleep, self._async_sleep = clock, sleep, async_sleep
        self._lock = threading.Lock()
        self._global = None
        if global_rate is not None:
            self._global = _Bucket(Controller(float(global_rate), self._settings), self.burst)
        self._endpoints: dict[str, _Endpoint | None] = {}
        self._granted, self._waited, self._rate_limited = 0, 0.0, 0

    @classmethod
    def for_key_mode(cls, mode: str, **overrides: Any) -> Budget:
        """Stripe's documented limits for ``"live"`` or ``"test"`` keys; ``overrides`` go to the constructor.

        Examples
        --------
        >>> Budget.for_key_mode("live")
        Budget(global_rate=100.0, endpoint_rate=25.0, burst=5)
        """
        if mode not in STRIPE_LIMITS:
            msg = f"Unknown key mode {mode!r}: use 'live' (for sk_live_/rk_live_ keys) or 'test'."
            raise ConfigurationError(msg)
        global_rate, endpoint_rate = STRIPE_LIMITS[mode]
        settings: dict[str, Any] = {"global_rate": global_rate, "endpoint_rate": endpoint_rate, **overrides}
        return cls(**settings)

    def __repr__(self) -> str:
        return (
            f"Budget(global_rate={self.global_rate!r}, endpoint_rate={self.endpoint_rate!r}, "
            f"burst={self.burst!r})"
        )

    def acquire(self, path: str) -> float:
        """Block until a request to ``path`` may go; return the seconds waited."""
        key, waited = endpoint_of(path), 0.0
        ticket = self._enqueue(key)
        try:
            while True:
                wait, granted = self._try(key, ticket, waited)
                if wait > 0:
                    self._sleep(wait)
                    waited += wait
                if granted:
                    return waited
        except BaseException:
            self._abandon(key, ticket)
            raise

    async def acquire_async(self, path: str) -> float:
        """Wait, without blocking the loop, until a request to ``path`` may go; return the seconds waited.

        A task cancelled while it waits leaves the queue; one cancelled in its last sleep has spent its
        token (the budget errs on the slow side).
        """
        key, waited = endpoint_of(path), 0.0
        ticket = self._enqueue(key)
        try:
            while True:
                wait, granted = self._try(key, ticket, waited)
                if wait > 0:
                    await self._async_sleep(wait)
                    waited += wait
                if granted:
                    return waited
        except BaseException:
            self._abandon(key, ticket)
            raise

    def now(self) -> float:
        """The budget's clock (monotonic seconds): the client reports when each request was sent by it."""
        return self._clock()

    def rate_limited(self, path: str, sent: float | None = None) -> None:
        """Stripe answered 429 for ``path``, to a request ``sent`` then (default: now): the rates learn."""
        self._answer(path, limited=True, sent=sent)

    def admitted(self, path: str, sent: float | None = None) -> None:
        """Stripe answered ``path`` with anything but 429: the rates learn the capacity left."""
        self._answer(path, limited=False, sent=sent)

    def _answer(self, path: str, *, limited: bool, sent: float | None) -> None:
        key = endpoint_of(path)
        with self._lock:
            now = self._clock()
            self._rate_limited += limited
            endpoint = self._endpoint(key)
            for bucket in (self._global, None if endpoint is None else endpoint.bucket):
                if bucket is not None:
                    bucket.refill(now)  # tokens earned before a change are earned at the old rate
                    bucket.rate.answer(now, limited, sent)

    def rates(self) -> dict[str, float | None]:
        """Effective requests per second now: ``"global"`` and every endpoint seen (``None``: unlimited)."""
        with self._lock:
            now = self._clock()
            rates = {"global": None if self._global is None else self._global.rate(now)}
            for key, endpoint in self._endpoints.items():
                rates[key] = None if endpoint is None else endpoint.rate(now)
            return rates

    def stats(self) -> BudgetStats:
        """Requests granted, seconds waited and 429s seen so far."""
        with self._lock:
            return BudgetStats(self._granted, self._waited, self._rate_limited)

    def _enqueue(self, key: str) -> int:
        """A ticket in the endpoint's queue (0 for an endpoint without a limit)."""
        with self._lock:
            endpoint = self._endpoint(key)
            if endpoint is None:
                return 0
            endpoint.issued += 1
            return endpoint.issued - 1

    def _abandon(self, key: str, ticket: int) -> None:
        with self._lock:
            endpoint = self._endpoints.get(key)
            if endpoint is not None and ticket >= endpoint.served:
                endpoint.abandoned.add(ticket)

    def _try(self, key: str, ticket: int, waited: float) -> tuple[float, bool]:
        """``(seconds to sleep, granted)``: book the request's instant if it can be booked, else look later.

        Behind the head of its endpoint's queue, a request sleeps for the tickets ahead of it. At the
        head, if the endpoint has no token yet it sleeps until it has one: the global bucket is only
        booked for requests their endpoint can send, so a slow endpoint never holds up the others.
        """
        with self._lock:
            now = self._clock()
            endpoint = self._endpoint(key)
            buckets = [] if self._global is None else [self._global]
            if endpoint is not None:
                if (ahead := endpoint.ahead(ticket)) > 0:
                    return min(_LOOK_AGAIN, max(_SLACK, endpoint.rate.seconds_for(ahead, now))), False
                if (ready := endpoint.bucket.earliest(now)) > now + _SLACK:
                    return min(_LOOK_AGAIN, ready - now), False
                buckets.append(endpoint.bucket)
                endpoint.served += 1
            at = max([now, *(b.earliest(now) for b in buckets)])
            for bucket in buckets:
                bucket.take(at)
            self._granted += 1
            self._waited += waited + (at - now)
            return at - now, True

    def _endpoint(self, key: str) -> _Endpoint | None:
        if key not in self._endpoints:
            self._endpoints[key] = None
            if self.endpoint_rate is not None:
                self._endpoints[key] = _Endpoint(
                    Controller(float(self.endpoint_rate), self._settings), self.burst
                )
        return self._endpoints[key]


def _check(name: str, value: float, expected: str, *, ok: bool | None = None) -> None:
    valid = isinstance(value, int | float) and math.isfinite(value) and (value > 0 if ok is None else ok)
    if not valid:
        msg = f"{name} must be {expected}; got {value!r}."
        raise ConfigurationError(msg)
