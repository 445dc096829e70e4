"""A hostile or broken server (issue #12): huge, endless, compressed, trickling and deeply nested bodies.

Each server here is a real socket (a tiny threading HTTP server) where the transport matters, else an
`httpx.MockTransport`. Each test is bounded in time (a short deadline or a small cap) and, where memory
is the point, in memory (tracemalloc's peak).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

import finlab
from finlab import cli, errors
from finlab.budget import Budget
from finlab.client import AsyncClient, Client, ReadLimits, RetryPolicy
from finlab.pagination import iter_pages

KEY = "rk_test_" + "51Hq8Zr2eZvKYlo2C0FfQa9XbW7sTt3Ld"
PATH = "/v1/climate/orders"
MB = 2**20
#: A budget that paces (so window walks take turns with the caller) without slowing a test down.
FAST = Budget(1000, 1000, burst=1)

#: Writes one answer to the handler's socket.
Answer = Callable[[BaseHTTPRequestHandler], None]


@contextmanager
def loopback(answer: Answer) -> Iterator[str]:
    """A local HTTP server answering every GET with ``answer``; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            with contextlib.suppress(ConnectionError):  # the client gave up, as it should
                answer(self)
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


NO_RETRY = RetryPolicy(max_retries=0, base_delay=0.0, max_delay=0.0)


def gzip_bomb(unpacked: int) -> bytes:
    """A gzip stream of ``unpacked`` zero bytes (about 200 times smaller, quick to make)."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)
    block = bytes(MB)
    parts = [packer.compress(block) for _ in range(unpacked // MB)]
    return b"".join([*parts, packer.flush()])


def chunked_forever(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    chunk = b" " * MB
    for _ in range(10_000):  # 10 GB if nobody stops reading
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))


def trickle(handler: BaseHTTPRequestHandler) -> None:
    body = json.dumps({"object": "list", "data": [], "has_more": False}).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    for byte in body:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(0.2)


def peak_mb(job: Callable[[], object]) -> tuple[BaseException | None, float]:
    """Run ``job``; the exception it raised (or None) and tracemalloc's peak in MB."""
    error = None
    tracemalloc.start()
    try:
        job()
    except Exception as exc:  # returned for the test to check
        error = exc
    peak = tracemalloc.get_traced_memory()[1] / MB
    tracemalloc.stop()
    return error, peak


# --- the cap on bytes read ---------------------------------------------------------------------------


def test_a_gzip_bomb_fails_at_the_cap_in_bounded_memory() -> None:
    bomb = gzip_bomb(128 * MB)
    assert len(bomb) < MB

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", str(len(bomb)))
        handler.end_headers()
        handler.wfile.write(bomb)

    with (
        loopback(answer) as url,
        Client(KEY, base_url=url, retry=NO_RETRY, limits=ReadLimits(max_body=8 * MB)) as client,
    ):
        error, peak = peak_mb(lambda: client.get(PATH))

    assert isinstance(error, errors.APIError)
    assert "larger than 8,388,608 bytes (decompressed)" in str(error)
    assert PATH in str(error)
    # About the cap: each read is inflated only as far as the room left under it, not to 128 MB.
    assert peak < 8 + 8


def test_an_endless_chunked_body_fails_at_the_cap() -> None:
    started = time.monotonic()
    with (
        loopback(chunked_forever) as url,
        Client(KEY, base_url=url, retry=NO_RETRY, limits=ReadLimits(max_body=4 * MB)) as client,
    ):
        error, peak = peak_mb(lambda: client.get(PATH))

    assert isinstance(error, errors.APIError)
    assert "larger than 4,194,304 bytes" in str(error)
    assert peak < 4 + 8
    assert time.monotonic() - started < 10


def test_a_big_page_is_refused_and_retried_like_a_malformed_one() -> None:
    answers = [httpx.Response(200, content=b" " * (2 * MB)), httpx.Response(200, json={"object": "list"})]
    transport = httpx.MockTransport(lambda request: answers.pop(0))
    retry = RetryPolicy(max_retries=1, base_delay=0.0, max_delay=0.0)

    with Client(KEY, transport=transport, retry=retry, limits=ReadLimits(max_body=MB)) as client:
        assert client.get(PATH) == {"object": "list"}
        assert client.policy.stats.retries == {"too_large": 1}


def test_the_default_cap_is_far_above_a_stripe_page() -> None:
    assert ReadLimits().max_body >= 64 * MB  # a page of 100 objects is well under 1 MB


# --- the deadline ------------------------------------------------------------------------------------


def test_a_trickling_body_fails_at_the_deadline() -> None:
    started = time.monotonic()
    with (
        loopback(trickle) as url,
        Client(KEY, base_url=url, retry=NO_RETRY, limits=ReadLimits(deadline=1.0)) as client,
        pytest.raises(errors.APIError, match=r"did not arrive in full within 1 s") as caught,
    ):
        client.get(PATH)

    assert caught.value.path == PATH
    assert time.monotonic() - started < 3


