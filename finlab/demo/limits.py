"""Stripe's pace for the demo server: latency on every answer, and rate limits that answer 429.

`Limits` is an option of `finlab.demo.server.DemoStripe`. Each request is first counted on arrival in
sliding one-second windows, one for the whole account and one per endpoint (ids collapsed as in
`finlab.budget.endpoint_of`); a request that would overfill either is refused with Stripe's 429
(``rate_limit``) and not counted. Then the answer waits ``latency`` ± ``jitter`` seconds in the thread
that handles it: with the loopback server (`finlab.demo.serve`) every connection has its own thread, so
waits overlap like network round trips. In-process (``httpx.MockTransport``) the wait would block the
caller's event loop: use rate limits there, latency only over the loopback.

Examples
--------
>>> limits = Limits.stripe("test", clock=lambda: 0.0)
>>> [limits.admit("/v1/climate/orders") for _ in range(26)].count(None)
25
>>> limits.admit("/v1/climate/orders")
'Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.'
"""

from __future__ import annotations

import collections
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from finlab.budget import STRIPE_LIMITS, endpoint_of
from finlab.errors import ConfigurationError

#: Stripe's message with the ``rate_limit`` error code.
RATE_LIMITED = (
    "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests."
)
#: The ``--rate-limit`` choices: Stripe's limits for live and test keys, or none.
MODES = ("live", "test", "off")
_WINDOW = 1.0


@dataclass
class Limits:
    """Latency and rate limits for `DemoStripe`.

    Parameters
    ----------
    latency, jitter
        Every answer waits ``latency`` plus a uniform draw from ``[-jitter, jitter]`` seconds (never < 0).
    global_rate, endpoint_rate
        Requests admitted per sliding second, per account and per endpoint; None: no limit.
    clock, sleep, seed
        Monotonic seconds, the wait and the jitter's seed; tests inject fakes.
    """

    latency: float = 0.0
    jitter: float = 0.0
    global_rate: int | None = None
    endpoint_rate: int | None = None
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    seed: int | None = None
    #: Requests refused with 429 so far.
    refused: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(self.seed)
        self._global: collections.deque[float] = collections.deque()
        self._endpoints: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)

    @classmethod
    def stripe(
        cls,
        mode: str,
        *,
        latency: float = 0.0,
        jitter: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        seed: int | None = None,
    ) -> Limits:
        """Stripe's rate limits for ``"live"`` or ``"test"`` keys (``"off"``: none), with this latency."""
        if mode not in MODES:
            msg = f"Unknown rate-limit mode {mode!r}: use one of {', '.join(MODES)}."
            raise ConfigurationError(msg)
        global_rate, endpoint_rate = STRIPE_LIMITS.get(mode, (None, None))
        return cls(
            latency,
            jitter,
            None if global_rate is None else int(global_rate),
            None if endpoint_rate is None else int(endpoint_rate),
            clock=clock,
            seed=seed,
        )

    def admit(self, path: str) -> str | None:
        """Count a request to ``path`` arriving now; return the 429 message if it is over a limit."""
        endpoint = endpoint_of(path)
        with self._lock:
            now = self.clock()
            windows = [(self._global, self.global_rate), (self._endpoints[endpoint], self.endpoint_rate)]
            for window, _ in windows:
                while window and window[0] <= now - _WINDOW:
                    window.popleft()
            if any(rate is not None and len(window) >= rate for window, rate in windows):
                self.refused += 1
                return RATE_LIMITED
            for window, _ in windows:
                window.append(now)
            return None

    def wait(self) -> None:
        """Hold the answer for the latency, in the calling thread."""
        with self._lock:
            delay = (
                self.latency + self._random.uniform(-self.jitter, self.jitter)
                if self.jitter
                else self.latency
            )
        if delay > 0:
            self.sleep(delay)
