"""The demo account: determinism, realism, Stripe shapes, persistence and mutation helpers."""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from finlab.demo.dataset import (
    ACCOUNT,
    DATA_DIR,
    TRANSACTION,
    Dataset,
    Json,
    default_dataset,
    dumps,
    load,
    refresh_seq,
    tons_to_milli,
    write,
)
from finlab.demo.generator import DEMO_NOW, generate

NOW = int(DEMO_NOW.timestamp())
DAY = 86_400
ID_PREFIXES = {
    ACCOUNT: "fca_",
    TRANSACTION: "fctxn_",
    "tax.transaction": "tax_",
    "tax.transaction_line_item": "tax_li_",
    "tax.calculation": "taxcalc_",
    "tax.calculation_line_item": "tax_li_",
    "tax.association": "taxa_",
    "tax.registration": "taxreg_",
    "climate.order": "climorder_",
    "identity.verification_session": "vs_",
    "identity.verification_report": "vr_",
    "forwarding.request": "fwdreq_",
    "webhook_endpoint": "we_",
    "crypto.onramp_session": "cos_",
    "payment_intent": "pi_",
    "refund": "re_",
    "reporting.report_run": "frr_",
    "file": "file_",
}
ORDER_STATUSES = {"awaiting_funds", "canceled", "confirmed", "delivered", "open"}
PATHWAYS = {
    "biomass_carbon_removal_and_storage",
    "direct_air_capture",
    "enhanced_weathering",
    "marine_carbon_removal",
}


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate()


def by_id(dataset: Dataset, object_type: str) -> dict[str, Json]:
    return {obj["id"]: obj for obj in dataset[object_type]}


def line_items_of(dataset: Dataset, object_type: str) -> dict[str, list[Json]]:
    items: dict[str, list[Json]] = defaultdict(list)
    for item in dataset[object_type]:
        items[dataset.parents[item["id"]]].append(item)
    return items


# ------------------------------------------------------------------------------ determinism, files


def test_same_arguments_give_identical_bytes() -> None:
    assert dumps(generate(n_transactions=1_500)) == dumps(generate(n_transactions=1_500))


def test_another_seed_gives_other_data() -> None:
    assert dumps(generate(seed=8, n_transactions=1_500)) != dumps(generate(n_transactions=1_500))


def test_committed_data_is_what_the_generator_writes(dataset: Dataset) -> None:
    expected = {name: hashlib.sha256(text.encode()).hexdigest() for name, text in dumps(dataset).items()}
    committed = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in DATA_DIR.iterdir()}
    assert expected == committed


def test_write_then_load_round_trips(tmp_path: Path) -> None:
    small = generate(n_transactions=500)
    write(small, tmp_path)
    loaded = load(tmp_path)
    assert small.objects == loaded.objects
    assert small.parents == loaded.parents


def test_files_are_compact_sorted_json_lines(tmp_path: Path) -> None:
    write(generate(n_transactions=200), tmp_path)
    first = (tmp_path / "climate.order.jsonl").read_text().splitlines()[0]
    assert ": " not in first
    assert first.startswith('{"amount_fees":')


def test_default_dataset_copies_are_independent() -> None:
    first, second = default_dataset(), default_dataset()
    first["climate.order"][0]["status"] = "poisoned"
    first["climate.order"].clear()
    poisoned = "poisoned"
    assert poisoned != second["climate.order"][0]["status"]
    assert default_dataset().counts() == second.counts()


# ----------------------------------------------------------------------------------- shapes, ids


def test_every_resource_is_present(dataset: Dataset) -> None:
    expected = {*ID_PREFIXES, "tax.settings", "climate.product", "climate.supplier", "reporting.report_type"}
    expected.add("account")  # the platform's connected accounts (finlab.demo.platform)
    assert expected == {object_type for object_type, objects in dataset.objects.items() if objects}


@pytest.mark.parametrize(("object_type", "prefix"), ID_PREFIXES.items())
def test_ids_look_like_stripe_ids(dataset: Dataset, object_type: str, prefix: str) -> None:
    pattern = re.compile(re.escape(prefix) + "[0-9A-Za-z]{24}")
    bad = [obj["id"] for obj in dataset[object_type] if not pattern.fullmatch(obj["id"])]
    assert not bad
    assert len(dataset[object_type]) == len({obj["id"] for obj in dataset[object_type]})


