"""The fetch engine's resumable listings: cursors as JSON, old stores' cursors, and resuming a walk.

Walks run against the demo Stripe in-process (``httpx.MockTransport``): no sockets, no sleeps.
"""

# Expected value first is this project's test convention (DESIGN.md), which SIM300 calls yoda.

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from finlab.client import AsyncClient, RetryPolicy
from finlab.demo import DEMO_API_KEY, DemoStripe
from finlab.demo.dataset import ACCOUNT, TRANSACTION, Dataset, fc_balance
from finlab.engine import Cursor, Plan, Span, latest, resume_walk
from finlab.errors import StoreError
from finlab.pagination import Page, dict_page

PATH = "/v1/financial_connections/transactions"
KEY = "transacted_at"
NO_WAIT = RetryPolicy(base_delay=0, max_delay=0, max_retries=1)

ids = st.one_of(st.none(), st.text(min_size=1, max_size=12))
bounds = st.one_of(st.none(), st.integers(-(2**40), 2**40))
cursors = st.builds(
    Cursor,
    st.text(max_size=12),
    st.builds(Plan, ids, ids, st.booleans()),
    st.lists(st.builds(Span, bounds, bounds, ids, st.booleans()), min_size=1, max_size=6).map(tuple),
)


@given(cursors)
def test_a_cursor_round_trips_through_json(cursor: Cursor) -> None:
    assert cursor == Cursor.from_json(json.loads(json.dumps(cursor.to_json())))


def test_a_cursor_that_finlab_did_not_write_is_refused() -> None:
    with pytest.raises(StoreError, match="new store directory"):
        Cursor.from_json({"scope": "fca_1", "plan": {"after": None}})


def test_cursors_of_older_stores_are_read_per_window_of_the_newest_plan() -> None:
    """Stores written before `Cursor` hold one record per window; the newest of each counts."""
    full = {"after": None, "target": "r2", "windows": [[None, 5], [5, None]], "floor": 0, "top": 9}
    older = {"after": "r0", "target": "r1", "windows": [[None, None]]}
    records = [
        {"scope": "a", "plan": full, "window": 1, "last": "t4", "done": False},
        {"scope": "a", "plan": full, "window": 0, "last": "t9", "done": True},
        {"scope": "a", "plan": full, "window": 1, "last": "t2", "done": False},
        {"scope": "a", "plan": older, "window": 0, "last": "t1", "done": True},
    ]
    expected = Cursor("a", Plan(None, "r2"), (Span(None, 5, "t9", True), Span(5, None, "t4", False)))
    assert expected == latest(records)
    assert None is latest([])
    newest = Cursor("a", Plan("r2", "r3"), (Span(None, None, "t20", False),))
    assert newest == latest([newest.to_json(), *records])


# -- resuming a walk after any page ---------------------------------------------------------------


def dataset(count: int, seed: int) -> Dataset:
    """One FC account with ``count`` transactions, most in its last tenth of time, with ties."""
    rng = random.Random(seed)
    account = {"id": "fca_1", "object": ACCOUNT, "created": 0, "status": "active"}
    account |= {"balance": fc_balance("usd", 0, 0, 0), "transaction_refresh": None}
    objects = [
        {
            "id": f"fctxn_{rng.getrandbits(48):012x}{n:05d}",
            "object": TRANSACTION,
            "account": "fca_1",
            "transacted_at": rng.choice([rng.randint(0, 10_000), rng.randint(9_000, 10_000)]),
        }
        for n in range(count)
    ]
    return Dataset({ACCOUNT: [account], TRANSACTION: objects}, {})


def walk(server: DemoStripe, cursor: Cursor, stop: int | None) -> list[tuple[Cursor, list[str]]]:
    """The (cursor, page ids) of a walk from ``cursor``, stopped after ``stop`` pages (None: to the end)."""

    async def run() -> list[tuple[Cursor, list[str]]]:
        transport = httpx.MockTransport(server.handle)
        async with AsyncClient(DEMO_API_KEY, transport=transport, retry=NO_WAIT) as client:

            async def fetch(index: int, params: dict[str, Any]) -> Page[list[dict[str, Any]]]:
                return dict_page(await client.get(PATH, params, expect="list"), PATH, KEY)

            taken = []
            listing = [({"account": "fca_1"}, cursor, 0)]
            async for state, step in resume_walk(fetch, PATH, KEY, listing, concurrency=5, limit=7):
                taken.append((state, [obj["id"] for obj in step.page.items]))
                if len(taken) == stop:
                    break
            return taken

    return asyncio.run(run())


@pytest.mark.parametrize("seed", [1, 2])
def test_a_walk_stopped_after_any_page_resumes_from_its_cursor_and_fetches_nothing_twice(seed: int) -> None:
    """The cursor yielded with each page describes every window (splits too) as of that page."""
    data = dataset(400, seed)
    server = DemoStripe(data)
    fresh = Cursor("fca_1", Plan(None, "r1"))
    whole = walk(server, fresh, None)
    everything = sorted(obj["id"] for obj in data[TRANSACTION])
    assert everything == sorted(i for _, page in whole for i in page)
    assert whole[-1][0].done
    assert 4 <= len(whole[-1][0].spans), "the walk split its window"
    rng = random.Random(seed)
    for stop in sorted(rng.sample(range(1, len(whole)), 5)):
        before = walk(server, fresh, stop)
        after = walk(server, before[-1][0], None)
        fetched = [i for _, page in before + after for i in page]
        assert everything == sorted(fetched), f"stopped after page {stop}"
        assert after[-1][0].done
