"""finlab under rate-limit contention, random 429s and faults, on the loopback demo server (issue #12).

The server (this script with ``--serve``, in a process of its own) enforces Stripe's test-mode limits,
25 requests/s per account and per endpoint over sliding one-second windows, and holds each answer
300 ms ± 50 ms. finlab fetches the demo's 2,240 tax transactions by id, again and again (one endpoint, so
its ceiling is 25 requests/s). The variants:

- ``steady``, ``bursty``: a second client of the same account takes 60% of the limit (15 requests/s on
  another endpoint, a refused one tried again until admitted), evenly or in bursts (2 s at the full
  25/s, then 3 s at 8.3/s). Printed: finlab's
  share of the capacity left over (target >= 0.8), the share of its requests answered 429 (target <= 3%)
  and its requests answered 200 in each minute (must not decline).
- ``random5``, ``random10``: no competitor, but 5% / 10% of answers are 429 at random. Printed: each
  minute's rate as a share of the ceiling (target >= 0.5 at 5%, no decline).
- ``faults``: one fetch of the 2,240 transactions fault-free, then with 25% of answers faulted (5xx,
  409, resets, timeouts, truncated, not JSON, proxy pages, wrong objects; no 429s). Printed: the ratio of
  the times (target <= 1.6).

    uv run python benchmarks/contention.py                      # every variant, 5 minutes each (~25 min)
    uv run python benchmarks/contention.py --minutes 1 --only steady,random5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import common
import httpx

import finlab
from finlab.client import RetryPolicy
from finlab.demo import DemoStripe, default_dataset, serve
from finlab.demo.faults import KINDS, Faults
from finlab.demo.limits import Limits

KEY = "rk_test_51FinlabBenchmarkKey0nlyForTheLoopbackServer"
LIMIT = 25.0  # test mode: per account and per endpoint
COMPETITOR_PATH = "/v1/charges"
SHARE = 0.6
VARIANTS = ("steady", "bursty", "random5", "random10", "faults")
CHUNK = 100  # ids per call: the fetching thread looks for the stop signal between calls


# --- the server (child process) ----------------------------------------------------------------------


class CountingStripe(DemoStripe):
    """`DemoStripe` that counts its answers by status, and the faults raised instead of one."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def handle(self, request: httpx.Request) -> httpx.Response:
        try:
            response = super().handle(request)
        except Exception as error:
            with self._lock:
                self.counts[type(error).__name__] += 1
            raise
        with self._lock:
            self.counts[str(response.status_code)] += 1
        return response


def compete(limits: Limits, pattern: str, counts: Counter[str], stop: threading.Event) -> None:
    """Another client of the account: 60% of the limit, evenly or in bursts, counted by `Limits.admit`.

    A refused request is tried again every 5 ms until admitted (a refusal is not counted against the
    limit), so the competitor gets its 60% whatever finlab does, and finlab competes for the rest.
    """
    started = time.monotonic()
    admitted = 0
    while not stop.is_set():
        elapsed = time.monotonic() - started
        if pattern == "steady":
            due = SHARE * LIMIT * elapsed
        else:  # 5 s cycles: 2 s at the full limit, then 3 s at the rest of the 60%
            cycles, into = divmod(elapsed, 5.0)
            low = (SHARE * LIMIT * 5 - 2 * LIMIT) / 3
            due = cycles * SHARE * LIMIT * 5 + (LIMIT * into if into < 2 else 2 * LIMIT + low * (into - 2))
        while admitted < int(due):
            if limits.admit(COMPETITOR_PATH) is not None:
                counts["refused"] += 1
                break
            admitted += 1
            counts["admitted"] += 1
        stop.wait(0.005)


def serve_child(variant: str, seed: int) -> None:
    """Serve the demo account for ``variant`` until stdin ends; answer ``stats`` lines with counters."""
    limits = Limits.stripe("test", latency=0.3, jitter=0.05, seed=seed)
    faults = None
    if variant.startswith("random"):
        faults = Faults({"rate_limit": int(variant.removeprefix("random")) / 100}, seed=seed)
    elif variant == "faults":
        kinds = tuple(kind for kind in KINDS if not kind.startswith("rate_limit"))
        faults = Faults.spread(0.25, seed=seed, kinds=kinds, stall=2.0)
    stripe = CountingStripe(default_dataset(), api_keys={KEY: None}, limits=limits, faults=faults)
    competitor: Counter[str] = Counter()
    stop = threading.Event()
    with serve(stripe) as loopback:
        if variant in ("steady", "bursty"):
            threading.Thread(target=compete, args=(limits, variant, competitor, stop), daemon=True).start()
        print(loopback.url, flush=True)
        for line in sys.stdin:
            if line.strip() == "stats":
                with stripe._lock:
                    counts = dict(stripe.counts)
                print(json.dumps({"finlab": counts, "competitor": dict(competitor)}), flush=True)
        stop.set()


class Server:
    """The child server of one variant: its URL and counters."""

    def __init__(self, variant: str, seed: int) -> None:
        command = [sys.executable, str(Path(__file__)), "--serve", variant, "--seed", str(seed)]
        self.child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.child.stdout is not None
        self.url = self.child.stdout.readline().strip()

    def stats(self) -> dict[str, dict[str, int]]:
        assert self.child.stdin is not None
        assert self.child.stdout is not None
        self.child.stdin.write("stats\n")
        self.child.stdin.flush()
        stats: dict[str, dict[str, int]] = json.loads(self.child.stdout.readline())
        return stats

    def close(self) -> None:
        assert self.child.stdin is not None
        self.child.stdin.close()
        self.child.wait(timeout=30)


# --- the client --------------------------------------------------------------------------------------


