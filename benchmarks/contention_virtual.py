"""The contention runs of `benchmarks/contention.py` on the virtual clock, over many seeds at once.

The loopback benchmark takes 5 minutes a variant and shares the machine's timing noise; the model in
`tests/test_budget.py` (`contention()`: the same sliding-window server, the same other client, 32
workers with 300 ms answers) runs 5 virtual minutes in about 3 s. One seed is one draw of the answer
times and retry waits: the spread over seeds shows how much a single run can be trusted.

    uv run python benchmarks/contention_virtual.py --seeds 24
    uv run python benchmarks/contention_virtual.py --only bursty --starts 12,100,200,300,400,500  # 144 seeds
    uv run python benchmarks/contention_virtual.py --only random5,random10   # 5% / 10% random 429s
    uv run python benchmarks/contention_virtual.py --only bursty --poll 0.005,0.02  # a late other client
"""

from __future__ import annotations

import argparse
import statistics
import sys
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_budget import contention


def run(args: tuple[str, int, float, tuple[float, float]]) -> tuple[float, float, list[int]]:
    variant, seed, seconds, poll = args
    if variant.startswith("random"):  # no other client: this share of answers 429 at random
        return contention(seconds, seed=seed, random_429s=int(variant.removeprefix("random")) / 100)
    return contention(seconds, bursty=variant == "bursty", seed=seed, poll=poll)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=24, help="seeds from each start (default 24)")
    parser.add_argument("--starts", default="12", help="comma-separated first seeds of the sets (default 12)")
    parser.add_argument("--minutes", type=int, default=5)
    parser.add_argument("--only", default="steady,bursty", help="any of steady,bursty,random5,random10")
    parser.add_argument("--poll", default="0.005,0.005", help="other client's wait between tries: low,high")
    args = parser.parse_args()
    low, high = map(float, args.poll.split(","))
    for variant in args.only.split(","):
        seeds = [first + k for first in map(int, args.starts.split(",")) for k in range(args.seeds)]
        jobs = [(variant, seed, 60.0 * args.minutes, (low, high)) for seed in seeds]
        with Pool(2) as pool:
            results = pool.map(run, jobs)
        shares, refused = [r[0] for r in results], [r[1] for r in results]
        minutes = [statistics.mean(r[2][m] for r in results) for m in range(args.minutes)]
        if variant.startswith("random"):
            print(
                f"{variant}: {len(seeds)} seeds, share of the ceiling mean {statistics.mean(shares):.3f} "
                f"(min {min(shares):.3f}), per minute (mean): {' '.join(f'{m / 1500:.2f}' for m in minutes)}"
            )
            continue
        print(
            f"{variant}: {len(seeds)} seeds, share of leftover mean {statistics.mean(shares):.3f} "
            f"(min {min(shares):.3f}), 429s mean {statistics.mean(refused):.2%} (max {max(refused):.2%}), "
            f"answered 200 per minute (mean): {' '.join(f'{m:.0f}' for m in minutes)}"
        )


if __name__ == "__main__":
    main()
