"""The demo account as data: Stripe objects by type, JSON-lines files and Stripe-like changes.

A `Dataset` holds every object of the demo account in Stripe's wire format, keyed by object
type (``"climate.order"``). Line items carry no field naming their owner, so ``parents`` maps
each line item id to its tax transaction or tax calculation id. The mutation methods change
objects the way Stripe would (a new ``fctxnref_`` refresh, ``updated``, balances) and bump
``version`` so that a `DemoStripe` serving the dataset rebuilds its indexes.

Refresh ids encode a sequence number in their first six characters, so a later refresh always
sorts after an earlier one (Stripe's own ids do not; the demo server relies on this order for
``transaction_refresh[after]``).

Examples
--------
>>> from finlab.demo.dataset import default_dataset
>>> dataset = default_dataset()
>>> len(dataset["financial_connections.account"])
4
"""

from __future__ import annotations

import functools
import json
import marshal
import random
import string
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

Json = dict[str, Any]

DATA_DIR = Path(__file__).parents[2] / "data"
PARENTS_FILE = "_parents.json"
#: The connected accounts' data (`finlab.demo.platform`): one JSON line per account.
CONNECTED_FILE = "_connected.ndjson"
ACCOUNT = "financial_connections.account"
TRANSACTION = "financial_connections.transaction"
ORDER = "climate.order"
PRODUCT = "climate.product"
REFRESH_PREFIX = "fctxnref_"
#: Id characters in ASCII order, so that ids encoding a counter sort by that counter.
ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
ORDER_TRANSITIONS = {
    "open": frozenset({"awaiting_funds", "confirmed", "canceled"}),
    "awaiting_funds": frozenset({"confirmed", "canceled"}),
    "confirmed": frozenset({"delivered", "canceled"}),
    "delivered": frozenset(),
    "canceled": frozenset(),
}
_SEQ_WIDTH = 6
_NEW_CARD_SPEND = (("Uber", 2800), ("Starbucks", 1150), ("Amazon", 8900), ("DoorDash", 6500))


def base62(value: int, width: int) -> str:
    """Return the last ``width`` base-62 digits of ``value``, most significant first."""
    digits = []
    for _ in range(width):
        value, digit = divmod(value, len(ALPHABET))
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def new_id(rng: random.Random, prefix: str) -> str:
    """Return a Stripe-looking id: ``prefix`` and 24 characters drawn from ``rng``."""
    return prefix + base62(rng.getrandbits(143), 24)


def refresh_id(rng: random.Random, seq: int) -> str:
    """Return a ``fctxnref_`` id that sorts by ``seq`` (its first six characters encode it)."""
    return REFRESH_PREFIX + base62(seq, _SEQ_WIDTH) + base62(rng.getrandbits(108), 24 - _SEQ_WIDTH)


def refresh_seq(refresh: str) -> int:
    """Return the sequence number encoded in a refresh id made by `refresh_id`."""
    code = refresh[len(REFRESH_PREFIX) : len(REFRESH_PREFIX) + _SEQ_WIDTH]
    return functools.reduce(lambda acc, char: acc * len(ALPHABET) + ALPHABET.index(char), code, 0)


def timestamp(moment: datetime) -> int:
    """Return ``moment`` as integer Unix seconds, like every Stripe timestamp."""
    return int(moment.timestamp())


def account_currency(account: Json) -> str:
    """Return the (single) currency of a Financial Connections account's balance."""
    return str(next(iter(account["balance"]["current"])))


def fc_balance(currency: str, current: int, pending: int, as_of: int) -> Json:
    """Return a cash balance; ``available`` adds pending transactions to ``current``."""
    return {
        "as_of": as_of,
        "cash": {"available": {currency: current + pending}},
        "credit": None,
        "current": {currency: current},
        "type": "cash",
    }


