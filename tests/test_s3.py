"""The store on S3: moto's S3 server in its own process (`s3kit`), the demo account, the whole story.

First sync, a sync with nothing changed (request counts as in tests/test_sync.py), a refresh, ``as_of``,
the CLI's sync, status and export, the writer's lock (`finlab.store_lock`) against a second sync and
after SIGKILL, errors, and credentials that never show. The README's "Beyond one machine" examples run
in tests/test_s3_readers.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import polars as pl
import pytest
from deltalake import CommitProperties, write_deltalake
from deltalake.exceptions import DeltaError
from polars.testing import assert_frame_equal

import finlab.demo.dataset
from finlab import frames, resources, store_lock
from finlab.cli import main
from finlab.connection import Connection
from finlab.demo.dataset import Dataset, write
from finlab.demo.loopback import serve
from finlab.demo.server import DEMO_API_KEY, DemoStripe
from finlab.errors import StoreError
from finlab.store import STORED, Store

try:
    import s3kit
    import storekit
except ImportError:  # tests/ became a package
    from tests import s3kit, storekit  # type: ignore[no-redef]

DEMO_ACCOUNT = "acct_1FinlabDemo000000"
TRANSACTION, TAX = storekit.TRANSACTION, storekit.TAX
LATER = datetime(2026, 11, 2, 9, tzinfo=UTC)
STORAGE = Path(__file__).with_name("storekit.py")


@pytest.fixture(scope="module")
def server() -> Iterator[s3kit.LocalS3]:
    with s3kit.local_s3() as s3:
        yield s3


@pytest.fixture
def s3(server: s3kit.LocalS3, monkeypatch: pytest.MonkeyPatch) -> s3kit.LocalS3:
    """The local S3, with its endpoint and credentials in the environment as deltalake reads them."""
    for name, value in server.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.delenv("FINLAB_STORE", raising=False)
    return server


@pytest.fixture
def bucket(s3: s3kit.LocalS3) -> str:
    return s3.bucket()


def connection(server: DemoStripe, root: str) -> Connection:
    return Connection(DEMO_API_KEY, transport=httpx.MockTransport(server.handle), store=root)


def assert_store_is_the_truth(root: str, dataset: Dataset) -> None:
    store = Store(root, DEMO_ACCOUNT, livemode=False)
    for resource in STORED:
        frame = store.read(resource)
        assert frame.get_column(frame.columns[0]).n_unique() == frame.height or resource == "tax.settings"
        assert_frame_equal(storekit.truth(dataset, resource), frame)


def test_sync_refresh_and_as_of_on_s3(bucket: str) -> None:
    root = f"s3://{bucket}/finlab"
    dataset = storekit.small_dataset()
    server = DemoStripe(dataset)
    stripe = connection(server, root)
    first = stripe.sync(progress=False)
    assert first.requests > 100
    assert_store_is_the_truth(root, dataset)
    store = Store(root, DEMO_ACCOUNT, livemode=False)
    versions = {resource: store.version(resource) for resource in STORED}

    again = stripe.sync(progress=False)
    assert 8 == again.requests  # one per small list: nothing changed
    assert versions == {resource: store.version(resource) for resource in STORED}

    before = storekit.truth(dataset, TRANSACTION)
    account = dataset[TRANSACTION][0]["account"]
    added = dataset.add_transactions(account, 5, LATER)
    refresh = stripe.sync(progress=False)
    assert 5 == refresh.units[1].fetched
    assert {t["id"] for t in added} <= store.ids(TRANSACTION)
    assert_store_is_the_truth(root, dataset)
    assert_frame_equal(storekit.as_read(before), stripe.transactions(as_of=versions[TRANSACTION]))
    assert_frame_equal(before, store.read(TRANSACTION, as_of=versions[TRANSACTION]))


def test_cli_sync_status_and_export_on_s3(
    s3: s3kit.LocalS3,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dataset = storekit.small_dataset()
    monkeypatch.setattr(finlab.demo.dataset, "default_dataset", lambda: dataset)
    root = f"s3://{bucket}/cli"
    assert 0 == main(["sync", "--store", root, "--quiet"])
    assert 0 == main(["status", "--store", root])
    exported = tmp_path / "transactions.parquet"
    assert 0 == main(
        ["export", TRANSACTION, "--format", "parquet", "--store", root, "--output", str(exported)]
    )
    out, err = capsys.readouterr()
    assert f"Synced {DEMO_ACCOUNT} (test) into {root}/{DEMO_ACCOUNT}/test" in out
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith("  ")}
    assert str(len(dataset[TRANSACTION])) == rows[TRANSACTION]
    assert_frame_equal(storekit.truth(dataset, TRANSACTION), pl.read_parquet(exported))
    for text in (out, err):
        assert s3.secret not in text
        assert DEMO_API_KEY not in text


def test_credentials_never_reach_the_store_or_a_message(s3: s3kit.LocalS3, bucket: str) -> None:
    root = f"s3://{bucket}/finlab"
    stripe = connection(DemoStripe(storekit.small_dataset()), root)
    stripe.sync(["climate_orders", "tax_registrations"], progress=False)
    store = stripe.open_store()
    stored = s3.objects(bucket)
    assert any("/_writer/" in key for key in stored)  # the lock is there, and holds no secret either
    for key, content in stored.items():
        for secret in (s3.secret, DEMO_API_KEY, DEMO_API_KEY[8:]):
            assert secret.encode() not in content, key
    for text in (repr(store), repr(stripe), str(store.status())):
        assert s3.secret not in text
    with pytest.raises(StoreError) as missing:
        connection(DemoStripe(storekit.small_dataset()), "s3://no-such-bucket/finlab").sync(progress=False)
    message = str(missing.value)
    assert "NoSuchBucket" in message
    assert "AWS_ENDPOINT_URL" in message  # what to check
    assert s3.secret not in message
    assert s3.secret not in repr(missing.value)


def test_a_wrong_secret_is_a_clear_error_without_either_secret(
    s3: s3kit.LocalS3, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = f"s3://{bucket}/finlab"
    server = DemoStripe(storekit.small_dataset())
    connection(server, root).sync(["climate_orders"], progress=False)
    wrong = "wrong" + s3.secret[5:]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)
    stripe = connection(server, root)
    for attempt in (lambda: stripe.sync(progress=False), stripe.climate_orders):
        with pytest.raises(StoreError) as refused:
            attempt()
        message = str(refused.value)
        assert "SignatureDoesNotMatch" in message, message
        for secret in (s3.secret, wrong, s3.secret[5:]):
            assert secret not in message
            assert secret not in repr(refused.value)


# -- the writer's lock ---------------------------------------------------------------------------


def hold(root: str, holder: dict[str, object]) -> None:
    """Commit ``holder`` to the account's lock table as if another sync had taken the lock."""
    uri = f"{root}/{DEMO_ACCOUNT}/test/{store_lock.LOCK}"
    write_deltalake(
        uri,
        pl.DataFrame(schema={"holder": pl.String()}),
        mode="append",
        commit_properties=CommitProperties(custom_metadata={store_lock.LOCK_KEY: json.dumps(holder)}),
    )


