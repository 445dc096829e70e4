"""Ten million FC transactions: a first sync into a Delta store, then the cash-flow dashboard over it.

The loopback server (a process of its own, no latency, no limits) serves a `SyntheticPlatform`: the
transactions spread over 10 connected accounts x 5 FC accounts, each made when its page is asked
for, so the server holds none of them. Both paths run in fresh processes, so each peak is its own:

  sync        ``stripe.sync(["transactions"])`` into an empty store: wall time, requests, rows, peak
              memory (the sync holds a batch of pages per listing, so its peak should not grow with N)
  dashboard   ``CashFlowDashboard.from_connection(stripe)`` over that store: a lazy scan summed per
              account, currency and day by Polars' streaming engine (`daily_flows`), then control
              changes set as a click does and the chart's Vega-Lite JSON (the payload)

    uv run python benchmarks/scale.py                           # 10,000,000 transactions
    uv run python benchmarks/scale.py --rows 1000000 10000000   # 1M then 10M: peak memory side by side
    uv run python benchmarks/scale.py --rows 100000             # a quick run
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import common
import httpx

import finlab
from finlab.budget import Budget
from finlab.demo import DemoStripe, serve
from finlab.demo.synthetic import SyntheticPlatform

REPEATS = 5
TARGETS = {"first view s": 10.0, "peak MB": 1_500.0, "control change ms": 100.0, "chart KB": 500.0}


class CountedStripe(DemoStripe):
    """A `DemoStripe` that counts every answer by status (its request log keeps only the latest)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answered: collections.Counter[str] = collections.Counter()
        self._count_lock = threading.Lock()

    def handle(self, request: httpx.Request) -> httpx.Response:
        response = super().handle(request)
        with self._count_lock:
            self.answered[str(response.status_code)] += 1
        return response


def serve_platform(rows: int) -> None:
    """The server process: print the URL, answer each ``stats`` line with the answers by status and its
    own peak memory, stop at EOF."""
    platform = SyntheticPlatform(transactions=rows)
    stripe = CountedStripe(platform.dataset(), api_keys={common.LIVE_KEY: None}, listings=platform.listings())
    with serve(stripe) as loopback:
        print(loopback.url, flush=True)
        for line in sys.stdin:
            if line.strip() == "stats":
                counts = {"answered": dict(stripe.answered), "peak": common.peak_rss_mb()}
                print(json.dumps(counts), flush=True)


def connect(url: str, store: str) -> finlab.Connection:
    return finlab.connect(common.LIVE_KEY, base_url=url, budget=Budget(None, None), store=store)


def sync_child(url: str, store: str, batch: int) -> dict[str, float]:
    connection = connect(url, store)
    baseline = common.peak_rss_mb()
    _, seconds = common.timed(lambda: connection.sync(["transactions"], progress=False, batch_pages=batch))
    opened = connection.open_store()
    assert opened is not None
    rows = next(t.rows for t in opened.status() if t.resource == common.TRANSACTION)
    peak = common.peak_rss_mb()
    return {"seconds": seconds, "rows": rows, "peak": peak, "over": peak - baseline}


def dashboard_child(url: str, store: str) -> dict[str, Any]:
    from dashboard import change, payload_kb

    from finlab.dashboards.cash_flow import CashFlowDashboard

    connection = connect(url, store)
    connection.open_store()  # asks the server which account once: not part of the first view
    cpu = common.cpu_seconds()
    dashboard, first = common.timed(lambda: CashFlowDashboard.from_connection(connection))
    first_cpu = common.cpu_seconds() - cpu
    peak_first = common.peak_rss_mb()
    controls, flows = dashboard.controls, dashboard.flows
    last = flows.get_column("period_end").max() - timedelta(days=1)  # type: ignore[operator]
    changes: dict[str, tuple[Any, Any]] = {
        "granularity: week": (controls.granularity, "week"),
        "granularity: day": (controls.granularity, "day"),
        "granularity: quarter": (controls.granularity, "quarter"),
        "one account": (controls.accounts, (flows.get_column("account")[0],)),
        "from: 90 days back": (controls.start, last - timedelta(days=90)),
        "to: last day": (controls.end, last),
        "pending off": (controls.include_pending, False),
        "one currency": (controls.currency, flows.get_column("currency")[0]),
    }
    times, cpus, biggest, each = [], [], payload_kb(dashboard), {}
    for name, (widget, value) in changes.items():
        before, mine = widget.value, []
        for _ in range(REPEATS):
            cpu = common.cpu_seconds()
            mine.append(change(widget, value) * 1000)
            cpus.append((common.cpu_seconds() - cpu) * 1000)
            biggest = max(biggest, payload_kb(dashboard))
            change(widget, before)
        times += mine
        each[name] = f"{statistics.median(mine):.0f}/{max(mine):.0f}"
    change(controls.granularity, "day")
    biggest = max(biggest, payload_kb(dashboard))
    change(controls.granularity, "month")
    zone = change(controls.timezone, "America/New_York")
    return {
        "first": first,
        "peak_first": peak_first,
        "median_ms": statistics.median(times),
        "cpu_median_ms": statistics.median(cpus),
        "cpu_slowest_ms": max(cpus),
        "first_cpu": first_cpu,
        "slowest_ms": max(times),
        "chart_kb": biggest,
        "new_zone": zone,
        "peak": common.peak_rss_mb(),
        "changes": each,
    }


