"""Incremental sync against the demo server: exact request counts, exact store contents, resume, as-of.

Every count comes from `DemoStripe.requests`, so the numbers are exact. "The truth" is the dataset's
objects built into frames (`storekit.truth`); a store equals it when every stored frame does.
"""

from __future__ import annotations

import copy
import multiprocessing
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from finlab import frames
from finlab.analysis import tax
from finlab.connection import Connection
from finlab.demo.dataset import Dataset, default_dataset, write
from finlab.demo.loopback import serve
from finlab.demo.server import DEMO_API_KEY, DemoStripe
from finlab.engine import Cursor, Plan, Span
from finlab.errors import ConfigurationError
from finlab.listings import Position, resume
from finlab.store import STORED, StateRow, Store
from finlab.sync import units

try:
    import storekit
except ImportError:  # tests/ became a package
    from tests import storekit  # type: ignore[no-redef]

Demo, list_ids, stored, truth = storekit.Demo, storekit.list_ids, storekit.stored, storekit.truth
LINE_ITEM, ORDER, TAX, TRANSACTION = storekit.LINE_ITEM, storekit.ORDER, storekit.TAX, storekit.TRANSACTION
ACCOUNT = "financial_connections.account"
DEMO_ACCOUNT = "acct_1FinlabDemo000000"
PATH = "/v1/financial_connections/transactions"
AUTH = {"Authorization": f"Bearer {DEMO_API_KEY}"}
LATER = storekit.LATER
#: What a sync with nothing changed asks: one request per small list, (path, FC account) counted.
UNCHANGED = Counter(
    {
        ("/v1/financial_connections/accounts", None): 1,
        ("/v1/payment_intents", None): 1,  # created since the newest resolved: nothing new
        ("/v1/refunds", None): 1,
        ("/v1/tax/registrations", None): 1,
        ("/v1/tax/settings", None): 1,
        ("/v1/climate/orders", None): 1,
        ("/v1/climate/products", None): 1,
        ("/v1/climate/suppliers", None): 1,
    }
)


def assert_store_is_the_truth(root: Path, dataset: Dataset) -> None:
    for resource in STORED:
        frame = stored(root, resource)
        assert frame.get_column(frame.columns[0]).n_unique() == frame.height or resource == "tax.settings"
        assert_frame_equal(truth(dataset, resource), frame)


def endpoints(requests: list[storekit.RecordedRequest]) -> Counter[tuple[str, str | None]]:
    """(path, FC account) of each request, counted."""
    return Counter((r.path, dict(r.params).get("account")) for r in requests)


def change(dataset: Dataset) -> dict[str, list[str]]:
    """New transactions, pending -> posted and void, a new climate order, an order status change."""
    pending = Counter(t["account"] for t in dataset[TRANSACTION] if t["status"] == "pending")
    fca = [account for account, _ in pending.most_common(2)]
    old_pending = {
        account: [
            t["id"] for t in dataset[TRANSACTION] if t["account"] == account and t["status"] == "pending"
        ]
        for account in fca
    }
    added = dataset.add_transactions(fca[0], 5, LATER)
    posted = dataset.post_pending(fca[1], LATER + timedelta(hours=1), old_pending[fca[1]][:3])
    voided = dataset.void(fca[0], old_pending[fca[0]][:2], LATER + timedelta(hours=2))
    order = dataset.add_climate_order(LATER)
    confirmed = next(o for o in dataset[ORDER] if o["status"] == "confirmed")
    dataset.set_order_status(confirmed["id"], "delivered", LATER + timedelta(hours=3))
    return {
        "accounts": fca,
        "transactions": [t["id"] for t in added + posted + voided],
        "orders": [order["id"], confirmed["id"]],
    }


