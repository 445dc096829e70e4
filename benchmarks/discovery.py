"""Tax transactions found without ids (PaymentIntents -> tax associations -> transactions) on the loopback
demo server at Stripe's live limits and 300 ms answers: requests and seconds per 1,000 PaymentIntents,
against the ceiling the per-endpoint limit sets.

    uv run python benchmarks/discovery.py
"""

from __future__ import annotations

import math
import time

import common
import demo_server

import finlab

ENDPOINT_RATE = 25  # Stripe's live limit per endpoint, requests/s


def main() -> None:
    data = common.dataset(2_000)
    intents, refunds = len(data["payment_intent"]), len(data["refund"])
    server = demo_server.start(2_000, latency=0.3, jitter=0.05, mode="live")
    try:
        stripe = finlab.connect(common.LIVE_KEY, base_url=server.url)
        started = time.perf_counter()
        found = stripe.tax_transactions()
        seconds = time.perf_counter() - started
        stats = server.stats()
    finally:
        server.close()
    sent = sum(count for status, count in stats.items() if status.isdigit())
    pages = math.ceil(intents / 100) + math.ceil(refunds / 100)
    # The association and retrieve endpoints run side by side, each at the endpoint limit; pages first.
    ceiling = pages / ENDPOINT_RATE + max(intents, found.height) / ENDPOINT_RATE
    print(f"{intents:,} PaymentIntents, {refunds:,} refunds -> {found.height:,} tax transactions")
    print(f"requests: {sent:,} ({stats.get('429', 0)} answered 429), {1000 * sent / intents:,.0f} per 1,000")
    print(f"time: {seconds:.1f} s, {1000 * seconds / intents:.1f} s per 1,000 PaymentIntents")
    print(
        f"ceiling (25 requests/s per endpoint): {ceiling:.1f} s; finlab / ceiling = {seconds / ceiling:.2f}"
    )


if __name__ == "__main__":
    main()
