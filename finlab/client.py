"""One read-only HTTP client for Stripe's REST API, sync (`Client`) and async (`AsyncClient`).

Both share `RequestPolicy`: it builds the request (auth, ``Stripe-Version`` pin, ``Stripe-Account``,
Stripe's nested form encoding) and decides, for each response or network failure, whether to return,
retry after a backoff, or raise a typed error from :mod:`finlab.errors`. The clients only send GET.

Examples
--------
>>> encode_params({"transacted_at": {"gte": 1, "lt": 2}, "expand": ["data.account"], "limit": 100})
[('transacted_at[gte]', '1'), ('transacted_at[lt]', '2'), ('expand[]', 'data.account'), ('limit', '100')]
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import json
import logging
import os
import random
import re
import ssl
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx

from finlab import errors, resources

API_VERSION = "2026-07-29.dahlia"
DEFAULT_BASE_URL = "https://api.stripe.com"
KEY_PATTERN = re.compile(r"^(sk|rk)_(test|live)_[A-Za-z0-9]{8,}$")
#: Every path finlab reads: no segment can hold ``..``, ``?``, ``#``, whitespace or a control character.
_PATH = re.compile(r"/v1(/[A-Za-z0-9_]+)+")

log = logging.getLogger("finlab.client")

Params = Mapping[str, Any]
T = TypeVar("T")


class BodyError(Exception):
    """A response finlab stopped reading: larger than `RetryPolicy.max_body`, or past its deadline."""

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail)
        self.reason = reason


#: What a request can fail with before a response is in hand: the network, a body that cannot be
#: decoded (e.g. a truncated gzip transfer), or one finlab stopped reading (`BodyError`).
Failure = httpx.TransportError | httpx.DecodingError | BodyError


class RateGate(Protocol):
    """What the client needs from a rate budget (see :mod:`finlab.budget`)."""

    def acquire(self, path: str) -> float:
        """Block until a request to ``path`` may go; return seconds waited."""

    async def acquire_async(self, path: str) -> float:
        """Wait (without blocking the loop) until a request to ``path`` may go."""

    def rate_limited(self, path: str) -> None:
        """Stripe answered 429 for ``path``: slow down."""

    def admitted(self, path: str) -> None:
        """Stripe answered ``path`` with anything but 429: the request counted against the limit."""


@dataclass(frozen=True)
class Decoder(Generic[T]):
    """How the body of a 200 becomes a value.

    ``parse`` returns None for a body that is not ``what`` (an HTML page from a proxy, truncated JSON,
    another object): the response counts as malformed and is retried. It may raise a `FinlabError`
    for a well-formed body that cannot be used (that is not retried).
    """

    parse: Callable[[bytes], T | None]
    what: str


def json_object(expect: str | None = None) -> Decoder[dict[str, Any]]:
    """The usual decoder: a JSON object whose ``object`` is ``expect`` (any object if None).

    >>> json_object("list").parse(b'{"object": "list", "data": []}')
    {'object': 'list', 'data': []}
    >>> json_object("list").parse(b"<html>") is None
    True
    """

    def parse(content: bytes) -> dict[str, Any] | None:
        body = _parse_object(content)
        return body if body is not None and (expect is None or body.get("object") == expect) else None

    return Decoder(parse, f"a JSON {expect!r} object" if expect else "a JSON object")


def key_mode(api_key: str) -> str:
    """``'live'`` or ``'test'`` for a well-formed secret or restricted key."""
    return "live" if api_key.split("_")[1] == "live" else "test"


def redact(api_key: str) -> str:
    """What may be shown of a key: its kind and mode only, e.g. ``'rk_live_…'``."""
    return api_key[:8] + "…" if KEY_PATTERN.fullmatch(api_key) else "<key>"


def check_api_key(api_key: str | None) -> str:
    """Return ``api_key`` if it is a usable secret or restricted key, else raise a clear error."""
    if api_key is None or not api_key.strip():
        msg = (
            "No Stripe API key: pass api_key='rk_live_...' or set STRIPE_API_KEY. "
            "Call finlab.connect() without a key to use the bundled demo account."
        )
        raise errors.AuthenticationError(msg)
    if api_key.startswith("pk_"):
        msg = (
            "That is a publishable key (pk_...), which cannot read data. Create a restricted key "
            "(rk_...) with read permissions in the Stripe Dashboard under Developers > API keys."
        )
        raise errors.ConfigurationError(msg)
    if not KEY_PATTERN.fullmatch(api_key):
        msg = (
            "The Stripe API key is malformed: expected sk_live_..., sk_test_..., rk_live_... or "
            "rk_test_... followed by letters and digits. Check for a truncated copy or stray spaces."
        )
        raise errors.ConfigurationError(msg)
    return api_key


def check_base_url(base_url: str) -> str:
    """Refuse a base URL that would send the key in clear text to another machine."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return base_url.rstrip("/")
    if parts.scheme == "http" and _is_loopback(host):
        return base_url.rstrip("/")
    msg = (
        f"base_url {base_url!r} is not allowed: the API key may only travel over https, "
        "or over http to a loopback address (127.0.0.1, ::1, localhost) for a local test server."
    )
    raise errors.ConfigurationError(msg)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def encode_params(params: Params, prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: nested dicts as ``a[b]=``, lists as ``a[]=``, bools as true/false."""
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        key = f"{prefix}[{name}]" if prefix else str(name)
        if value is None:
            continue
        if isinstance(value, Mapping):
            pairs.extend(encode_params(value, key))
        elif isinstance(value, list | tuple):
            pairs.extend((f"{key}[]", _scalar(item)) for item in value)
        else:
            pairs.append((key, _scalar(value)))
    return pairs


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry, and how much of one answer to read.

    Parameters
    ----------
    max_retries, base_delay, max_delay
        Retries per request, with exponential backoff and full jitter.
    timeout, connect_timeout
        Seconds one read (or the connection) may take.
    deadline
        Seconds one attempt may take in all, body included: a body that trickles in fails then.
    max_body
        Bytes of one answer finlab reads at most, counted after decompression (a Stripe page of 100
        objects is well under 1 MB): a bigger body, such as a gzip bomb, fails as soon as it is.
    """

    max_retries: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    timeout: float = 60.0
    connect_timeout: float = 10.0
    deadline: float = 120.0
    max_body: int = 64 * 2**20

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        wait = random.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            with contextlib.suppress(ValueError):
                wait = max(wait, min(float(retry_after), self.max_delay))
        return wait


@dataclass
class Retry:
    """The policy's verdict: wait ``delay`` seconds and try again; ``error`` if no attempts remain."""

    delay: float
    error: errors.StripeError


@dataclass
class RequestStats:
    """Counters a sync summary reports: requests sent, retries by reason, seconds waited."""

    requests: int = 0
    retries: dict[str, int] = field(default_factory=dict)
    rate_limited: int = 0

    def count_retry(self, reason: str) -> None:
        """Record one retry for ``reason`` (a status code or an exception name)."""
        self.retries[reason] = self.retries.get(reason, 0) + 1


_ERROR_BY_STATUS: dict[int, type[errors.StripeError]] = {
    400: errors.InvalidRequestError,
    401: errors.AuthenticationError,
    402: errors.InvalidRequestError,
    403: errors.PermissionError,
    404: errors.NotFoundError,
    429: errors.RateLimitError,
}


class RequestPolicy:
    """Everything the sync and async clients share: request building and the retry decision."""

    def __init__(
        self,
        api_key: str,
        *,
        stripe_account: str | None,
        base_url: str,
        retry: RetryPolicy,
    ) -> None:
        self._api_key = check_api_key(api_key)
        if stripe_account is not None and not stripe_account.startswith("acct_"):
            # Never echo a key passed here by mistake.
            shown = redact(stripe_account) if stripe_account.startswith(("sk_", "rk_")) else stripe_account
            msg = f"stripe_account must be a connected account id (acct_...), got {shown!r}."
            raise errors.ConfigurationError(msg)
        self.stripe_account = (
            None if stripe_account is None else resources.check_id(stripe_account, "Account")
        )
        self.base_url = check_base_url(base_url)
        self.retry = retry
        self.stats = RequestStats()

    @property
    def livemode(self) -> bool:
        """True for live keys."""
        return key_mode(self._api_key) == "live"

    def __repr__(self) -> str:
        return f"RequestPolicy(key={redact(self._api_key)!r}, base_url={self.base_url!r})"

    def headers(self) -> dict[str, str]:
        """Auth, version pin and connected account headers for every request."""
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Stripe-Version": API_VERSION,
            "User-Agent": "finlab (+https://github.com/finlab)",
            "Accept-Encoding": "gzip",  # what `_Body` inflates within the cap
        }
        if self.stripe_account:
            headers["Stripe-Account"] = self.stripe_account
        return headers

    def build(self, method: str, path: str, params: Params | None) -> httpx.Request:
        """The GET request for ``path``; any other method raises before anything is sent."""
        if method.upper() != "GET":
            msg = f"finlab only reads: refusing to send {method.upper()} {path}. Only GET is allowed."
            raise errors.ConfigurationError(msg)
        if not _PATH.fullmatch(path):  # the last guard for ids in paths, wherever they came from
            msg = (
                f"Stripe paths are /v1/ then segments of letters, digits and underscores, got {path!r:.120}."
            )
            raise errors.ConfigurationError(msg)
        query = httpx.QueryParams(tuple(encode_params(params or {})))
        return httpx.Request("GET", self.base_url + path, params=query, headers=self.headers())

    def settle(
        self,
        outcome: httpx.Response | Failure,
        path: str,
        attempt: int,
        budget: RateGate | None,
        decoder: Decoder[T],
    ) -> T | Retry:
        """Decide what one attempt's outcome means: the decoded body, a `Retry`, or a raised error."""
        if not isinstance(outcome, httpx.Response):
            return self.judge_exception(outcome, path, attempt)
        if budget is None:
            return self.judge_response(outcome, path, attempt, decoder)
        limited = outcome.status_code == 429
        (budget.rate_limited if limited else budget.admitted)(path)
        verdict = self.judge_response(outcome, path, attempt, decoder)
        if limited and isinstance(verdict, Retry):
            # The budget slows every request after a 429: a wait that doubled with this request's own
            # 429s too would hold up the batch it belongs to long after the budget has recovered.
            verdict = Retry(self.retry.delay(1, outcome.headers.get("retry-after")), verdict.error)
        return verdict

    def judge_response(
        self, response: httpx.Response, path: str, attempt: int, decoder: Decoder[T]
    ) -> T | Retry:
        """The decoded body of a good response; else a `Retry` or raise the typed error.

        A 200 whose body ``decoder`` refuses counts as malformed and is retried.
        """
        request_id = _scrub_value(response.headers.get("request-id"), self._api_key)
        status = response.status_code
        if status == 200:
            body = decoder.parse(response.content)
            if body is not None:
                return body
            wanted = decoder.what
            error: errors.StripeError = errors.APIError(
                f"Stripe returned a malformed body for GET {path} [{_request(request_id)}, "
                f"{attempt} attempt(s)]: not {wanted}. A proxy or a truncated transfer may be in the way.",
                status=status,
                request_id=request_id,
                path=path,
                attempts=attempt,
            )
            return self._retry_or_raise(error, attempt, should_retry=None, reason="malformed")
        error = self._error_for(response, path, attempt)
        should_retry = response.headers.get("stripe-should-retry")
        verdict = None if should_retry is None else should_retry.lower() == "true"
        if status == 429:
            self.stats.rate_limited += 1
        return self._retry_or_raise(
            error,
            attempt,
            should_retry=verdict,
            reason=str(status),
            retry_after=response.headers.get("retry-after"),
        )

    def judge_exception(self, exc: Failure, path: str, attempt: int) -> Retry:
        """A network failure (or a body that cannot be decoded or read): retry while attempts remain.

        Network failures raise `ConnectionError`; a body that cannot be decoded, or is too big or too
        slow (`BodyError`), raises `APIError`.
        """
        kind = exc.reason if isinstance(exc, BodyError) else type(exc).__name__
        error: errors.StripeError
        if isinstance(exc, BodyError):
            error = errors.APIError(
                f"Stripe's answer to GET {path} {exc} after {attempt} attempt(s). A proxy or a broken server "
                "may be in the way; run again later, or raise RetryPolicy's limit if the answer is genuine.",
                path=path,
                attempts=attempt,
            )
        elif isinstance(exc, httpx.DecodingError):
            error = errors.APIError(
                f"Stripe's answer to GET {path} could not be decoded ({kind}) after {attempt} attempt(s). "
                "A proxy or a truncated transfer may be in the way; run again later.",
                path=path,
                attempts=attempt,
            )
        else:
            error = errors.ConnectionError(
                f"GET {path} got no answer from Stripe ({kind}) after {attempt} attempt(s). "
                "Check the network or raise the timeout, then run again: stored data is kept.",
                path=path,
                attempts=attempt,
            )
        verdict = self._retry_or_raise(error, attempt, should_retry=True, reason=kind)
        assert isinstance(verdict, Retry)
        return verdict

    def _retry_or_raise(
        self,
        error: errors.StripeError,
        attempt: int,
        *,
        should_retry: bool | None,
        reason: str,
        retry_after: str | None = None,
    ) -> Retry:
        retryable = should_retry if should_retry is not None else _retryable(error)
        if not retryable or attempt > self.retry.max_retries:
            raise error
        self.stats.count_retry(reason)
        delay = self.retry.delay(attempt, retry_after)
        log.info("retrying GET %s after %s (attempt %d) in %.2fs", error.path, reason, attempt, delay)
        return Retry(delay, error)

    def _error_for(self, response: httpx.Response, path: str, attempt: int) -> errors.StripeError:
        status = response.status_code
        request_id = response.headers.get("request-id")
        body = _parse_object(response.content) or {}
        raw_detail = body.get("error")
        detail: dict[str, Any] = raw_detail if isinstance(raw_detail, dict) else {}
        stripe_message = detail.get("message") if isinstance(detail.get("message"), str) else None
        code = detail.get("code")
        cls = _ERROR_BY_STATUS.get(status, errors.APIError)
        hint = _permission_hint(path) if cls is errors.PermissionError else _HINTS.get(cls, "")
        if not hint and (status >= 500 or code == "lock_timeout"):
            hint = "Stripe (or a proxy on the way) kept failing; run again later"
        text = f"GET {path} failed with HTTP {status}"
        if code:
            text += f" ({code})"
        text += f": {stripe_message or 'no error message from Stripe'}"
        text += f" [{_request(request_id)}, {attempt} attempt(s)]"
        if hint:
            text += f". {hint}"
        key = self._api_key
        return cls(
            _scrub(text, key),
            status=status,
            type=_scrub_value(detail.get("type"), key),
            code=_scrub_value(code, key),
            param=_scrub_value(detail.get("param"), key),
            stripe_message=_scrub(stripe_message, key) if stripe_message else None,
            request_id=_scrub_value(request_id, key),
            path=path,
            attempts=attempt,
        )


