"""The README's "Beyond one machine" examples, run as written against moto's S3 server (`s3kit`).

Its Python blocks run in order in one namespace, on the (small) demo account: the S3 store, then
Polars, DuckDB and Sail reading it. Sail's monthly cash flow must equal finlab's `cash_flow()`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import finlab.demo.dataset
from finlab.analysis.cash_flow import cash_flow

try:
    import s3kit
    import storekit
except ImportError:  # tests/ became a package
    from tests import s3kit, storekit  # type: ignore[no-redef]

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
BUCKET = "acme-finance"


def python_blocks(title: str) -> list[str]:
    """The Python code blocks of the README section ``title`` (up to the next ``## `` heading, or to
    its Connect part, whose example tests/test_connect.py covers)."""
    start = README.index(f"\n{title}\n")
    end = min(i for i in (README.find("\n## ", start + 1), README.find("\n### Connect", start + 1)) if i > 0)
    return re.findall(r"```python\n(.*?)```", README[start : end if end > 0 else None], flags=re.DOTALL)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[s3kit.LocalS3]:
    with s3kit.local_s3() as server:
        for name, value in server.environment().items():
            monkeypatch.setenv(name, value)
        server.client().create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
        yield server


@pytest.mark.slow
def test_the_readme_reads_the_s3_store_with_polars_duckdb_and_sail(
    s3: s3kit.LocalS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = storekit.small_dataset()
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.setattr(finlab.demo.dataset, "default_dataset", lambda: dataset)
    # pyspark takes a __main__ without __file__ (an xdist worker's) for its own doctests and exits
    monkeypatch.setattr(sys.modules["__main__"], "__file__", __file__, raising=False)
    blocks = python_blocks("## Beyond one machine")
    assert 4 == len(blocks)  # the store, Polars, DuckDB, Sail
    found: dict[str, Any] = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), found)  # the README's own code

    table = "acct_1FinlabDemo000000/test/financial_connections.transaction"
    assert f"s3://{BUCKET}/finlab/{table}" == found["path"]
    transactions = storekit.truth(dataset, storekit.TRANSACTION)
    assert_frame_equal(storekit.as_read(transactions), found["stripe"].transactions())
    by_account = found["by_account"]
    assert int(transactions.filter(pl.col("status") == "posted").height) == by_account["transactions"].sum()
    assert_frame_equal(by_account, found["by_duckdb"], check_dtypes=False)
    stripe = found["stripe"]
    ours = cash_flow(stripe.transactions(), stripe.accounts()).filter(pl.col("transaction_count") > 0)
    by_sail = found["by_sail"]
    assert by_sail.height > 12
    assert_frame_equal(ours.select(by_sail.columns), by_sail)
