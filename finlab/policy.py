"""The request policy both clients share: building each GET, and judging what came back.

For each response or network failure `RequestPolicy.settle` decides: return the decoded body, retry after
a backoff (`Retry`), or raise a typed error from :mod:`finlab.errors` with the key scrubbed out of
anything the server said.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import httpx

from finlab import errors, resources
from finlab.codec import Decoder, Params, encode_params, parse_object
from finlab.settings import API_VERSION, ClientConfig, redact

#: Every path finlab reads: segments of letters, digits and underscores, dotted inside (report type ids
#: such as ``tax.transactions.itemized.2``); never ``..``, ``?``, ``#``, whitespace or a control character.
_PATH = re.compile(r"/v1(/[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*)+")
#: The one path finlab may ever POST to, and only when asked (``tax_report(..., create=True)``).
CREATE_PATH = "/v1/reporting/report_runs"
#: The request extension `RequestPolicy.build_create` marks that POST with.
CREATE_MARK = "finlab_create"

log = logging.getLogger("finlab.client")


def _checked_path(path: str) -> str:
    """``path`` if it is a Stripe path (the last guard for ids in paths, wherever they came from)."""
    if not _PATH.fullmatch(path):
        msg = f"Stripe paths are /v1/ then segments of letters, digits, underscores and dots: {path!r:.120}."
        raise errors.ConfigurationError(msg)
    return path


T = TypeVar("T")


class BodyError(Exception):
    """A response finlab stopped reading: larger than `ReadLimits.max_body`, or past its deadline."""

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

    def now(self) -> float:
        """The budget's clock: when a request it granted is sent."""

    def rate_limited(self, path: str, sent: float | None = None) -> None:
        """Stripe answered 429 for ``path`` (a request ``sent`` then, by `now`): slow down."""

    def admitted(self, path: str, sent: float | None = None) -> None:
        """Stripe answered ``path`` with anything but 429: the request counted against the limit."""


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

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self._api_key = config.api_key
        self.retry = config.retry
        self.stats = RequestStats()

    @property
    def livemode(self) -> bool:
        """True for live keys."""
        return self.config.livemode

    def __repr__(self) -> str:
        return f"RequestPolicy(key={redact(self._api_key)!r}, base_url={self.config.base_url!r})"

    def headers(self) -> dict[str, str]:
        """Auth, version pin and connected account headers for every request."""
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Stripe-Version": API_VERSION,
            "User-Agent": "finlab (+https://github.com/finlab)",
            "Accept-Encoding": "gzip",  # what `_Body` inflates within the cap
        }
        if self.config.stripe_account:
            headers["Stripe-Account"] = self.config.stripe_account
        return headers

    def build(
        self, method: str, path: str, params: Params | None, *, host: str | None = None
    ) -> httpx.Request:
        """The GET request for ``path`` (on ``host``, default the API); any other method raises first."""
        if method.upper() != "GET":
            msg = f"finlab only reads: refusing to send {method.upper()} {path}. Only GET is allowed."
            raise errors.ConfigurationError(msg)
        query = httpx.QueryParams(tuple(encode_params(params or {})))
        url = (host or self.config.base_url) + _checked_path(path)
        return httpx.Request("GET", url, params=query, headers=self.headers())

    def build_create(self, path: str, params: Params) -> httpx.Request:
        """The one write finlab may send: POST `CREATE_PATH` (a report run), with an idempotency key.

        The request is marked (`CREATE_MARK`) so that the last check as it leaves lets it through;
        a POST anywhere else, or one not built here, is refused there.
        """
        if path != CREATE_PATH:
            msg = f"finlab only reads: refusing to send POST {path}. The one write is POST {CREATE_PATH}."
            raise errors.ConfigurationError(msg)
        headers = {**self.headers(), "Idempotency-Key": str(uuid.uuid4())}  # a retry creates no second run
        body = httpx.QueryParams(tuple(encode_params(params)))
        return httpx.Request(
            "POST",
            self.config.base_url + path,
            content=str(body).encode(),
            headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
            extensions={CREATE_MARK: True},
        )

    def settle(
        self,
        outcome: httpx.Response | Failure,
        path: str,
        attempt: int,
        budget: RateGate | None,
        decoder: Decoder[T],
        sent: float | None = None,
    ) -> T | Retry:
        """Decide what one attempt's outcome means: the decoded body, a `Retry`, or a raised error.

        ``budget`` is the rate budget, if any, told of the answer; ``sent`` when it let this attempt go
        (on its clock).
        """
        if not isinstance(outcome, httpx.Response):
            return self.judge_exception(outcome, path, attempt)
        if budget is None:
            return self.judge_response(outcome, path, attempt, decoder)
        limited = outcome.status_code == 429
        (budget.rate_limited if limited else budget.admitted)(path, sent)
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
                f"Stripe's answer to GET {path} {exc} after {attempt} attempt(s). A proxy or a broken "
                "server may be in the way; run again later, or raise ReadLimits' max_body or deadline if "
                "the answer is genuine.",
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
        body = parse_object(response.content) or {}
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


#: Endpoints finlab reads that have no frame of their own: what they serve, and the permission it needs.
_OTHER_PERMISSIONS = {
    "/v1/payment_intents": ("finding tax transactions (tax_transactions(start=...))", "PaymentIntents: Read"),
    "/v1/refunds": ("finding reversals (tax_transactions(start=...))", "Refunds: Read"),
    "/v1/reporting/": ("Stripe's tax reports (tax_report())", "Reporting: Report runs and report types"),
    "/v1/files/": ("a report's result file (tax_report())", "Files: Read"),
}


def _permission_hint(path: str) -> str:
    """What to grant a restricted key that got 403 on ``path``: the resource and its read permission."""
    res = resources.for_path(path)
    if res is None:
        for prefix, (what, permission) in _OTHER_PERMISSIONS.items():
            if path.startswith(prefix):
                return (
                    f"Reading {what} needs the permission {permission!r}: grant it to the restricted key "
                    "in the Stripe Dashboard (Developers > API keys), then run again"
                )
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