def test_a_trickling_body_fails_at_the_deadline_async() -> None:
    async def main() -> None:
        async with AsyncClient(KEY, base_url=url, retry=NO_RETRY, limits=ReadLimits(deadline=1.0)) as client:
            await client.get(PATH)

    started = time.monotonic()
    with loopback(trickle) as url, pytest.raises(errors.APIError, match="within 1 s"):
        asyncio.run(main())

    assert time.monotonic() - started < 3


def test_a_gzip_bomb_fails_at_the_cap_async() -> None:
    bomb = gzip_bomb(64 * MB)

    def handle(request: httpx.Request) -> httpx.Response:  # a stream: finlab inflates it
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, stream=httpx.ByteStream(bomb))

    async def main() -> None:
        transport = httpx.MockTransport(handle)
        async with AsyncClient(
            KEY, transport=transport, retry=NO_RETRY, limits=ReadLimits(max_body=MB)
        ) as client:
            await client.get(PATH)

    with pytest.raises(errors.APIError, match="larger than 1,048,576 bytes"):
        asyncio.run(main())


# --- bodies finlab cannot parse ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,  # json.loads: RecursionError
        b'{"object": "list", "data": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
        b"\xff\xfe not JSON",
    ],
    ids=["deep", "deep-inside-a-list", "not-json"],
)
def test_unparseable_bodies_are_api_errors_naming_the_endpoint_and_retried(body: bytes) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))

    with (
        Client(
            KEY, transport=transport, retry=RetryPolicy(max_retries=2, base_delay=0.0, max_delay=0.0)
        ) as client,
        pytest.raises(errors.APIError, match="malformed body for GET /v1/climate/orders") as caught,
    ):
        client.get(PATH, expect="list")

    assert caught.value.attempts == 3
    assert client.policy.stats.retries == {"malformed": 2}


def test_a_deep_error_body_is_still_a_typed_error() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    transport = httpx.MockTransport(lambda request: httpx.Response(400, content=deep))

    with (
        Client(KEY, transport=transport, retry=NO_RETRY) as client,
        pytest.raises(errors.InvalidRequestError),
    ):
        client.get(PATH)


# --- lists that break the contract -------------------------------------------------------------------


def list_server(pages: Callable[[int], tuple[list[dict[str, Any]], bool]]) -> httpx.MockTransport:
    """A list endpoint whose n-th answer (0-based) is ``pages(n)``: its objects and has_more."""
    count = itertools.count()

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/account":
            return httpx.Response(200, json={"id": "acct_1Hostile", "object": "account"})
        if request.url.path.startswith("/v1/financial_connections/accounts/"):
            account = {"id": "fca_1", "object": "financial_connections.account", "created": 1_600_000_000}
            return httpx.Response(200, json=account)
        data, more = pages(next(count))
        return httpx.Response(200, json={"object": "list", "data": data, "has_more": more, "url": PATH})

    return httpx.MockTransport(handle)


def order(n: int, created: int | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"id": f"climorder_{n:08d}", "object": "climate.order"}
    return found if created is None else {**found, "created": created}


def walk(transport: httpx.MockTransport, **settings: Any) -> list[dict[str, Any]]:
    with Client(KEY, transport=transport, retry=NO_RETRY) as client:
        return [obj for page in iter_pages(client, PATH, **settings) for obj in page]


def test_an_object_sent_again_is_a_pagination_error() -> None:
    # Not the cursor (order 2) but order 1, in the same second: from an older second it would break the
    # order, and be refused as such (next test).
    pages = [[order(1, 20), order(2, 20)], [order(3, 20), order(1, 20)]]

    with pytest.raises(errors.PaginationError, match=r"sent 'climorder_00000001' again on page 2"):
        walk(list_server(lambda n: (pages[n], n == 0)))


def test_an_object_sent_again_without_created_is_a_pagination_error() -> None:
    pages = [[order(1), order(2)], [order(1), order(3)], [order(4)]]

    with pytest.raises(errors.PaginationError, match="sent 'climorder_00000001' again"):
        walk(list_server(lambda n: (pages[n], n < 2)))


def test_an_object_newer_than_the_one_before_it_is_a_pagination_error() -> None:
    pages = [[order(1, 30), order(2, 20)], [order(3, 25)]]  # Stripe lists are newest first by created

    with pytest.raises(errors.PaginationError, match=r"created 25\) after an object created at 20"):
        walk(list_server(lambda n: (pages[n], n == 0)))


def test_ties_on_created_and_objects_without_created_keep_any_order() -> None:
    pages = [[order(1, 20), order(2, 20)], [order(3, 20), order(4, 10)], [order(6), order(5)]]

    found = walk(list_server(lambda n: (pages[n], n < 2)))

    assert [f"climorder_{n:08d}" for n in (1, 2, 3, 4, 6, 5)] == [obj["id"] for obj in found]


def test_lists_without_a_documented_order_may_come_in_any_order() -> None:
    pages = [[order(1, 10), order(2, 30)], [order(3, 20)]]  # climate products: "Lists all ... products"
    transport = list_server(lambda n: (pages[n], n == 0))

    with Client(KEY, transport=transport, retry=NO_RETRY) as client:
        found = [obj for page in iter_pages(client, "/v1/climate/products") for obj in page]

    assert 3 == len(found)


