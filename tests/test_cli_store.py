"""`finlab sync`, `finlab export`, `finlab status`, progress bars, and the README's store example."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from deltalake import DeltaTable
from polars.testing import assert_frame_equal

import finlab
import finlab.demo.dataset
from finlab.cli import main
from finlab.demo.dataset import Dataset
from finlab.demo.server import DEMO_API_KEY
from finlab.store import Store

try:
    import storekit
except ImportError:  # tests/ became a package
    from tests import storekit  # type: ignore[no-redef]

DEMO_ACCOUNT = "acct_1FinlabDemo000000"
TRANSACTION = "financial_connections.transaction"


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> dict[str, Dataset]:
    """The demo account the CLI connects to (a small one, and the same object every time)."""
    holder = {"dataset": storekit.small_dataset()}
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.delenv("FINLAB_STORE", raising=False)
    monkeypatch.setattr(finlab.demo.dataset, "default_dataset", lambda: holder["dataset"])
    return holder


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_sync_shows_progress_and_never_the_key(
    account: dict[str, Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "sync", "--store", str(tmp_path))
    assert 0 == code
    assert f"Synced {DEMO_ACCOUNT} (test) into {tmp_path}/{DEMO_ACCOUNT}/test" in out
    assert "financial_connections.transaction:" in err
    assert "obj/s" in err
    assert "pages=" in err
    assert "ETA" in err or "<00:00" in err  # tqdm's remaining-time field
    for text in (out, err):
        assert DEMO_API_KEY not in text
        assert DEMO_API_KEY[8:] not in text
    assert_frame_equal(
        storekit.truth(account["dataset"], TRANSACTION), storekit.stored(tmp_path, TRANSACTION)
    )


def test_sync_some_resources(
    account: dict[str, Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "sync", "climate_orders", "tax.settings", "--store", str(tmp_path), "--quiet")
    assert 0 == code
    assert ["tax.settings", "climate.order"] == [line.split()[0] for line in out.splitlines()[1:]]
    status = run(capsys, "status", "--store", str(tmp_path))[1]
    assert {"climate.order", "tax.settings"} == {line.split()[0] for line in status.splitlines()[2:]}


def test_sync_of_connected_accounts_reports_each_one(
    account: dict[str, Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundled = finlab.demo.dataset.load(finlab.demo.dataset.DATA_DIR)  # the small account has none
    first, second = list(bundled.connected)[:2]
    account["dataset"].connected = {first: bundled.connected[first], second: bundled.connected[second]}
    argv = ["sync", "--store", str(tmp_path), "--quiet", "--stripe-account", first]
    code, out, _ = run(capsys, *argv, "--stripe-account", second)
    assert 0 == code
    assert out.startswith("Synced 2 accounts, skipped 0:")
    assert f"  {first}: synced" in out
    assert f"  {second}: synced" in out
    orders = storekit.stored(tmp_path, "climate.order", second)
    assert len(bundled.connected[second]["climate.order"]) == orders.height


def test_status_shows_rows_versions_and_freshness(
    account: dict[str, Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "Nothing is stored" in run(capsys, "status", "--store", str(tmp_path))[1]
    run(capsys, "sync", "--store", str(tmp_path), "--quiet")
    code, out, _ = run(capsys, "status", "--store", str(tmp_path))
    lines = out.splitlines()
    assert 0 == code
    assert f"{DEMO_ACCOUNT} (test) in {tmp_path}/{DEMO_ACCOUNT}/test" == lines[0]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert str(len(account["dataset"]["climate.order"])) == rows["climate.order"][1]
    assert "1" == rows["climate.order"][2]  # version 0 is the empty table, created first
    assert "ago" == rows["climate.order"][-1]


def test_export_each_format(
    account: dict[str, Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    run(capsys, "sync", "climate.order", "--store", str(store), "--quiet")
    expected = storekit.stored(store, "climate.order")
    for fmt in ("parquet", "csv", "ndjson"):
        target = tmp_path / f"orders.{fmt}"
        code, out, _ = run(
            capsys, "export", "climate_orders", "--format", fmt, "-o", str(target), "--store", str(store)
        )
        assert 0 == code
        assert f"Wrote {expected.height} rows of climate.order (version 1) to {target}" in out
    assert_frame_equal(expected, pl.read_parquet(tmp_path / "orders.parquet"))
    assert expected.height == pl.read_ndjson(tmp_path / "orders.ndjson").height
    csv = pl.read_csv(tmp_path / "orders.csv", infer_schema=False)
    delivered = expected.filter(pl.col("status") == "delivered").row(0, named=True)
    as_text = csv.filter(pl.col("id") == delivered["id"]).item(0, "delivery_details")
    details = json.loads(as_text)  # List/Struct columns are JSON in CSV
    assert len(delivered["delivery_details"]) == len(details)
    assert delivered["delivery_details"][0]["delivered_at"].isoformat() == details[0]["delivered_at"]
    assert str(delivered["delivery_details"][0]["metric_tons"]) == details[0]["metric_tons"]


def test_export_writes_files_and_directories_only_the_owner_can_read(
    account: dict[str, Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    run(capsys, "sync", "climate.order", "--store", str(store), "--quiet")
    existing = tmp_path / "existing.csv"
    existing.write_text("old")
    existing.chmod(0o644)
    previous = os.umask(0o022)  # the usual umask, which alone gives 0644 files and 0755 directories
    try:
        targets = [tmp_path / "exports" / "new" / f"orders.{fmt}" for fmt in ("parquet", "ndjson")]
        for target in [*targets, existing]:
            fmt = target.suffix.lstrip(".")
            assert (
                0
                == run(
                    capsys,
                    "export",
                    "climate.order",
                    "--format",
                    fmt,
                    "-o",
                    str(target),
                    "--store",
                    str(store),
                )[0]
            )
    finally:
        os.umask(previous)

    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in [*targets, existing]}
    assert {path: 0o600 for path in modes} == modes
    folders = [tmp_path / "exports", tmp_path / "exports" / "new"]
    assert {folder: 0o700 for folder in folders} == {f: stat.S_IMODE(f.stat().st_mode) for f in folders}
    assert "old" not in existing.read_text()


def test_export_as_of_an_earlier_version(
    account: dict[str, Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "sync", "transactions", "--store", str(tmp_path), "--quiet")
    before = storekit.stored(tmp_path, TRANSACTION)
    version = Store(tmp_path, DEMO_ACCOUNT, livemode=False).version(TRANSACTION)
    fca = account["dataset"]["financial_connections.account"][0]["id"]
    account["dataset"].add_transactions(fca, 3, datetime(2026, 11, 2, tzinfo=UTC))
    run(capsys, "sync", "transactions", "--store", str(tmp_path), "--quiet")
    target = tmp_path / "before.parquet"
    code, out, _ = run(
        capsys,
        "export",
        TRANSACTION,
        "--format",
        "parquet",
        "--as-of",
        str(version),
        "-o",
        str(target),
        "--store",
        str(tmp_path),
    )
    assert 0 == code
    assert f"as of {version}" in out
    assert_frame_equal(before, pl.read_parquet(target))
    assert before.height + 3 == storekit.stored(tmp_path, TRANSACTION).height


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "climate.order", "--format", "csv"], "run `finlab sync climate.order` first"),
        (["export", "webhook_endpoints", "--format", "csv"], "not kept in the store"),
        (["sync", "no_such_thing"], "Unknown resource 'no_such_thing'"),
        (["export", "climate.order", "--format", "csv", "--as-of", "last week"], "neither a Delta version"),
    ],
)
def test_errors_are_one_clear_line(
    account: dict[str, Dataset],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    code, _, err = run(capsys, *argv, "--store", str(tmp_path))
    assert 2 == code
    assert message in err
    assert err.startswith("finlab: ")


def test_a_store_that_is_a_file(
    account: dict[str, Dataset], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("keep me")
    code, _, err = run(capsys, "sync", "--store", str(blocker), "--quiet")
    assert 2 == code
    assert "is a file, not a directory" in err
    assert "keep me" == blocker.read_text()


def test_notebook_sync_uses_tqdm_auto_bars(
    account: dict[str, Dataset], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tqdm.auto

    bars: list[dict[str, Any]] = []

    class Bar:
        def __init__(self, **options: Any) -> None:
            bars.append(options)
            self.n, self.total = 0, None

        def update(self, n: int) -> None:
            self.n += n

        def set_postfix(self, **values: Any) -> None:
            assert "pages" in values

        def refresh(self) -> None: ...

        def close(self) -> None: ...

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    stripe = finlab.connect(store=tmp_path)
    report = stripe.sync()
    assert [unit.resource for unit in report.units] == [bar["desc"] for bar in bars]
    assert all(not bar["disable"] and bar["unit"] == "obj" for bar in bars)


def test_polars_and_duckdb_read_a_local_store(
    account: dict[str, Dataset], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINLAB_STORE", str(tmp_path))
    # -- the README's readers on a local store (on S3: tests/test_s3_readers.py) ----------------
    stripe = finlab.connect()  # FINLAB_STORE is set: frames come from the store
    stripe.sync()
    path = stripe.open_store().path("financial_connections.transaction")  # type: ignore[union-attr]

    transactions = pl.read_delta(path)  # Polars
    by_polars = transactions.group_by("account").agg(pl.col("amount").sum()).sort("account")

    files = DeltaTable(path).file_uris()  # DuckDB: the table's current Parquet files
    by_duckdb = duckdb.sql(
        f"SELECT account, sum(amount) AS amount FROM read_parquet({files}) GROUP BY account ORDER BY account"
    ).fetchall()
    # ------------------------------------------------------------------------------------------
    assert by_polars.rows() == [(a, int(s)) for a, s in by_duckdb]
    expected = storekit.truth(account["dataset"], TRANSACTION)
    assert_frame_equal(storekit.as_read(expected), stripe.transactions())
    assert expected.height == transactions.height
