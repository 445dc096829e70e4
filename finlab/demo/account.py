"""The bundled demo account, served in-process: what ``finlab.connect()`` gives without a key.

Nothing below it knows it is the demo: the connection reads the in-process server through its transport
exactly as it reads Stripe (tax transactions too are found through PaymentIntents).
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from finlab.connection import Connection, notice_once
from finlab.demo import dataset as demo_data
from finlab.demo.server import DEMO_API_KEY, DemoStripe


def demo_connection(
    store: str | None = None, stripe_account: str | Sequence[str] | None = None
) -> Connection:
    """The bundled demo account, served in-process.

    It has no rate budget on purpose: the in-process server is no Stripe to protect, and notebooks
    should not wait on limits that are not there. Every other connection gets one (see `connect`).
    The demo account is a platform: ``stripe_account`` reads its connected accounts (`finlab.demo.platform`).
    """
    dataset = demo_data.default_dataset()  # looked up on each call: tests swap in a smaller account
    server = DemoStripe(dataset)
    notice_once(
        "demo",
        "finlab: no STRIPE_API_KEY set, so this is the bundled demo account (fictional data). "
        "Set STRIPE_API_KEY to read your own.",
    )
    return Connection(
        DEMO_API_KEY,
        transport=httpx.MockTransport(server.handle),
        stripe_account=stripe_account,
        is_demo=True,
        store=store,
    )