@pytest.fixture
def demo(tmp_path: Path) -> Demo:
    return Demo.start(tmp_path / "store")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding one full sync of the small demo account."""
    root = tmp_path_factory.mktemp("template")
    Demo.start(root).connection().sync(progress=False)
    return root


@pytest.fixture
def synced(tmp_path: Path, template: Path) -> Demo:
    """The small demo account and a copy of a store that synced it once."""
    shutil.copytree(template, tmp_path / "store")
    return Demo.start(tmp_path / "store")


# -- the first sync, and a sync with nothing changed ----------------------------------------------


def test_first_sync_stores_the_truth(demo: Demo) -> None:
    report = demo.connection().sync(progress=False)
    assert_store_is_the_truth(demo.root, demo.dataset)
    assert [*units(None)] == [unit.resource for unit in report.units]
    assert report.requests == len(demo.server.requests) - 1  # the other one asked which account this is
    assert DEMO_ACCOUNT == demo.connection().open_store().account  # type: ignore[union-attr]


def test_a_sync_with_nothing_changed_sends_one_request_per_small_list(synced: Demo) -> None:
    connection = synced.connection()
    assert connection.open_store() is not None  # asks Stripe which account this is: once per connection
    versions = {r: Store(synced.root, DEMO_ACCOUNT, livemode=False).version(r) for r in STORED}
    mark = synced.mark()
    report = connection.sync(progress=False)
    assert UNCHANGED == endpoints(synced.since(mark))
    assert 8 == report.requests
    assert versions == {r: Store(synced.root, DEMO_ACCOUNT, livemode=False).version(r) for r in STORED}
    assert_store_is_the_truth(synced.root, synced.dataset)


@pytest.mark.slow
def test_the_full_demo_account_syncs_and_then_costs_eight_requests(tmp_path: Path) -> None:
    dataset = default_dataset()
    demo = Demo.start(tmp_path, dataset)
    connection = demo.connection()
    first = connection.sync(progress=False)
    assert 16_000 == first.units[1].fetched
    mark = demo.mark()
    assert 8 == connection.sync(progress=False).requests == len(demo.since(mark))
    assert len(dataset[TAX]) == stored(tmp_path, TAX).height


# -- some change: only what changed is fetched ----------------------------------------------------


def test_a_refresh_fetches_only_what_changed(synced: Demo) -> None:
    connection = synced.connection()
    assert connection.open_store() is not None  # asks Stripe which account this is: once per connection
    refreshes = {a["id"]: a["transaction_refresh"]["id"] for a in synced.dataset[ACCOUNT]}
    changed = change(synced.dataset)
    mark = synced.mark()
    report = connection.sync(progress=False)
    requests = synced.since(mark)
    first, second = changed["accounts"]
    assert UNCHANGED + Counter({(PATH, first): 1, (PATH, second): 1}) == endpoints(requests)
    listed = [r for r in requests if r.path.endswith("/transactions")]
    assert {refreshes[first], refreshes[second]} == {
        dict(r.params)["transaction_refresh[after]"] for r in listed
    }
    replay = DemoStripe(synced.dataset)
    fetched = [i for r in listed for i in list_ids(replay, r)]
    assert sorted(changed["transactions"]) == sorted(fetched)
    assert 10 == report.units[1].fetched
    assert_store_is_the_truth(synced.root, synced.dataset)


def test_new_tax_transactions_alone_are_fetched(demo: Demo) -> None:
    connection = demo.connection()
    connection.sync(progress=False)
    more = storekit.add_sales(demo.dataset, 7, int(datetime.now(UTC).timestamp()))
    mark = demo.mark()
    connection.sync(["tax_transactions"], progress=False)
    retrieved = [
        r.path.rsplit("/", 1)[1] for r in demo.since(mark) if r.path.startswith("/v1/tax/transactions/")
    ]
    assert sorted(t["id"] for t in more) == sorted(retrieved)
    assert_frame_equal(truth(demo.dataset, LINE_ITEM), stored(demo.root, LINE_ITEM))


def test_far_down_open_orders_are_fetched_by_id(synced: Demo) -> None:
    connection = synced.connection()
    assert connection.open_store() is not None  # asks Stripe which account this is: once per connection
    waiting = [o["id"] for o in synced.dataset[ORDER] if o["status"] not in ("canceled", "delivered")]
    for i in range(250):
        order = synced.dataset.add_climate_order(LATER + timedelta(minutes=i))
        synced.dataset.set_order_status(order["id"], "canceled", LATER + timedelta(minutes=i))
    for order_id in waiting[1:]:
        synced.dataset.set_order_status(order_id, "canceled", LATER)
    mark = synced.mark()
    connection.sync(["climate_orders"], progress=False)
    assert 3 == len(synced.since(mark))  # 298 orders: three pages cover every order that was waiting
    synced.dataset.set_order_status(waiting[0], "canceled", LATER + timedelta(days=1))
    mark = synced.mark()
    connection.sync(["climate_orders"], progress=False)
    expected = ["/v1/climate/orders", f"/v1/climate/orders/{waiting[0]}"]  # one page, then the deep one
    assert expected == [r.path for r in synced.since(mark)]
    assert_frame_equal(truth(synced.dataset, ORDER), stored(synced.root, ORDER))


def test_a_forgotten_refresh_falls_back_to_a_full_listing(synced: Demo) -> None:
    connection = synced.connection()
    store = connection.open_store()
    assert store is not None
    fca = synced.dataset[ACCOUNT][0]["id"]
    with store.writing():  # a refresh id Stripe no longer knows
        store.save_state(
            [StateRow(TRANSACTION, fca, {"refresh": "fctxnref_zzzzzzzzzzzzzzzzzzzzzzzz"}, LATER, 999)]
        )
    synced.dataset.add_transactions(fca, 2, LATER)
    connection.sync([TRANSACTION], progress=False)
    assert_frame_equal(truth(synced.dataset, TRANSACTION), stored(synced.root, TRANSACTION))


def test_a_table_moved_aside_is_fetched_again_in_full(synced: Demo) -> None:
    connection = synced.connection()
    table = Path(stored_path(synced.root, TRANSACTION))
    table.rename(table.with_name("moved-aside"))
    assert_frame_equal(storekit.as_read(truth(synced.dataset, TRANSACTION)), connection.transactions())
    orders = Path(stored_path(synced.root, ORDER))
    orders.rename(orders.with_name("orders-aside"))
    connection.sync(progress=False)
    assert_store_is_the_truth(synced.root, synced.dataset)


def stored_path(root: Path, resource: str) -> str:
    return Store(root, DEMO_ACCOUNT, livemode=False).path(resource)


# -- reads from the store, and as-of -------------------------------------------------------------


def test_frame_methods_read_the_store_and_say_how_fresh(
    demo: Demo, capsys: pytest.CaptureFixture[str]
) -> None:
    connection = demo.connection()
    orders = connection.climate_orders()  # never synced: synced first
    assert "climate.order from the store (version 1, synced" in capsys.readouterr().err
    mark = demo.mark()
    assert_frame_equal(orders, connection.climate_orders())
    assert [] == demo.since(mark)
    fca = Counter(t["account"] for t in demo.dataset[TRANSACTION]).most_common(2)[1][0]
    start, end = datetime(2025, 6, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
    frame = connection.transactions(fca, start="2025-06-01", end="2026-01-01")
    expected = truth(demo.dataset, TRANSACTION).filter(
        (pl.col("account") == fca) & (pl.col("transacted_at") >= start) & (pl.col("transacted_at") < end)
    )
    assert_frame_equal(storekit.as_read(expected), frame)
    assert 0 < frame.height
    assert ["active"] == connection.tax_registrations("active").get_column("status").unique().to_list()


def test_as_of_returns_every_frame_as_it_was_before_the_refresh(synced: Demo) -> None:
    connection = synced.connection()
    methods: dict[str, Callable[..., pl.DataFrame]] = {
        "accounts": connection.accounts,
        "transactions": connection.transactions,
        "tax_transactions": connection.tax_transactions,
        "tax_line_items": connection.tax_line_items,
        "tax_registrations": connection.tax_registrations,
        "tax_settings": connection.tax_settings,
        "climate_orders": connection.climate_orders,
        "climate_products": connection.climate_products,
        "climate_suppliers": connection.climate_suppliers,
    }
    before = {name: method() for name, method in methods.items()}
    store = connection.open_store()
    assert store is not None
    versions = {name: store.version(name) for name in methods}
    time.sleep(0.01)
    between = datetime.now(UTC)
    change(synced.dataset)
    connection.sync(progress=False)
    assert not before["transactions"].equals(connection.transactions())
    for name, method in methods.items():
        assert_frame_equal(before[name], method(as_of=versions[name]))
        assert_frame_equal(before[name], method(as_of=between))


def test_a_filed_tax_report_is_recreated_exactly(demo: Demo) -> None:
    connection = demo.connection()

    def report(**as_of: object) -> pl.DataFrame:
        lines = tax.tax_lines(connection.tax_line_items(**as_of), connection.tax_transactions(**as_of))
        return tax.filing_summary(lines, connection.tax_registrations(**as_of), period="month")

    filed = report()
    filed_at = datetime.now(UTC)
    time.sleep(0.01)
    storekit.add_sales(demo.dataset, 30, int(datetime.now(UTC).timestamp()))
    connection.sync(progress=False)
    assert not filed.equals(report())
    assert_frame_equal(filed, report(as_of=filed_at))


def test_tax_transactions_by_id_are_stored_once(tmp_path: Path) -> None:
    demo = Demo.start(tmp_path)
    connection = Connection(DEMO_API_KEY, transport=httpx.MockTransport(demo.server.handle), store=tmp_path)
    wanted = storekit.tax_ids(demo.dataset)[:3]
    first = connection.tax_transactions(wanted)
    mark = demo.mark()
    assert_frame_equal(first, connection.tax_transactions(wanted))
    assert [] == demo.since(mark)
    assert 3 == connection.tax_line_items(wanted).select("tax_transaction").n_unique()
    with pytest.raises(ConfigurationError, match="not in the store as of 0"):
        connection.tax_transactions(storekit.tax_ids(demo.dataset)[:4], as_of=0)


def test_a_store_finds_every_tax_transaction_and_fetches_none_twice(tmp_path: Path) -> None:
    """Without ids the store's tax transactions are found (a sync of the unit), those stored not again."""
    demo = Demo.start(tmp_path)
    connection = Connection(DEMO_API_KEY, transport=httpx.MockTransport(demo.server.handle), store=tmp_path)
    wanted = storekit.tax_ids(demo.dataset)[:3]
    connection.tax_transactions(wanted)
    mark = demo.mark()
    every = connection.tax_transactions()
    assert sorted(storekit.tax_ids(demo.dataset)) == sorted(every.get_column("id"))
    retrieved = {
        r.path.rsplit("/", 1)[1] for r in demo.since(mark) if r.path.startswith("/v1/tax/transactions/")
    }
    assert set() == retrieved & set(wanted)
    assert len(storekit.tax_ids(demo.dataset)) - 3 == len(retrieved)


