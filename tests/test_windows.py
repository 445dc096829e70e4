"""Time windows: planning, splitting while walking, and FC transactions fetched window by window.

Every walk runs against the demo Stripe in-process (``httpx.MockTransport``): no sockets, no sleeps.
"""

# Expected value first is this project's test convention (DESIGN.md), which SIM300 calls yoda.

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
import warnings
from collections.abc import Sequence
from typing import Any

import httpx
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from finlab import frames, resources, windowed, wire
from finlab.client import AsyncClient, RetryPolicy
from finlab.demo import DEMO_API_KEY, DemoStripe
from finlab.demo.dataset import ACCOUNT, TRANSACTION, Dataset, fc_balance, fc_transaction
from finlab.engine import Window, walk_windows
from finlab.errors import PaginationError, SchemaDriftWarning
from finlab.pagination import Page, dict_page
from tests.spec import validating_transport

PATH = "/v1/financial_connections/transactions"
KEY = "transacted_at"
NO_WAIT = RetryPolicy(base_delay=0, max_delay=0, max_retries=1)
DAY = 86_400


def account(fca: str, created: int) -> dict[str, Any]:
    """The fields of an FC account the demo server, the spec check and the window planner read."""
    balance = fc_balance("usd", 0, 0, created)
    return {"id": fca, "object": ACCOUNT, "created": created, "balance": balance, "status": "active"} | {
        "transaction_refresh": None
    }


def transaction(fca: str, at: int, number: int) -> dict[str, Any]:
    """A minimal FC transaction; ids are random so ties are ordered unlike insertion."""
    tail = f"{random.Random(number).getrandbits(64):016x}{number:08d}"
    return {"id": f"fctxn_{tail}", "object": TRANSACTION, "account": fca, "transacted_at": at}


class Recorder:
    """The demo server behind an async handler that counts requests in flight when each arrives."""

    def __init__(self, server: DemoStripe, yields: int = 0) -> None:
        self.server, self.yields = server, yields
        self.in_flight, self.seen = 0, []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.seen.append(self.in_flight)
        for _ in range(self.yields):  # let the other walks send theirs: no time passes
            await asyncio.sleep(0)
        self.in_flight -= 1
        return self.server.handle(request)


def walk(
    server: DemoStripe,
    lists: Sequence[tuple[dict[str, Any], Sequence[Window]]],
    *,
    limit: int,
    concurrency: int,
    yields: int = 0,
) -> tuple[list[tuple[int, Window, Page[list[dict[str, Any]]]]], Recorder]:
    """Every ``(list index, window, page)`` `walk_windows` yields, with the requests' recorder."""
    recorder = Recorder(server, yields)

    async def run() -> list[tuple[int, Window, Page[list[dict[str, Any]]]]]:
        transport = httpx.MockTransport(recorder)
        async with AsyncClient(DEMO_API_KEY, transport=transport, retry=NO_WAIT) as client:

            async def fetch(index: int, params: dict[str, Any]) -> Page[list[dict[str, Any]]]:
                return dict_page(await client.get(PATH, params, expect="list"), PATH, KEY)

            steps = walk_windows(fetch, PATH, KEY, lists, concurrency=concurrency, limit=limit)
            return [(step.index, step.window, step.page) async for step in steps]

    return asyncio.run(run()), recorder


