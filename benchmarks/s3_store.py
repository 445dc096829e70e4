"""The demo account synced into a store on a local disk and on S3 (moto's server, its own process).

Times the first sync, a sync with nothing changed and a read of every FC transaction from the store,
for each. The demo Stripe answers in-process (no HTTP), so what differs is the store's I/O: every Delta
commit and read on S3 is several HTTP requests to the local S3 server.

    uv run python benchmarks/s3_store.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

from finlab.connection import Connection
from finlab.demo.dataset import default_dataset
from finlab.demo.server import DEMO_API_KEY, DemoStripe

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
import s3kit  # the tests' local S3


def run(root: str) -> list[tuple[str, float, str]]:
    """(step, seconds, note) of a first sync, a no-change sync and a read, on a fresh connection."""
    stripe = Connection(
        DEMO_API_KEY, transport=httpx.MockTransport(DemoStripe(default_dataset()).handle), store=root
    )
    figures = []
    for step in ("first sync", "no-change sync"):
        started = time.perf_counter()
        report = stripe.sync(progress=False)
        figures.append((step, time.perf_counter() - started, f"{report.requests} requests"))
    started = time.perf_counter()
    rows = stripe.transactions().height
    figures.append(("transactions()", time.perf_counter() - started, f"{rows:,} rows"))
    return figures


def main() -> None:
    default_dataset()  # generated or loaded before any timing
    with tempfile.TemporaryDirectory() as local, s3kit.local_s3() as s3:
        os.environ.update(s3.environment())
        stores = {"local disk": local, "S3 (moto)": f"s3://{s3.bucket()}/finlab"}
        print(f"{'store':<12} {'step':<16} {'seconds':>8}  note")
        for name, root in stores.items():
            for step, seconds, note in run(root):
                print(f"{name:<12} {step:<16} {seconds:>8.2f}  {note}")


if __name__ == "__main__":
    main()