def test_nothing_is_live(dataset: Dataset) -> None:
    live = [obj for objects in dataset.objects.values() for obj in objects if obj.get("livemode", False)]
    assert not live


# ---------------------------------------------------------------------------------------- banking


def test_four_accounts_two_usd_one_eur_one_in_a_currency_stripe_does_not_list(dataset: Dataset) -> None:
    currencies = Counter(next(iter(account["balance"]["current"])) for account in dataset[ACCOUNT])
    expected = {"usd": 2, "eur": 1, "xcg": 1}
    assert expected == currencies
    assert {"checking", "savings"} == {account["subcategory"] for account in dataset[ACCOUNT]}


def test_transactions_fill_24_months(dataset: Dataset) -> None:
    transactions = dataset[TRANSACTION]
    expected = 16_000
    assert expected == len(transactions)
    times = [txn["transacted_at"] for txn in transactions]
    assert min(times) >= NOW - 731 * DAY
    assert max(times) < NOW
    assert max(times) - min(times) > 725 * DAY
    assert all(
        isinstance(txn["amount"], int) and isinstance(txn["transacted_at"], int) for txn in transactions
    )


def test_statuses_and_transitions_agree(dataset: Dataset) -> None:
    statuses = Counter(txn["status"] for txn in dataset[TRANSACTION])
    assert 0.005 < statuses["void"] / len(dataset[TRANSACTION]) < 0.02
    for txn in dataset[TRANSACTION]:
        posted, void = txn["status_transitions"]["posted_at"], txn["status_transitions"]["void_at"]
        expected = {"posted": (True, False), "void": (False, True), "pending": (False, False)}[txn["status"]]
        assert expected == (posted is not None, void is not None), txn["id"]
        assert txn["transacted_at"] <= txn["updated"] <= NOW


def test_pending_only_in_the_last_days(dataset: Dataset) -> None:
    pending = [txn["transacted_at"] for txn in dataset[TRANSACTION] if txn["status"] == "pending"]
    assert pending
    assert min(pending) > NOW - 5 * DAY


def test_ties_and_a_2330_utc_transaction_exist(dataset: Dataset) -> None:
    stamps = Counter((txn["account"], txn["transacted_at"]) for txn in dataset[TRANSACTION])
    assert sum(1 for count in stamps.values() if count > 1) >= 5
    late = [
        txn
        for txn in dataset[TRANSACTION]
        if datetime.fromtimestamp(txn["transacted_at"], UTC).time().isoformat() == "23:30:00"
    ]
    assert late


def test_counterparties_are_realistic(dataset: Dataset) -> None:
    descriptions = {txn["description"] for txn in dataset[TRANSACTION]}
    assert {"AWS", "Gusto Payroll", "WeWork Rent", "Stripe Payout"} <= descriptions
    refunds = [txn for txn in dataset[TRANSACTION] if txn["description"].endswith("Refund")]
    assert refunds
    assert all(txn["amount"] > 0 for txn in refunds)


def test_card_spend_follows_weekdays_and_december(dataset: Dataset) -> None:
    per_day: Counter[datetime] = Counter()
    for txn in dataset[TRANSACTION]:
        if txn["amount"] < 0:
            per_day[
                datetime.fromtimestamp(txn["transacted_at"], UTC).replace(hour=0, minute=0, second=0)
            ] += 1
    weekday = [count for day, count in per_day.items() if day.weekday() < 5]
    weekend = [count for day, count in per_day.items() if day.weekday() >= 5]
    assert sum(weekday) / len(weekday) > 1.5 * sum(weekend) / len(weekend)
    by_month: Counter[tuple[int, int]] = Counter()
    for day, count in per_day.items():
        by_month[(day.year, day.month)] += count
    year_2025 = [by_month[(2025, month)] for month in range(1, 13)]
    assert by_month[(2025, 12)] == max(year_2025)