def endless_of(
    make: Callable[[int], dict[str, Any]],
) -> Callable[[int], tuple[list[dict[str, Any]], bool]]:
    """Pages that have more, forever: 100 new objects a page, the n-th object ``make(n)``."""
    return lambda page: ([make(page * 100 + i) for i in range(100)], True)


#: Climate orders, each older than the last.
endless = endless_of(lambda n: order(n, 2_000_000_000 - n))


@pytest.mark.parametrize("created", [True, False])
def test_an_endless_list_walks_in_bounded_memory(created: bool) -> None:
    def pages(page: int) -> tuple[list[dict[str, Any]], bool]:
        data, more = endless(page)
        return (data if created else [order(int(obj["id"][-8:])) for obj in data]), more

    def consume() -> None:
        with Client(KEY, transport=list_server(pages), retry=NO_RETRY) as client:
            for number, _ in enumerate(iter_pages(client, PATH)):
                if number == 200:  # 20,000 objects: past the 10,000 ids remembered without created
                    return

    error, peak = peak_mb(consume)

    assert error is None
    assert peak < 5  # what a walk remembers does not grow with the list


def test_an_endless_list_stops_at_max_objects() -> None:
    with pytest.raises(errors.PaginationError, match="more than max_objects=1,000 objects"):
        walk(list_server(endless), max_objects=1_000)


def test_frame_methods_stop_at_max_objects() -> None:
    connection = finlab.connect(
        KEY, transport=list_server(endless), retry=NO_RETRY, budget=Budget(None, None)
    )

    with pytest.raises(errors.PaginationError, match="max_objects=500"):
        connection.frame("climate.order", max_objects=500)


def test_transactions_stop_at_max_objects() -> None:
    transactions = endless_of(
        lambda n: {
            "id": f"fctxn_{n:08d}",
            "object": "financial_connections.transaction",
            "account": "fca_1",
            "amount": -100,
            "currency": "usd",
            "status": "posted",
            "transacted_at": 1_700_000_000,
        }
    )
    connection = finlab.connect(KEY, transport=list_server(transactions), retry=NO_RETRY, budget=FAST)

    with pytest.raises(errors.PaginationError, match="more than max_objects=2,000 transactions"):
        connection.transactions(account="fca_1", max_objects=2_000)


def test_tax_discovery_stops_at_max_objects() -> None:
    intents = endless_of(  # a PaymentIntent list that never ends
        lambda n: {
            "id": f"pi_{n:08d}",
            "object": "payment_intent",
            "created": 1_770_000_000,
            "status": "succeeded",
        }
    )
    connection = finlab.connect(KEY, transport=list_server(intents), retry=NO_RETRY, budget=FAST)

    with pytest.raises(
        errors.PaginationError, match="/v1/payment_intents returned more than max_objects=300"
    ):
        connection.tax_transactions(start="2026-01-01", end="2026-04-01", max_objects=300)


# --- the command line --------------------------------------------------------------------------------


def test_the_cli_prints_one_line_for_a_body_nested_too_deep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(deep)))
        handler.end_headers()
        handler.wfile.write(deep)

    monkeypatch.setattr(RetryPolicy, "delay", lambda self, attempt, retry_after=None: 0.0)
    with loopback(answer) as url:
        monkeypatch.setenv("STRIPE_API_KEY", KEY)
        monkeypatch.setenv("FINLAB_API_BASE", url)
        status = cli.main(["sync", "tax.settings", "--store", str(tmp_path / "store"), "--quiet"])

    err = capsys.readouterr().err
    assert 2 == status
    assert "Traceback" not in err
    assert "RecursionError" not in err
    assert "malformed body for GET /v1/" in err
    assert KEY not in err


def test_a_sync_holds_one_batch_whatever_the_length_of_the_list(tmp_path: Path) -> None:
    def orders(pages: int) -> Callable[[int], tuple[list[dict[str, Any]], bool]]:
        def page(n: int) -> tuple[list[dict[str, Any]], bool]:
            data, _ = endless(n)
            return [{**obj, "status": "delivered"} for obj in data], n + 1 < pages

        return page

    def sync(pages: int) -> float:
        store = tmp_path / f"store{pages}"
        transport = list_server(orders(pages))
        connection = finlab.connect(KEY, transport=transport, retry=NO_RETRY, store=store, budget=FAST)
        error, peak = peak_mb(lambda: connection.sync("climate.order", progress=False))
        assert error is None
        assert pages * 100 == connection.climate_orders().height
        return peak

    short, long = sync(10), sync(40)  # 1 and 4 commits of 10 pages

    assert long < 1.5 * short


def test_a_resource_replaced_whole_stops_at_its_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("finlab.sync.MAX_REPLACED", 1_000)
    store = tmp_path / "store"
    connection = finlab.connect(KEY, transport=list_server(endless), retry=NO_RETRY, store=store, budget=FAST)

    with pytest.raises(errors.PaginationError, match="max_objects=1,000"):
        connection.sync("tax.registration", progress=False)