def fc_account(
    *,
    account_id: str,
    holder: str,
    balance: Json,
    created: int,
    names: tuple[str, str, str],
    subcategory: str,
    refreshed: tuple[str, int],
) -> Json:
    """Return a cash ``financial_connections.account`` with this ``balance`` (refreshed at its ``as_of``).

    ``names`` is (display name, institution name, last4); ``refreshed`` is (the last transaction
    refresh id, when it was attempted).
    """
    display_name, institution, last4 = names
    refresh, attempted = refreshed
    return {
        "account_holder": {"customer": holder, "type": "customer"},
        "balance": balance,
        "balance_refresh": {
            "last_attempted_at": balance["as_of"],
            "next_refresh_available_at": balance["as_of"] + 3_600,
            "status": "succeeded",
        },
        "category": "cash",
        "created": created,
        "display_name": display_name,
        "id": account_id,
        "institution_name": institution,
        "last4": last4,
        "livemode": False,
        "object": ACCOUNT,
        "ownership": None,
        "ownership_refresh": None,
        "permissions": ["balances", "transactions"],
        "status": "active",
        "subcategory": subcategory,
        "subscriptions": ["transactions"],
        "supported_payment_method_types": ["us_bank_account"],
        "transaction_refresh": {
            "id": refresh,
            "last_attempted_at": attempted,
            "next_refresh_available_at": attempted + 3_600,
            "status": "succeeded",
        },
    }


def fc_transaction(
    rng: random.Random,
    *,
    account: str,
    currency: str,
    amount: int,
    description: str,
    transacted_at: int,
    posted_at: int | None,
    void_at: int | None,
    refresh: str,
    updated: int,
) -> Json:
    """Return a ``financial_connections.transaction``; its status follows from the transitions."""
    status = "posted" if posted_at is not None else "void" if void_at is not None else "pending"
    return {
        "account": account,
        "amount": amount,
        "currency": currency,
        "description": description,
        "id": new_id(rng, "fctxn_"),
        "livemode": False,
        "object": TRANSACTION,
        "status": status,
        "status_transitions": {"posted_at": posted_at, "void_at": void_at},
        "transacted_at": transacted_at,
        "transaction_refresh": refresh,
        "updated": updated,
    }


def tons_to_milli(metric_tons: str) -> int:
    """Return a decimal ``metric_tons`` string in thousandths of a ton (``"1.25"`` -> 1250)."""
    return int(Decimal(metric_tons) * 1000)


def milli_to_tons(milli: int) -> str:
    """Return thousandths of a ton as Stripe's decimal string with three places."""
    return f"{Decimal(milli) / 1000:.3f}"


def climate_order(
    rng: random.Random, *, product: Json, metric_tons: str, currency: str, created: int, beneficiary: str
) -> Json:
    """Return an ``open`` ``climate.order`` for ``metric_tons`` of ``product`` priced in ``currency``."""
    prices = product["current_prices_per_metric_ton"]
    if currency not in prices:
        msg = f"Product {product['id']} has no {currency} price; choose one of {sorted(prices)}."
        raise ValueError(msg)
    milli = tons_to_milli(metric_tons)
    subtotal = round(prices[currency]["amount_subtotal"] * milli / 1000)
    fees = round(prices[currency]["amount_fees"] * milli / 1000)
    return {
        "amount_fees": fees,
        "amount_subtotal": subtotal,
        "amount_total": subtotal + fees,
        "beneficiary": {"public_name": beneficiary},
        "canceled_at": None,
        "cancellation_reason": None,
        "certificate": None,
        "confirmed_at": None,
        "created": created,
        "currency": currency,
        "delayed_at": None,
        "delivered_at": None,
        "delivery_details": [],
        "expected_delivery_year": product["delivery_year"],
        "id": new_id(rng, "climorder_"),
        "livemode": False,
        "metadata": {},
        "metric_tons": milli_to_tons(milli),
        "object": ORDER,
        "product": product["id"],
        "product_substituted_at": None,
        "status": "open",
    }


