"""Cursor pagination against a tiny fake list endpoint over an in-memory list."""

# Expected value first is this project's test convention (DESIGN.md), which SIM300 calls yoda.

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finlab.client import AsyncClient, Client, RetryPolicy
from finlab.errors import APIError, PaginationError
from finlab.pagination import PAGE_LIMIT, ListCursor, aiter_objects, aiter_pages, iter_objects, iter_pages

KEY = "rk_test_" + "a1B2c3D4e5F6g7H8i9J0" * 2
PATH = "/v1/climate/orders"
NO_WAIT = RetryPolicy(base_delay=0, max_delay=0, max_retries=2)


class FakeList:
    """A Stripe list endpoint over ``objects`` (newest first).

    ``page_sizes`` says how many objects the server chooses to return on each page (cycled and clamped
    to 1..limit), like a server that returns short pages under load.
    """

    def __init__(self, objects: list[dict[str, Any]], page_sizes: list[int] | None = None) -> None:
        self.objects = objects
        self.page_sizes = page_sizes or [PAGE_LIMIT]
        self.queries: list[list[tuple[str, str]]] = []
        self.pages: list[list[dict[str, Any]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert "GET" == request.method
        params = request.url.params
        self.queries.append(params.multi_items())
        limit = int(params.get("limit", "10"))
        assert 1 <= limit <= 100
        start = 0
        if "starting_after" in params:
            ids = [o["id"] for o in self.objects]
            start = ids.index(params["starting_after"]) + 1
        wanted = self.page_sizes[(len(self.queries) - 1) % len(self.page_sizes)]
        size = max(1, min(limit, wanted))
        data = self.objects[start : start + size]
        self.pages.append(data)
        body = {"object": "list", "data": data, "has_more": start + size < len(self.objects), "url": PATH}
        return httpx.Response(200, json=body)


def objects(n: int) -> list[dict[str, Any]]:
    return [{"id": f"climorder_{n - i:05d}", "object": "climate.order", "n": i} for i in range(n)]


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> Client:
    return Client(KEY, transport=httpx.MockTransport(handler), retry=NO_WAIT)


def async_client_for(handler: Callable[[httpx.Request], httpx.Response]) -> AsyncClient:
    return AsyncClient(KEY, transport=httpx.MockTransport(handler), retry=NO_WAIT)


def collect_async(
    handler: Callable[[httpx.Request], httpx.Response], params: dict[str, Any] | None = None
) -> list[Any]:
    async def run() -> list[Any]:
        async with async_client_for(handler) as client:
            return [obj async for obj in aiter_objects(client, PATH, params)]

    return asyncio.run(run())


def check_queries(server: FakeList, pages: list[list[dict[str, Any]]]) -> None:
    """Every request asks for 100, the first with no cursor, each next one after the previous page."""
    assert len(pages) == len(server.queries)
    previous: str | None = None
    for query, page in zip(server.queries, pages, strict=True):
        params = dict(query)
        assert "100" == params["limit"]
        assert previous == params.get("starting_after")
        assert (0 if previous is None else 1) == sum(1 for k, _ in query if k == "starting_after")
        previous = page[-1]["id"] if page else None


SIZES = st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=8)


class Dispatch:
    """One client for every hypothesis example: requests go to whichever server is current."""

    def __init__(self) -> None:
        self.server: Callable[[httpx.Request], httpx.Response] = FakeList([])

    def __call__(self, request: httpx.Request) -> httpx.Response:
        return self.server(request)


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[Dispatch, Client]]:
    dispatch = Dispatch()
    with client_for(dispatch) as client:
        yield dispatch, client


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(min_value=0, max_value=350), sizes=SIZES)
def test_every_object_exactly_once_in_order(
    shared: tuple[Dispatch, Client], n: int, sizes: list[int]
) -> None:
    dispatch, client = shared
    data = objects(n)
    dispatch.server = server = FakeList(data, sizes)
    assert data == list(iter_objects(client, PATH))
    check_queries(server, server.pages)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(min_value=0, max_value=350), sizes=SIZES)
def test_async_every_object_exactly_once_in_order(n: int, sizes: list[int]) -> None:
    data = objects(n)
    server = FakeList(data, sizes)
    assert data == collect_async(server)
    assert all(("limit", "100") in q for q in server.queries)


def test_exact_multiple_of_the_page_size() -> None:
    data = objects(200)
    server = FakeList(data)
    with client_for(server) as client:
        assert data == list(iter_objects(client, PATH))
    assert 2 == len(server.queries)
    assert ("starting_after", data[99]["id"]) in server.queries[1]


def test_empty_first_page() -> None:
    server = FakeList([])
    with client_for(server) as client:
        assert [[]] == list(iter_pages(client, PATH))
        assert [] == list(iter_objects(client, PATH))
    assert [[("limit", "100")]] * 2 == server.queries


def test_filters_travel_on_every_page_and_limit_is_always_100() -> None:
    server = FakeList(objects(250))
    params = {"account": "fca_1", "transacted_at": {"gte": 10, "lt": 20}, "limit": 3}
    with client_for(server) as client:
        assert 250 == len(list(iter_objects(client, PATH, params)))
    assert 3 == len(server.queries)
    for query in server.queries:
        assert [
            ("account", "fca_1"),
            ("transacted_at[gte]", "10"),
            ("transacted_at[lt]", "20"),
            ("limit", "100"),
        ] == [item for item in query if item[0] != "starting_after"]


