"""The HTTP client, sync and async: what goes on the wire, what is retried, what is raised.

Every test talks to a small handler through `httpx.MockTransport`; nothing leaves the process and
nothing sleeps (the retry policy has zero delays unless a test patches the sleep).
"""

# Expected value first is this project's test convention (DESIGN.md), which SIM300 calls yoda.

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx
import pytest

from finlab import errors
from finlab.client import AsyncClient, Client
from finlab.codec import encode_params, json_object
from finlab.policy import RequestPolicy, Retry
from finlab.settings import (
    API_VERSION,
    ClientConfig,
    ReadLimits,
    RetryPolicy,
    check_api_key,
    check_base_url,
    redact,
)

#: A long key, as Stripe's are, so that partial echoes can be recognised too.
KEY = "rk_test_" + "51Hq8Zr2eZvKYlo2C0FfQa9XbW7sTt3Ld" * 3
LIVE_KEY = "rk_live_" + "51Hq8Zr2eZvKYlo2C0FfQa9XbW7sTt3Ld"
NO_WAIT = RetryPolicy(base_delay=0, max_delay=0)
PATH = "/v1/climate/orders"
LIST = {"object": "list", "data": [], "has_more": False, "url": PATH}

Handler = Callable[[httpx.Request], httpx.Response]


class Server:
    """A scripted endpoint: answers with each reply in turn (the last one repeats), records requests."""

    def __init__(self, *replies: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]):
        self.replies = list(replies) or [httpx.Response(200, json=LIST)]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if isinstance(reply, Exception):
            if isinstance(reply, httpx.RequestError):
                reply._request = request
            raise reply
        if callable(reply) and not isinstance(reply, httpx.Response):
            return reply(request)
        # A fresh copy: a client takes over the stream of the response it receives.
        return httpx.Response(reply.status_code, headers=reply.headers, content=reply.content)

    @property
    def count(self) -> int:
        return len(self.requests)