_HINTS: dict[type[errors.StripeError], str] = {
    errors.AuthenticationError: "Check STRIPE_API_KEY (or api_key=): it is missing, mistyped or revoked",
    errors.RateLimitError: "Stripe kept rate limiting; lower the request rate or run again later",
}


def _request(request_id: str | None) -> str:
    """How a message names the request: Stripe's Request-Id, or that the answer had none."""
    return f"request {request_id}" if request_id else "no Request-Id"


def _permission_hint(path: str) -> str:
    """What to grant a restricted key that got 403 on ``path``: the resource and its read permission."""
    res = resources.for_path(path)
    if res is None:
        return "Grant the restricted key the read permission Stripe names above, in the Dashboard"
    return (
        f"Reading {res.object} (stripe.{res.method}()) needs the read permission {res.permission!r}: "
        "grant it to the restricted key in the Stripe Dashboard (Developers > API keys), then run again"
    )


def _retryable(error: errors.StripeError) -> bool:
    if isinstance(error, errors.ConnectionError | errors.RateLimitError):
        return True
    if error.status is None or error.status >= 500:
        return True
    if error.status == 409 and error.code == "lock_timeout":
        return True
    return error.status == 200  # a malformed body on a 200


def _parse_object(content: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
        return None
    return body if isinstance(body, dict) else None


#: A run of this many characters of the key's secret part counts as a copy of the key.
_SECRET_RUN = 12
_TOKEN = re.compile(rf"[A-Za-z0-9]{{{_SECRET_RUN},}}")


def _scrub(text: str, api_key: str) -> str:
    """Remove the key (and any long run of it) from text that came from a server."""
    if api_key in text:
        text = text.replace(api_key, redact(api_key))
    secret = api_key.split("_", 2)[-1]

    def hide(match: re.Match[str]) -> str:
        token = match.group(0)
        runs = (token[i : i + _SECRET_RUN] for i in range(len(token) - _SECRET_RUN + 1))
        return "…" if any(run in secret for run in runs) else token

    return _TOKEN.sub(hide, text)


def _scrub_value(value: Any, api_key: str) -> Any:
    """`_scrub` for a field of a server's error body, which may be any JSON value."""
    return _scrub(value, api_key) if isinstance(value, str) else value


def check_outgoing(request: httpx.Request) -> None:
    """The last check as a request leaves, whatever built it: GET only, and https off loopback."""
    if request.method != "GET":
        msg = f"finlab only reads: refusing to send {request.method} {request.url.path}. Only GET is allowed."
        raise errors.ConfigurationError(msg)
    if request.url.scheme != "https" and not (
        request.url.scheme == "http" and _is_loopback(request.url.host)
    ):
        msg = (
            f"Refusing to send a request to {request.url.scheme}://{request.url.host}: the API key may only "
            "travel over https, or over http to a loopback address."
        )
        raise errors.ConfigurationError(msg)


async def check_outgoing_async(request: httpx.Request) -> None:
    """`check_outgoing` for the async client's event hooks."""
    check_outgoing(request)


def _resolve_key(api_key: str | None) -> str:
    return check_api_key(api_key if api_key is not None else os.environ.get("STRIPE_API_KEY"))


class _Body:
    """One answer's body as it streams in: gunzipped here, so its size is known at every step.

    Chunks are inflated 1 MB at a time, never past the room left under ``max_body``: a gzip bomb costs
    about ``max_body`` of memory, never what it would unpack to.
    """

    def __init__(self, response: httpx.Response, retry: RetryPolicy) -> None:
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if response.is_stream_consumed:  # an in-process answer (MockTransport) comes read and decoded
            encoding = "identity"
        if encoding not in _ENCODINGS:
            msg = f"came encoded as {encoding!r}, which finlab did not ask for"
            raise BodyError(msg, reason="encoding")
        self._inflate = None if encoding == "identity" else zlib.decompressobj(zlib.MAX_WBITS | 32)
        self._response, self._cap = response, retry.max_body
        self._parts: list[bytes] = []
        self._size = 0

    def add(self, raw: bytes) -> None:
        """Take the next bytes off the wire; `BodyError` once the body is over ``max_body``."""
        if self._inflate is None:
            self._keep(raw)
            return
        while raw:
            try:
                data = self._inflate.decompress(raw, min(_STEP, self._cap - self._size + 1))
            except zlib.error as exc:
                msg = f"broken gzip body: {exc}"
                raise httpx.DecodingError(msg) from None
            self._keep(data)
            raw = self._inflate.unconsumed_tail

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self._cap:
            msg = f"was larger than {self._cap:,} bytes (decompressed) and was not read further"
            raise BodyError(msg, reason="too_large")
        self._parts.append(data)

    def whole(self) -> httpx.Response:
        """The response with the body read, decompressed."""
        response = self._response
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _STREAM_HEADERS]
        content = b"".join(self._parts)
        return httpx.Response(
            response.status_code, headers=headers, content=content, request=response.request
        )


