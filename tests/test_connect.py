"""Connect platforms: many connected accounts through one connection, one budget and one store root.

The platform is a small demo account (`storekit.small_dataset`) with some of the bundled demo
platform's connected accounts (`finlab.demo.platform`) and the one that revoked the platform's access.
Every count comes from `DemoStripe.requests`, so the numbers are exact.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from tqdm import tqdm

import finlab
from finlab import resources
from finlab.client import AsyncClient
from finlab.connected import PlatformSyncReport
from finlab.connection import Connection
from finlab.demo.dataset import Dataset, default_dataset, new_id
from finlab.demo.limits import Limits
from finlab.demo.loopback import serve
from finlab.demo.server import DEMO_API_KEY, DemoStripe
from finlab.errors import AccountSkippedWarning, ConfigurationError, PermissionError
from finlab.store import STORED, Store
from finlab.sync import units

try:
    import spec
    import storekit
except ImportError:  # tests/ became a package
    from tests import spec, storekit  # type: ignore[no-redef]

OWN = "acct_1FinlabDemo000000"


def platform(connected: int = 4) -> tuple[Dataset, list[str], str]:
    """A platform with ``connected`` readable accounts and the revoked one (listed in the middle)."""
    bundled = default_dataset()
    listed = sorted(bundled["account"], key=lambda a: a["created"])
    revoked = next(a for a in listed if a["id"] not in bundled.connected)
    readable = [a for a in listed if a["id"] in bundled.connected][:connected]
    dataset = storekit.small_dataset(every=48, tax=6)
    half = len(readable) // 2
    dataset.objects["account"] = [*readable[:half], revoked, *readable[half:]]
    dataset.connected = {a["id"]: bundled.connected[a["id"]] for a in readable}
    return dataset, [a["id"] for a in readable], revoked["id"]


def connection(server: DemoStripe, root: Path | None = None, **options: Any) -> Connection:
    return Connection(DEMO_API_KEY, transport=httpx.MockTransport(server.handle), store=root, **options)


def by_account(server: DemoStripe, since: int = 0) -> Counter[str | None]:
    return Counter(request.account for request in list(server.requests)[since:])


# -- choosing accounts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (["acct_1Abc", "cus_1Abc"], "acct_"),
        (["acct_1Abc", "acct_../x"], "not a Stripe id"),
        ([], "names no account"),
        (["sk_live_" + "x" * 24], "sk_live_…"),
    ],
)
def test_account_ids_are_checked_before_any_request(given: list[str], says: str) -> None:
    server = DemoStripe(Dataset())
    with pytest.raises(ConfigurationError, match=says) as raised:
        connection(server, stripe_account=given)
    assert "x" * 24 not in str(raised.value)
    assert 0 == len(server.requests)


def test_several_accounts_refuse_ids_that_belong_to_one() -> None:
    dataset, readable, _ = platform(2)
    stripe = connection(DemoStripe(dataset), stripe_account=readable)
    for call in (
        lambda: stripe.tax_transactions(["tax_1"]),
        lambda: stripe.tax_line_items(payment_intents=["pi_1"]),
        lambda: stripe.tax_calculations(["taxcalc_1"]),
        lambda: stripe.transactions("fca_1"),
    ):
        with pytest.raises(ConfigurationError, match="one account"):
            call()


def listed(dataset: Dataset) -> list[str]:
    """The connected accounts as ``GET /v1/accounts`` lists them (newest first) and "all" reads them."""
    newest = sorted(dataset["account"], key=lambda a: (a["created"], a["id"]), reverse=True)
    return [a["id"] for a in newest]


def test_all_lists_the_accounts_through_pagination() -> None:
    dataset, _, _ = platform(2)
    rng = random.Random(5)
    extra = [{**dataset["account"][0], "id": new_id(rng, "acct_")[:21], "created": 1} for _ in range(230)]
    dataset.objects["account"] += extra
    server = DemoStripe(dataset)
    stripe = connection(server, stripe_account="all")
    listed = stripe.stripe_accounts
    newest_first = sorted(dataset["account"], key=lambda a: (a["created"], a["id"]), reverse=True)
    assert [None, *(a["id"] for a in newest_first)] == listed
    pages = [r for r in server.requests if r.path == "/v1/accounts"]
    assert 3 == len(pages)  # 233 accounts, 100 a page
    assert ("limit", "100") in pages[0].params
    assert ("starting_after", newest_first[199]["id"]) in pages[2].params
    assert stripe.stripe_accounts is listed or stripe.stripe_accounts == listed
    assert 3 == len(server.requests)  # listed once per connection


def test_the_accounts_list_and_the_refusal_are_stripes_shapes() -> None:
    dataset, _, revoked = platform(2)
    transport = spec.validating_transport(DemoStripe(dataset).handle)
    stripe = Connection(DEMO_API_KEY, transport=transport, stripe_account="all")
    with pytest.warns(AccountSkippedWarning, match=revoked):
        stripe.climate_orders()
    transport.assert_clean()  # GET /v1/accounts against Stripe's spec (2024-04-10), the 403 body too
    assert 1 == transport.seen[("GET", "/v1/accounts", 200)]
    assert 1 == transport.seen[("GET", "/v1/climate/orders", 403)]
    assert 3 == transport.seen[("GET", "/v1/climate/orders", 200)]


# -- frames ------------------------------------------------------------------------------------


def test_every_frame_has_the_stripe_account_column() -> None:
    dataset, readable, _ = platform(2)
    server = DemoStripe(dataset)
    own = connection(server).climate_orders()
    assert own.schema == resources.schema("climate.order")
    assert own.height == own["stripe_account"].null_count()  # the key's own account: null
    one = connection(server, stripe_account=readable[0])
    orders = one.climate_orders()
    assert {readable[0]} == set(orders["stripe_account"])
    empty = one.webhook_endpoints()  # the connected account has none: an empty frame, same schema
    assert 0 == empty.height
    assert empty.schema == resources.schema("webhook_endpoint")
    assert one.tax_settings().schema == resources.schema("tax.settings")
    assert {readable[0]} == set(one.tax_transactions()["stripe_account"])
    assert {a for a in (r.account for r in server.requests) if a} == {readable[0]}


def test_several_accounts_concatenate_and_a_refused_one_is_skipped() -> None:
    dataset, readable, revoked = platform(3)
    server = DemoStripe(dataset)
    stripe = connection(server, stripe_account=[readable[0], revoked, readable[1]])
    with pytest.warns(AccountSkippedWarning) as caught:
        orders = stripe.climate_orders()
    (warning,) = caught
    assert revoked in str(warning.message)
    assert "403" in str(warning.message)
    assert "still connected to the platform" in str(warning.message)
    expected = [
        connection(DemoStripe(dataset), stripe_account=account).climate_orders() for account in readable[:2]
    ]
    assert_frame_equal(pl.concat(expected), orders)
    assert orders.schema == resources.schema("climate.order")
    assert [readable[0], revoked, readable[1]] == list(by_account(server))  # in order, one pass


def test_all_reads_the_platform_and_every_account_with_one_client_and_budget() -> None:
    dataset, readable, revoked = platform(3)
    server = DemoStripe(dataset)
    budget = finlab.budget.Budget(global_rate=None, endpoint_rate=None)
    stripe = connection(server, stripe_account="all", budget=budget)
    with pytest.warns(AccountSkippedWarning, match=revoked):
        transactions = stripe.transactions()
    counts = transactions.group_by("stripe_account").len()
    own = len(dataset["financial_connections.transaction"])
    theirs = {a: len(dataset.connected[a]["financial_connections.transaction"]) for a in readable}
    expected = {None: own} | theirs
    assert expected == dict(counts.iter_rows())
    assert len(server.requests) == budget.stats().granted  # every account's requests spent one budget


def test_the_demo_counts_every_accounts_requests_against_the_platforms_limit() -> None:
    dataset, readable, _ = platform(2)
    server = DemoStripe(dataset, limits=Limits(global_rate=5, clock=lambda: 0.0))
    client = httpx.Client(transport=server.transport(), base_url="https://api.stripe.com")
    auth = {"Authorization": f"Bearer {DEMO_API_KEY}"}
    statuses = [
        client.get("/v1/climate/orders", headers={**auth, "Stripe-Account": readable[k % 2]}).status_code
        for k in range(6)
    ]
    assert [200] * 5 + [429] == statuses  # five requests in the second, whichever account they were for


def test_every_account_refused_raises_the_first_error() -> None:
    dataset, _, revoked = platform(1)
    stripe = connection(DemoStripe(dataset), stripe_account=[revoked])
    with warnings.catch_warnings(record=True), pytest.raises(PermissionError, match="access"):
        stripe.climate_orders()


def test_a_clone_for_another_account_shares_pool_budget_and_counts() -> None:
    client = AsyncClient(DEMO_API_KEY, budget=finlab.budget.Budget())
    other = client.on_behalf_of("acct_1Abc")
    assert other.policy.headers()["Stripe-Account"] == "acct_1Abc"
    assert "Stripe-Account" not in client.policy.headers()
    assert other._http is client._http
    assert other.budget is client.budget
    assert other.policy.stats is client.policy.stats
    assert client.on_behalf_of(None) is client


# -- sync --------------------------------------------------------------------------------------


def test_sync_walks_the_accounts_and_reports_each_outcome(tmp_path: Path) -> None:
    dataset, readable, revoked = platform(4)
    server = DemoStripe(dataset)
    with pytest.warns(AccountSkippedWarning, match=revoked):
        report = connection(server, tmp_path, stripe_account="all").sync(progress=False)
    assert isinstance(report, PlatformSyncReport)
    assert [OWN, *(a for a in listed(dataset) if a != revoked)] == list(report.synced)
    assert [revoked] == list(report.skipped)
    assert "403" in report.skipped[revoked]
    text = str(report)
    assert all(account in text for account in (OWN, *readable, revoked))
    assert f"{revoked}: skipped" in text
    for account in readable:
        for resource in STORED:
            truth = storekit.truth(dataset.connected[account], resource)
            assert_frame_equal(truth, storekit.stored(tmp_path, resource, account))
    # Reading through the store: every account's rows, tagged, without a request.
    stripe = connection(server, tmp_path, stripe_account=readable)
    mark = len(server.requests)
    orders = stripe.climate_orders()
    assert mark == len(server.requests)
    assert sum(len(dataset.connected[a]["climate.order"]) for a in readable) == orders.height
    assert set(readable) == set(orders["stripe_account"])


def test_an_account_whose_sync_fails_is_reported_and_the_others_go_on(tmp_path: Path) -> None:
    dataset, readable, revoked = platform(3)
    server, broken = DemoStripe(dataset), readable[1]

    def handle(request: httpx.Request) -> httpx.Response:
        if request.headers.get("Stripe-Account") == broken and "climate" in request.url.path:
            return httpx.Response(500, json={"error": {"type": "api_error", "message": "Stripe is down."}})
        return server.handle(request)

    stripe = Connection(
        DEMO_API_KEY,
        transport=httpx.MockTransport(handle),
        store=tmp_path,
        stripe_account="all",
        retry=finlab.client.RetryPolicy(max_retries=1, base_delay=0, max_delay=0),
    )
    with pytest.warns(AccountSkippedWarning) as caught:
        report = stripe.sync(progress=False)
    assert isinstance(report, PlatformSyncReport)
    assert {broken, revoked} == set(report.skipped)
    assert "Stripe is down" in report.skipped[broken]
    assert "run the sync again" in " ".join(str(w.message) for w in caught)
    assert {OWN, *readable} - {broken} == set(report.synced)
    kept = storekit.stored(tmp_path, "financial_connections.transaction", broken)  # before climate
    assert len(dataset.connected[broken]["financial_connections.transaction"]) == kept.height


@pytest.mark.parametrize("connected", [2, 4])
def test_a_sync_with_nothing_changed_costs_eight_requests_per_account(tmp_path: Path, connected: int) -> None:
    dataset, readable, revoked = platform(connected)
    server = DemoStripe(dataset)
    with warnings.catch_warnings(record=True):
        connection(server, tmp_path, stripe_account="all").sync(progress=False)
        mark = len(server.requests)
        report = connection(server, tmp_path, stripe_account="all").sync(progress=False)
    assert isinstance(report, PlatformSyncReport)
    seen = by_account(server, mark)
    # One page of /v1/accounts and GET /v1/account (which account the key's own store is), then eight
    # small lists per account (as for one account, see test_sync.py), and one refused request.
    assert {None: 2 + 8, revoked: 1} | {account: 8 for account in readable} == dict(seen)
    assert 2 + 8 * (connected + 1) + 1 == len(server.requests) - mark
    assert 8 * (connected + 1) == report.requests


def test_a_store_written_before_accounts_opens_and_resumes(tmp_path: Path) -> None:
    dataset, readable, revoked = platform(2)
    server = DemoStripe(dataset)
    connection(server, tmp_path).sync(progress=False)  # a store written without stripe_account
    mark = len(server.requests)
    with warnings.catch_warnings(record=True):
        report = connection(server, tmp_path, stripe_account="all").sync(progress=False)
    assert isinstance(report, PlatformSyncReport)
    assert 8 == report.synced[OWN].requests  # the platform's own data is not fetched again
    others = {k: v for k, v in by_account(server, mark).items() if k not in readable}
    assert {None: 2 + 8, revoked: 1} == others


def test_the_demo_is_a_platform_of_fifty_accounts() -> None:
    stripe = finlab.connect(demo=True, stripe_account="all")
    with pytest.warns(AccountSkippedWarning):
        orders = stripe.climate_orders()
    accounts = stripe.stripe_accounts
    assert 52 == len(accounts)  # the platform, 50 connected accounts, and the revoked one
    assert 51 == orders["stripe_account"].n_unique()
    assert 48 == orders.filter(pl.col("stripe_account").is_null()).height  # the main account unchanged


# -- SIGKILL mid-way: the sync resumes account by account ---------------------------------------


def sigkill_child(url: str, root: str) -> None:
    """Sync the platform ("all") over loopback until killed (tqdm on a thread lock: see storekit.child)."""
    tqdm.set_lock(threading.RLock())
    warnings.simplefilter("ignore")
    Connection(DEMO_API_KEY, base_url=url, store=root, stripe_account="all").sync(progress=False)


def completed(root: Path, accounts: list[str]) -> set[str]:
    """The accounts whose store records a finished sync of every unit."""
    done = set()
    for account in accounts:
        if (root / account / "test" / "_state").exists():
            state = Store(root, account, livemode=False).state()
            if all((unit, "") in state for unit in units(None)):
                done.add(account)
    return done


@pytest.mark.slow
def test_sigkill_mid_way_resumes_account_by_account(tmp_path: Path) -> None:
    dataset, readable, revoked = platform(12)
    root = tmp_path / "store"
    server = DemoStripe(dataset)
    rng = random.Random(20261206)
    context = multiprocessing.get_context("forkserver")  # children fork with finlab imported
    context.set_forkserver_preload([__name__])
    accounts = [OWN, *readable]
    with serve(server) as loopback:
        for _ in range(10):
            # An account's first sync is 26 commits (11 of them its tables' creations): ten kills
            # 2-14 commits apart get past the first two accounts and stop well before the last.
            target = storekit.commits(root) + rng.randint(2, 14)
            child = context.Process(target=sigkill_child, args=(loopback.url, str(root)))
            killed = storekit.kill_at(child, root, target, rng.uniform(0, 0.03))
            assert killed, "the sync finished before it could be killed: use more accounts"
            for account in accounts:  # every store opens, and holds each id once
                for resource in STORED:
                    frame = storekit.stored(root, resource, account)
                    assert "id" not in frame.columns or frame.height == frame["id"].n_unique(), resource
        done = completed(root, readable)
        assert done, "no account finished before the kills: kill later"
        mark = len(server.requests)
        finished = context.Process(target=sigkill_child, args=(loopback.url, str(root)))
        assert not storekit.kill_at(finished, root, None, 0)
    seen = by_account(server, mark)
    assert all(8 == seen[account] for account in done)  # a finished account is only checked again
    assert 1 == seen[revoked]
    for account in readable:
        for resource in STORED:
            truth = storekit.truth(dataset.connected[account], resource)
            assert_frame_equal(truth, storekit.stored(root, resource, account))
    for resource in STORED:
        assert_frame_equal(storekit.truth(dataset, resource), storekit.stored(root, resource, OWN))