def error_body(
    status: int,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    message: str = "Something went wrong.",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    error: dict[str, Any] = {"type": type, "message": message}
    if code is not None:
        error["code"] = code
    if param is not None:
        error["param"] = param
    return httpx.Response(status, json={"error": error}, headers={"request-id": "req_abc", **(headers or {})})


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def call(
    kind: str,
    server: Handler,
    path: str = PATH,
    params: dict[str, Any] | None = None,
    *,
    method: str = "GET",
    expect: str | None = None,
    **client_kwargs: Any,
) -> dict[str, Any]:
    """One request through a sync or async client built around ``server``."""
    client_kwargs.setdefault("retry", NO_WAIT)
    client_kwargs.setdefault("api_key", KEY)
    transport = httpx.MockTransport(server)
    if kind == "sync":
        with Client(transport=transport, **client_kwargs) as client:
            return client.request(method, path, params, expect)

    async def run() -> dict[str, Any]:
        async with AsyncClient(transport=transport, **client_kwargs) as client:
            return await client.request(method, path, params, expect)

    return asyncio.run(run())


# -- headers and the wire format ------------------------------------------------------------------


def test_auth_version_and_no_account_headers(kind: str) -> None:
    server = Server()
    assert LIST == call(kind, server)
    (request,) = server.requests
    assert "GET" == request.method
    assert f"Bearer {KEY}" == request.headers["authorization"]
    assert "2026-07-29.dahlia" == API_VERSION == request.headers["stripe-version"]
    assert "stripe-account" not in request.headers
    assert "https://api.stripe.com/v1/climate/orders" == str(request.url)


def test_stripe_account_header(kind: str) -> None:
    server = Server()
    call(kind, server, stripe_account="acct_1Nv0FGQ9RKHgCVdK")
    assert "acct_1Nv0FGQ9RKHgCVdK" == server.requests[0].headers["stripe-account"]


def test_stripe_account_must_be_an_account_id() -> None:
    with pytest.raises(errors.ConfigurationError, match="acct_"):
        Client(KEY, stripe_account="cus_123")


def test_stripe_account_error_does_not_echo_a_key() -> None:
    with pytest.raises(errors.ConfigurationError) as info:
        Client(KEY, stripe_account=KEY)
    assert KEY not in str(info.value)
    assert KEY[8:20] not in str(info.value)


def test_nested_form_encoding_on_the_wire(kind: str) -> None:
    server = Server()
    params = {
        "account": "fca_123",
        "transacted_at": {"gte": 1700000000, "lt": 1800000000},
        "transaction_refresh": {"after": "fctxnref_1"},
        "expand": ["data.account", "data.transaction_refresh"],
        "limit": 100,
        "include_deleted": False,
        "starting_after": None,
    }
    call(kind, server, "/v1/financial_connections/transactions", params)
    url = server.requests[0].url
    assert [
        ("account", "fca_123"),
        ("transacted_at[gte]", "1700000000"),
        ("transacted_at[lt]", "1800000000"),
        ("transaction_refresh[after]", "fctxnref_1"),
        ("expand[]", "data.account"),
        ("expand[]", "data.transaction_refresh"),
        ("limit", "100"),
        ("include_deleted", "false"),
    ] == url.params.multi_items()
    raw = url.query.decode()
    assert "transacted_at%5Bgte%5D=1700000000" in raw
    assert "expand%5B%5D=data.account" in raw
    assert "/v1/financial_connections/transactions" == url.path


def test_encode_params_shapes() -> None:
    assert [] == encode_params({})
    assert [("a[b][c]", "1"), ("a[d][]", "x"), ("a[d][]", "true"), ("e", "2.5")] == encode_params(
        {"a": {"b": {"c": 1}, "d": ("x", True)}, "e": 2.5, "f": None}
    )
    assert [] == encode_params({"transacted_at": {}})


def test_timeouts_come_from_the_read_limits(kind: str) -> None:
    server = Server()
    call(kind, server, limits=ReadLimits(timeout=7.0, connect_timeout=3.0))
    assert {"connect": 3.0, "read": 7.0, "write": 7.0, "pool": 7.0} == server.requests[0].extensions[
        "timeout"
    ]


# -- GET only ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT", "PATCH", "post"])
def test_only_get_is_ever_sent(kind: str, method: str) -> None:
    server = Server()
    with pytest.raises(errors.ConfigurationError, match="only reads"):
        call(kind, server, method=method)
    assert 0 == server.count


def test_lower_case_get_is_get(kind: str) -> None:
    server = Server()
    call(kind, server, method="get")
    assert "GET" == server.requests[0].method


@pytest.mark.parametrize("path", ["climate/orders", "/v2/core/events", "https://evil.example/v1/x", ""])
def test_paths_must_start_with_v1(kind: str, path: str) -> None:
    server = Server()
    with pytest.raises(errors.ConfigurationError, match="/v1/"):
        call(kind, server, path)
    assert 0 == server.count


# -- retries -------------------------------------------------------------------------------------


def _retry_cases() -> Iterator[Any]:
    yield pytest.param(httpx.ConnectError("refused"), id="connect-error")
    yield pytest.param(httpx.ReadTimeout("slow"), id="read-timeout")
    yield pytest.param(httpx.ConnectTimeout("slow"), id="connect-timeout")
    yield pytest.param(httpx.RemoteProtocolError("closed"), id="protocol-error")
    yield pytest.param(error_body(409, type="invalid_request_error", code="lock_timeout"), id="409-lock")
    for status in (500, 502, 503, 504):
        yield pytest.param(error_body(status, type="api_error"), id=str(status))
    yield pytest.param(httpx.Response(502, text="<html>Bad Gateway</html>"), id="502-html")
    yield pytest.param(error_body(429, type="invalid_request_error", code="rate_limit"), id="429")


@pytest.mark.parametrize("failure", list(_retry_cases()))
@pytest.mark.parametrize("failures", [1, 3])
def test_transient_failures_are_retried(kind: str, failure: Any, failures: int) -> None:
    server = Server(*([failure] * failures), httpx.Response(200, json=LIST))
    assert LIST == call(kind, server)
    assert failures + 1 == server.count


@pytest.mark.parametrize(
    ("failure", "error_type"),
    [
        (httpx.ConnectError("refused"), errors.ConnectionError),
        (httpx.ReadTimeout("slow"), errors.ConnectionError),
        (error_body(409, code="lock_timeout"), errors.APIError),
        (error_body(500, type="api_error"), errors.APIError),
        (error_body(503, type="api_error"), errors.APIError),
        (error_body(429, code="rate_limit"), errors.RateLimitError),
    ],
)
@pytest.mark.parametrize("max_retries", [0, 1, 4])
def test_retries_stop_after_max_retries(
    kind: str, failure: Any, error_type: type[errors.StripeError], max_retries: int
) -> None:
    server = Server(failure)
    retry = RetryPolicy(max_retries=max_retries, base_delay=0, max_delay=0)
    with pytest.raises(error_type) as info:
        call(kind, server, retry=retry)
    assert max_retries + 1 == server.count
    assert max_retries + 1 == info.value.attempts
    assert PATH == info.value.path


def test_default_policy_retries_five_times() -> None:
    assert 5 == RetryPolicy().max_retries
    server = Server(error_body(500, type="api_error"))
    retry = RetryPolicy(base_delay=0, max_delay=0)
    with Client(KEY, transport=httpx.MockTransport(server), retry=retry) as c, pytest.raises(errors.APIError):
        c.get(PATH)
    assert 6 == server.count


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, errors.InvalidRequestError),
        (401, errors.AuthenticationError),
        (402, errors.InvalidRequestError),
        (403, errors.PermissionError),
        (404, errors.NotFoundError),
        (409, errors.APIError),  # a 409 that is not a lock timeout
    ],
)
def test_client_errors_are_never_retried(
    kind: str, status: int, error_type: type[errors.StripeError]
) -> None:
    server = Server(error_body(status, code="some_code"), httpx.Response(200, json=LIST))
    with pytest.raises(error_type) as info:
        call(kind, server)
    assert 1 == server.count
    assert 1 == info.value.attempts
    assert type(info.value) is error_type


