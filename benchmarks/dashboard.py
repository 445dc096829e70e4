"""The cash-flow dashboard at one million transactions: how long a control change takes, how big the chart.

It builds a real `CashFlowDashboard` and sets its widgets' values, as a click does. Each change runs the
dashboard's whole update: flows for the new controls, KPI tiles, the table's HTML and the chart's
Vega-Lite spec (`chart.to_dict()`, the JSON the browser receives, whose size is the payload). Each
change is made five times, undone in between; the table shows the median and the slowest.

The first view in a timezone sums the transactions per day (`daily_flows`): that is timed apart, once
when the dashboard is built and once for a new timezone.

    uv run python benchmarks/dashboard.py               # 1,000,000 transactions
    uv run python benchmarks/dashboard.py --n 100000    # a quick run
"""

from __future__ import annotations

import argparse
import json
import statistics
from datetime import timedelta
from typing import Any

import common
import polars as pl

from finlab import frames
from finlab.dashboards.cash_flow import CashFlowDashboard

REPEATS = 5


def transactions(n: int) -> pl.DataFrame:
    """The ``n`` transactions as finlab reads them (from the benchmark's cached list pages)."""
    return common.read_pages(common.bodies(common.files(n)[0]))


def accounts(n: int) -> pl.DataFrame:
    """The demo accounts, with their balances."""
    lines = (common.CACHE / f"n{n}" / "financial_connections.account.jsonl").read_text().splitlines()
    return frames.build("financial_connections.account", [json.loads(line) for line in lines])


def payload_kb(dashboard: CashFlowDashboard) -> float:
    """The chart's Vega-Lite spec as JSON, in KB."""
    return len(json.dumps(dashboard.chart.to_dict()).encode()) / 1000


def change(widget: Any, value: Any) -> float:
    """Seconds to set ``widget.value`` (the dashboard updates before this returns)."""
    _, seconds = common.timed(lambda: setattr(widget, "value", value))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="FC transactions (default 1,000,000)")
    args = parser.parse_args()
    txns, accts = transactions(args.n), accounts(args.n)
    print(common.machine_load())
    print(f"{txns.height:,} transactions, {txns.estimated_size() / 2**20:,.0f} MB in memory\n")

    dashboard, built = common.timed(lambda: CashFlowDashboard(txns, accts))
    controls = dashboard.controls
    last = txns.get_column("transacted_at").max().date()  # type: ignore[union-attr]
    quarter = last.replace(month=(last.month - 1) // 3 * 3 + 1, day=1)
    changes: dict[str, tuple[Any, Any]] = {
        "granularity: week": (controls.granularity, "week"),
        "granularity: day": (controls.granularity, "day"),
        "granularity: quarter": (controls.granularity, "quarter"),
        "one account": (controls.accounts, (accts.get_column("id")[0],)),
        "from: 90 days back": (controls.start, last - timedelta(days=90)),
        "from: this quarter": (controls.start, quarter),
        "to: last day": (controls.end, last),
        "pending off": (controls.include_pending, False),
        "one currency": (controls.currency, txns.get_column("currency")[0]),
    }
    common.row("control change", "median ms", "slowest ms", "chart KB")
    worst, biggest = 0.0, payload_kb(dashboard)
    for name, (widget, value) in changes.items():
        before, times, size = widget.value, [], 0.0
        for _ in range(REPEATS):
            times.append(change(widget, value) * 1000)
            size = max(size, payload_kb(dashboard))
            change(widget, before)
        worst, biggest = max(worst, *times), max(biggest, size)
        common.row(name, f"{statistics.median(times):.0f}", f"{max(times):.0f}", f"{size:.0f}")
    # Day granularity over the whole history: the largest chart there is.
    change(controls.granularity, "day")
    biggest = max(biggest, payload_kb(dashboard))
    change(controls.granularity, "month")
    new_zone = change(controls.timezone, "America/New_York")
    known_zone = change(controls.timezone, "UTC")
    print(common.machine_load())
    print(
        f"\n  first view (sums {txns.height:,} transactions per day): {built * 1000:,.0f} ms; "
        f"a new timezone: {new_zone * 1000:,.0f} ms, one seen before: {known_zone * 1000:,.0f} ms"
    )
    print(
        f"  slowest control change {worst:.0f} ms (target <= 100 ms), "
        f"largest chart {biggest:.0f} KB (target <= 500 KB)"
    )
    print(
        f"\nSUMMARY dashboard n={args.n}: slowest control change {worst:.0f} ms, "
        f"largest chart {biggest:.0f} KB, first view {built * 1000:,.0f} ms"
    )


if __name__ == "__main__":
    main()
