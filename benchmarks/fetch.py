"""Fetch N FC transactions at Stripe's pace: finlab against stripe-python's ``auto_paging_iter``.

Both read the same loopback demo server (`demo_server.py`, in a process of its own), which holds every
answer 300 ms ± 50 ms (in its own thread) and enforces Stripe's live limits: 100 requests/s per account
and 25/s per endpoint, over sliding one-second windows, with a 429 beyond. FC transactions are one
endpoint, so no client can read them faster than 25 requests/s × 100 objects = 2,500 objects/s: that is
the ceiling finlab's rate is compared with.

    uv run python benchmarks/fetch.py             # 100,000 transactions (about 7 minutes)
    uv run python benchmarks/fetch.py --n 20000   # a quick run
"""

from __future__ import annotations

import argparse
import logging

import common
import demo_server
import stripe

import finlab
from finlab.budget import STRIPE_LIMITS, Budget

PAGE = 100
ENDPOINTS = 1  # the FC transactions list


def with_finlab(url: str, burst: int | None) -> list[str]:
    """Every transaction's id, as ``stripe.transactions()`` returns them (live key: live budget).

    ``burst`` replaces the budget's default bucket size (``None``: what ``connect()`` gives).
    """
    budget = None if burst is None else Budget.for_key_mode("live", burst=burst)
    connection = finlab.connect(common.LIVE_KEY, base_url=url, budget=budget)
    frame = connection.transactions()
    print(
        f"  finlab's budget: {connection.budget!r}, {connection.budget.stats() if connection.budget else ''}"
    )
    return frame.get_column("id").to_list()


def with_stripe_python(url: str, burst: int | None) -> list[str]:
    """Every transaction's id, account by account, with stripe-python's auto-pagination."""
    client = stripe.StripeClient(common.LIVE_KEY, base_addresses={"api": url}, max_network_retries=5)
    fc = client.v1.financial_connections
    ids = []
    for account in fc.accounts.list({"limit": PAGE}).auto_paging_iter():
        pages = fc.transactions.list({"account": account.id, "limit": PAGE}).auto_paging_iter()
        ids += [transaction.id for transaction in pages]
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="FC transactions (default 100,000)")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per answer (default 0.3)")
    parser.add_argument("--jitter", type=float, default=0.05, help="± seconds (default 0.05)")
    parser.add_argument("--burst", type=int, help="finlab's budget burst (default: connect()'s budget)")
    parser.add_argument("--finlab-only", action="store_true", help="skip stripe-python")
    args = parser.parse_args()
    logging.getLogger("stripe").setLevel(logging.WARNING)

    print(common.machine_load())
    server = demo_server.start(args.n, args.latency, args.jitter)
    global_rate, endpoint_rate = STRIPE_LIMITS["live"]
    ceiling = min(global_rate, endpoint_rate * ENDPOINTS) * PAGE
    print(
        f"loopback server: {args.latency * 1000:.0f} ms ± {args.jitter * 1000:.0f} ms per answer, "
        f"live limits ({global_rate:.0f}/s, {endpoint_rate:.0f}/s per endpoint); "
        f"ceiling {ceiling:,.0f} objects/s"
    )
    runs = (
        {"finlab": with_finlab}
        if args.finlab_only
        else {"finlab": with_finlab, "stripe-python": with_stripe_python}
    )
    results: dict[str, tuple[list[str], float, int]] = {}
    try:
        for name, fetch in runs.items():
            refused = server.stats()["refused"]
            ids, seconds = common.timed(lambda fetch=fetch: fetch(server.url, args.burst))
            results[name] = (ids, seconds, server.stats()["refused"] - refused)
            print(f"  {name}: {len(ids):,} objects in {seconds:.1f} s", flush=True)
    finally:
        server.close()
    print(common.machine_load())

    print()
    common.row("", "objects", "seconds", "objects/s", "429s")
    rates = {}
    for name, (ids, seconds, too_many) in results.items():
        rates[name] = len(ids) / seconds
        common.row(name, f"{len(ids):,}", f"{seconds:.1f}", f"{rates[name]:,.0f}", str(too_many))
    finlab_ids = results["finlab"][0]
    share = rates["finlab"] / ceiling
    print(f"\n  finlab / rate ceiling:  {share:.2f}    (target >= 0.90; ceiling {ceiling:,.0f} objects/s)")
    summary = f"finlab {rates['finlab']:,.0f} obj/s = {share:.2f} x ceiling, {results['finlab'][2]} 429s"
    if "stripe-python" in results:
        stripe_ids = results["stripe-python"][0]
        same = finlab_ids == stripe_ids and len(set(finlab_ids)) == len(finlab_ids) == args.n
        speedup = rates["finlab"] / rates["stripe-python"]
        print(f"  finlab / stripe-python: {speedup:.1f}x   (target >= 5x)")
        print(f"  same ids, same order, no duplicates: {same}")
        summary += f"; {speedup:.1f} x stripe-python ({rates['stripe-python']:,.0f} obj/s), same ids: {same}"
    print(f"\nSUMMARY fetch n={args.n}: {summary}")


if __name__ == "__main__":
    main()