def test_a_new_refund_on_an_old_payment_brings_its_reversal_in(synced: Demo) -> None:
    data = synced.dataset
    association = next(a for a in data["tax.association"] if len(a["tax_transaction_attempts"]) == 1)
    sale_id = association["tax_transaction_attempts"][0]["committed"]["transaction"]
    sale = next(t for t in data[TAX] if t["id"] == sale_id)
    now = int(datetime.now(UTC).timestamp())
    reversal = {**sale, "id": "tax_1NewReversal000000000", "type": "reversal", "posted_at": now}
    reversal["reversal"] = {"original_transaction": sale_id}
    refund = {**data["refund"][0], "id": "re_1NewRefund0000000000", "created": now}
    refund["payment_intent"] = association["payment_intent"]
    association["tax_transaction_attempts"].append(
        {"committed": {"transaction": reversal["id"]}, "source": refund["id"], "status": "committed"}
    )
    data[TAX].append(reversal)
    data.objects["refund"].append(refund)
    data.touch()
    mark = synced.mark()
    synced.connection().sync(["tax_transactions"], progress=False)
    assert reversal["id"] in set(stored(synced.root, TAX).get_column("id"))
    asked = Counter(r.path for r in synced.since(mark))
    assert 1 == asked["/v1/tax/associations/find"]  # only the refunded payment is asked again
    assert 1 == asked[f"/v1/tax/transactions/{reversal['id']}"]