def dead_pid() -> int:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    return finished.pid


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(bucket: str) -> None:
    root = f"s3://{bucket}/finlab"
    first, second = Store(root, DEMO_ACCOUNT, False), Store(root, DEMO_ACCOUNT, False)
    with (
        first.writing(),
        pytest.raises(StoreError, match=r"Another sync \(host .*, pid \d+\) is writing to s3://"),
        second.writing(),
    ):
        pytest.fail("two writers at once")
    with second.writing():  # given back
        pass


def test_of_two_syncs_that_read_the_same_free_lock_exactly_one_takes_it(bucket: str) -> None:
    base = f"s3://{bucket}/finlab/{DEMO_ACCOUNT}/test"
    with store_lock.ObjectLock(base, None).held():  # creates the lock table; free again after
        pass
    first, second = store_lock.ObjectLock(base, None), store_lock.ObjectLock(base, None)
    first._table, second._table = first._open(), second._open()  # both read the same free version
    first._commit("held")
    with pytest.raises(DeltaError):  # S3's conditional put refuses the same version twice
        second._commit("held")
    holder = store_lock.ObjectLock.holder(first._open())
    assert holder is not None
    assert (first.me["token"], "held") == (holder["token"], holder["state"])


@pytest.mark.parametrize(
    ("host", "pid", "age", "taken"),
    [
        ("this", "dead", 1.0, True),  # a sync killed on this host: taken at once
        ("elsewhere", 1, 1.0, False),  # another host's sync, heard of a second ago
        ("elsewhere", 1, store_lock.STALE + 5, True),  # ... silent for longer than STALE
        ("this", "alive", 1.0, False),  # a running process of this host
    ],
)
def test_a_lock_is_taken_over_only_from_a_holder_that_is_gone(
    bucket: str, host: str, pid: object, age: float, taken: bool
) -> None:
    root = f"s3://{bucket}/finlab"
    number = {"dead": dead_pid(), "alive": os.getpid()}.get(str(pid), pid)
    name = socket.gethostname() if host == "this" else "elsewhere"
    hold(root, {"host": name, "pid": number, "token": "x", "state": "held", "at": time.time() - age})
    store = Store(root, DEMO_ACCOUNT, False)
    if taken:
        with store.writing():
            pass
    else:
        with pytest.raises(StoreError, match=f"host {name}, pid {number}"), store.writing():
            pytest.fail("took a live lock")


