"""The read-only HTTP clients for Stripe's REST API: sync (`Client`) and async (`AsyncClient`).

Both are built from a `ClientConfig` (:mod:`finlab.settings`) and share a `RequestPolicy`
(:mod:`finlab.policy`): it builds each request (auth, ``Stripe-Version`` pin, ``Stripe-Account``,
Stripe's form encoding) and decides whether an answer is returned, retried or raised. Here each answer
is read within `ReadLimits` (size after decompression, total deadline), and every request leaving is
checked once more: GET only, and https unless it goes to this machine.

Examples
--------
>>> with Client("rk_test_" + "x" * 24) as client:
...     client
Client(RequestPolicy(key='rk_test_…', base_url='https://api.stripe.com'))
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import functools
import os
import ssl
import time
from typing import Any, TypeVar

import httpx

from finlab import errors, resources
from finlab.body import Body, late
from finlab.codec import Decoder, Params, json_object
from finlab.policy import (
    CREATE_MARK,
    CREATE_PATH,
    BodyError,
    Failure,
    RateGate,
    RequestPolicy,
    Retry,
)
from finlab.settings import (
    API_VERSION,
    DEFAULT_BASE_URL,
    ClientConfig,
    ReadLimits,
    RetryPolicy,
    check_api_key,
    is_loopback,
)

T = TypeVar("T")


def check_outgoing(request: httpx.Request) -> None:
    """The last check as a request leaves, whatever built it: GET only, and https off loopback.

    The one exception is the POST `RequestPolicy.build_create` makes (a report run, when asked).
    """
    create = request.url.path == CREATE_PATH and request.extensions.get(CREATE_MARK) is True
    if request.method != "GET" and not (request.method == "POST" and create):
        msg = f"finlab only reads: refusing to send {request.method} {request.url.path}. Only GET is allowed."
        raise errors.ConfigurationError(msg)
    if request.url.scheme != "https" and not (request.url.scheme == "http" and is_loopback(request.url.host)):
        msg = (
            f"Refusing to send a request to {request.url.scheme}://{request.url.host}: the API key may only "
            "travel over https, or over http to a loopback address."
        )
        raise errors.ConfigurationError(msg)


async def check_outgoing_async(request: httpx.Request) -> None:
    """`check_outgoing` for the async client's event hooks."""
    check_outgoing(request)


def _config(api_key: str | None, **settings: Any) -> ClientConfig:
    """The checked config of a client made with these arguments (the key defaults to ``STRIPE_API_KEY``)."""
    key = check_api_key(api_key if api_key is not None else os.environ.get("STRIPE_API_KEY"))
    given = {name: value for name, value in settings.items() if value is not None}
    return ClientConfig(key, **given)


def _settings(config: ClientConfig) -> dict[str, Any]:
    """``config`` as a client's keyword arguments."""
    return {
        "stripe_account": config.stripe_account,
        "base_url": config.base_url,
        "files_url": config.files_url,
        "retry": config.retry,
        "limits": config.limits,
        "transport": config.transport,
        "budget": config.budget,
    }


#: A file's contents as they come (the policy refuses error statuses before this sees them).
_CONTENTS: Decoder[bytes] = Decoder(lambda content: content, "a file's contents")


