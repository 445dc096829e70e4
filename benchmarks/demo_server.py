"""The loopback demo server for the benchmarks, in its own process (its own GIL, so the client's timing
is its own): N FC transactions, a live-mode key, latency and Stripe's live limits.

It prints its URL, then answers each ``stats`` line on stdin with a JSON line of counters, and stops at
the end of stdin. `start` runs it from a benchmark.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import common

from finlab.demo import DemoStripe, serve
from finlab.demo.limits import Limits


class Server:
    """A running `demo_server.py` child: its URL and its counters."""

    def __init__(self, child: subprocess.Popen[str]) -> None:
        self.child = child
        assert child.stdout is not None
        self.url = child.stdout.readline().strip()

    def stats(self) -> dict[str, int]:
        """Requests answered so far, by status (``"200"``, ``"429"``), and ``"refused"`` by the limits."""
        assert self.child.stdin is not None
        assert self.child.stdout is not None
        self.child.stdin.write("stats\n")
        self.child.stdin.flush()
        counts: dict[str, int] = json.loads(self.child.stdout.readline())
        return counts

    def close(self) -> None:
        """Stop the child."""
        assert self.child.stdin is not None
        self.child.stdin.close()
        self.child.wait(timeout=30)


def start(n: int, latency: float, jitter: float, mode: str = "live") -> Server:
    """Start the server with ``n`` transactions; returns once it listens."""
    command = [sys.executable, str(Path(__file__)), "--n", str(n), "--latency", str(latency)]
    command += ["--jitter", str(jitter), "--rate-limit", mode]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return Server(child)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--jitter", type=float, default=0.05)
    parser.add_argument("--rate-limit", default="live")
    args = parser.parse_args()
    data = common.dataset(args.n)
    limits = Limits.stripe(args.rate_limit, latency=args.latency, jitter=args.jitter, seed=1)
    stripe = DemoStripe(data, api_keys={common.LIVE_KEY: None}, limits=limits)
    with serve(stripe) as loopback:
        print(loopback.url, flush=True)
        for line in sys.stdin:
            if line.strip() == "stats":
                statuses = Counter(str(request.status) for request in list(stripe.requests))
                print(json.dumps({**statuses, "refused": limits.refused}), flush=True)


if __name__ == "__main__":
    main()
