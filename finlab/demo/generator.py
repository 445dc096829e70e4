"""Deterministic demo account: a growing SaaS company's banks, sales tax, carbon removal and more.

`generate` builds the whole account from one seed with `random.Random` only, so the same
arguments always give the same objects (and `finlab.demo.dataset.write` the same bytes). Each
area draws from its own generator (``"<seed>:banking"``, ``"<seed>:tax"``, ...), so changing
``n_transactions`` leaves tax, climate and identity data untouched.

The story, for analysts: Northwind Labs sells SaaS plans in the US, the EU, the UK and Japan.
Revenue arrives as daily Stripe payouts and customer ACH/SEPA credits; payroll goes out twice a
month (US) and monthly (Berlin); card spend follows weekdays and seasons (December is busiest).
Sales tax collected in each jurisdiction is remitted quarterly from the bank accounts, and only
while a tax registration is active (Washington has sales but no registration).

Run ``python -m finlab.demo.generator`` to rewrite the repository's ``data/`` directory.
"""

from __future__ import annotations

import random
import time
from datetime import datetime

from finlab.demo.banking import make_banking
from finlab.demo.climate import make_climate
from finlab.demo.clock import DEMO_NOW, Calendar
from finlab.demo.dataset import (
    ACCOUNT,
    DATA_DIR,
    TRANSACTION,
    Dataset,
    Json,
    timestamp,
    write,
)
from finlab.demo.identity import make_identity
from finlab.demo.operations import make_forwarding, make_onramp, make_webhooks
from finlab.demo.payments import make_payments
from finlab.demo.platform import make_platform
from finlab.demo.reporting import FILE, REPORT_RUN, REPORT_TYPE, make_reporting, size_files
from finlab.demo.tax import make_remittances, make_tax, tax_settings

# ------------------------------------------------------------------------------------------ entry


def generate(*, seed: int = 7, now: datetime = DEMO_NOW, n_transactions: int = 16_000) -> Dataset:
    """The demo account as of ``now`` (its history: the 24 months before) with ``n_transactions`` FC
    transactions across its bank accounts; ``seed`` seeds every random choice (equal arguments, equal data).

    Examples
    --------
    >>> dataset = generate(n_transactions=2_000)
    >>> len(dataset["financial_connections.transaction"])
    2000
    """
    cal = Calendar(timestamp(now))
    tax = make_tax(random.Random(f"{seed}:tax"), cal)
    remittances = make_remittances(tax, cal)
    accounts, transactions = make_banking(random.Random(f"{seed}:banking"), cal, n_transactions, remittances)
    suppliers, products, orders = make_climate(random.Random(f"{seed}:climate"), cal)
    sessions, reports = make_identity(random.Random(f"{seed}:identity"), cal)
    misc = random.Random(f"{seed}:misc")
    sold = [sale.txn for sale in tax.sales]
    intents, refunds = make_payments(
        random.Random(f"{seed}:payments"), cal, sold, tax.line_items, tax.parents, tax.associations
    )
    report_types, report_runs, files = make_reporting(random.Random(f"{seed}:reporting"), cal)
    objects: dict[str, list[Json]] = {
        ACCOUNT: accounts,
        TRANSACTION: transactions,
        "tax.transaction": sold,
        "tax.transaction_line_item": tax.line_items,
        "tax.association": tax.associations,
        "tax.calculation": tax.calculations,
        "tax.calculation_line_item": tax.calculation_items,
        "tax.registration": tax.registrations,
        "tax.settings": [tax_settings()],
        "climate.supplier": suppliers,
        "climate.product": products,
        "climate.order": orders,
        "identity.verification_session": sessions,
        "identity.verification_report": reports,
        "forwarding.request": make_forwarding(misc, cal),
        "webhook_endpoint": make_webhooks(misc, cal),
        "crypto.onramp_session": make_onramp(misc, cal),
        "payment_intent": intents,
        "refund": refunds,
        REPORT_TYPE: report_types,
        REPORT_RUN: report_runs,
        FILE: files,
    }
    objects["account"], connected = make_platform(seed, cal)  # Connect: the accounts and their data
    dataset = Dataset(objects, tax.parents, connected)
    size_files(dataset)
    return dataset


def main() -> None:
    """Regenerate the repository's ``data/`` directory and print what was written."""
    started = time.perf_counter()
    dataset = generate()
    elapsed = time.perf_counter() - started
    for path in write(dataset, DATA_DIR):
        print(f"{path.stat().st_size:>12,} B  {path.name}")
    for object_type, count in dataset.counts().items():
        print(f"{count:>8,}  {object_type}")
    print(f"generated in {elapsed:.2f} s")


if __name__ == "__main__":
    main()