def test_a_sync_that_lost_its_lock_stops_before_its_next_commit(
    bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_lock, "RENEW", 0.05)
    root = f"s3://{bucket}/finlab"
    store = Store(root, DEMO_ACCOUNT, False)
    orders = storekit.small_dataset()["climate.order"]
    frame = frames.build_raw(resources.get("climate.order"), orders)
    with store.writing():
        store.merge("climate.order", frame.head(2))
        hold(root, {"host": "elsewhere", "pid": 1, "token": "y", "state": "held", "at": time.time()})
        deadline = time.monotonic() + 30
        while not store._writer.lost and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.05)  # until a renewal finds the other holder's commit
        with pytest.raises(StoreError, match="lost the writer's lock"):
            store.merge("climate.order", frame)
    assert 2 == store.read("climate.order").height


# -- processes: two syncs at once, SIGKILL -------------------------------------------------------


def start_sync(url: str, root: str, data: Path) -> subprocess.Popen[str]:
    """`storekit.child` in a new interpreter: a sync committing every page."""
    return subprocess.Popen(
        [sys.executable, str(STORAGE), url, root, str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_two_syncs_at_once_one_refused_the_store_exact(
    s3: s3kit.LocalS3, bucket: str, tmp_path: Path
) -> None:
    dataset = storekit.small_dataset(every=96, tax=9)
    write(dataset, tmp_path / "data")
    root = f"s3://{bucket}/finlab"
    with serve(DemoStripe(dataset)) as loopback:
        syncs = [start_sync(loopback.url, root, tmp_path / "data") for _ in range(2)]
        results = [(sync.wait(180), sync.communicate()[1]) for sync in syncs]
    codes = sorted(code for code, _ in results)
    refused = [err for code, err in results if code != 0]
    assert [0, 1] == codes, results
    assert "is writing to s3://" in refused[0]
    assert s3.secret not in refused[0]
    assert_store_is_the_truth(root, dataset)


@pytest.mark.slow
def test_a_sync_killed_with_sigkill_resumes_on_s3(s3: s3kit.LocalS3, bucket: str, tmp_path: Path) -> None:
    dataset = storekit.small_dataset()
    write(dataset, tmp_path / "data")
    root = f"s3://{bucket}/finlab"
    with serve(DemoStripe(dataset)) as loopback:
        for kill in range(2):
            seen = s3.keys(bucket, ".json")
            sync = start_sync(loopback.url, root, tmp_path / "data")
            deadline = time.monotonic() + 120
            while s3.keys(bucket, ".json") < seen + 4 + 3 * kill and time.monotonic() < deadline:
                assert sync.poll() is None, "the sync finished before it could be killed: use more data"
                time.sleep(0.05)
            sync.send_signal(signal.SIGKILL)
            assert -signal.SIGKILL == sync.wait()
            store = Store(root, DEMO_ACCOUNT, livemode=False)
            for resource in STORED:
                frame = store.read(resource)
                if "id" in frame.columns:
                    assert frame.height == frame.get_column("id").n_unique(), resource
        finished = start_sync(loopback.url, root, tmp_path / "data")
        assert 0 == finished.wait(180), finished.communicate()[1]
    assert_store_is_the_truth(root, dataset)