def advance_order(order: Json, status: str, at: int, *, product: Json, reason: str = "requested") -> None:
    """Move ``order`` to ``status`` at time ``at``, setting the timestamps Stripe sets.

    Raises
    ------
    ValueError
        If Stripe would not allow the transition (for example ``delivered`` -> ``open``).
    """
    if status not in ORDER_TRANSITIONS[order["status"]]:
        msg = f"A climate order cannot go from {order['status']!r} to {status!r}."
        raise ValueError(msg)
    order["status"] = status
    if status == "confirmed":
        order["confirmed_at"] = at
    elif status == "canceled":
        order["canceled_at"] = at
        order["cancellation_reason"] = reason
    elif status == "delivered":
        order["delivered_at"] = at
        order["delivery_details"] = _deliveries(order, at, product)
        order["certificate"] = f"https://climate.stripe.com/certificates/{order['id']}"


def _deliveries(order: Json, at: int, product: Json) -> list[Json]:
    """Split an order's tons into one delivery per supplier (up to three), in thousandths."""
    rng = random.Random(order["id"])
    milli = tons_to_milli(order["metric_tons"])
    suppliers = rng.sample(product["suppliers"], k=min(len(product["suppliers"]), 3, milli))
    cuts = sorted(rng.sample(range(1, milli), k=len(suppliers) - 1))
    shares = [b - a for a, b in zip([0, *cuts], [*cuts, milli], strict=True)]
    return [
        {
            "delivered_at": at - index * 86_400 * rng.randint(3, 20),
            "location": supplier["locations"][0],
            "metric_tons": milli_to_tons(share),
            "registry_url": f"https://registry.isometric.com/removal/{new_id(rng, '')}",
            "supplier": supplier,
        }
        for index, (supplier, share) in enumerate(zip(suppliers, shares, strict=True))
    ]