def test_as_of_needs_a_store() -> None:
    demo = DemoStripe(storekit.small_dataset())
    connection = Connection(DEMO_API_KEY, transport=httpx.MockTransport(demo.handle))
    with pytest.raises(ConfigurationError, match=r"connect\(store=\.\.\.\)"):
        connection.climate_orders(as_of=0)
    with pytest.raises(ConfigurationError, match="is not read from a store"):
        connection.verification_sessions(as_of=0)


def test_another_keys_account_gets_its_own_directory(tmp_path: Path) -> None:
    first = Demo.start(tmp_path)
    first.connection().sync(["climate_orders"], progress=False)
    other = Demo.start(tmp_path, account_id="acct_1OtherKey")
    other.dataset[ORDER].pop()
    other.dataset.touch()
    other.connection().sync(["climate_orders"], progress=False)
    assert 48 == stored(tmp_path, ORDER).height
    assert 47 == stored(tmp_path, ORDER, account="acct_1OtherKey").height


def test_a_connected_account_keys_the_store(tmp_path: Path) -> None:
    demo = Demo.start(tmp_path)
    demo.dataset.connected = {"acct_1Connected": storekit.small_dataset()}  # the platform's account
    connection = demo.connection(stripe_account="acct_1Connected")
    connection.sync(["climate_orders"], progress=False)
    assert "/v1/account" not in [r.path for r in demo.server.requests]
    assert 48 == stored(tmp_path, ORDER, account="acct_1Connected").height


