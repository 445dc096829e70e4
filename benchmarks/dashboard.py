"""The cash-flow dashboard at one million transactions: how long a control change takes, how big the chart.

A control change (granularity, accounts, dates, pending) recomputes what the dashboard shows: the
transactions filtered (`filter_transactions`), the flows (`cash_flow`) and the chart's Vega-Lite spec
(`cash_flow_chart(...).to_dict()`, what the browser receives). Each change runs five times; the table
shows the median and the slowest, and the spec's size as JSON.

    uv run python benchmarks/dashboard.py               # 1,000,000 transactions
    uv run python benchmarks/dashboard.py --n 100000    # a quick run
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import common
import polars as pl

from finlab import frames, resources, windowed, wire
from finlab.analysis.cash_flow import cash_flow, filter_transactions
from finlab.charts.cash_flow import cash_flow_chart

REPEATS = 5


def transactions(n: int) -> pl.DataFrame:
    """The ``n`` transactions as finlab reads them (from the benchmark's cached list pages)."""
    res = resources.get(common.TRANSACTION)
    reader, batches = wire.PageReader(res, common.PATH), wire.Batches(res, windowed.BATCH_ROWS)
    for body in common.bodies(common.files(n)[0]):
        page = reader.decoder.parse(body)
        assert page is not None
        batches.add(page.items)
    return batches.take()


def accounts(n: int) -> pl.DataFrame:
    """The demo accounts, with their balances."""
    lines = (common.CACHE / f"n{n}" / "financial_connections.account.jsonl").read_text().splitlines()
    return frames.build("financial_connections.account", [json.loads(line) for line in lines])


def update(txns: pl.DataFrame, accts: pl.DataFrame, controls: dict[str, Any]) -> dict[str, Any]:
    """What one control change recomputes: filter, flows, chart spec."""
    chosen = filter_transactions(
        txns, accounts=controls.get("accounts"), statuses=controls.get("statuses", ("posted", "pending"))
    )
    flows = cash_flow(
        chosen,
        accts,
        period=controls.get("period", "month"),
        start=controls.get("start"),
        end=controls.get("end"),
    )
    spec: dict[str, Any] = cash_flow_chart(flows).to_dict()
    return spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="FC transactions (default 1,000,000)")
    args = parser.parse_args()
    txns, accts = transactions(args.n), accounts(args.n)
    last = txns.get_column("transacted_at").max().date()  # type: ignore[union-attr]
    first_account = accts.get_column("id")[0]
    changes: dict[str, dict[str, Any]] = {
        "months (first view)": {},
        "weeks": {"period": "week"},
        "days": {"period": "day"},
        "one account": {"accounts": [first_account]},
        "last 90 days, days": {"period": "day", "start": last - timedelta(days=90), "end": last},
        "posted only": {"statuses": ("posted",)},
        "one quarter": {"start": date(last.year, 1, 1), "end": date(last.year, 4, 1)},
    }
    print(common.machine_load())
    print(f"{txns.height:,} transactions, {txns.estimated_size() / 2**20:,.0f} MB in memory\n")
    common.row("control change", "median ms", "slowest ms", "spec KB")
    worst, biggest = 0.0, 0
    for name, controls in changes.items():
        job: Callable[[], dict[str, Any]] = lambda controls=controls: update(txns, accts, controls)  # noqa: E731
        times = []
        for _ in range(REPEATS):
            spec, seconds = common.timed(job)
            times.append(seconds * 1000)
        size = len(json.dumps(spec).encode())
        worst, biggest = max(worst, max(times)), max(biggest, size)
        common.row(name, f"{statistics.median(times):.0f}", f"{max(times):.0f}", f"{size / 1000:.0f}")
    print(common.machine_load())
    print(
        f"\n  slowest update {worst:.0f} ms (target <= 100 ms), "
        f"largest spec {biggest / 1000:.0f} KB (target <= 500 KB)"
    )
    print(
        f"\nSUMMARY dashboard n={args.n}: slowest update {worst:.0f} ms, "
        f"largest chart spec {biggest / 1000:.0f} KB"
    )


if __name__ == "__main__":
    main()
