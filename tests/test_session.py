"""One client per connection: built once from a frozen config, reused, closed; the portal it runs on."""

from __future__ import annotations

import _thread
import asyncio
import dataclasses
import threading
import time

import pytest

import finlab
from finlab.client import AsyncClient
from finlab.errors import ConfigurationError
from finlab.runner import Portal
from finlab.settings import ClientConfig, RetryPolicy

KEY = "rk_test_" + "51Hq8Zr2eZvKYlo2C0FfQa9XbW7sTt3Ld"


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[AsyncClient]:
    """Every AsyncClient built from then on."""
    clients: list[AsyncClient] = []
    original = AsyncClient.from_config.__func__  # type: ignore[attr-defined]

    def counting(cls: type[AsyncClient], config: ClientConfig) -> AsyncClient:
        client: AsyncClient = original(cls, config)
        clients.append(client)
        return client

    monkeypatch.setattr(AsyncClient, "from_config", classmethod(counting))
    return clients


def test_a_connection_keeps_one_client_across_calls(built: list[AsyncClient]) -> None:
    stripe = finlab.connect(demo=True)
    assert [] == built  # nothing is opened before the first request
    stripe.climate_orders()
    stripe.accounts()
    stripe.transactions(start="2026-01-01")
    assert 1 == len(built)
    stripe.close()
    assert built[0]._http.is_closed
    stripe.climate_suppliers()  # a call after close opens a new one
    assert 2 == len(built)
    stripe.close()


def test_a_with_block_closes_the_client(built: list[AsyncClient]) -> None:
    with finlab.connect(demo=True) as stripe:
        stripe.climate_products()
    assert 1 == len(built)
    assert built[0]._http.is_closed


def test_arguments_are_checked_without_building_a_client(built: list[AsyncClient]) -> None:
    with pytest.raises(ConfigurationError, match="acct_"):
        finlab.Connection(KEY, stripe_account="cus_123")
    with pytest.raises(ConfigurationError, match="https"):
        finlab.Connection(KEY, base_url="http://api.example.com")
    assert [] == built


def test_the_config_is_frozen_and_never_shows_the_key() -> None:
    config = ClientConfig(KEY, retry=RetryPolicy(max_retries=1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.base_url = "http://127.0.0.1:1"  # type: ignore[misc]
    shown = repr(config) + str(config) + repr(finlab.Connection(KEY).config)
    assert KEY not in shown
    assert "rk_test_…" in shown


@pytest.mark.parametrize("escape", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_in_a_child_task_reaches_the_caller_and_the_portal_lives_on(
    escape: type[BaseException],
) -> None:
    portal = Portal()

    async def child() -> None:
        raise escape

    async def job() -> None:
        await asyncio.gather(child(), asyncio.sleep(0.01))

    with pytest.raises(escape):
        portal.run(job())

    async def answer() -> int:
        return 42

    assert 42 == portal.run(answer())
    portal.close()


def test_an_interrupted_caller_waits_for_the_job_to_wind_down() -> None:
    """A KeyboardInterrupt while waiting cancels the job, and its cleanup finishes before it goes on."""
    portal = Portal()
    started, cleaned = threading.Event(), threading.Event()

    async def job() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.sleep(0.05)  # a commit in flight
            cleaned.set()

    def interrupt_when_started() -> None:
        started.wait()
        time.sleep(0.2)  # the caller is waiting on the job by now
        _thread.interrupt_main()

    threading.Thread(target=interrupt_when_started).start()
    with pytest.raises(KeyboardInterrupt):
        portal.run(job())
    assert cleaned.is_set()
    portal.close()