#: Bytes inflated at a time.
_STEP = 2**20
#: What finlab accepts (``Accept-Encoding``) and can inflate within the cap.
_ENCODINGS = frozenset({"identity", "gzip", "x-gzip"})
_STREAM_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def _late(retry: RetryPolicy) -> BodyError:
    msg = f"did not arrive in full within {retry.deadline:g} s (RetryPolicy.deadline)"
    return BodyError(msg, reason="deadline")


def _timeout(retry: RetryPolicy) -> httpx.Timeout:
    return httpx.Timeout(retry.timeout, connect=retry.connect_timeout)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS settings, built once per process (every frame call opens a client).

    Loading the CA bundle takes 50-250 ms; a shared context makes that once.
    """
    return httpx.create_ssl_context()


class Client:
    """Synchronous Stripe client. Only GET; retries what is safe to retry.

    Parameters
    ----------
    api_key
        A secret or restricted key; defaults to ``STRIPE_API_KEY``.
    stripe_account
        Optional connected account (``acct_...``) sent as ``Stripe-Account``.
    base_url
        https, or http to a loopback test server.
    retry
        Retry count, backoff and timeouts.
    transport
        An httpx transport, e.g. ``httpx.MockTransport(demo_server.handle)`` in tests.
    budget
        A rate budget every request waits on (see :mod:`finlab.budget`).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        stripe_account: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        budget: RateGate | None = None,
    ) -> None:
        retry = retry or RetryPolicy()
        self.policy = RequestPolicy(
            _resolve_key(api_key), stripe_account=stripe_account, base_url=base_url, retry=retry
        )
        self.budget = budget
        self._http = httpx.Client(
            transport=transport,
            verify=tls_context(),
            timeout=_timeout(retry),
            event_hooks={"request": [check_outgoing]},
        )

    def __repr__(self) -> str:
        return f"Client({self.policy!r})"

    def request(
        self, method: str, path: str, params: Params | None = None, expect: str | None = None
    ) -> dict[str, Any]:
        """Send ``method path`` (GET only) and return the decoded JSON object."""
        return self._send(method, path, params, json_object(expect))

    def get(self, path: str, params: Params | None = None, expect: str | None = None) -> dict[str, Any]:
        """GET ``path`` with Stripe-encoded ``params``; ``expect`` is the object type the body must be."""
        return self.request("GET", path, params, expect)

    def get_as(self, path: str, params: Params | None, decoder: Decoder[T]) -> T:
        """GET ``path`` and return its body as ``decoder`` reads it (retried while malformed)."""
        return self._send("GET", path, params, decoder)

    def _send(self, method: str, path: str, params: Params | None, decoder: Decoder[T]) -> T:
        request = self.policy.build(method, path, params)
        attempt = 0
        while True:
            attempt += 1
            if self.budget is not None:
                self.budget.acquire(path)
            self.policy.stats.requests += 1
            try:
                outcome: httpx.Response | Failure = self._fetch(request)
            except (httpx.TransportError, httpx.DecodingError, BodyError) as exc:
                outcome = exc
            verdict = self.policy.settle(outcome, path, attempt, self.budget, decoder)
            if not isinstance(verdict, Retry):
                return verdict
            time.sleep(verdict.delay)

    def _fetch(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read its body within `RetryPolicy.max_body` and `RetryPolicy.deadline`.

        The deadline is checked between reads: one read waits at most the read ``timeout``.
        """
        retry = self.policy.retry
        deadline = time.monotonic() + retry.deadline
        response = self._http.send(request, stream=True)
        try:
            body = _Body(response, retry)
            for chunk in [response.content] if response.is_stream_consumed else response.iter_raw():
                body.add(chunk)
                if time.monotonic() > deadline:
                    raise _late(retry)
        finally:
            response.close()
        return body.whole()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient:
    """Asynchronous twin of `Client`, for concurrent fetching inside the rate budget."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        stripe_account: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        budget: RateGate | None = None,
        max_connections: int = 64,
    ) -> None:
        retry = retry or RetryPolicy()
        self.policy = RequestPolicy(
            _resolve_key(api_key), stripe_account=stripe_account, base_url=base_url, retry=retry
        )
        self.budget = budget
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._http = httpx.AsyncClient(
            transport=transport,
            verify=tls_context(),
            timeout=_timeout(retry),
            limits=limits,
            event_hooks={"request": [check_outgoing_async]},
        )

    def __repr__(self) -> str:
        return f"AsyncClient({self.policy!r})"

    async def request(
        self, method: str, path: str, params: Params | None = None, expect: str | None = None
    ) -> dict[str, Any]:
        """Send ``method path`` (GET only) and return the decoded JSON object."""
        return await self._send(method, path, params, json_object(expect))

    async def get(self, path: str, params: Params | None = None, expect: str | None = None) -> dict[str, Any]:
        """GET ``path`` with Stripe-encoded ``params``; ``expect`` is the object type the body must be."""
        return await self.request("GET", path, params, expect)

    async def get_as(self, path: str, params: Params | None, decoder: Decoder[T]) -> T:
        """GET ``path`` and return its body as ``decoder`` reads it (retried while malformed)."""
        return await self._send("GET", path, params, decoder)

    async def _send(self, method: str, path: str, params: Params | None, decoder: Decoder[T]) -> T:
        request = self.policy.build(method, path, params)
        attempt = 0
        while True:
            attempt += 1
            if self.budget is not None:
                await self.budget.acquire_async(path)
            self.policy.stats.requests += 1
            try:
                outcome: httpx.Response | Failure = await self._fetch(request)
            except (httpx.TransportError, httpx.DecodingError, BodyError) as exc:
                outcome = exc
            verdict = self.policy.settle(outcome, path, attempt, self.budget, decoder)
            if not isinstance(verdict, Retry):
                return verdict
            await asyncio.sleep(verdict.delay)

    async def _fetch(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read its body within `RetryPolicy.max_body` and `RetryPolicy.deadline`."""
        retry = self.policy.retry
        try:
            async with asyncio.timeout(retry.deadline):
                response = await self._http.send(request, stream=True)
                try:
                    body = _Body(response, retry)
                    if response.is_stream_consumed:
                        body.add(response.content)
                    else:
                        async for chunk in response.aiter_raw():
                            body.add(chunk)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise _late(retry) from None
        return body.whole()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