def test_should_retry_false_on_500_is_not_retried(kind: str) -> None:
    server = Server(
        error_body(500, type="api_error", headers={"Stripe-Should-Retry": "false"}),
        httpx.Response(200, json=LIST),
    )
    with pytest.raises(errors.APIError) as info:
        call(kind, server)
    assert 1 == server.count
    assert 500 == info.value.status


def test_should_retry_true_on_400_is_retried(kind: str) -> None:
    server = Server(
        error_body(400, code="idempotency_error", headers={"Stripe-Should-Retry": "true"}),
        httpx.Response(200, json=LIST),
    )
    assert LIST == call(kind, server)
    assert 2 == server.count


def test_should_retry_false_on_429_is_not_retried(kind: str) -> None:
    server = Server(error_body(429, code="rate_limit", headers={"Stripe-Should-Retry": "false"}))
    with pytest.raises(errors.RateLimitError):
        call(kind, server)
    assert 1 == server.count


# -- error mapping ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "stripe_type", "error_type"),
    [
        (400, "invalid_request_error", errors.InvalidRequestError),
        (401, "invalid_request_error", errors.AuthenticationError),
        (402, "card_error", errors.InvalidRequestError),
        (403, "invalid_request_error", errors.PermissionError),
        (404, "invalid_request_error", errors.NotFoundError),
        (429, "invalid_request_error", errors.RateLimitError),
        (500, "api_error", errors.APIError),
    ],
)
def test_error_mapping_carries_stripe_fields(
    kind: str, status: int, stripe_type: str, error_type: type[errors.StripeError]
) -> None:
    server = Server(
        error_body(status, type=stripe_type, code="the_code", param="the_param", message="Stripe says no.")
    )
    with pytest.raises(error_type) as info:
        call(kind, server, retry=RetryPolicy(max_retries=2, base_delay=0, max_delay=0))
    err = info.value
    retried = status in (429, 500)
    assert status == err.status
    assert stripe_type == err.type
    assert "the_code" == err.code
    assert "the_param" == err.param
    assert "Stripe says no." == err.stripe_message
    assert "req_abc" == err.request_id
    assert PATH == err.path
    assert (3 if retried else 1) == err.attempts
    assert f"GET {PATH} failed with HTTP {status} (the_code): Stripe says no." in str(err)
    assert "req_abc" in str(err)


