"""The Delta Lake store: round trips, upserts, cursors, as-of reads, re-parsing, permissions, bad input."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from finlab import frames, resources
from finlab.demo.dataset import default_dataset
from finlab.errors import ConfigurationError, StoreError
from finlab.store import CURSOR_KEY, STORED, StateRow, Store, parse_as_of, sort

ACCOUNT = "acct_1Test"
ORDER = "climate.order"


@functools.cache
def _orders() -> str:
    return json.dumps(default_dataset()[ORDER])


@pytest.fixture
def orders() -> list[dict[str, object]]:
    """The demo account's climate orders, a fresh copy per test."""
    found: list[dict[str, object]] = json.loads(_orders())
    return found


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store", ACCOUNT, livemode=False)


def write(store: Store, resource: str, objects: list[dict[str, object]]) -> int:
    with store.writing():
        return store.merge(resource, frames.build_raw(resource, objects))


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` and a hash of its bytes."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


# -- layout and round trips -----------------------------------------------------------------------


def test_tables_are_keyed_by_account_and_mode(tmp_path: Path, orders: list[dict[str, object]]) -> None:
    live = Store(tmp_path, ACCOUNT, livemode=True)
    write(live, ORDER, orders[:2])
    assert f"{tmp_path}/{ACCOUNT}/live/climate.order" == live.path(ORDER)
    assert (tmp_path / ACCOUNT / "live" / "climate.order" / "_delta_log").is_dir()
    assert (tmp_path / ACCOUNT / "live" / "_state" / "_delta_log").is_dir()
    assert 0 == Store(tmp_path, ACCOUNT, livemode=False).read(ORDER).height


def test_a_stored_frame_equals_the_built_frame(store: Store, orders: list[dict[str, object]]) -> None:
    write(store, ORDER, orders)
    expected = sort(resources.get(ORDER), frames.build(ORDER, orders))
    assert_frame_equal(expected, store.read(ORDER))
    assert resources.get(ORDER).schema == store.read(ORDER).schema  # no stripe_account: one account


def test_an_empty_store_reads_as_the_empty_frame(store: Store) -> None:
    assert_frame_equal(frames.empty(ORDER), store.read(ORDER))
    assert store.version(ORDER) is None


def test_merge_upserts_by_id_and_skips_unchanged_rows(store: Store, orders: list[dict[str, object]]) -> None:
    assert 1 == write(store, ORDER, orders[:10])  # version 0 is the table's creation: no rows
    changed = {**orders[0], "status": "canceled"}
    assert 2 == write(store, ORDER, [changed, *orders[1:12]])
    assert 2 == write(store, ORDER, orders[1:12])  # nothing changed: no commit
    frame = store.read(ORDER)
    assert 12 == frame.height == frame.get_column("id").n_unique()
    assert "canceled" == frame.filter(pl.col("id") == orders[0]["id"]).item(0, "status")


def test_replace_commits_only_a_change(store: Store, orders: list[dict[str, object]]) -> None:
    with store.writing():
        assert 1 == store.replace(ORDER, frames.build_raw(ORDER, orders[:3]))
        assert store.replace(ORDER, frames.build_raw(ORDER, list(reversed(orders[:3])))) is None
        assert 2 == store.replace(ORDER, frames.build_raw(ORDER, orders[:2]))
    assert 2 == store.read(ORDER).height


def test_a_cursor_is_committed_with_its_rows(store: Store, orders: list[dict[str, object]]) -> None:
    first, second = {"scope": "all", "last": "a"}, {"scope": "all", "last": "b"}
    with store.writing():
        store.merge(ORDER, frames.build_raw(ORDER, orders[:2]), first)
        store.merge(ORDER, frames.build_raw(ORDER, orders[:2]), second)  # no row changed, still a commit
    assert [(2, second), (1, first)] == store.cursors(ORDER, None)  # version 0: the creation
    assert [(2, second)] == store.cursors(ORDER, 1)
    assert [] == store.cursors(ORDER, 2)
    history = json.dumps(store._open(ORDER).history())  # type: ignore[union-attr]
    assert CURSOR_KEY in history


def test_state_rows_are_upserted(store: Store) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with store.writing():
        store.save_state([StateRow("r", "a", {"refresh": "x"}, now, 3)])
        store.save_state([StateRow("r", "a", {"refresh": "y"}, now, 4), StateRow("r", "b", {}, now, None)])
    state = store.state()
    assert StateRow("r", "a", {"refresh": "y"}, now, 4) == state[("r", "a")]
    assert {("", ""), ("r", "a"), ("r", "b")} == set(state)


# -- as-of reads ----------------------------------------------------------------------------------


def test_as_of_a_version_or_a_time(store: Store, orders: list[dict[str, object]]) -> None:
    write(store, ORDER, orders[:5])
    before = store.read(ORDER)
    time.sleep(0.01)
    between = datetime.now(UTC)
    time.sleep(0.01)
    write(store, ORDER, [{**orders[0], "status": "canceled"}, *orders[5:9]])
    assert 9 == store.read(ORDER).height
    assert_frame_equal(frames.empty(ORDER), store.read(ORDER, as_of=0))  # the table's creation
    assert_frame_equal(frames.empty(ORDER), store.scan(ORDER, as_of=0).collect())
    assert_frame_equal(before, store.read(ORDER, as_of=1))
    assert_frame_equal(before, store.read(ORDER, as_of="1"))
    assert_frame_equal(before, store.read(ORDER, as_of=between))
    assert_frame_equal(before, store.read(ORDER, as_of=between.isoformat()))
    assert_frame_equal(frames.empty(ORDER), store.read(ORDER, as_of=between - timedelta(days=1)))


def test_a_scan_is_lazy_and_reads_what_read_reads(store: Store, orders: list[dict[str, object]]) -> None:
    order = resources.get(ORDER)
    assert_frame_equal(frames.empty(ORDER), store.scan(ORDER).collect())
    write(store, ORDER, orders[:5])
    write(store, ORDER, [{**orders[0], "status": "canceled"}, *orders[5:9]])
    scan = store.scan(ORDER)
    assert isinstance(scan, pl.LazyFrame)
    assert "Parquet SCAN" in scan.select("id").explain()  # the files, not rows in memory
    assert_frame_equal(store.read(ORDER), sort(order, scan.collect()))
    assert_frame_equal(store.read(ORDER, as_of=1), sort(order, store.scan(ORDER, as_of=1).collect()))


def test_as_of_refuses_what_cannot_be(store: Store, orders: list[dict[str, object]]) -> None:
    with pytest.raises(StoreError, match=r"Nothing of climate\.order is stored"):
        store.read(ORDER, as_of=0)
    write(store, ORDER, orders[:1])
    with pytest.raises(StoreError, match="no version 7: the latest is 1"):
        store.read(ORDER, as_of=7)
    with pytest.raises(ConfigurationError, match="no timezone"):
        store.read(ORDER, as_of=datetime(2026, 1, 1))
    with pytest.raises(ConfigurationError, match="not a Delta version"):
        parse_as_of(-1)
    with pytest.raises(ConfigurationError, match="neither a Delta version"):
        parse_as_of("yesterday")


# -- schema changes: re-parse from raw, no fetch -----------------------------------------------


def test_an_old_schema_is_rebuilt_from_raw(store: Store, orders: list[dict[str, object]]) -> None:
    old = frames.build_raw(ORDER, orders).drop("metric_tons", "delivery_details")  # an older finlab
    with store.writing():
        store.append(ORDER, old)
    expected = sort(resources.get(ORDER), frames.build(ORDER, orders))
    assert_frame_equal(expected, store.read(ORDER))  # on the fly
    assert_frame_equal(expected, sort(resources.get(ORDER), store.scan(ORDER).collect()))  # a scan too
    assert 2 == store.reparse(ORDER)
    assert store.reparse(ORDER) is None
    assert_frame_equal(expected, store.read(ORDER))
    assert [*resources.get(ORDER).schema.names(), "raw"] == store.read_columns(ORDER, None).columns


def test_a_write_reparses_first(tmp_path: Path, orders: list[dict[str, object]]) -> None:
    first = Store(tmp_path, ACCOUNT, livemode=False)
    with first.writing():
        first.append(ORDER, frames.build_raw(ORDER, orders[:3]).drop("certificate"))
    write(Store(tmp_path, ACCOUNT, livemode=False), ORDER, orders[3:5])
    assert 5 == first.read(ORDER).height
    assert "certificate" in first.read_columns(ORDER, None).columns


# -- privacy and safety ---------------------------------------------------------------------------


def test_files_are_private(store: Store, orders: list[dict[str, object]]) -> None:
    write(store, ORDER, orders)
    account_dir = Path(store.base).parent
    paths = [account_dir, *account_dir.rglob("*")]
    for path in paths:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert 0 == mode & 0o077, (path, oct(mode))
    assert any(path.suffix == ".parquet" for path in paths)


def test_one_writer_at_a_time(store: Store) -> None:
    with store.writing(), pytest.raises(StoreError, match="Another finlab sync is writing"), store.writing():
        pass


def test_only_money_resources_are_stored(store: Store) -> None:
    assert "identity.verification_session" not in STORED
    with pytest.raises(ConfigurationError, match="not kept in the store"):
        store.read("identity.verification_session")


# -- bad input: clear errors, nothing lost -------------------------------------------------------


def test_a_store_path_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="is a file, not a directory"):
        Store(blocker, ACCOUNT, livemode=False)
    below = Store(blocker / "store", ACCOUNT, livemode=False)
    with pytest.raises(StoreError, match=r"Cannot write the store at .*Pass store="), below.writing():
        pass
    assert "not a directory" == blocker.read_text()


@contextlib.contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """Make ``path`` unwritable: by its mode, or for root (who writes through modes) immutable."""
    if os.geteuid() != 0:
        path.chmod(0o500)
        try:
            yield
        finally:
            path.chmod(0o700)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], check=False).returncode:
        pytest.skip("running as root without chattr +i: cannot make a directory unwritable")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_an_unwritable_store_directory(store: Store, orders: list[dict[str, object]]) -> None:
    write(store, ORDER, orders[:3])
    base = Path(store.base)
    before = tree_digest(base)
    with unwritable(base):
        with pytest.raises(StoreError, match=r"Cannot write the store at .*a directory you can write"):
            write(store, ORDER, orders[3:6])
        assert 3 == store.read(ORDER).height  # reading still works
    assert before == tree_digest(base)


def test_a_corrupt_table_is_named_and_left_alone(store: Store, orders: list[dict[str, object]]) -> None:
    write(store, ORDER, orders[:3])
    write(store, "climate.product", [{"id": "climsku_1", "name": "x"}])
    write(store, ORDER, orders[3:6])
    log = Path(store.path(ORDER)) / "_delta_log" / f"{1:020d}.json"
    log.write_text("{not json")
    before = tree_digest(Path(store.base))
    with pytest.raises(StoreError, match=r"climate\.order cannot be read.*Move that directory aside"):
        store.read(ORDER)
    with pytest.raises(StoreError, match="cannot be read"):
        store.check([ORDER])
    assert 1 == store.read("climate.product").height
    assert before == tree_digest(Path(store.base))


def test_a_table_without_its_log_is_corrupt(store: Store, orders: list[dict[str, object]]) -> None:
    write(store, ORDER, orders[:3])
    for entry in (Path(store.path(ORDER)) / "_delta_log").iterdir():
        entry.unlink()
    with pytest.raises(StoreError, match="no Delta log"):
        store.read(ORDER)


def test_another_accounts_store_is_refused(tmp_path: Path, orders: list[dict[str, object]]) -> None:
    write(Store(tmp_path, ACCOUNT, livemode=False), ORDER, orders[:2])
    (tmp_path / ACCOUNT).rename(tmp_path / "acct_2Other")
    before = tree_digest(tmp_path)
    with pytest.raises(StoreError, match=r"created for acct_1Test \(test\), but this key reads acct_2Other"):
        Store(tmp_path, "acct_2Other", livemode=False)
    with pytest.raises(StoreError, match="is itself the directory of one account"):
        Store(tmp_path / "acct_2Other", "acct_3Third", livemode=False)
    with pytest.raises(StoreError, match="is itself the directory of one account"):
        Store(tmp_path / "acct_2Other" / "test", "acct_2Other", livemode=False)
    assert before == tree_digest(tmp_path)


def test_account_ids_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="acct_"):
        Store(tmp_path, "../escape", livemode=False)
