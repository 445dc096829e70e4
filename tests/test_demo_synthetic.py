"""The synthetic platform: transactions made on demand, served by the demo server like any list."""

from __future__ import annotations

from pathlib import Path

import httpx
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from finlab import Connection
from finlab.demo import DEMO_API_KEY, DemoStripe
from finlab.demo.dataset import TRANSACTION
from finlab.demo.synthetic import SyntheticPlatform

PATH = "/v1/financial_connections/transactions"


def connection(platform: SyntheticPlatform, **options: object) -> Connection:
    stripe = DemoStripe(platform.dataset(), listings=platform.listings())
    return Connection(DEMO_API_KEY, transport=httpx.MockTransport(stripe.handle), **options)  # type: ignore[arg-type]


def test_transactions_spread_evenly_and_read_back_exactly() -> None:
    platform = SyntheticPlatform(transactions=2_003, connected_accounts=2, fc_accounts=3)
    frame = connection(platform).transactions()
    assert 2_003 == frame.height == frame.get_column("id").n_unique()
    counts = frame.group_by("account").len().get_column("len").sort().to_list()
    assert [333, 334, 334, 334, 334, 334] == counts
    assert {"usd", "eur", "gbp"} == set(frame.get_column("currency"))
    assert {"posted", "pending", "void"} >= set(frame.get_column("status"))
    posted = frame.filter(pl.col("status") == "posted")
    assert posted.get_column("status_transitions_posted_at").is_not_null().all()
    assert (posted["status_transitions_posted_at"] >= posted["transacted_at"]).all()
    again = connection(platform).transactions()  # the same on every run
    assert_frame_equal(frame.sort("id"), again.sort("id"))


def test_pages_of_ten_million_are_made_on_demand() -> None:
    platform = SyntheticPlatform(transactions=10_000_000)
    stripe = DemoStripe(platform.dataset(), listings=platform.listings())
    account = platform.fc_account_ids()[7]
    listing = platform.listings()[(TRANSACTION, account)]
    assert 200_000 == len(listing.items) == len(listing.keys) == len(listing.position)

    def page(**params: object) -> dict[str, object]:
        request = httpx.Request("GET", f"https://api.stripe.com{PATH}", params={"account": account, **params})
        request.headers["Authorization"] = f"Bearer {DEMO_API_KEY}"
        response = stripe.handle(request)
        assert 200 == response.status_code, response.text
        body: dict[str, object] = response.json()
        return body

    first = page(limit=100)
    data = first["data"]
    assert isinstance(data, list)
    assert 100 == len(data)
    assert first["has_more"] is True
    times = [obj["transacted_at"] for obj in data]
    assert times == sorted(times, reverse=True)  # newest first
    after = page(limit=100, starting_after=data[-1]["id"])["data"]
    assert isinstance(after, list)
    assert listing.items[100] == after[0]
    middle = listing.items[150_000]["transacted_at"]
    window = page(limit=3, **{"transacted_at[lte]": middle})["data"]
    assert isinstance(window, list)
    assert [listing.items[150_000]["id"]] == [window[0]["id"]]
    with pytest.raises(KeyError):
        listing.position["fctxn_" + "0" * 24]


def test_each_fc_account_belongs_to_one_connected_account() -> None:
    platform = SyntheticPlatform(transactions=1_000, connected_accounts=4, fc_accounts=2)
    connected = platform.connected_ids()
    assert 4 == len(set(connected))
    shares = [platform.fc_account_ids(account) for account in connected]
    assert [2, 2, 2, 2] == [len(share) for share in shares]
    assert platform.fc_account_ids() == [fca for share in shares for fca in share]
    for account, share in zip(connected, shares, strict=True):
        ids = [obj["id"] for obj in platform.dataset(account)["financial_connections.account"]]
        assert share == ids == [fca for _, fca in platform.listings(account)]
        assert {account} == {platform.connected(platform.fc_account_ids().index(fca)) for fca in share}


def test_a_store_sync_keeps_every_transaction(tmp_path: Path) -> None:
    platform = SyntheticPlatform(transactions=3_000, connected_accounts=1, fc_accounts=3)
    stripe = connection(platform, store=tmp_path)
    report = stripe.sync(["transactions"], progress=False, batch_pages=100)
    (unit,) = [t for t in report.units if t.resource == TRANSACTION]
    assert (3_000, 3) == (unit.fetched, unit.commits)  # one commit per FC account: all its pages
    stored = stripe.transactions()
    assert_frame_equal(connection(platform).transactions().sort("id"), stored.sort("id"))
