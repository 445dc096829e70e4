"""The demo Stripe's pace: sliding-window rate limits that answer Stripe's 429, latency, 100+ in flight.

Clocks and sleeps are fakes except over the socket, where a barrier proves 100 requests are answered at
once (it would time out otherwise); nothing depends on how fast this machine is.
"""

# Expected value first is this project's test convention (DESIGN.md), which SIM300 calls yoda.

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from finlab import cli, errors
from finlab.budget import Budget
from finlab.client import Client, RetryPolicy
from finlab.demo import DEMO_API_KEY, DemoStripe, default_dataset, serve
from finlab.demo.limits import RATE_LIMITED, Limits
from tests.spec import validating_transport

ORDERS = "/v1/climate/orders"
NO_WAIT = RetryPolicy(base_delay=0, max_delay=0, max_retries=0)


class Clock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def dataset() -> Any:
    return default_dataset()


def get(server: DemoStripe, path: str = ORDERS) -> httpx.Response:
    request = httpx.Request(
        "GET", f"https://api.stripe.com{path}", headers={"Authorization": f"Bearer {DEMO_API_KEY}"}
    )
    return server.handle(request)


# -- limits ---------------------------------------------------------------------------------------


def test_an_endpoint_takes_25_requests_in_any_second() -> None:
    clock = Clock()
    limits = Limits.stripe("live", clock=clock)
    assert [None] * 25 == [limits.admit(ORDERS) for _ in range(25)]
    assert RATE_LIMITED == limits.admit(ORDERS)
    assert limits.admit("/v1/climate/products") is None, "another endpoint has its own window"
    clock.now += 0.999
    assert RATE_LIMITED == limits.admit(ORDERS), "the window slides: all 25 are less than 1 s old"
    clock.now += 0.001
    assert limits.admit(ORDERS) is None
    assert 2 == limits.refused


def test_ids_are_collapsed_into_one_endpoint() -> None:
    limits = Limits(endpoint_rate=2, clock=Clock())
    assert limits.admit("/v1/tax/transactions/tax_1Pgc7AB7WZ01zgkW5XONRnmb/line_items") is None
    assert limits.admit("/v1/tax/transactions/tax_2Qhd8BC8XA12ahlX6YPOSonc/line_items") is None
    assert RATE_LIMITED == limits.admit("/v1/tax/transactions/tax_3Rie9CD9YB23bimY7ZQPTpod/line_items")


@pytest.mark.parametrize(("mode", "total"), [("live", 100), ("test", 25)])
def test_the_account_takes_its_global_rate_across_endpoints(mode: str, total: int) -> None:
    limits = Limits.stripe(mode, clock=Clock())
    paths = [f"/v1/climate/orders/climorder_{n}" if n % 2 else f"/v1/endpoint_{n % 8}" for n in range(400)]
    assert total == sum(limits.admit(path) is None for path in paths)


def test_off_admits_everything_and_modes_are_checked() -> None:
    limits = Limits.stripe("off", clock=Clock())
    assert all(limits.admit(ORDERS) is None for _ in range(1_000))
    with pytest.raises(errors.ConfigurationError, match="live, test, off"):
        Limits.stripe("fast")


def test_latency_and_jitter_wait_in_the_calling_thread() -> None:
    waits: list[float] = []
    limits = Limits(latency=0.3, jitter=0.05, sleep=waits.append, seed=3)
    for _ in range(200):
        limits.wait()
    assert all(0.25 <= w <= 0.35 for w in waits)
    assert max(waits) - min(waits) > 0.08
    Limits(sleep=waits.append).wait()
    assert 200 == len(waits), "no latency, no sleep"


# -- the server -----------------------------------------------------------------------------------


def test_the_429_is_stripes_and_finlab_backs_off(dataset: Any) -> None:
    clock = Clock()
    server = DemoStripe(dataset, limits=Limits(endpoint_rate=1, clock=clock))
    budget = Budget.for_key_mode("live", clock=lambda: 0.0)  # no time passes: the cut rate stays
    client = Client(DEMO_API_KEY, transport=validating_transport(server.handle), retry=NO_WAIT, budget=budget)
    assert "list" == client.get(ORDERS, expect="list")["object"]
    with pytest.raises(errors.RateLimitError) as raised:
        client.get(ORDERS, expect="list")
    assert ("rate_limit", 429) == (raised.value.code, raised.value.status)
    assert [200, 429] == [r.status for r in server.requests]
    assert 22.5 == budget.rates()[ORDERS], "the budget cut the endpoint's rate (x0.9)"
    body = get(server).json()["error"]
    assert {"type": "invalid_request_error", "code": "rate_limit", "message": RATE_LIMITED} == {
        k: body[k] for k in ("type", "code", "message")
    }
    clock.now += 1
    assert 200 == get(server).status_code


def test_a_rate_limited_client_retries_until_the_window_frees(dataset: Any) -> None:
    clock = Clock()
    limits = Limits(endpoint_rate=2, clock=clock)
    server = DemoStripe(dataset, limits=limits)

    def tick(request: httpx.Request) -> httpx.Response:
        clock.now += 0.3
        return server.handle(request)

    retry = RetryPolicy(base_delay=0, max_delay=0, max_retries=5)
    with Client(DEMO_API_KEY, transport=httpx.MockTransport(tick), retry=retry) as client:
        pages = [client.get(ORDERS, {"limit": 1}, expect="list") for _ in range(6)]
    assert 6 == len(pages)
    assert 0 < limits.refused
    assert limits.refused == [r.status for r in server.requests].count(429)


def test_latency_is_added_to_every_answer(dataset: Any) -> None:
    waits: list[float] = []
    server = DemoStripe(dataset, limits=Limits(latency=0.3, sleep=waits.append))
    assert [200, 404] == [get(server).status_code, get(server, "/v1/nothing").status_code]
    assert [0.3, 0.3] == waits


def test_the_loopback_answers_100_requests_at_once(dataset: Any) -> None:
    # Each answer waits until 100 are waiting: only a server that holds 100 in flight gets past it.
    barrier = threading.Barrier(100, timeout=60)
    server = DemoStripe(dataset, limits=Limits(latency=1.0, sleep=lambda _: barrier.wait()))

    async def hundred(url: str) -> list[int]:
        limits = httpx.Limits(max_connections=100)
        auth = (DEMO_API_KEY, "")
        async with httpx.AsyncClient(base_url=url, limits=limits, auth=auth, timeout=90) as client:
            answers = await asyncio.gather(*(client.get("/v1/tax/settings") for _ in range(100)))
        return [a.status_code for a in answers]

    with serve(server) as loopback:
        assert [200] * 100 == asyncio.run(hundred(loopback.url))
    assert not barrier.broken


def test_the_cli_flags_reach_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[Limits] = []
    monkeypatch.setattr(
        "finlab.demo.loopback.serve_forever", lambda **options: served.append(options["limits"])
    )
    argv = ["demo-server", "--port", "0", "--latency", "0.3", "--jitter", "0.05", "--rate-limit", "test"]
    assert 0 == cli.main(argv)
    assert 0 == cli.main(["demo-server"])
    assert [(0.3, 0.05, 25, 25), (0.0, 0.0, None, None)] == [
        (limits.latency, limits.jitter, limits.global_rate, limits.endpoint_rate) for limits in served
    ]
