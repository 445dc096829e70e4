"""One million FC transactions, as Stripe list pages (bytes), into one typed frame: finlab, the limit, a peer.

Each path runs in a fresh process, so that its peak memory is its own. Its input is read into memory
before the clock starts (pages as a list of bodies, as a network delivers them; the NDJSON as one
``bytes``), so every path is timed from bytes in memory to a frame:

  finlab         `finlab.wire`: Polars parses each page's bytes, `Batches` flattens and types every
                 10,000 rows (the path ``stripe.transactions()`` runs)
  finlab-dicts   ``json.loads`` each page, ``frames.build`` every 20,000 objects (finlab's path for the
                 other lists)
  read_ndjson    ``pl.read_ndjson`` on the same objects, one JSON per line, with the schema of the fields
                 finlab reads: the limit (an untyped frame: timestamps stay integers, no major-unit money)
  stripe-python  ``convert_to_stripe_object`` on each page (as ``auto_paging_iter`` does), ``to_dict()``
                 per object, ``pl.from_dicts`` at the end: the peer (also untyped)
  finlab-sync    ``stripe.transactions()`` from the loopback demo server without latency or limits:
                 the peak memory of a real sync, against the final frame's Arrow size

    uv run python benchmarks/parse.py               # 1,000,000 transactions
    uv run python benchmarks/parse.py --n 100000    # a quick run
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable

import common
import demo_server
import polars as pl

from finlab import frames, resources, wire
from finlab.budget import Budget
from finlab.fetch import BUILD_BATCH

PATH = common.PATH
PATHS = ("finlab", "finlab-dicts", "read_ndjson", "stripe-python", "finlab-sync")


def with_finlab(pages: list[bytes], ndjson: bytes, n: int) -> pl.DataFrame:
    return common.read_pages(pages)


def with_finlab_dicts(pages: list[bytes], ndjson: bytes, n: int) -> pl.DataFrame:
    res = resources.get(common.TRANSACTION)
    batch: list[dict[str, object]] = []
    parts = []
    for body in pages:
        batch += json.loads(body)["data"]
        if len(batch) >= BUILD_BATCH:
            parts.append(frames.build(res, batch))
            batch = []
    return pl.concat([*parts, frames.build(res, batch)])


def with_read_ndjson(pages: list[bytes], ndjson: bytes, n: int) -> pl.DataFrame:
    # The fields finlab reads, as a schema: without one, Polars 2.1 infers from the first 100 lines that
    # ``void_at`` is always null and then panics on a later number.
    reader = wire.PageReader(resources.get(common.TRANSACTION), PATH)
    data = reader.schema["data"]
    assert isinstance(data, pl.List)
    assert isinstance(data.inner, pl.Struct)
    return pl.read_ndjson(ndjson, schema=data.inner.to_schema())


def with_stripe_python(pages: list[bytes], ndjson: bytes, n: int) -> pl.DataFrame:
    from stripe._util import convert_to_stripe_object

    rows = []
    for body in pages:
        listed = convert_to_stripe_object(json.loads(body))
        rows += [transaction.to_dict() for transaction in listed.data]
    return pl.from_dicts(rows)


def with_finlab_sync(pages: list[bytes], ndjson: bytes, n: int) -> pl.DataFrame:
    import finlab

    server = demo_server.start(n, 0.0, 0.0, mode="off")
    try:
        connection = finlab.connect(common.LIVE_KEY, base_url=server.url, budget=Budget(None, None))
        baseline = common.peak_rss_mb()  # the server and its data live in another process
        frame, seconds = common.timed(connection.transactions)
        print(json.dumps({"baseline": baseline, "seconds": seconds}), flush=True)
        return frame
    finally:
        server.close()


RUNS: dict[str, Callable[[list[bytes], bytes, int], pl.DataFrame]] = {
    "finlab": with_finlab,
    "finlab-dicts": with_finlab_dicts,
    "read_ndjson": with_read_ndjson,
    "stripe-python": with_stripe_python,
    "finlab-sync": with_finlab_sync,
}


def child(path: str, n: int) -> None:
    """Run one path in this (fresh) process and print its figures as a JSON line."""
    pages, ndjson = common.files(n)
    bodies, lines = ([], b"") if path == "finlab-sync" else (list(common.bodies(pages)), ndjson.read_bytes())
    baseline, cpu = common.peak_rss_mb(), common.cpu_seconds()
    frame, seconds = common.timed(lambda: RUNS[path](bodies, lines, n))
    figures = {
        "seconds": seconds,
        "cpu": common.cpu_seconds() - cpu,
        "rows": frame.height,
        "baseline": baseline,
        "peak": common.peak_rss_mb(),
        "frame": frame.estimated_size() / 2**20,
    }
    print(json.dumps(figures), flush=True)


def measure(path: str, n: int) -> dict[str, float]:
    """``path``'s figures, from a fresh process (its last JSON line; a sync times itself)."""
    command = [sys.executable, __file__, "--n", str(n), "--child", path]
    lines = subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()
    figures: dict[str, float] = json.loads(lines[-1])
    for line in lines[:-1]:
        figures.update(json.loads(line))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="FC transactions (default 1,000,000)")
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS), help="what to measure")
    parser.add_argument("--child", choices=PATHS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.n)
        return
    common.files(args.n)
    print(common.machine_load())
    results = {}
    common.row("", "seconds", "CPU seconds", "rows", "peak RSS MB", "over start MB", "frame MB")
    for path in args.paths:
        r = results[path] = measure(path, args.n)
        cells = (
            f"{r['seconds']:.2f}",
            f"{r['cpu']:.2f}",
            f"{r['rows']:,}",
            f"{r['peak']:,.0f}",
            f"{r['peak'] - r['baseline']:,.0f}",
        )
        common.row(path, *cells, f"{r['frame']:,.0f}")
    print(common.machine_load())
    print()
    summary = []
    if {"finlab", "read_ndjson"} <= results.keys():
        share = results["read_ndjson"]["seconds"] / results["finlab"]["seconds"]
        on_cpu = results["read_ndjson"]["cpu"] / results["finlab"]["cpu"]
        print(f"  finlab speed / read_ndjson:    {share:.2f}   (target >= 0.5; on CPU time {on_cpu:.2f})")
        summary.append(f"{share:.2f} x read_ndjson")
    if {"finlab", "stripe-python"} <= results.keys():
        speedup = results["stripe-python"]["seconds"] / results["finlab"]["seconds"]
        on_cpu = results["stripe-python"]["cpu"] / results["finlab"]["cpu"]
        print(f"  finlab speed / stripe-python:  {speedup:.1f}x   (target >= 50x; on CPU time {on_cpu:.1f}x)")
        summary.append(f"{speedup:.1f} x stripe-python")
    if {"finlab", "finlab-dicts"} <= results.keys():
        gain = results["finlab-dicts"]["seconds"] / results["finlab"]["seconds"]
        print(f"  finlab speed / finlab-dicts:   {gain:.1f}x")
    if "finlab-sync" in results:
        r = results["finlab-sync"]
        used, frame = r["peak"] - r["baseline"], r["frame"]
        print(
            f"  sync memory: {used:,.0f} MB over the start for a {frame:,.0f} MB frame = "
            f"{used / frame:.2f} x frame = 2 x frame + {used - 2 * frame:,.0f} MB "
            "(target <= 2 x frame + a constant)"
        )
        summary.append(f"sync peak {used / frame:.2f} x frame (2 x frame + {used - 2 * frame:,.0f} MB)")
    print(f"\nSUMMARY parse n={args.n}: " + ", ".join(summary))


if __name__ == "__main__":
    main()