def test_balance_is_opening_plus_posted(dataset: Dataset) -> None:
    for account in dataset[ACCOUNT]:
        currency = next(iter(account["balance"]["current"]))
        mine = sorted(
            (txn for txn in dataset[TRANSACTION] if txn["account"] == account["id"]),
            key=lambda t: t["transacted_at"],
        )
        as_of = account["balance"]["as_of"]
        posted = posted_by_as_of(dataset, account)
        settled = [
            txn["status_transitions"]["posted_at"] or txn["status_transitions"]["void_at"] for txn in mine
        ]
        pending = sum(
            txn["amount"]
            for txn, at in zip(mine, settled, strict=True)
            if txn["transacted_at"] <= as_of and (at is None or at > as_of)
        )
        current = account["balance"]["current"][currency]
        opening = current - posted
        assert opening > 0
        running = opening
        for txn in mine:
            running += txn["amount"] if txn["status"] == "posted" else 0
            assert running > 0
        assert current + pending == account["balance"]["cash"]["available"][currency]
        assert NOW - 2 * DAY < as_of < NOW - 3_600  # refreshed mid-stream, hours before the last refresh


def test_refreshes_sort_and_end_with_the_accounts_latest(dataset: Dataset) -> None:
    for account in dataset[ACCOUNT]:
        latest = account["transaction_refresh"]["id"]
        refreshes = [
            txn["transaction_refresh"] for txn in dataset[TRANSACTION] if txn["account"] == account["id"]
        ]
        assert all(refresh.startswith("fctxnref_") and refresh <= latest for refresh in refreshes)
        assert sorted(refreshes, key=refresh_seq) == sorted(refreshes)


# -------------------------------------------------------------------------------------------- tax


def test_tax_transactions_span_jurisdictions(dataset: Dataset) -> None:
    transactions = dataset["tax.transaction"]
    assert sum(txn["type"] == "transaction" for txn in transactions) >= 2_000
    places = {
        (txn["customer_details"]["address"]["country"], txn["customer_details"]["address"]["state"])
        for txn in transactions
    }
    expected = {
        ("US", "CA"),
        ("US", "NY"),
        ("US", "TX"),
        ("US", "WA"),
        ("DE", None),
        ("FR", None),
        ("NL", None),
        ("IE", None),
        ("GB", None),
        ("JP", None),
        ("BH", None),
    }
    assert expected <= places
    assert {"usd", "eur", "gbp", "jpy", "bhd"} == {txn["currency"] for txn in transactions}
    assert all({"reference", "tax_date", "posted_at", "created"} <= txn.keys() for txn in transactions)
    assert len(transactions) == len({txn["reference"] for txn in transactions})


def test_yen_amounts_are_whole_yen(dataset: Dataset) -> None:
    items = line_items_of(dataset, "tax.transaction_line_item")
    yen = [
        item["amount"]
        for txn in dataset["tax.transaction"]
        if txn["currency"] == "jpy"
        for item in items[txn["id"]]
    ]
    assert yen
    assert min(abs(amount) for amount in yen if amount) >= 100


def test_both_tax_behaviours(dataset: Dataset) -> None:
    assert {"exclusive", "inclusive"} == {
        item["tax_behavior"] for item in dataset["tax.transaction_line_item"]
    }


def test_every_line_item_has_a_parent(dataset: Dataset) -> None:
    transactions, calculations = by_id(dataset, "tax.transaction"), by_id(dataset, "tax.calculation")
    assert all(dataset.parents[item["id"]] in transactions for item in dataset["tax.transaction_line_item"])
    assert all(dataset.parents[item["id"]] in calculations for item in dataset["tax.calculation_line_item"])


def test_full_and_partial_reversals(dataset: Dataset) -> None:
    transactions, items = (
        by_id(dataset, "tax.transaction"),
        line_items_of(dataset, "tax.transaction_line_item"),
    )
    kinds: Counter[str] = Counter()
    for txn in dataset["tax.transaction"]:
        if txn["type"] != "reversal":
            assert txn["reversal"] is None
            continue
        original = transactions[txn["reversal"]["original_transaction"]]
        original_type = "transaction"
        assert original_type == original["type"]
        original_ids = {item["id"] for item in items[original["id"]]}
        assert all(
            item["amount"] < 0 and item["reversal"]["original_line_item"] in original_ids
            for item in items[txn["id"]]
        )
        reversed_total = -sum(item["amount"] for item in items[txn["id"]])
        kinds[
            "full" if reversed_total == sum(item["amount"] for item in items[original["id"]]) else "partial"
        ] += 1
    assert kinds["full"] > 0
    assert kinds["partial"] > 0