def tax_ids() -> list[str]:
    """The demo's tax transaction ids."""
    return [t["id"] for t in default_dataset()["tax.transaction"]]


def connect(url: str) -> finlab.Connection:
    """finlab on the server, with 10 retries: at 25% faults, 6 failures in a row (the default 5 retries)
    hit one request in 4,096, so about every other fetch of 2,240 would fail."""
    return finlab.connect(KEY, base_url=url, retry=RetryPolicy(max_retries=10))


def timed_run(variant: str, minutes: int, seed: int, minute: float = 60.0) -> list[dict[str, float]]:
    """Fetch in a loop for ``minutes``; each minute's finlab 200s and 429s and the competitor's admits.

    ``minute`` shortens the minutes, for a quick look.
    """
    server = Server(variant, seed)
    stop, ids = threading.Event(), tax_ids()
    failures: list[BaseException] = []

    def fetch() -> None:
        connection = connect(server.url)
        try:
            while not stop.is_set():
                for start in range(0, len(ids), CHUNK):
                    if stop.is_set():
                        return
                    connection.tax_transactions(ids=ids[start : start + CHUNK])
        except BaseException as error:  # reported after the run
            failures.append(error)

    worker = threading.Thread(target=fetch, daemon=True)
    minutes_seen: list[dict[str, float]] = []
    try:
        before = server.stats()
        worker.start()
        for number in range(1, minutes + 1):
            time.sleep(minute)
            now = server.stats()
            minutes_seen.append({**_delta(before, now), "seconds": minute})
            before = now
            print(f"  {variant} minute {number}: {_describe(minutes_seen[-1])}", flush=True)
    finally:
        stop.set()
        worker.join(timeout=120)
        server.close()
    if failures:
        print(f"  {variant}: the fetch failed: {failures[0]!r}", flush=True)
    return minutes_seen


def _delta(before: dict[str, dict[str, int]], now: dict[str, dict[str, int]]) -> dict[str, float]:
    def diff(side: str, key: str) -> int:
        return now[side].get(key, 0) - before[side].get(key, 0)

    answered = sum(now["finlab"].values()) - sum(before["finlab"].values())
    return {
        "ok": diff("finlab", "200"),
        "429": diff("finlab", "429"),
        "requests": answered,
        "competitor": diff("competitor", "admitted"),
    }


def _describe(minute: dict[str, float]) -> str:
    return (
        f"{minute['ok']:.0f} answered 200, {minute['429']:.0f} of {minute['requests']:.0f} answered 429, "
        f"competitor {minute['competitor']:.0f} admitted"
    )


def contention_table(variant: str, minutes: list[dict[str, float]]) -> str:
    """Share of the leftover, 429 share and per-minute rate of a competing-load run."""
    ok = sum(m["ok"] for m in minutes)
    leftover = LIMIT * sum(m["seconds"] for m in minutes) - sum(m["competitor"] for m in minutes)
    share = ok / leftover
    refused = sum(m["429"] for m in minutes) / max(1.0, sum(m["requests"] for m in minutes))
    per_minute = " ".join(f"{m['ok']:.0f}" for m in minutes)
    return (
        f"{variant}: share of leftover {share:.2f} (target >= 0.8), 429s {refused:.1%} of finlab's requests "
        f"(target <= 3%), answered 200 per minute: {per_minute}"
    )


def random_table(variant: str, minutes: list[dict[str, float]]) -> str:
    """Each minute's rate as a share of the ceiling in a random-429 run."""
    shares = [m["ok"] / (LIMIT * m["seconds"]) for m in minutes]
    return (
        f"{variant}: share of the ceiling per minute: {' '.join(f'{s:.2f}' for s in shares)} "
        f"(mean {sum(shares) / len(shares):.2f}; target >= 0.5 at 5%, no decline)"
    )


def fault_ratio(seed: int) -> str:
    """Seconds to fetch the 2,240 tax transactions by id fault-free and with 25% of answers faulted."""
    ids, seconds = tax_ids(), {}
    for variant in ("clean", "faults"):
        server = Server(variant, seed)
        connection = connect(server.url)
        try:
            frame, seconds[variant] = common.timed(lambda c=connection: c.tax_transactions(ids=ids))
            stats = server.stats()["finlab"]
        finally:
            server.close()
        assert frame.height == len(ids), frame.height
        print(f"  {variant}: {len(ids):,} tax transactions in {seconds[variant]:.1f} s; answers {stats}")
    ratio = seconds["faults"] / seconds["clean"]
    return (
        f"faults: 25% of answers faulted (no 429s): {seconds['faults']:.1f} s vs {seconds['clean']:.1f} s "
        f"fault-free, ratio {ratio:.2f} (target <= 1.6)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=5, help="length of each timed run (default 5)")
    parser.add_argument("--only", default=",".join(VARIANTS), help=f"comma-separated: {', '.join(VARIANTS)}")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--minute", type=float, default=60.0, help="seconds per 'minute', for a quick look")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_child(args.serve, args.seed)
        return
    print(common.machine_load(), flush=True)
    lines = []
    for variant in args.only.split(","):
        if variant in ("steady", "bursty"):
            lines.append(contention_table(variant, timed_run(variant, args.minutes, args.seed, args.minute)))
        elif variant.startswith("random"):
            lines.append(random_table(variant, timed_run(variant, args.minutes, args.seed, args.minute)))
        elif variant == "faults":
            lines.append(fault_ratio(args.seed))
        else:
            parser.error(f"unknown variant {variant!r}")
        print(f"SUMMARY {lines[-1]}", flush=True)
    print(common.machine_load())
    print("\n".join(lines))


if __name__ == "__main__":
    main()