def _timeout(limits: ReadLimits) -> httpx.Timeout:
    return httpx.Timeout(limits.timeout, connect=limits.connect_timeout)


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
    base_url, files_url
        The API's host and the files host (default ``https://files.stripe.com``): https, or http to a
        loopback test server.
    retry, limits
        Retries and backoff (`RetryPolicy`); timeouts, deadline and body cap (`ReadLimits`).
    transport
        An httpx transport, e.g. ``httpx.MockTransport(demo_server.handle)`` in tests.
    budget
        A rate budget every request waits on (see :mod:`finlab.budget`).

    ``Client.from_config(config)`` builds one from a `ClientConfig`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        stripe_account: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        files_url: str | None = None,
        retry: RetryPolicy | None = None,
        limits: ReadLimits | None = None,
        transport: httpx.BaseTransport | None = None,
        budget: RateGate | None = None,
    ) -> None:
        config = _config(
            api_key,
            stripe_account=stripe_account,
            base_url=base_url,
            files_url=files_url,
            retry=retry,
            limits=limits,
            transport=transport,
            budget=budget,
        )
        self.policy = RequestPolicy(config)
        self.budget = config.budget
        self._http = httpx.Client(
            transport=config.transport,
            verify=tls_context(),
            timeout=_timeout(config.limits),
            event_hooks={"request": [check_outgoing]},
        )

    @classmethod
    def from_config(cls, config: ClientConfig) -> Client:
        """A client built from ``config``."""
        return cls(config.api_key, **_settings(config))

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
            sent = None
            if self.budget is not None:
                self.budget.acquire(path)
                sent = self.budget.now()
            self.policy.stats.requests += 1
            try:
                outcome: httpx.Response | Failure = self._fetch(request)
            except (httpx.TransportError, httpx.DecodingError, BodyError) as exc:
                outcome = exc
            verdict = self.policy.settle(outcome, path, attempt, self.budget, decoder, sent)
            if not isinstance(verdict, Retry):
                return verdict
            time.sleep(verdict.delay)

    def _fetch(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read its body within `ReadLimits.max_body` and `ReadLimits.deadline`.

        The deadline is checked between reads: one read waits at most the read ``timeout``.
        """
        limits = self.policy.config.limits
        deadline = time.monotonic() + limits.deadline
        response = self._http.send(request, stream=True)
        try:
            body = Body(response, limits.max_body)
            for chunk in [response.content] if response.is_stream_consumed else response.iter_raw():
                body.add(chunk)
                if time.monotonic() > deadline:
                    raise late(limits)
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
        files_url: str | None = None,
        retry: RetryPolicy | None = None,
        limits: ReadLimits | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        budget: RateGate | None = None,
        max_connections: int = 64,
    ) -> None:
        config = _config(
            api_key,
            stripe_account=stripe_account,
            base_url=base_url,
            files_url=files_url,
            retry=retry,
            limits=limits,
            transport=transport,
            budget=budget,
        )
        self.policy = RequestPolicy(config)
        self.budget = config.budget
        pool = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._http = httpx.AsyncClient(
            transport=config.transport,
            verify=tls_context(),
            timeout=_timeout(config.limits),
            limits=pool,
            event_hooks={"request": [check_outgoing_async]},
        )

    @classmethod
    def from_config(cls, config: ClientConfig) -> AsyncClient:
        """A client built from ``config``."""
        return cls(config.api_key, **_settings(config))

    def __repr__(self) -> str:
        return f"AsyncClient({self.policy!r})"

    def on_behalf_of(self, account: str | None) -> AsyncClient:
        """This client reading ``account``'s data (``Stripe-Account``; None: the key's own account).

        The copy shares the connection pool, the rate budget and the request counts: a platform reading
        many connected accounts spends one budget.
        """
        if account == self.policy.config.stripe_account:
            return self
        clone = copy.copy(self)
        stats = self.policy.stats
        clone.policy = RequestPolicy(dataclasses.replace(self.policy.config, stripe_account=account))
        clone.policy.stats = stats
        return clone

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

    async def create_report_run(self, params: Params) -> dict[str, Any]:
        """POST a report run: the one write finlab may send, only for ``tax_report(..., create=True)``."""
        request = self.policy.build_create(CREATE_PATH, params)
        limits = self.policy.config.limits
        return await self._exchange(
            request, CREATE_PATH, json_object("reporting.report_run"), limits.max_body
        )

    async def download(self, file_id: str) -> bytes:
        """The contents of a file (a report run's result) from the files host, up to `ReadLimits.max_file`."""
        path = f"/v1/files/{resources.check_id(file_id, 'File')}/contents"
        request = self.policy.build("GET", path, None, host=self.policy.config.files_url)
        return await self._exchange(request, path, _CONTENTS, self.policy.config.limits.max_file)

    async def _send(self, method: str, path: str, params: Params | None, decoder: Decoder[T]) -> T:
        request = self.policy.build(method, path, params)
        return await self._exchange(request, path, decoder, self.policy.config.limits.max_body)

    async def _exchange(self, request: httpx.Request, path: str, decoder: Decoder[T], cap: int) -> T:
        """Send ``request`` until its answer is decoded, retrying as the policy says."""
        attempt = 0
        while True:
            attempt += 1
            sent = None
            if self.budget is not None:
                await self.budget.acquire_async(path)
                sent = self.budget.now()
            self.policy.stats.requests += 1
            try:
                outcome: httpx.Response | Failure = await self._fetch(request, cap)
            except (httpx.TransportError, httpx.DecodingError, BodyError) as exc:
                outcome = exc
            verdict = self.policy.settle(outcome, path, attempt, self.budget, decoder, sent)
            if not isinstance(verdict, Retry):
                return verdict
            await asyncio.sleep(verdict.delay)

    async def _fetch(self, request: httpx.Request, cap: int) -> httpx.Response:
        """Send ``request`` and read its body within ``cap`` bytes and `ReadLimits.deadline`."""
        limits = self.policy.config.limits
        try:
            async with asyncio.timeout(limits.deadline):
                response = await self._http.send(request, stream=True)
                try:
                    body = Body(response, cap)
                    if response.is_stream_consumed:
                        body.add(response.content)
                    else:
                        async for chunk in response.aiter_raw():
                            body.add(chunk)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise late(limits) from None
        return body.whole()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


__all__ = [
    "API_VERSION",
    "AsyncClient",
    "Client",
    "ClientConfig",
    "Decoder",
    "Params",
    "RateGate",
    "ReadLimits",
    "RequestPolicy",
    "RetryPolicy",
    "json_object",
]