def test_associations_find_committed_transactions(dataset: Dataset) -> None:
    transactions = by_id(dataset, "tax.transaction")
    committed = [
        attempt["committed"]["transaction"]
        for association in dataset["tax.association"]
        for attempt in association["tax_transaction_attempts"]
        if attempt["status"] == "committed"
    ]
    assert sorted(transactions) == sorted(committed)
    payment_intents = [association["payment_intent"] for association in dataset["tax.association"]]
    assert len(payment_intents) == len(set(payment_intents))
    assert all(pi.startswith("pi_") for pi in payment_intents)


def test_calculations_have_line_items(dataset: Dataset) -> None:
    assert 40 <= len(dataset["tax.calculation"]) <= 60
    items = line_items_of(dataset, "tax.calculation_line_item")
    for calculation in dataset["tax.calculation"]:
        children = items[calculation["id"]]
        exclusive = sum(item["amount_tax"] for item in children if item["tax_behavior"] == "exclusive")
        assert calculation["amount_total"] == sum(item["amount"] for item in children) + exclusive


def test_registrations(dataset: Dataset) -> None:
    registrations = dataset["tax.registration"]
    assert {"active", "expired", "scheduled"} == {registration["status"] for registration in registrations}
    for registration in registrations:
        expires = registration["expires_at"]
        if registration["active_from"] > NOW:
            expected = "scheduled"
        elif expires is not None and expires <= NOW:
            expected = "expired"
        else:
            expected = "active"
        assert expected == registration["status"]
    expiring = [
        r
        for r in registrations
        if r["status"] == "active" and r["expires_at"] and r["expires_at"] < NOW + 60 * DAY
    ]
    assert expiring
    registered_states = {r["country_options"]["us"]["state"] for r in registrations if r["country"] == "US"}
    sold_states = {
        txn["customer_details"]["address"]["state"]
        for txn in dataset["tax.transaction"]
        if txn["currency"] == "usd"
    }
    assert sold_states - registered_states


def test_tax_settings_is_a_singleton(dataset: Dataset) -> None:
    expected = ["tax.settings"]
    assert expected == [settings["object"] for settings in dataset["tax.settings"]]


# ---------------------------------------------------------------------------------------- climate


def test_climate_catalog(dataset: Dataset) -> None:
    suppliers, products = dataset["climate.supplier"], dataset["climate.product"]
    assert 4 <= len(suppliers) <= 5
    assert 4 <= len(products) <= 5
    assert {supplier["removal_pathway"] for supplier in suppliers} <= PATHWAYS
    known = by_id(dataset, "climate.supplier")
    for product in products:
        assert all(known[supplier["id"]] == supplier for supplier in product["suppliers"])
        assert {"usd", "eur"} == set(product["current_prices_per_metric_ton"])


def test_climate_orders(dataset: Dataset) -> None:
    orders, products = dataset["climate.order"], by_id(dataset, "climate.product")
    assert len(orders) >= 40
    statuses = ORDER_STATUSES
    assert statuses == {order["status"] for order in orders}
    assert {"usd", "eur"} == {order["currency"] for order in orders}
    for order in orders:
        assert re.fullmatch(r"\d+\.\d{3}", order["metric_tons"])
        assert order["amount_subtotal"] + order["amount_fees"] == order["amount_total"]
        assert order["product"] in products
        delivered = sum(tons_to_milli(delivery["metric_tons"]) for delivery in order["delivery_details"])
        assert (tons_to_milli(order["metric_tons"]) if order["status"] == "delivered" else 0) == delivered
        assert (order["status"] == "canceled") == (order["canceled_at"] is not None)


def test_recent_orders_are_the_open_ones(dataset: Dataset) -> None:
    open_orders = [
        order for order in dataset["climate.order"] if order["status"] in {"open", "awaiting_funds"}
    ]
    assert all(order["created"] > NOW - 60 * DAY for order in open_orders)


# ---------------------------------------------------------------------------------- the others


def test_identity_funnel(dataset: Dataset) -> None:
    sessions, reports = (
        by_id(dataset, "identity.verification_session"),
        dataset["identity.verification_report"],
    )
    assert 25 <= len(sessions) <= 35
    assert 15 <= len(reports) <= 25
    assert {"canceled", "processing", "requires_input", "verified"} == {
        s["status"] for s in sessions.values()
    }
    for report in reports:
        assert report["id"] == sessions[report["verification_session"]]["last_verification_report"]