def test_the_key_never_reaches_the_store(synced: Demo) -> None:
    secret = DEMO_API_KEY.encode()
    for path in synced.root.rglob("*"):
        if path.is_file():
            assert secret not in path.read_bytes(), path


# -- interrupted syncs resume -------------------------------------------------------------------


class Interrupting:
    """A transport that answers ``after`` requests, then raises ``error`` on every one."""

    def __init__(self, server: DemoStripe, after: int, error: BaseException) -> None:
        self.server, self.after, self.error, self.count = server, after, error, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        if self.count > self.after:
            raise self.error
        return self.server.handle(request)


def committed(root: Path) -> tuple[set[str], set[str]]:
    """Ids of the FC transactions and tax transactions a store holds."""
    return set(stored(root, TRANSACTION).get_column("id")), set(stored(root, TAX).get_column("id"))


def refetched(demo: Demo, mark: int, held: tuple[set[str], set[str]]) -> list[str]:
    """Ids of committed FC transactions or tax transactions that requests after ``mark`` fetched again."""
    transactions, taxes = held
    replay = DemoStripe(demo.dataset)
    again = []
    for request in demo.since(mark):
        if request.path == "/v1/financial_connections/transactions":
            again += [i for i in list_ids(replay, request) if i in transactions]
        elif request.path.startswith("/v1/tax/transactions/") and request.path.rsplit("/", 1)[1] in taxes:
            again.append(request.path)
    return again


@pytest.mark.parametrize(
    ("after", "error"),
    [(7, RuntimeError("network gone")), (25, KeyboardInterrupt()), (45, RuntimeError("disk hiccup"))],
)
def test_an_interrupted_sync_resumes_without_fetching_twice(
    tmp_path: Path, after: int, error: BaseException
) -> None:
    demo = Demo.start(tmp_path)
    failing = Connection(
        DEMO_API_KEY,
        transport=httpx.MockTransport(Interrupting(demo.server, after, error)),
        store=tmp_path,
    )
    with pytest.raises(type(error)):
        demo.sync(failing, batch_pages=1, tax_batch=4)
    held = committed(tmp_path)
    assert 0 < len(held[0])
    mark = demo.mark()
    demo.sync(batch_pages=1, tax_batch=4)
    assert [] == refetched(demo, mark, held)
    assert_store_is_the_truth(tmp_path, demo.dataset)


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume(tmp_path: Path) -> None:
    dataset = storekit.small_dataset()
    data = tmp_path / "data"
    write(dataset, data)
    root = tmp_path / "store"
    server = DemoStripe(copy.deepcopy(dataset))
    rng = random.Random(20261126)
    checks: list[tuple[int, tuple[set[str], set[str]]]] = []
    demo = Demo(dataset, server, root)
    context = multiprocessing.get_context("forkserver")  # children fork with finlab imported
    context.set_forkserver_preload([__name__])
    with serve(server) as loopback:
        args = [loopback.url, str(root), str(data)]
        while len(checks) < 10:
            target = storekit.commits(root) + rng.randint(1, 5)
            child = context.Process(target=storekit.child, args=(args,))
            killed = storekit.kill_at(child, root, target, rng.uniform(0, 0.03))
            assert killed, "the sync finished before it could be killed: use more data"
            mark = demo.mark()
            held = committed(root)  # opens without error
            for resource in STORED:
                frame = stored(root, resource)
                if "id" in frame.columns:
                    assert frame.height == frame.get_column("id").n_unique(), resource
            checks.append((mark, held))
        finished = context.Process(target=storekit.child, args=(args,))
        assert not storekit.kill_at(finished, root, None, 0)
    assert_store_is_the_truth(root, dataset)
    for mark, held in checks:
        assert [] == refetched(demo, mark, held)