class Dataset:
    """Every object of a demo account, in Stripe's wire format, keyed by object type.

    Parameters
    ----------
    objects
        Lists of Stripe objects keyed by object type (``"tax.transaction"``).
    parents
        Line item id -> id of the tax transaction or tax calculation that owns it.
    connected
        A platform's connected accounts (``acct_...``) -> their own data (`finlab.demo.platform`).
    """

    def __init__(
        self,
        objects: dict[str, list[Json]] | None = None,
        parents: dict[str, str] | None = None,
        connected: dict[str, Dataset] | None = None,
    ):
        self.objects: dict[str, list[Json]] = {} if objects is None else objects
        self.parents: dict[str, str] = {} if parents is None else parents
        self.connected: dict[str, Dataset] = {} if connected is None else connected
        #: Bumped by every change; servers rebuild their indexes when it moves.
        self.version = 0

    def __getitem__(self, object_type: str) -> list[Json]:
        return self.objects.setdefault(object_type, [])

    def counts(self) -> dict[str, int]:
        """Return the number of objects of each type."""
        return {object_type: len(objects) for object_type, objects in sorted(self.objects.items())}

    def find(self, object_type: str, object_id: str) -> Json:
        """Return the object of ``object_type`` with id ``object_id``.

        Raises
        ------
        KeyError
            If there is no such object.
        """
        for candidate in self[object_type]:
            if candidate["id"] == object_id:
                return candidate
        msg = f"No {object_type} with id {object_id!r} in this dataset."
        raise KeyError(msg)

    def touch(self) -> None:
        """Record a change made directly to ``objects`` so servers re-index."""
        self.version += 1

    def add_transactions(self, account: str, n: int, now: datetime, *, status: str = "pending") -> list[Json]:
        """Add ``n`` card transactions to ``account``, seen by a new refresh at ``now``.

        They fall between the account's latest transaction and ``now``; ``status`` is
        ``"pending"`` (fresh card spend, as Stripe first reports it) or ``"posted"``.
        """
        if status not in {"pending", "posted"}:
            msg = f"New transactions are 'pending' or 'posted', not {status!r}."
            raise ValueError(msg)
        holder, at = self.find(ACCOUNT, account), timestamp(now)
        mine = [txn for txn in self[TRANSACTION] if txn["account"] == account]
        latest = max((txn["transacted_at"] for txn in mine), default=at - 86_400)
        rng = random.Random(f"add:{account}:{len(mine)}:{at}")
        refresh = self._refresh(holder, at)
        added = []
        for _ in range(n):
            description, median = rng.choice(_NEW_CARD_SPEND)
            added.append(
                fc_transaction(
                    rng,
                    account=account,
                    currency=account_currency(holder),
                    amount=-max(100, round(median * rng.lognormvariate(0, 0.5))),
                    description=description,
                    transacted_at=rng.randint(min(latest + 1, at), at),
                    posted_at=at if status == "posted" else None,
                    void_at=None,
                    refresh=refresh,
                    updated=at,
                )
            )
        self[TRANSACTION].extend(added)
        self._rebalance(holder, at)
        return added

    def post_pending(self, account: str, now: datetime, ids: Iterable[str] | None = None) -> list[Json]:
        """Post the pending transactions of ``account`` (all, or those in ``ids``) at ``now``."""
        return self._settle(account, now, ids, "posted_at")

    def void(self, account: str, ids: Iterable[str], now: datetime) -> list[Json]:
        """Void the pending transactions ``ids`` of ``account`` at ``now``."""
        return self._settle(account, now, ids, "void_at")

    def add_climate_order(
        self, now: datetime, *, product: str | None = None, metric_tons: str = "1.000", currency: str = "usd"
    ) -> Json:
        """Place an ``open`` climate order at ``now`` (``product`` defaults to the first product)."""
        chosen = self.find(PRODUCT, product) if product else self[PRODUCT][0]
        orders = self[ORDER]
        beneficiary = orders[0]["beneficiary"]["public_name"] if orders else "finlab demo"
        order = climate_order(
            random.Random(f"order:{len(orders)}:{timestamp(now)}"),
            product=chosen,
            metric_tons=metric_tons,
            currency=currency,
            created=timestamp(now),
            beneficiary=beneficiary,
        )
        orders.append(order)
        self.touch()
        return order

    def set_order_status(
        self, order_id: str, status: str, now: datetime, *, reason: str = "requested"
    ) -> Json:
        """Move a climate order to ``status`` at ``now`` (``reason`` applies to cancellations)."""
        order = self.find(ORDER, order_id)
        advance_order(
            order, status, timestamp(now), product=self.find(PRODUCT, order["product"]), reason=reason
        )
        self.touch()
        return order

    def _settle(self, account: str, now: datetime, ids: Iterable[str] | None, field: str) -> list[Json]:
        """Post (``field="posted_at"``) or void pending transactions in one new refresh."""
        holder, at = self.find(ACCOUNT, account), timestamp(now)
        wanted = None if ids is None else set(ids)
        targets = [
            txn
            for txn in self[TRANSACTION]
            if txn["account"] == account
            and txn["status"] == "pending"
            and (wanted is None or txn["id"] in wanted)
        ]
        if wanted is not None and len(targets) != len(wanted):
            missing = sorted(wanted - {txn["id"] for txn in targets})
            msg = f"Not pending transactions of {account}: {missing}."
            raise ValueError(msg)
        refresh = self._refresh(holder, at)
        for txn in targets:
            txn["status"] = "posted" if field == "posted_at" else "void"
            txn["status_transitions"] = {**txn["status_transitions"], field: at}
            txn["transaction_refresh"], txn["updated"] = refresh, at
        self._rebalance(holder, at)
        return targets

    def _refresh(self, account: Json, at: int) -> str:
        """Start a transaction refresh of ``account`` that sorts after every existing one."""
        seq = 1 + max(
            (
                refresh_seq(other["transaction_refresh"]["id"])
                for other in self[ACCOUNT]
                if other["transaction_refresh"]
            ),
            default=0,
        )
        refresh = refresh_id(random.Random(f"refresh:{seq}"), seq)
        account["transaction_refresh"] = {
            "id": refresh,
            "last_attempted_at": at,
            "next_refresh_available_at": at + 3_600,
            "status": "succeeded",
        }
        return refresh

    def _rebalance(self, account: Json, at: int) -> None:
        """Refresh the balance at ``at``: add what posted since the last ``as_of``, recompute pending."""
        currency, since = account_currency(account), account["balance"]["as_of"]
        mine = [txn for txn in self[TRANSACTION] if txn["account"] == account["id"]]
        pending = sum(txn["amount"] for txn in mine if txn["status"] == "pending")
        posted = sum(
            txn["amount"]
            for txn in mine
            if txn["status"] == "posted" and since < txn["status_transitions"]["posted_at"] <= at
        )
        current = account["balance"]["current"][currency] + posted
        account["balance"] = fc_balance(currency, current, pending, at)
        account["balance_refresh"] = {
            "last_attempted_at": at,
            "next_refresh_available_at": at + 3_600,
            "status": "succeeded",
        }
        self.touch()


