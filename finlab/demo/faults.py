"""Injected faults for the demo Stripe: the failures a real network, proxy and Stripe produce.

`Faults` holds a rate for each fault kind and a seeded random generator; `DemoStripe(...,
faults=Faults(...))` passes every answer through `Faults.inject`, which returns it unchanged, replaces
it (429, 5xx, 409 ``lock_timeout``, a proxy's HTML page), mangles its body (cut mid-JSON, not JSON, not
a list) or raises a transport failure. In-process (``httpx.MockTransport``) that failure reaches the
client as it is: `Reset` is an ``httpx.ReadError`` and `Stall` an ``httpx.ReadTimeout``. Over a socket
(`finlab.demo.loopback`) the server instead resets the connection, or holds it silent for
`Faults.stall` seconds, past the client's read timeout.

=================  ==========================================================================
kind               what the client receives
=================  ==========================================================================
rate_limit         429 ``rate_limit`` without ``Stripe-Should-Retry``
rate_limit_retry   429 ``rate_limit`` with ``Stripe-Should-Retry: true``
500, 502, 503      Stripe's ``api_error`` body with that status
lock_timeout       409 ``lock_timeout``
reset              the connection is reset before any answer
timeout            no answer within the client's read timeout
truncated          200 whose JSON body stops halfway
invalid_json       200 whose body is not JSON (an anti-XSSI prefix before it)
html               504 HTML page from a proxy, without a ``Request-Id``
not_a_list         200 with a JSON object of another type (a ``balance``)
=================  ==========================================================================

Examples
--------
>>> faults = Faults.spread(0.3, seed=1)
>>> round(faults.total, 6), len(faults.rates)
(0.3, 12)
>>> Faults({"500": 1.0}, paths=r"/v1/climate/").draw("/v1/tax/settings") is None
True
"""

from __future__ import annotations

import collections
import json
import random
import re
import threading
from collections.abc import Mapping

import httpx

KINDS = (
    "rate_limit",
    "rate_limit_retry",
    "500",
    "502",
    "503",
    "lock_timeout",
    "reset",
    "timeout",
    "truncated",
    "invalid_json",
    "html",
    "not_a_list",
)
#: How long a stalled loopback connection stays silent; tests set a read timeout well below it.
DEFAULT_STALL = 2.0

_PROXY_PAGE = (
    b"<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
    b"<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_XSSI_PREFIX = b")]}',\n"
_BALANCE = {"object": "balance", "available": [], "pending": [], "livemode": False}
_STATUS = {
    "rate_limit": 429,
    "rate_limit_retry": 429,
    "500": 500,
    "502": 502,
    "503": 503,
    "lock_timeout": 409,
}


class Reset(httpx.ReadError):
    """An injected connection reset (in-process; the loopback server resets the socket instead)."""


class Stall(httpx.ReadTimeout):
    """An injected read timeout (in-process; the loopback server stays silent instead)."""