def test_a_store_written_with_per_window_cursors_resumes(demo: Demo) -> None:
    """Stores synced before `finlab.engine.Cursor` hold one cursor per fixed window; a sync resumes
    from them: the window in progress after its last id, the one not started from its top."""
    fca = max(
        demo.dataset[ACCOUNT], key=lambda a: sum(t["account"] == a["id"] for t in demo.dataset[TRANSACTION])
    )
    times = sorted(t["transacted_at"] for t in demo.dataset[TRANSACTION] if t["account"] == fca["id"])
    middle = times[len(times) // 2]
    top = {"transacted_at[gte]": str(middle), "account": fca["id"], "limit": "100"}
    request = httpx.Request("GET", f"https://api.stripe.com{PATH}", params=top, headers=AUTH)
    page = DemoStripe(demo.dataset).handle(request).json()["data"]
    plan = {
        "after": None,
        "target": fca["transaction_refresh"]["id"],
        "windows": [[None, middle], [middle, None]],
        "floor": fca["created"],
        "top": fca["transaction_refresh"]["last_attempted_at"],
    }
    cursor = {"scope": fca["id"], "plan": plan, "window": 1, "last": page[-1]["id"], "done": False}
    connection = demo.connection()
    assert connection.open_store() is not None
    with connection.open_store().writing():
        connection.open_store().merge(TRANSACTION, frames.build_raw(TRANSACTION, page), cursor)
    assert len(page) < times.count(middle) + sum(t > middle for t in times), "the window was not done"
    mark = demo.mark()
    demo.sync()
    assert [] == refetched(demo, mark, ({t["id"] for t in page}, set()))
    resumed = [
        dict(r.params) for r in demo.since(mark) if dict(r.params).get("starting_after") == page[-1]["id"]
    ]
    assert [str(middle)] == [params.get("transacted_at[gte]") for params in resumed]
    assert_store_is_the_truth(demo.root, demo.dataset)


# -- the pure parts -------------------------------------------------------------------------------


def test_resume_takes_the_newest_committed_cursor() -> None:
    listing = Cursor("a", Plan(None, "r2"), (Span(None, 5, "t9", True), Span(5, None, "t4")))
    done = Cursor("a", Plan(None, "r2"), (Span(None, 5, "t9", True), Span(5, None, "t6", True)))
    step = Cursor("a", Plan("r2", "r3"), (Span(None, None, "t20"),))
    assert Position(False, None) == resume(None, [])
    assert Position(True, "r1") == resume({"refresh": "r1"}, [])
    assert Position(False, None, listing) == resume(None, [listing.to_json()])
    assert Position(True, "r2") == resume(None, [done.to_json(), listing.to_json()])
    assert Position(True, "r2", step) == resume({"refresh": "r2"}, [step.to_json(), done.to_json()])


def test_units_follow_resource_names() -> None:
    assert [ACCOUNT, TRANSACTION] == units("transactions")
    assert [TAX] == units(["tax_line_items", "tax.transaction"])
    with pytest.raises(ConfigurationError, match="not kept in the store"):
        units(["webhook_endpoints"])


def test_a_first_sync_resolves_each_payment_intent_once(tmp_path: Path) -> None:
    """N PaymentIntents cost N/100 list pages and one association each; a second sync asks none again."""
    demo = Demo.start(tmp_path)
    connection = demo.connection()
    connection.sync(["tax_transactions"], progress=False)
    asked = Counter(r.path for r in demo.since(0))
    intents = len(demo.dataset["payment_intent"])
    assert -(-intents // 100) == asked["/v1/payment_intents"]
    assert intents == asked["/v1/tax/associations/find"]
    mark = demo.mark()
    connection.sync(["tax_transactions"], progress=False)
    assert {"/v1/payment_intents": 1, "/v1/refunds": 1} == Counter(r.path for r in demo.since(mark))