def _fixed(body: dict[str, Any], calls: list[httpx.Request]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=body)

    return handler


def test_has_more_with_empty_data_is_an_error_not_a_loop() -> None:
    calls: list[httpx.Request] = []
    handler = _fixed({"object": "list", "data": [], "has_more": True, "url": PATH}, calls)
    with client_for(handler) as client, pytest.raises(PaginationError, match="has_more=true but returned no"):
        list(iter_objects(client, PATH))
    assert 1 == len(calls)


def test_repeated_cursor_is_an_error_not_a_loop() -> None:
    calls: list[httpx.Request] = []
    page = {"object": "list", "data": objects(3), "has_more": True, "url": PATH}
    handler = _fixed(page, calls)  # ignores starting_after: the same page forever
    seen: list[dict[str, Any]] = []
    with client_for(handler) as client, pytest.raises(PaginationError, match="repeated the cursor"):
        seen.extend(iter_objects(client, PATH))
    assert 2 == len(calls)
    assert objects(3) == seen  # the first page was yielded once, the repeat never


def test_cursor_repeated_later_in_the_walk() -> None:
    pages = [["a", "b"], ["c", "d"], ["c", "d"]]
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        ids = pages[min(len(calls), len(pages)) - 1]
        return httpx.Response(
            200, json={"object": "list", "data": [{"id": i} for i in ids], "has_more": True}
        )

    with client_for(handler) as client, pytest.raises(PaginationError, match="'d'"):
        list(iter_objects(client, PATH))
    assert 3 == len(calls)


@pytest.mark.parametrize("last", [{"object": "climate.order"}, {"id": None}, {"id": 7}, "climorder_1", None])
def test_has_more_without_a_usable_last_id(last: Any) -> None:
    calls: list[httpx.Request] = []
    handler = _fixed({"object": "list", "data": [{"id": "x"}, last], "has_more": True}, calls)
    with client_for(handler) as client, pytest.raises(PaginationError, match="no id"):
        list(iter_objects(client, PATH))
    assert 1 == len(calls)


@pytest.mark.parametrize(
    "body", [{"object": "list"}, {"object": "list", "data": {"id": "x"}, "has_more": False}]
)
def test_list_without_a_data_array(body: dict[str, Any]) -> None:
    with client_for(_fixed(body, [])) as client, pytest.raises(PaginationError, match="'data' array"):
        list(iter_objects(client, PATH))


def test_a_page_that_is_not_a_list_is_retried_then_api_error() -> None:
    calls: list[httpx.Request] = []
    handler = _fixed({"object": "climate.order", "id": "climorder_1"}, calls)
    with client_for(handler) as client, pytest.raises(APIError, match="malformed"):
        list(iter_objects(client, PATH))
    assert 3 == len(calls)  # max_retries=2


def test_missing_has_more_ends_the_walk() -> None:
    calls: list[httpx.Request] = []
    with client_for(_fixed({"object": "list", "data": [{"id": "a"}]}, calls)) as client:
        assert [{"id": "a"}] == list(iter_objects(client, PATH))
    assert 1 == len(calls)


def test_iteration_is_lazy() -> None:
    server = FakeList(objects(250))
    with client_for(server) as client:
        walk = iter_objects(client, PATH)
        assert [] == server.queries
        next(walk)
        assert 1 == len(server.queries)


# -- ListCursor --------------------------------------------------------------------------------------


def test_list_cursor_state() -> None:
    cursor = ListCursor(PATH, {"status": "open"})
    assert {"status": "open", "limit": 100} == cursor.params()
    assert [{"id": "b"}] == cursor.advance({"object": "list", "data": [{"id": "b"}], "has_more": True})
    assert {"status": "open", "limit": 100, "starting_after": "b"} == cursor.params()
    assert (1, False) == (cursor.pages, cursor.done)
    assert [{"id": "a"}] == cursor.advance({"object": "list", "data": [{"id": "a"}], "has_more": False})
    assert (2, True) == (cursor.pages, cursor.done)


def test_list_cursor_does_not_mutate_the_callers_params() -> None:
    params = {"status": "open"}
    cursor = ListCursor(PATH, params)
    cursor.advance({"data": [{"id": "b"}], "has_more": True})
    cursor.params()
    assert {"status": "open"} == params


# -- async twin --------------------------------------------------------------------------------------


def test_async_pages_and_params() -> None:
    data = objects(230)
    server = FakeList(data, [100, 60])

    async def run() -> list[list[dict[str, Any]]]:
        async with async_client_for(server) as client:
            return [page async for page in aiter_pages(client, PATH, {"account": "fca_1"})]

    pages = asyncio.run(run())
    assert [100, 60, 70] == [len(p) for p in pages]
    check_queries(server, pages)
    assert all(("account", "fca_1") in q for q in server.queries)


def test_async_empty_first_page() -> None:
    server = FakeList([])
    assert [] == collect_async(server)
    assert [[("limit", "100")]] == server.queries


def test_async_has_more_with_empty_data() -> None:
    calls: list[httpx.Request] = []
    handler = _fixed({"object": "list", "data": [], "has_more": True}, calls)
    with pytest.raises(PaginationError, match="has_more=true"):
        collect_async(handler)
    assert 1 == len(calls)


def test_async_repeated_cursor() -> None:
    calls: list[httpx.Request] = []
    handler = _fixed({"object": "list", "data": objects(2), "has_more": True}, calls)
    with pytest.raises(PaginationError, match="repeated the cursor"):
        collect_async(handler)
    assert 2 == len(calls)