class Faults:
    """Which fault, if any, each answer of a `DemoStripe` suffers.

    Parameters
    ----------
    rates
        Fault kind (see `KINDS`) -> the share of answers that suffer it; the shares add up to 1 at most.
    seed
        Seeds the generator: the n-th answer suffers the same fault on every run.
    paths
        A regular expression; only answers to request paths it matches (`re.search`) may suffer.
    after
        The first ``after`` of those answers are sound (a fault that starts in the middle of a sync).
    stall
        Seconds a loopback connection stays silent on a ``timeout`` fault.

    Attributes
    ----------
    injected
        How many answers suffered each kind so far.
    answered
        How many answers to matching paths passed through `inject` (faulted or not).
    """

    def __init__(
        self,
        rates: Mapping[str, float],
        *,
        seed: int = 0,
        paths: str | None = None,
        after: int = 0,
        stall: float = DEFAULT_STALL,
    ) -> None:
        unknown = sorted(set(rates) - set(KINDS))
        if unknown:
            msg = f"Unknown fault kinds {unknown!r}; choose from {', '.join(KINDS)}."
            raise ValueError(msg)
        if any(rate < 0 for rate in rates.values()) or sum(rates.values()) > 1 + 1e-9:
            msg = f"Fault rates must be >= 0 and add up to 1 at most, got {dict(rates)!r}."
            raise ValueError(msg)
        self.rates = {kind: float(rate) for kind, rate in rates.items() if rate > 0}
        self.paths = re.compile(paths) if paths is not None else None
        self.after = after
        self.stall = stall
        self.injected: collections.Counter[str] = collections.Counter()
        self.answered = 0
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    @classmethod
    def spread(
        cls,
        total: float,
        *,
        seed: int = 0,
        kinds: tuple[str, ...] = KINDS,
        stall: float = DEFAULT_STALL,
    ) -> Faults:
        """``total`` spread evenly over ``kinds`` (every kind by default)."""
        return cls(dict.fromkeys(kinds, total / len(kinds)), seed=seed, stall=stall)

    @property
    def total(self) -> float:
        """The share of answers that suffer some fault."""
        return sum(self.rates.values())

    @property
    def faulted(self) -> int:
        """How many answers suffered a fault so far."""
        return sum(self.injected.values())

    def __repr__(self) -> str:
        return f"Faults(total={self.total:.3f}, injected={dict(self.injected)!r})"

    def draw(self, path: str) -> str | None:
        """The fault the next answer to ``path`` suffers, or None; counted in `injected`."""
        if self.paths is not None and not self.paths.search(path):
            return None
        with self._lock:
            self.answered += 1
            if self.answered <= self.after:
                return None
            point = self._random.random()
            for kind, rate in self.rates.items():
                if point < rate:
                    self.injected[kind] += 1
                    return kind
                point -= rate
        return None

    def inject(self, request: httpx.Request, response: httpx.Response) -> httpx.Response:
        """``response``, or what the client gets instead when this answer suffers a fault.

        Raises
        ------
        Reset, Stall
            For the transport faults ``reset`` and ``timeout``.
        """
        kind = self.draw(request.url.path)
        if kind is None:
            return response
        return fault_response(kind, request, response)


def fault_response(kind: str, request: httpx.Request, response: httpx.Response) -> httpx.Response:
    """What fault ``kind`` makes of the answer ``response`` to ``request`` (see `Faults.inject`)."""
    if kind == "reset":
        msg = "[Errno 104] Connection reset by peer (injected)"
        raise Reset(msg, request=request)
    if kind == "timeout":
        msg = "The read operation timed out (injected)"
        raise Stall(msg, request=request)
    request_id = response.headers.get("Request-Id", "")
    headers = {"Content-Type": "application/json", "Request-Id": request_id}
    if kind == "html":
        return httpx.Response(504, headers={"Content-Type": "text/html"}, content=_PROXY_PAGE)
    if kind in _STATUS:
        if kind == "rate_limit_retry":
            headers["Stripe-Should-Retry"] = "true"
        return httpx.Response(_STATUS[kind], headers=headers, content=_error_body(kind, request_id))
    body = response.content
    if kind == "truncated":
        content = body[: max(1, len(body) // 2)]
    elif kind == "invalid_json":
        content = _XSSI_PREFIX + body
    else:
        content = json.dumps(_BALANCE).encode()
    return httpx.Response(200, headers=headers, content=content)


def _error_body(kind: str, request_id: str) -> bytes:
    if kind.startswith("rate_limit"):
        error = {
            "type": "invalid_request_error",
            "code": "rate_limit",
            "message": "Too many requests hit the API too quickly. We recommend an exponential backoff.",
        }
    elif kind == "lock_timeout":
        error = {
            "type": "invalid_request_error",
            "code": "lock_timeout",
            "message": "This object cannot be accessed right now because another API request or Stripe "
            "process is currently accessing it.",
        }
    else:
        error = {
            "type": "api_error",
            "message": "An unknown error occurred while processing your request (injected).",
        }
    error["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
    return json.dumps({"error": error}, separators=(",", ":")).encode()