def windows(
    start: int, end: int, pieces: int, *, open_below: bool = False, open_above: bool = False
) -> list[Window]:
    """``[start, end)`` cut into up to ``pieces`` equal windows, newest first; outer sides optionally open."""
    pieces = max(1, min(pieces, end - start))
    cuts = [start + (end - start) * k // pieces for k in range(pieces + 1)]
    planned = [Window(low, high, start) for low, high in itertools.pairwise(cuts)]
    if open_below:
        planned[0].gte = None
    if open_above:
        planned[-1].lt = None
    return planned[::-1]


def test_a_window_filters_on_its_closed_sides_only() -> None:
    assert {"gte": 5, "lt": 9} == Window(5, 9, 5).bounds()
    assert {"lt": 9} == Window(None, 9, 5).bounds()
    assert {} == Window(None, None, 5).bounds()


# -- walking and splitting ------------------------------------------------------------------------

SPANS = st.sampled_from([1, 3, 30, 10_000])


@st.composite
def datasets(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Accounts, their transactions (dense ties, skew, some outside the planned range) and a top."""
    span = draw(SPANS)
    accounts, objects = [], []
    for a in range(draw(st.integers(1, 3))):
        fca = f"fca_{a}"
        accounts.append(account(fca, draw(st.integers(-2, span))))
        times = st.integers(-3, span + 3)
        recent = st.integers(max(0, span - span // 10), span)  # skew: most activity near the top
        for at in draw(st.lists(st.one_of(times, recent, recent), max_size=70)):
            objects.append(transaction(fca, at, len(objects)))
    return accounts, objects, draw(st.integers(0, span + 1))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=datasets(),
    limit=st.integers(1, 5),
    concurrency=st.integers(1, 6),
    pieces=st.integers(1, 4),
    bounds=st.one_of(st.none(), st.tuples(st.integers(-4, 40), st.integers(1, 20))),
)
def test_every_object_exactly_once_whatever_the_windows(
    data: tuple[list[dict[str, Any]], list[dict[str, Any]], int],
    limit: int,
    concurrency: int,
    pieces: int,
    bounds: tuple[int, int] | None,
) -> None:
    accounts, objects, top = data
    if bounds is None:  # created .. top, outer windows open, as for an account without the caller's bounds
        plans = [windows(a["created"], top, pieces, open_below=True, open_above=True) for a in accounts]
        wanted = objects
    else:  # the caller's [start, end)
        start, end = bounds[0], bounds[0] + bounds[1]
        plans = [windows(start, end, pieces) for _ in accounts]
        wanted = [o for o in objects if start <= o[KEY] < end]
    server = DemoStripe(Dataset({ACCOUNT: accounts, TRANSACTION: objects}))
    lists = [({"account": a["id"]}, plan) for a, plan in zip(accounts, plans, strict=True)]
    pages, _ = walk(server, lists, limit=limit, concurrency=concurrency, yields=1)
    got = [(index, obj) for index, _, page in pages for obj in page.items]
    assert sorted(o["id"] for o in wanted) == sorted(obj["id"] for _, obj in got)
    assert all(accounts[index]["id"] == obj["account"] for index, obj in got)
    # Windows put newest `lt` first, each with its pages as they came, give back the list's order.
    for index, a in enumerate(accounts):
        listed = sorted((o for o in wanted if o["account"] == a["id"]), key=lambda o: (o[KEY], o["id"]))
        by_window: dict[int, list[dict[str, Any]]] = {}
        tops = {}
        for i, window, page in pages:
            if i == index:
                by_window.setdefault(id(window), []).extend(page.items)
                tops[id(window)] = math.inf if window.lt is None else window.lt
        in_order = [
            o for key in sorted(by_window, key=tops.__getitem__, reverse=True) for o in by_window[key]
        ]
        assert [o["id"] for o in reversed(listed)] == [o["id"] for o in in_order]


def test_a_dense_window_is_split_so_walks_stay_busy() -> None:
    # 90% of the activity in the last tenth of the range: the other planned windows end at once.
    rng = random.Random(5)
    times = [
        rng.randrange(9_000, 10_000) if rng.random() < 0.9 else rng.randrange(10_000) for _ in range(3_000)
    ]
    objects = [transaction("fca_0", at, n) for n, at in enumerate(times)]
    server = DemoStripe(Dataset({ACCOUNT: [account("fca_0", 0)], TRANSACTION: objects}))
    plan = windows(0, 10_000, 8)
    pages, recorder = walk(server, [({"account": "fca_0"}, plan)], limit=20, concurrency=8, yields=3)
    assert 3_000 == len({obj["id"] for _, _, page in pages for obj in page.items})
    busy = sum(1 for n in recorder.seen if n >= 6) / len(recorder.seen)
    assert busy > 0.8, f"only {busy:.0%} of requests went out with 6+ walks in flight"
    wasted = sum(1 for _, _, page in pages if page.count < 20) / len(pages)
    assert wasted < 0.25, f"{wasted:.0%} of the pages were partial: splitting too fine"


def test_without_idle_walks_a_window_is_not_split() -> None:
    objects = [transaction("fca_0", at, at) for at in range(50)]
    server = DemoStripe(Dataset({ACCOUNT: [account("fca_0", 0)], TRANSACTION: objects}))
    pages, _ = walk(server, [({"account": "fca_0"}, windows(0, 50, 1))], limit=5, concurrency=1)
    assert 10 == len(pages)
    assert [o["id"] for o in sorted(objects, key=lambda o: o[KEY], reverse=True)] == [
        o["id"] for _, _, page in pages for o in page.items
    ]


def test_a_split_keeps_the_tie_second_with_the_cursor() -> None:
    # Six objects share second 40; the first page stops among them, then the walk is split.
    objects = [transaction("fca_0", 40, n) for n in range(6)]
    objects += [transaction("fca_0", at, 10 + at) for at in range(40)]
    server = DemoStripe(Dataset({ACCOUNT: [account("fca_0", 0)], TRANSACTION: objects}))
    pages, _ = walk(server, [({"account": "fca_0"}, windows(0, 41, 1))], limit=4, concurrency=4)
    ids = [o["id"] for _, _, page in pages for o in page.items]
    assert sorted(o["id"] for o in objects) == sorted(ids)
    queries = [dict(r.params) for r in server.requests]
    assert {
        "account": "fca_0",
        "transacted_at[gte]": "0",
        "transacted_at[lt]": "41",
        "limit": "4",
    } == queries[0]
    after_split = queries[1]  # the walk goes on after the last tie it saw, from a raised lower bound
    assert pages[0][2].items[-1]["id"] == after_split["starting_after"]
    assert 0 < int(after_split["transacted_at[gte]"]) <= 40
    assert "41" == after_split["transacted_at[lt]"]


def test_the_first_error_stops_every_walk() -> None:
    calls = 0

    async def broken(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return httpx.Response(200, json={"object": "list", "data": [], "has_more": True})

    async def run() -> None:
        async with AsyncClient(DEMO_API_KEY, transport=httpx.MockTransport(broken), retry=NO_WAIT) as client:

            async def fetch(index: int, params: dict[str, Any]) -> Page[list[dict[str, Any]]]:
                return dict_page(await client.get(PATH, params, expect="list"), PATH, KEY)

            async for _ in walk_windows(fetch, PATH, KEY, [({}, windows(0, 100, 4))], concurrency=4):
                pass

    with pytest.raises(PaginationError, match="has_more=true"):
        asyncio.run(run())
    assert calls <= 4


# -- FC transactions through the connection's path -----------------------------------------------


@pytest.fixture(scope="module")
def skewed() -> Dataset:
    """Three accounts with 2,000 transactions: ties, 90% in the last month, some before `created`."""
    accounts = [account(f"fca_{n}", 1_730_000_000 + n * DAY) for n in range(3)]
    rng = random.Random(11)
    top = max(a["created"] for a in accounts) + 700 * DAY
    objects = []
    for n in range(2_000):
        fca = accounts[n % 3]["id"] if n % 10 else accounts[0]["id"]
        at = top - rng.randrange(30 * DAY) if rng.random() < 0.9 else top - rng.randrange(800 * DAY)
        at -= at % 60 if n % 4 else 0  # many transactions share a minute's first second
        objects.append(
            fc_transaction(
                rng,
                account=fca,
                currency="usd",
                amount=rng.randrange(-50_000, 50_000),
                description="Card spend",
                transacted_at=at,
                posted_at=at + 3_600 if n % 7 else None,
                void_at=None,
                refresh="fctxnref_000001AAAAAAAAAAAAAAAAAA",
                updated=at + 3_600,
            )
        )
    return Dataset({ACCOUNT: accounts, TRANSACTION: objects})


def expected(dataset: Dataset, accounts: Sequence[str], start: int | None, end: int | None) -> pl.DataFrame:
    """What the list endpoint holds, account by account, newest first (the demo's tie order)."""
    rows = []
    for fca in accounts:
        mine = [o for o in dataset[TRANSACTION] if o["account"] == fca]
        mine = [o for o in mine if (start is None or o[KEY] >= start) and (end is None or o[KEY] < end)]
        rows += sorted(mine, key=lambda o: (o[KEY], o["id"]), reverse=True)
    return frames.build(TRANSACTION, rows)


def fetch_transactions(
    dataset: Dataset,
    accounts: Sequence[str],
    start: int | None = None,
    end: int | None = None,
    **options: Any,
) -> tuple[pl.DataFrame, DemoStripe]:
    server = DemoStripe(dataset)

    async def run() -> pl.DataFrame:
        transport = validating_transport(server.handle)
        async with AsyncClient(DEMO_API_KEY, transport=transport, retry=NO_WAIT) as client:
            return await windowed.transactions(client, accounts, start, end, **options)

    return asyncio.run(run()), server


def test_transactions_equal_the_list_in_list_order(skewed: Dataset) -> None:
    ids = [a["id"] for a in skewed[ACCOUNT]]
    created = {a["id"]: a["created"] for a in skewed[ACCOUNT]}
    frame, server = fetch_transactions(skewed, ids, created=created, concurrency=12)
    assert_frame_equal(expected(skewed, ids, None, None), frame)
    listed = [r for r in server.requests if r.path == PATH]
    windows = [r for r in listed if not any(name == "starting_after" for name, _ in r.params)]
    assert len(listed) <= 2_000 / 100 + len(windows), "only a window's last page may be partial"
    assert len(windows) <= 3 * 12, "split too often"
    assert not [r for r in server.requests if r.path != PATH], "created was known: no account retrieved"


def test_transactions_between_the_callers_bounds(skewed: Dataset) -> None:
    ids = [a["id"] for a in skewed[ACCOUNT]][::-1]
    times = sorted(o[KEY] for o in skewed[TRANSACTION])
    start, end = times[200], times[1_800]  # both bounds fall on seconds that hold several objects
    frame, server = fetch_transactions(skewed, ids, start, end)
    assert_frame_equal(expected(skewed, ids, start, end), frame)
    for request in server.requests:
        bounds = dict(request.params)
        assert start <= int(bounds["transacted_at[gte]"]) < int(bounds["transacted_at[lt]"]) <= end


def test_an_accounts_creation_is_retrieved_when_unknown(skewed: Dataset) -> None:
    fca = skewed[ACCOUNT][0]["id"]
    frame, server = fetch_transactions(skewed, [fca], concurrency=4)
    assert_frame_equal(expected(skewed, [fca], None, None), frame)
    assert f"/v1/financial_connections/accounts/{fca}" == server.requests[0].path


def test_no_transactions_gives_the_empty_frame() -> None:
    dataset = Dataset({ACCOUNT: [account("fca_0", 0)], TRANSACTION: []})
    frame, _ = fetch_transactions(dataset, ["fca_0"], created={"fca_0": 0})
    assert_frame_equal(frames.empty(TRANSACTION), frame)
    assert_frame_equal(frames.empty(TRANSACTION), fetch_transactions(dataset, [])[0])


# -- pages as bytes (finlab.wire) -----------------------------------------------------------------


def body(objects: list[dict[str, Any]], *, has_more: bool = True, indent: int | None = None) -> bytes:
    page = {"object": "list", "data": objects, "has_more": has_more, "url": PATH}
    return json.dumps(page, indent=indent).encode()


def read(pages: list[bytes]) -> pl.DataFrame:
    reader, batches = wire.PageReader(TRANSACTION_RES, PATH, KEY), wire.Batches(TRANSACTION_RES, 7)
    for content in pages:
        page = reader.decoder.parse(content)
        assert page is not None
        batches.add(page.items)
    return batches.take()


TRANSACTION_RES = resources.get(TRANSACTION)


@pytest.mark.usefixtures("fresh_drift_reports")
def test_pages_read_by_polars_equal_frames_build(skewed: Dataset) -> None:
    objects = skewed[TRANSACTION][:45]
    objects[3] = {**objects[3], "description": 'Café ☕ "quoted" \\ back', "status_transitions": None}
    objects[4] = {k: v for k, v in objects[4].items() if k not in ("updated", "livemode")}
    pages = [body(objects[i : i + 10], indent=2 if i % 20 else None) for i in range(0, 45, 10)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_frame_equal(frames.build(TRANSACTION, objects), read(pages))


@pytest.mark.usefixtures("fresh_drift_reports")
def test_the_first_page_is_checked_for_unknown_fields(skewed: Dataset) -> None:
    first, second = skewed[TRANSACTION][:2]
    with pytest.warns(SchemaDriftWarning, match="'category'"):
        frame = read([body([{**first, "category": "travel"}]), body([second], has_more=False)])
    assert [first["id"], second["id"]] == frame.get_column("id").to_list()


@pytest.mark.usefixtures("fresh_drift_reports")
def test_a_later_page_polars_refuses_takes_the_checked_path(skewed: Dataset) -> None:
    first, second, third = skewed[TRANSACTION][:3]
    pages = [body([first]), body([{**second, "amount": "12.50"}, third], has_more=False)]
    with pytest.warns(SchemaDriftWarning, match="amount holds values of an unexpected type"):
        frame = read(pages)
    assert [first["amount"], None, third["amount"]] == frame.get_column("amount").to_list()


@pytest.mark.usefixtures("fresh_drift_reports")
def test_unknown_enum_values_on_later_pages_are_reported(skewed: Dataset) -> None:
    first, second = skewed[TRANSACTION][:2]
    with pytest.warns(SchemaDriftWarning, match="'disputed'"):
        frame = read([body([first]), body([{**second, "status": "disputed"}], has_more=False)])
    assert "disputed" == frame.get_column("status")[1]


@pytest.mark.parametrize(
    "content",
    [
        b"<html>gateway</html>",
        b'{"object": "list", "data": [{"id": "fctxn_1"',
        b'{"object": "balance"}',
        b"[]",
    ],
)
def test_a_body_that_is_no_list_is_malformed(content: bytes) -> None:
    reader = wire.PageReader(TRANSACTION_RES, PATH, KEY)
    reader.checked = True  # the fast path first, then the checked path: both refuse it
    assert reader.decoder.parse(content) is None


def test_a_list_without_data_cannot_be_paged() -> None:
    reader = wire.PageReader(TRANSACTION_RES, PATH, KEY)
    with pytest.raises(PaginationError, match="without a 'data' array"):
        reader.decoder.parse(b'{"object": "list", "data": null, "has_more": false}')


def test_a_malformed_page_is_fetched_again(skewed: Dataset) -> None:
    server, sent = DemoStripe(skewed), []

    def flaky(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return (
            httpx.Response(200, content=b"<html>proxy</html>") if len(sent) == 2 else server.handle(request)
        )

    retry = RetryPolicy(base_delay=0, max_delay=0, max_retries=2)
    fca = skewed[ACCOUNT][1]["id"]

    async def run() -> pl.DataFrame:
        async with AsyncClient(DEMO_API_KEY, transport=httpx.MockTransport(flaky), retry=retry) as client:
            frame = await windowed.transactions(client, [fca], created={fca: skewed[ACCOUNT][1]["created"]})
            assert {"malformed": 1} == client.policy.stats.retries
            return frame

    assert_frame_equal(expected(skewed, [fca], None, None), asyncio.run(run()))
    assert 2 == [r.url for r in sent].count(sent[1].url), "the same page again"