def test_error_without_a_json_body(kind: str) -> None:
    server = Server(httpx.Response(404, text="Not Found", headers={"request-id": "req_9"}))
    with pytest.raises(errors.NotFoundError) as info:
        call(kind, server)
    assert (404, None, None, None, None, "req_9") == (
        info.value.status,
        info.value.type,
        info.value.code,
        info.value.param,
        info.value.stripe_message,
        info.value.request_id,
    )
    assert "no error message from Stripe" in str(info.value)


def test_connection_error_fields(kind: str) -> None:
    server = Server(httpx.ConnectError("refused"))
    with pytest.raises(errors.ConnectionError) as info:
        call(kind, server, retry=RetryPolicy(max_retries=2, base_delay=0, max_delay=0))
    err = info.value
    assert (None, PATH, 3) == (err.status, err.path, err.attempts)
    assert "ConnectError" in str(err)
    assert isinstance(err, ConnectionError)  # the builtin: generic handlers still catch it


def test_hints_in_messages(kind: str) -> None:
    with pytest.raises(errors.AuthenticationError, match="STRIPE_API_KEY"):
        call(kind, Server(error_body(401, message="Invalid API Key provided: rk_test_****")))
    with pytest.raises(errors.PermissionError, match="permission"):
        call(kind, Server(error_body(403, message="The provided key does not have access")))


# -- malformed bodies ------------------------------------------------------------------------------

MALFORMED = [
    pytest.param(httpx.Response(200, text="<!doctype html><title>Proxy login</title>"), id="html"),
    pytest.param(httpx.Response(200, content=b'{"object": "list", "data": [{"id": "x"'), id="truncated"),
    pytest.param(httpx.Response(200, json={"object": "climate.order", "id": "climorder_1"}), id="not-a-list"),
    pytest.param(httpx.Response(200, json=[LIST]), id="json-array"),
    pytest.param(httpx.Response(200, content=b""), id="empty"),
    pytest.param(httpx.Response(200, content=b"\xff\xfe{"), id="not-utf8"),
    pytest.param(
        # A body whose gzip encoding is broken (a truncated transfer): fresh per request, as it streams.
        lambda _: httpx.Response(
            200, headers={"content-encoding": "gzip"}, stream=httpx.ByteStream(b"not gzip at all")
        ),
        id="bad-gzip",
    ),
]


@pytest.mark.parametrize("bad", MALFORMED)
def test_malformed_200_is_retried_then_recovers(kind: str, bad: Any) -> None:
    server = Server(bad, httpx.Response(200, json=LIST))
    assert LIST == call(kind, server, expect="list")
    assert 2 == server.count


@pytest.mark.parametrize("bad", MALFORMED)
def test_malformed_200_raises_api_error_after_retries(kind: str, bad: Any) -> None:
    server = Server(bad)
    with pytest.raises(errors.APIError) as info:
        call(kind, server, expect="list", retry=RetryPolicy(max_retries=2, base_delay=0, max_delay=0))
    assert 3 == server.count
    assert 3 == info.value.attempts
    assert PATH == info.value.path
    assert type(info.value) is errors.APIError


def test_redirects_are_not_followed(kind: str) -> None:
    """A redirect could carry the key elsewhere: it is an error, sent once, never followed."""
    server = Server(httpx.Response(302, headers={"location": "https://elsewhere.example/v1/x"}))
    with pytest.raises(errors.APIError) as info:
        call(kind, server)
    assert 1 == server.count
    assert 302 == info.value.status


def test_without_expect_any_json_object_is_accepted(kind: str) -> None:
    order = {"object": "climate.order", "id": "climorder_1"}
    assert order == call(kind, Server(httpx.Response(200, json=order)))


# -- the key never leaks ---------------------------------------------------------------------------


def _assert_no_key(*texts: object) -> None:
    for text in texts:
        rendered = str(text)
        assert KEY not in rendered
        assert KEY[8:] not in rendered
        assert KEY[20:40] not in rendered  # nor a long run of it