def run_child(phase: str, url: str, store: str, batch: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", phase, "--url", url, "--store", store]
    command += ["--batch-pages", str(batch)]
    lines = subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures


def measure(rows: int, root: Path, *, reuse: bool, batch: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Sync ``rows`` transactions into a fresh store under ``root`` (``reuse``: the one already there, if
    any), then open the dashboard over it."""
    command = [sys.executable, __file__, "--serve", str(rows)]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None
    assert child.stdout is not None
    url = child.stdout.readline().strip()
    store = str(root / f"n{rows}")
    try:
        if reuse and Path(store).exists():
            sync = {"reused": True}
        else:
            sync = run_child("sync", url, store, batch)
            child.stdin.write("stats\n")
            child.stdin.flush()
            counts = json.loads(child.stdout.readline())
            sync["requests"], sync["server_peak"] = sum(counts["answered"].values()), counts["peak"]
        view = run_child("dashboard", url, store, batch)
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    size = sum(path.stat().st_size for path in Path(store).rglob("*") if path.is_file())
    sync["store_mb"] = size / 2**20
    return sync, view


def report(rows: int, sync: dict[str, Any], view: dict[str, Any]) -> None:
    print(f"\n{rows:,} transactions")
    if sync.get("reused"):
        print(f"  sync: the store kept from an earlier run ({sync['store_mb']:,.0f} MB)")
    else:
        _sync_rows(sync)
    _dashboard_rows(view)
    synced = "reused" if sync.get("reused") else f"{sync['seconds']:.0f} s, peak {sync['peak']:,.0f} MB"
    print(
        f"SUMMARY scale n={rows}: sync {synced}; dashboard first view {view['first']:.1f} s, "
        f"peak {view['peak']:,.0f} MB, slowest control change {view['slowest_ms']:.0f} ms, "
        f"chart {view['chart_kb']:.0f} KB",
        flush=True,
    )


def _sync_rows(sync: dict[str, Any]) -> None:
    common.row("sync", "seconds", "requests", "rows", "peak MB", "over start MB", "store MB", "server MB")
    common.row(
        "",
        f"{sync['seconds']:.1f}",
        f"{sync['requests']:,.0f}",
        f"{sync['rows']:,.0f}",
        f"{sync['peak']:,.0f}",
        f"{sync['over']:,.0f}",
        f"{sync['store_mb']:,.0f}",
        f"{sync['server_peak']:,.0f}",
    )


def _dashboard_rows(view: dict[str, Any]) -> None:
    figures = {
        "first view s": view["first"],
        "peak MB": view["peak"],
        "control change ms": view["slowest_ms"],
        "chart KB": view["chart_kb"],
    }
    common.row("dashboard", "measured", "target", "")
    for name, value in figures.items():
        met = "met" if value <= TARGETS[name] else "MISSED"
        common.row(name, f"{value:,.1f}", f"<= {TARGETS[name]:,.0f}", met)
    print(
        "  control changes, median/slowest ms: " + ", ".join(f"{k} {v}" for k, v in view["changes"].items())
    )
    print(
        f"  CPU time (all threads; less skewed by other work): first view {view['first_cpu']:.1f} s, "
        f"control changes median {view['cpu_median_ms']:.0f} ms, slowest {view['cpu_slowest_ms']:.0f} ms"
    )
    print(
        f"  control changes: median {view['median_ms']:.0f} ms; peak after the first view "
        f"{view['peak_first']:,.0f} MB; a new timezone (re-sums the store) {view['new_zone']:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000_000], help="FC transactions")
    parser.add_argument("--keep", type=Path, help="keep the stores in this directory")
    parser.add_argument("--reuse", action="store_true", help="with --keep: open a kept store, no sync")
    parser.add_argument("--batch-pages", type=int, default=10, help="pages per Delta commit (default 10)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=("sync", "dashboard"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_platform(args.serve)
        return
    if args.child:
        if args.child == "sync":
            figures = sync_child(args.url, args.store, args.batch_pages)
        else:
            figures = dashboard_child(args.url, args.store)
        print(json.dumps(figures), flush=True)
        return
    root = args.keep or Path(tempfile.mkdtemp(prefix="finlab-scale-"))
    try:
        for rows in args.rows:
            print(common.machine_load(), flush=True)
            reuse = args.reuse and args.keep is not None
            report(rows, *measure(rows, root, reuse=reuse, batch=args.batch_pages))
        print(common.machine_load())
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
