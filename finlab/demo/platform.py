"""The demo platform: the main demo account is a Stripe Connect platform with small connected accounts.

Each connected account (``acct_...``) has its own Financial Connections, Stripe Tax and Climate data,
a few dozen objects, drawn by the same domain generators as the main account (`finlab.demo.banking`,
`finlab.demo.tax` with `finlab.demo.payments`, `finlab.demo.climate`), so every object has the
fields of Stripe's definitions. Tax comes from one pool dealt out in disjoint parts: an account holds
whole sales (each association with its committed transactions, their reversals, line items,
PaymentIntents and refunds), so tax discovery finds exactly its own.

The main account lists them in ``GET /v1/accounts`` (Stripe's ``account`` objects, in
``dataset["account"]``). One listed account, a standard account that disconnected the platform, has no
data: Stripe answers 403 ``account_invalid`` for it, as for an id that does not exist.

Examples
--------
>>> from finlab.demo.dataset import default_dataset
>>> dataset = default_dataset()
>>> len(dataset.connected), len(dataset["account"])
(50, 51)
"""

from __future__ import annotations

import copy
import random
from collections.abc import Sequence

from finlab.demo.banking import make_banking
from finlab.demo.climate import make_climate
from finlab.demo.clock import DAY, Calendar
from finlab.demo.dataset import ACCOUNT, ORDER, PRODUCT, TRANSACTION, Dataset, Json, new_id
from finlab.demo.payments import UNTAXED_PAYMENTS, make_payments
from finlab.demo.tax import make_tax, tax_settings

#: Connected accounts with data, and the position (in creation order) of the one that revoked access.
CONNECTED = 50
REVOKED_AT = 17
#: What each connected account holds: FC transactions, sales (with their reversals), climate orders.
TRANSACTIONS, SALES, ORDERS, REGISTRATIONS = 20, 6, 4, 3
_COUNTRIES = (("US", "usd"), ("US", "usd"), ("GB", "gbp"), ("DE", "eur"), ("FR", "eur"), ("JP", "jpy"))
_FIRST = ("Alder", "Birch", "Cedar", "Delta", "Ember", "Fjord", "Granite", "Harbor", "Iris", "Juniper")
_SECOND = ("Bakery", "Cycles", "Studio", "Goods", "Labs", "Outfitters", "Press", "Supply", "Works")
_TYPES = ("express", "express", "custom", "standard")


def make_platform(seed: int | str, cal: Calendar) -> tuple[list[Json], dict[str, Dataset]]:
    """The connected accounts as ``GET /v1/accounts`` lists them, and the data of each one it can read."""
    rng = random.Random(f"{seed}:platform")
    accounts = [_account(rng, cal, index) for index in range(CONNECTED + 1)]
    revoked = accounts[REVOKED_AT]
    revoked["type"], revoked["controller"] = "standard", {"type": "account"}
    readable = [account for account in accounts if account is not revoked]
    sales = _sales_pool(random.Random(f"{seed}:platform:tax"), cal, len(readable))
    connected = {
        account["id"]: _connected(random.Random(f"{seed}:{account['id']}"), cal, part)
        for account, part in zip(readable, sales, strict=True)
    }
    return accounts, connected


def _account(rng: random.Random, cal: Calendar, index: int) -> Json:
    """A connected ``account`` object with the fields of Stripe's definition a reader needs."""
    country, currency = rng.choice(_COUNTRIES)
    name = f"{rng.choice(_FIRST)} {rng.choice(_SECOND)}"
    account_type = rng.choice(_TYPES)
    account_id = new_id(rng, "acct_")[:21]  # Stripe's account ids are 16 characters after acct_
    return {
        "business_profile": {"name": name, "url": None, "support_email": None, "mcc": "5734"},
        "business_type": "company",
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": True,
        "controller": {"type": "application", "is_controller": True}
        if account_type != "standard"
        else {"type": "account"},
        "country": country,
        "created": cal.start + (index * (cal.end - cal.start - 30 * DAY)) // (CONNECTED + 1),
        "default_currency": currency,
        "details_submitted": True,
        "email": f"finance@{name.lower().replace(' ', '-')}.example",
        "id": account_id,
        "metadata": {"platform_ref": f"merchant-{index + 1:03d}"},
        "object": "account",
        "payouts_enabled": True,
        "type": account_type,
    }


def _sales_pool(rng: random.Random, cal: Calendar, parts: int) -> list[tuple[list[Json], Json]]:
    """One tax history dealt out: ``parts`` disjoint lists of `SALES` committed associations."""
    tax = make_tax(rng, cal)
    committed = [a for a in tax.associations if a["tax_transaction_attempts"][0]["status"] == "committed"]
    rng.shuffle(committed)
    txns = {sale.txn["id"]: sale.txn for sale in tax.sales}
    objects = {
        "tax.transaction": list(txns.values()),
        "tax.transaction_line_item": tax.line_items,
        "tax.registration": tax.registrations,
    }
    pool = {"objects": objects, "parents": tax.parents}
    return [(committed[k * SALES : (k + 1) * SALES], pool) for k in range(parts)]


def _connected(rng: random.Random, cal: Calendar, sales: tuple[list[Json], Json]) -> Dataset:
    """One connected account's data: banks, its part of the tax pool, climate orders."""
    accounts, transactions = make_banking(rng, cal, TRANSACTIONS, [])
    suppliers, products, orders = make_climate(rng, cal)
    objects: dict[str, list[Json]] = {
        ACCOUNT: accounts,
        TRANSACTION: transactions,
        "climate.supplier": suppliers,
        PRODUCT: products,
        ORDER: [orders[k] for k in sorted(rng.sample(range(len(orders)), ORDERS))],
        "tax.settings": [tax_settings()],
    }
    dataset = Dataset(objects)
    _deal_tax(rng, cal, dataset, *sales)
    return dataset


def _deal_tax(
    rng: random.Random, cal: Calendar, dataset: Dataset, associations: list[Json], pool: Json
) -> None:
    """Put ``associations`` with everything they name (from the ``pool``) into ``dataset``."""
    named = {
        attempt["committed"]["transaction"]
        for association in associations
        for attempt in association["tax_transaction_attempts"]
        if attempt["status"] == "committed"
    }
    objects, parents = pool["objects"], pool["parents"]
    transactions = [copy.deepcopy(t) for t in objects["tax.transaction"] if t["id"] in named]
    lines = [copy.deepcopy(li) for li in objects["tax.transaction_line_item"] if parents[li["id"]] in named]
    dataset.parents.update({li["id"]: parents[li["id"]] for li in lines})
    chosen = copy.deepcopy(associations)
    intents, refunds = make_payments(rng, cal, transactions, lines, dataset.parents, chosen)
    dataset.objects.update(
        {
            "tax.transaction": transactions,
            "tax.transaction_line_item": lines,
            "tax.association": chosen,
            "payment_intent": intents[: len(intents) - UNTAXED_PAYMENTS],
            "refund": refunds,
            "tax.registration": _registrations(rng, objects["tax.registration"]),
        }
    )


def _registrations(rng: random.Random, registrations: Sequence[Json]) -> list[Json]:
    """Copies of some active registrations under the account's own ids."""
    active = [r for r in registrations if r["status"] == "active"]
    chosen = [copy.deepcopy(active[k]) for k in sorted(rng.sample(range(len(active)), REGISTRATIONS))]
    for registration in chosen:
        registration["id"] = new_id(rng, "taxreg_")
    return chosen