def test_a_few_of_every_other_resource(dataset: Dataset) -> None:
    counts = dataset.counts()
    assert 10 <= counts["forwarding.request"] <= 20
    assert 3 <= counts["webhook_endpoint"] <= 6
    assert 5 <= counts["crypto.onramp_session"] <= 10


def test_onramp_sessions_have_the_preview_shape(dataset: Dataset) -> None:
    keys = {
        "client_secret",
        "created",
        "id",
        "kyc_details_provided",
        "livemode",
        "metadata",
        "object",
        "redirect_url",
        "status",
        "transaction_details",
    }
    assert all(keys == session.keys() for session in dataset["crypto.onramp_session"])


# -------------------------------------------------------------------------------- mutation helpers


@pytest.fixture
def mutable() -> Dataset:
    return default_dataset()


def posted_by_as_of(dataset: Dataset, account: Json) -> int:
    """What had posted by the balance's ``as_of``: all that ``balance.current`` counts (Stripe)."""
    as_of = account["balance"]["as_of"]
    return sum(
        t["amount"]
        for t in dataset[TRANSACTION]
        if t["account"] == account["id"]
        and t["status"] == "posted"
        and t["status_transitions"]["posted_at"] <= as_of
    )


def balance_identity_holds(dataset: Dataset, account: Json, opening: int) -> bool:
    currency = next(iter(account["balance"]["current"]))
    return bool(account["balance"]["current"][currency] == opening + posted_by_as_of(dataset, account))


def opening_balance(dataset: Dataset, account: Json) -> int:
    currency = next(iter(account["balance"]["current"]))
    posted = posted_by_as_of(dataset, account)
    return int(account["balance"]["current"][currency] - posted)


def test_add_then_post_keeps_the_balance_identity(mutable: Dataset) -> None:
    account = mutable[ACCOUNT][0]
    opening, before, version = (
        opening_balance(mutable, account),
        account["transaction_refresh"]["id"],
        mutable.version,
    )
    added = mutable.add_transactions(account["id"], 5, DEMO_NOW + timedelta(hours=1))
    expected = ["pending"] * 5
    assert expected == [txn["status"] for txn in added]
    assert account["transaction_refresh"]["id"] > before
    assert {account["transaction_refresh"]["id"]} == {txn["transaction_refresh"] for txn in added}
    assert mutable.version > version
    posted = mutable.post_pending(account["id"], DEMO_NOW + timedelta(hours=2), [added[0]["id"]])
    assert [added[0]["id"]] == [txn["id"] for txn in posted]
    expected = ("posted", NOW + 7_200)
    assert expected == (added[0]["status"], added[0]["updated"])
    assert balance_identity_holds(mutable, account, opening)


def test_void_only_pending_transactions(mutable: Dataset) -> None:
    account = mutable[ACCOUNT][0]
    posted = next(
        txn for txn in mutable[TRANSACTION] if txn["account"] == account["id"] and txn["status"] == "posted"
    )
    with pytest.raises(ValueError, match="Not pending"):
        mutable.void(account["id"], [posted["id"]], DEMO_NOW)
    added = mutable.add_transactions(account["id"], 1, DEMO_NOW + timedelta(hours=1))
    [voided] = mutable.void(account["id"], [added[0]["id"]], DEMO_NOW + timedelta(hours=3))
    expected = ("void", NOW + 10_800)
    assert expected == (voided["status"], voided["status_transitions"]["void_at"])


def test_climate_order_lifecycle(mutable: Dataset) -> None:
    order = mutable.add_climate_order(DEMO_NOW, metric_tons="2.500", currency="eur")
    expected = ("open", "2.500")
    assert expected == (order["status"], order["metric_tons"])
    mutable.set_order_status(order["id"], "confirmed", DEMO_NOW + timedelta(days=1))
    mutable.set_order_status(order["id"], "delivered", DEMO_NOW + timedelta(days=200))
    assert Decimal("2.500") == sum(Decimal(d["metric_tons"]) for d in order["delivery_details"])
    with pytest.raises(ValueError, match="cannot go from 'delivered' to 'open'"):
        mutable.set_order_status(order["id"], "open", DEMO_NOW + timedelta(days=201))