def dumps(dataset: Dataset) -> dict[str, str]:
    """Return file name -> text: one compact, key-sorted JSON line per object, plus parents."""
    files = {
        f"{object_type}.jsonl": "".join(
            json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n" for obj in objects
        )
        for object_type, objects in sorted(dataset.objects.items())
    }
    files[PARENTS_FILE] = json.dumps(dataset.parents, sort_keys=True, separators=(",", ":")) + "\n"
    if dataset.connected:
        files[CONNECTED_FILE] = "".join(
            json.dumps({"id": account, "objects": data.objects, "parents": data.parents}, **_COMPACT) + "\n"
            for account, data in dataset.connected.items()
        )
    return files


_COMPACT: dict[str, Any] = {"sort_keys": True, "separators": (",", ":")}


def loads(files: dict[str, str]) -> Dataset:
    """Return the `Dataset` held in ``files`` (the inverse of `dumps`)."""
    objects = {
        name.removesuffix(".jsonl"): [json.loads(line) for line in text.splitlines()]
        for name, text in sorted(files.items())
        if name.endswith(".jsonl")
    }
    connected = {}
    for line in files.get(CONNECTED_FILE, "").splitlines():
        account = json.loads(line)
        connected[account["id"]] = Dataset(account["objects"], account["parents"])
    return Dataset(objects, json.loads(files.get(PARENTS_FILE, "{}")), connected)


def write(dataset: Dataset, directory: Path) -> list[Path]:
    """Write ``dataset`` to ``directory`` as ``<object type>.jsonl`` files; return the paths.

    JSON-lines files of object types the dataset no longer has are removed.
    """
    directory.mkdir(parents=True, exist_ok=True)
    files = dumps(dataset)
    for stale in directory.glob("*.jsonl"):
        if stale.name not in files:
            stale.unlink()
    paths = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def load(directory: Path) -> Dataset:
    """Read a dataset written by `write`."""
    return loads(_read(directory))


def default_dataset() -> Dataset:
    """Return a fresh, private copy of the bundled demo account.

    The repository's ``data/`` directory is read once (without it, the account is generated in
    memory once) and kept as a `marshal` snapshot. Every call unpacks the snapshot again (about
    0.1 s), so each caller gets an independent deep copy it may mutate freely.
    """
    objects, parents, connected = marshal.loads(_snapshot())
    return Dataset(objects, parents, {account: Dataset(*data) for account, data in connected.items()})


@functools.cache
def _snapshot() -> bytes:
    """Return the bundled dataset (read from ``data/`` or generated) as a `marshal` snapshot."""
    if any(DATA_DIR.glob("*.jsonl")):
        dataset = load(DATA_DIR)
    else:
        from finlab.demo.generator import generate  # imported here: the generator imports this module

        dataset = generate()
    connected = {account: (data.objects, data.parents) for account, data in dataset.connected.items()}
    return marshal.dumps((dataset.objects, dataset.parents, connected))


def _read(directory: Path) -> dict[str, str]:
    """Return the text of a dataset directory's files by name."""
    names = [*sorted(directory.glob("*.jsonl")), directory / PARENTS_FILE, directory / CONNECTED_FILE]
    return {path.name: path.read_text(encoding="utf-8") for path in names if path.exists()}
