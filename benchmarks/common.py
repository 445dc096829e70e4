"""What the benchmarks share: the demo data, timing, memory and printing figures.

Run the benchmarks from the repository root, e.g. ``uv run python benchmarks/fetch.py``.
"""

from __future__ import annotations

import json
import os
import resource
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

import polars as pl

from finlab import resources, windowed, wire
from finlab.demo import dataset as demo_data
from finlab.demo.generator import generate

T = TypeVar("T")
#: Generated datasets, kept between runs (generating a million transactions takes minutes).
CACHE = Path(tempfile.gettempdir()) / "finlab-benchmarks"
TRANSACTION = "financial_connections.transaction"
PATH = "/v1/financial_connections/transactions"
PAGE = 100
#: A live-mode restricted key: the demo server then enforces live limits (100/s, 25/s per endpoint).
LIVE_KEY = "rk_live_51FinlabBenchmarkKey0nlyForTheLoopbackServer"


def dataset(n: int) -> demo_data.Dataset:
    """The demo account with ``n`` FC transactions (deterministic), generated once and cached on disk."""
    cached = CACHE / f"n{n}"
    if (cached / f"{TRANSACTION}.jsonl").exists():
        return demo_data.load(cached)
    started = time.perf_counter()
    data = generate(n_transactions=n)
    demo_data.write(data, cached)
    seconds = time.perf_counter() - started
    print(
        f"generated {n:,} FC transactions in {seconds:.0f} s (cached in {cached})",
        file=sys.stderr,
        flush=True,
    )
    return data


def files(n: int) -> tuple[Path, Path]:
    """The pages (length-prefixed bodies, as the demo server sends them) and the NDJSON of ``n`` objects."""
    folder = CACHE / f"n{n}"
    pages, ndjson = folder / "pages.bin", folder / "objects.ndjson"
    if pages.exists() and ndjson.exists():
        return pages, ndjson
    objects = dataset(n)[TRANSACTION]
    with pages.open("wb") as out:
        for start in range(0, len(objects), PAGE):
            more = start + PAGE < len(objects)
            page = {"object": "list", "data": objects[start : start + PAGE], "has_more": more, "url": PATH}
            body = json.dumps(page, separators=(",", ":")).encode()
            out.write(struct.pack(">I", len(body)) + body)
    with ndjson.open("w") as out:
        out.writelines(json.dumps(obj, separators=(",", ":")) + "\n" for obj in objects)
    return pages, ndjson


def bodies(pages: Path) -> Iterator[bytes]:
    """Each page's bytes, read one at a time as a network would deliver them."""
    with pages.open("rb") as source:
        while header := source.read(4):
            yield source.read(struct.unpack(">I", header)[0])


def read_pages(bodies: Iterable[bytes]) -> pl.DataFrame:
    """FC transactions from list pages' bytes, as ``stripe.transactions()`` reads them (`finlab.wire`)."""
    res = resources.get(TRANSACTION)
    reader, batches = wire.PageReader(res, PATH), wire.Batches(res, windowed.BATCH_ROWS)
    for body in bodies:
        page = reader.decoder.parse(body)
        assert page is not None
        batches.add(page.items)
    return batches.take()


def timed(job: Callable[[], T]) -> tuple[T, float]:
    """``job()`` and the seconds it took."""
    started = time.perf_counter()
    result = job()
    return result, time.perf_counter() - started


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB.

    Linux's ``VmHWM`` where there is one: ``ru_maxrss`` survives ``exec``, so a child started by a big
    parent would report the parent's peak.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """CPU seconds used (user + system, all threads): less skewed by other work than wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def row(name: str, *cells: str) -> None:
    """One line of a results table."""
    print(f"  {name:<22}" + "".join(f"{cell:>14}" for cell in cells), flush=True)


def machine_load() -> str:
    """The machine's load average (1, 5, 15 min) and core count: other work skews timings."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} on {os.cpu_count()} cores"