def _echo_key(request: httpx.Request) -> httpx.Response:
    auth = request.headers["authorization"].removeprefix("Bearer ")
    return httpx.Response(
        401,
        json={
            "error": {
                "type": "invalid_request_error",
                "code": f"bad_key_{auth}",
                "param": auth,
                "message": f"Invalid API Key provided: {auth} (also {auth[10:60]})",
            }
        },
        headers={"request-id": f"req_{auth[8:]}"},
    )


def test_key_never_leaks_from_an_echoing_server(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(errors.AuthenticationError) as info:
        call(kind, _echo_key)
    err = info.value
    assert "Invalid API Key provided" in (err.stripe_message or "")
    _assert_no_key(str(err), repr(err), err.stripe_message, err.code, err.param, err.request_id, err.args)
    _assert_no_key(*(record.getMessage() for record in caplog.records))


def test_key_never_leaks_through_retries_and_logs(kind: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = Server(
        httpx.ConnectError(f"could not send {KEY}"),
        error_body(500, type="api_error", message=f"boom {KEY}"),
        httpx.Response(200, text=f"<html>{KEY}</html>", headers={"request-id": KEY}),
    )
    with pytest.raises(errors.APIError) as info:
        call(kind, server, expect="list", retry=RetryPolicy(max_retries=2, base_delay=0, max_delay=0))
    assert 3 == server.count
    assert any("retrying GET" in r.getMessage() for r in caplog.records)
    assert any(r.name.startswith("httpx") for r in caplog.records)  # httpx's own lines are checked too
    _assert_no_key(str(info.value), repr(info.value), info.value.request_id)
    _assert_no_key(*(record.getMessage() for record in caplog.records))
    _assert_no_key(*(str(record.args) for record in caplog.records))


def test_key_not_in_client_repr() -> None:
    with Client(KEY, transport=httpx.MockTransport(Server())) as client:
        assert KEY not in repr(client)
        assert "rk_test_…" in repr(client)
    client_async = AsyncClient(LIVE_KEY, transport=httpx.MockTransport(Server()))
    assert LIVE_KEY not in repr(client_async)
    assert "rk_live_…" in repr(client_async)
    asyncio.run(client_async.aclose())


def test_redact() -> None:
    assert "rk_test_…" == redact(KEY)
    assert "sk_live_…" == redact("sk_live_abcdefgh12345")
    assert "<key>" == redact("not a key at all")


# -- base URL ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://api.stripe.com", "https://api.stripe.com"),
        ("https://api.stripe.com/", "https://api.stripe.com"),
        ("http://127.0.0.1:12111", "http://127.0.0.1:12111"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("http://localhost:8000/", "http://localhost:8000"),
        ("http://localhost", "http://localhost"),
    ],
)
def test_allowed_base_urls(base_url: str, expected: str) -> None:
    assert expected == check_base_url(base_url)


@pytest.mark.parametrize(
    "base_url",
    [
        "http://example.com",
        "http://api.stripe.com",
        "http://localhost.example.com",
        "http://127.0.0.1.nip.io",
        "http://10.0.0.1",
        "ftp://localhost",
        "https://",
        "api.stripe.com",
        "",
    ],
)
def test_refused_base_urls(kind: str, base_url: str) -> None:
    server = Server()
    with pytest.raises(errors.ConfigurationError, match="base_url"):
        call(kind, server, base_url=base_url)
    assert 0 == server.count


def test_requests_go_to_the_base_url(kind: str) -> None:
    server = Server()
    call(kind, server, base_url="http://127.0.0.1:12111/")
    assert "http://127.0.0.1:12111/v1/climate/orders" == str(server.requests[0].url)


# -- keys ---------------------------------------------------------------------------------------------


def test_missing_key(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    for key in (None, "", "   "):
        server = Server()
        with pytest.raises(errors.AuthenticationError, match="No Stripe API key"):
            call(kind, server, api_key=key)
        assert 0 == server.count


@pytest.mark.parametrize(
    "bad",
    [
        "rk_test_short",
        "rk_prod_abcdefghijkl",
        "xk_test_abcdefghijkl",
        "rk_test_abc-defghijkl",
        "rk_test_abcdefghijkl\n",
        " rk_test_abcdefghijkl",
        "rk_test_abcdefghijkl extra",
        "Bearer rk_test_abcdefghijkl",
    ],
)
def test_malformed_key(bad: str) -> None:
    with pytest.raises(errors.ConfigurationError, match="malformed") as info:
        check_api_key(bad)
    assert bad.strip() not in str(info.value)
    with pytest.raises(errors.ConfigurationError):
        Client(bad)


@pytest.mark.parametrize("key", ["pk_test_abcdefghijkl", "pk_live_abcdefghijkl"])
def test_publishable_key_is_refused(kind: str, key: str) -> None:
    server = Server()
    with pytest.raises(errors.ConfigurationError, match="publishable") as info:
        call(kind, server, api_key=key)
    assert key not in str(info.value)
    assert 0 == server.count


@pytest.mark.parametrize("key", ["sk_test_abcdefgh", "sk_live_ABCdef123456", "rk_test_abcdefgh", LIVE_KEY])
def test_good_keys(key: str) -> None:
    assert key == check_api_key(key)


def test_livemode_follows_the_key() -> None:
    transport = httpx.MockTransport(Server())
    assert Client(LIVE_KEY, transport=transport).policy.livemode
    assert not Client(KEY, transport=transport).policy.livemode


def test_env_key_fallback(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", LIVE_KEY)
    server = Server()
    call(kind, server, api_key=None)
    assert f"Bearer {LIVE_KEY}" == server.requests[0].headers["authorization"]


def test_explicit_key_beats_env(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", LIVE_KEY)
    server = Server()
    call(kind, server, api_key=KEY)
    assert f"Bearer {KEY}" == server.requests[0].headers["authorization"]


def test_malformed_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_API_KEY", "pk_live_abcdefghijkl")
    with pytest.raises(errors.ConfigurationError, match="publishable"):
        Client()


# -- backoff, budget, stats ------------------------------------------------------------------------


def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (30, 4.0)]:
        for _ in range(50):
            assert ceiling / 2 <= policy.delay(attempt) <= ceiling


def test_retry_after_is_honoured_up_to_max_delay() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=10.0)
    assert 3.0 <= policy.delay(1, "3")
    assert 10.0 == policy.delay(1, "3600")
    assert policy.delay(1, "soon") <= 0.1
    assert 0 == NO_WAIT.delay(3, "30")


def test_sync_client_sleeps_between_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("finlab.client.time.sleep", slept.append)
    server = Server(
        error_body(429, code="rate_limit", headers={"Retry-After": "2"}), error_body(500), LIST_OK
    )
    with Client(
        KEY, transport=httpx.MockTransport(server), retry=RetryPolicy(base_delay=0.5, max_delay=8)
    ) as c:
        assert LIST == c.get(PATH)
    assert 2 == len(slept)
    assert 2.0 <= slept[0] <= 8
    assert 0.5 <= slept[1] <= 1.0


def test_async_client_sleeps_without_blocking(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr("finlab.client.asyncio.sleep", fake_sleep)
    monkeypatch.setattr("finlab.client.time.sleep", lambda _: pytest.fail("blocking sleep in async client"))
    server = Server(error_body(503), LIST_OK)
    retry = RetryPolicy(base_delay=1.0, max_delay=8)

    async def run() -> dict[str, Any]:
        async with AsyncClient(KEY, transport=httpx.MockTransport(server), retry=retry) as c:
            return await c.get(PATH)

    assert LIST == asyncio.run(run())
    assert 1 == len(slept)
    assert 0.5 <= slept[0] <= 1.0


LIST_OK = httpx.Response(200, json=LIST)


class FakeBudget:
    def __init__(self) -> None:
        self.acquired: list[str] = []
        self.limited: list[str] = []
        self.answered: list[str] = []

    def acquire(self, path: str) -> float:
        self.acquired.append(path)
        return 0.0

    async def acquire_async(self, path: str) -> float:
        self.acquired.append(path)
        return 0.0

    def now(self) -> float:
        return 0.0

    def rate_limited(self, path: str, sent: float | None = None) -> None:
        self.limited.append(path)

    def admitted(self, path: str, sent: float | None = None) -> None:
        self.answered.append(path)


def test_budget_is_asked_before_every_attempt_and_told_of_every_answer(kind: str) -> None:
    budget = FakeBudget()
    server = Server(
        error_body(429, code="rate_limit"), error_body(500), httpx.ConnectError("x"), error_body(429), LIST_OK
    )
    call(kind, server, budget=budget)
    assert [PATH] * 5 == budget.acquired
    assert [PATH] * 2 == budget.limited
    assert [PATH] * 2 == budget.answered  # the 500 and the 200; no answer to a failed connection


@pytest.mark.parametrize(("budget", "low", "high"), [(None, 2.0, 4.0), (FakeBudget(), 0.25, 0.5)])
def test_a_429_retry_waits_the_first_delay_when_a_budget_paces(
    budget: FakeBudget | None, low: float, high: float
) -> None:
    policy = RequestPolicy(ClientConfig(KEY))
    response = error_body(429, code="rate_limit")
    response.request = httpx.Request("GET", "https://api.stripe.com" + PATH)

    verdict = policy.settle(response, PATH, 4, budget, json_object())  # the fourth 429 in a row

    # Without a budget the wait doubles with each 429 (up to 0.5 s x 2**3); with one, the budget
    # slows every request already, and a doubled wait would only hold up this request's batch.
    assert isinstance(verdict, Retry)
    assert low <= verdict.delay <= high


def test_stats_count_requests_and_retries() -> None:
    server = Server(
        error_body(429, code="rate_limit"),
        httpx.ConnectError("x"),
        error_body(503),
        httpx.Response(200, text="<html>"),
        LIST_OK,
    )
    with Client(KEY, transport=httpx.MockTransport(server), retry=NO_WAIT) as c:
        c.get(PATH, expect="list")
        stats = c.policy.stats
    assert 5 == stats.requests
    assert 1 == stats.rate_limited
    assert {"429": 1, "ConnectError": 1, "503": 1, "malformed": 1} == stats.retries


def test_sequential_requests_are_independent(kind: str) -> None:
    """Each request gets its own retry allowance."""
    server = Server(error_body(500), LIST_OK, error_body(500), LIST_OK)
    retry = RetryPolicy(max_retries=1, base_delay=0, max_delay=0)
    if kind == "sync":
        with Client(KEY, transport=httpx.MockTransport(server), retry=retry) as c:
            results: Sequence[dict[str, Any]] = [c.get(PATH), c.get(PATH)]
    else:

        async def run() -> list[dict[str, Any]]:
            async with AsyncClient(KEY, transport=httpx.MockTransport(server), retry=retry) as c:
                return [await c.get(PATH), await c.get(PATH)]

        results = asyncio.run(run())
    assert [LIST, LIST] == list(results)
    assert 4 == server.count


def test_async_requests_run_concurrently() -> None:
    seen: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params["n"])
        await asyncio.sleep(0)
        return httpx.Response(
            200, json={"object": "list", "data": [], "has_more": False, "n": request.url.params["n"]}
        )

    async def run() -> list[dict[str, Any]]:
        async with AsyncClient(KEY, transport=httpx.MockTransport(handler), retry=NO_WAIT) as c:
            return list(await asyncio.gather(*(c.get(PATH, {"n": n}, expect="list") for n in range(10))))

    bodies = asyncio.run(run())
    assert [str(n) for n in range(10)] == [b["n"] for b in bodies]
    assert 10 == len(seen)


def test_error_body_shapes_that_are_not_stripe_errors(kind: str) -> None:
    """An error body whose ``error`` is not an object still maps by status."""
    for body in ({"error": "nope"}, {"error": {"message": 42}}, [1, 2]):
        server = Server(httpx.Response(400, content=json.dumps(body).encode()))
        with pytest.raises(errors.InvalidRequestError) as info:
            call(kind, server)
        assert info.value.stripe_message is None
