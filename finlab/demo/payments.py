"""Payments behind the tax data: PaymentIntents and refunds, tied to the tax associations.

Stripe Tax attempts a tax transaction for a PaymentIntent and records it in a tax association
(``GET /v1/tax/associations/find?payment_intent=pi_...``). This module writes the payments the
demo's associations name, the way Stripe shows them:

- each association's ``payment_intent`` is a ``succeeded`` PaymentIntent for what the customer paid
  (lines, exclusive tax and shipping), created a few minutes before its tax transaction posts;
- each committed attempt whose ``source`` is a refund (``re_...``) is a ``succeeded`` refund of that
  PaymentIntent, created just before its reversal posts (one of them four months after the sale);
- an errored attempt still has its PaymentIntent (the payment went through, the tax transaction did not);
- PaymentIntents with no tax association at all (404 from ``associations/find``): payments made
  without Stripe Tax, some of them canceled or still waiting for a payment method.

Objects carry the fields of Stripe's ``payment_intent`` and ``refund`` schemas (API reference,
``tests/stripe/spec-subset-2024-04-10.json``) that a reader of payments needs; the rest are left out.
"""

from __future__ import annotations

import random
from collections import defaultdict

from finlab.demo.clock import DAY, Calendar
from finlab.demo.dataset import Json, new_id

#: PaymentIntents without a tax association, and how many of them did not succeed.
UNTAXED_PAYMENTS = 40
_UNTAXED_STATUSES = ("succeeded",) * 6 + ("canceled", "requires_payment_method")
_UNTAXED_AMOUNTS = {"usd": 2_500, "eur": 2_200}


def paid(transaction: Json, lines: list[Json]) -> int:
    """Return what the customer paid for ``transaction``: lines, exclusive tax and shipping.

    Inclusive lines already hold their tax (Stripe: their ``amount`` includes it). A reversal gives
    a negative amount: what goes back to the customer.
    """
    total = sum(line["amount"] + _exclusive_tax(line) for line in lines)
    shipping = transaction.get("shipping_cost")
    if shipping:
        total += shipping["amount"] + _exclusive_tax(shipping)
    return int(total)


def _exclusive_tax(line: Json) -> int:
    return int(line["amount_tax"]) if line["tax_behavior"] == "exclusive" else 0


def make_payments(
    rng: random.Random,
    cal: Calendar,
    transactions: list[Json],
    line_items: list[Json],
    parents: dict[str, str],
    associations: list[Json],
) -> tuple[list[Json], list[Json]]:
    """Return the PaymentIntents and refunds behind ``associations`` (plus untaxed payments)."""
    by_id = {txn["id"]: txn for txn in transactions}
    lines: dict[str, list[Json]] = defaultdict(list)
    for item in line_items:
        lines[parents[item["id"]]].append(item)
    intents, refunds = [], []
    for association in associations:
        attempts = association["tax_transaction_attempts"]
        sale = next((a for a in attempts if a["source"] == association["payment_intent"]), attempts[0])
        committed = (sale.get("committed") or {}).get("transaction")
        if committed is None:  # errored: the payment went through without a tax transaction
            created = cal.end - rng.randint(2 * DAY, 300 * DAY)
            intents.append(_intent(rng, association["payment_intent"], 9_900, "usd", created, "succeeded"))
            continue
        txn = by_id[committed]
        intent = _intent(
            rng,
            association["payment_intent"],
            paid(txn, lines[committed]),
            txn["currency"],
            txn["posted_at"] - rng.randint(30, 900),
            "succeeded",
            customer=txn["customer"],
            description=txn["reference"],
        )
        intents.append(intent)
        for attempt in attempts:
            if attempt["source"].startswith("re_") and attempt["status"] == "committed":
                reversal = by_id[attempt["committed"]["transaction"]]
                refunds.append(_refund(rng, attempt["source"], intent, reversal, lines[reversal["id"]]))
    intents += [_untaxed(rng, cal) for _ in range(UNTAXED_PAYMENTS)]
    return intents, refunds


def _intent(
    rng: random.Random,
    intent_id: str,
    amount: int,
    currency: str,
    created: int,
    status: str,
    *,
    customer: str | None = None,
    description: str | None = None,
) -> Json:
    succeeded = status == "succeeded"
    return {
        "amount": amount,
        "amount_capturable": 0,
        "amount_received": amount if succeeded else 0,
        "canceled_at": created + 3_600 if status == "canceled" else None,
        "cancellation_reason": "abandoned" if status == "canceled" else None,
        "capture_method": "automatic",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": customer,
        "description": description,
        "id": intent_id,
        "latest_charge": new_id(rng, "ch_") if succeeded else None,
        "livemode": False,
        "metadata": {},
        "object": "payment_intent",
        "payment_method_types": ["card"],
        "status": status,
    }


def _refund(rng: random.Random, refund_id: str, intent: Json, reversal: Json, lines: list[Json]) -> Json:
    return {
        "amount": -paid(reversal, lines),
        "charge": intent["latest_charge"],
        "created": reversal["posted_at"] - rng.randint(5, 300),
        "currency": intent["currency"],
        "id": refund_id,
        "metadata": {},
        "object": "refund",
        "payment_intent": intent["id"],
        "reason": "requested_by_customer",
        "receipt_number": None,
        "status": "succeeded",
    }


def _untaxed(rng: random.Random, cal: Calendar) -> Json:
    """A payment made without Stripe Tax (a donation link, a manual charge): no tax association."""
    currency = rng.choice(tuple(_UNTAXED_AMOUNTS))
    created = cal.end - rng.randint(DAY, 700 * DAY)
    amount = _UNTAXED_AMOUNTS[currency] * rng.randint(1, 8)
    status = rng.choice(_UNTAXED_STATUSES)
    return _intent(rng, new_id(rng, "pi_"), amount, currency, created, status, description="Donation")
