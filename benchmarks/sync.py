"""A first sync of N FC transactions into a store, against ``stripe.transactions()`` on the same server.

One loopback demo server (`demo_server.py`, a process of its own) answers both at once, without rate
limits, so what is timed is finlab: the requests, parsing and typing and, for the sync, the Delta
commits (every ``batch_pages`` pages, each with its cursor). Each path runs in a fresh process, so that
its peak memory is its own; requests are those the server answered during the path.

  transactions   ``stripe.transactions()``: one typed frame in memory (`finlab.windowed`)
  sync           ``stripe.sync(["transactions"])`` into an empty store (`finlab.listings`), the same
                 window walk, committing as it goes

    uv run python benchmarks/sync.py               # 1,000,000 transactions
    uv run python benchmarks/sync.py --n 100000    # a quick run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

import common
import demo_server

import finlab
from finlab.budget import Budget

PATHS = ("transactions", "sync")


def child(path: str, url: str) -> None:
    """Run one path in this (fresh) process and print its figures as a JSON line."""
    with tempfile.TemporaryDirectory() as root:
        store = root if path == "sync" else None
        connection = finlab.connect(common.LIVE_KEY, base_url=url, budget=Budget(None, None), store=store)
        baseline = common.peak_rss_mb()
        if path == "sync":
            _, seconds = common.timed(lambda: connection.sync(["transactions"], progress=False))
            stored = connection.store.status() if connection.store else []
            rows = next(t.rows for t in stored if t.resource == common.TRANSACTION)
        else:
            frame, seconds = common.timed(connection.transactions)
            rows = frame.height
        figures = {"seconds": seconds, "rows": rows, "over": common.peak_rss_mb() - baseline}
        print(json.dumps(figures), flush=True)


def measure(path: str, server: demo_server.Server) -> dict[str, float]:
    """``path``'s figures from a fresh process, and the requests the server answered meanwhile."""
    before = sum(server.stats().values())
    command = [sys.executable, __file__, "--child", path, "--url", server.url]
    lines = subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()
    figures: dict[str, float] = json.loads(lines[-1])
    figures["requests"] = sum(server.stats().values()) - before
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="FC transactions (default 1,000,000)")
    parser.add_argument("--child", choices=PATHS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url)
        return
    common.dataset(args.n)
    server = demo_server.start(args.n, 0.0, 0.0, mode="off")
    try:
        print(common.machine_load())
        common.row("", "seconds", "requests", "rows", "RSS over MB")
        results = {}
        for path in PATHS:
            r = results[path] = measure(path, server)
            common.row(
                path, f"{r['seconds']:.1f}", f"{r['requests']:,.0f}", f"{r['rows']:,.0f}", f"{r['over']:,.0f}"
            )
        print(common.machine_load())
    finally:
        server.close()
    sync, frame = results["sync"], results["transactions"]
    print(
        f"\nSUMMARY sync n={args.n}: first sync / transactions(): "
        f"{sync['seconds'] / frame['seconds']:.2f} x time, "
        f"{sync['requests'] / frame['requests']:.2f} x requests, "
        f"{sync['over'] / frame['over']:.2f} x peak memory"
    )


if __name__ == "__main__":
    main()
