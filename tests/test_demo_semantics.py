"""The demo account holds every case an analyst files by, and finlab's numbers match a recomputation.

The recomputation reads ``data/`` as Stripe sends it and applies Stripe's field definitions in plain
Python, sharing no code with ``finlab.analysis``: the taxable base of inclusive lines, the filing
period from ``posted_at``, one registration per line, and balances that count what had posted by
``balance.as_of``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

import finlab
from finlab.analysis.cash_flow import balance_at, cash_flow
from finlab.analysis.tax import filing_summary, tax_liability, tax_lines
from finlab.dashboards import CashFlowDashboard, TaxLiabilityDashboard
from finlab.demo import Dataset, default_dataset
from finlab.money import is_known

Json = dict[str, Any]
EU = set("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split())


@pytest.fixture(scope="module")
def data() -> Dataset:
    return default_dataset()


@pytest.fixture(scope="module")
def stripe() -> finlab.Connection:
    return finlab.connect()


def when(stamp: int) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


def quarter(stamp: int) -> tuple[int, int]:
    moment = when(stamp)
    return moment.year, (moment.month - 1) // 3


def lines_of(data: Dataset) -> list[Json]:
    """Every taxable line, as Stripe defines them: line items plus each transaction's shipping cost."""
    transactions = {txn["id"]: txn for txn in data["tax.transaction"]}
    lines = [
        {**item, "transaction": transactions[data.parents[item["id"]]]}
        for item in data["tax.transaction_line_item"]
    ]
    for txn in transactions.values():
        if txn["shipping_cost"]:
            lines.append({**txn["shipping_cost"], "type": txn["type"], "transaction": txn})
    return lines


def taxable(line: Json) -> int:
    """Stripe: an inclusive line's ``amount`` includes its tax."""
    return line["amount"] - line["amount_tax"] if line["tax_behavior"] == "inclusive" else line["amount"]


# -- the demo account contains every case --------------------------------------------------------


def test_inclusive_and_exclusive_lines_in_every_tax_currency(data: Dataset) -> None:
    behaviors = defaultdict(set)
    for line in lines_of(data):
        behaviors[line["transaction"]["currency"]].add(line["tax_behavior"])
    assert {"usd", "eur", "gbp", "jpy", "bhd"} == set(behaviors)
    assert all({"inclusive", "exclusive"} == found for found in behaviors.values())


def test_reversals_post_in_a_later_month_quarter_and_year_some_partial(data: Dataset) -> None:
    transactions = {txn["id"]: txn for txn in data["tax.transaction"]}
    reversals = [txn for txn in transactions.values() if txn["type"] == "reversal"]
    originals = [transactions[txn["reversal"]["original_transaction"]] for txn in reversals]
    pairs = list(zip(originals, reversals, strict=True))

    assert all(r["tax_date"] == o["tax_date"] and r["posted_at"] > o["posted_at"] for o, r in pairs)
    assert any(when(r["posted_at"]).month != when(o["posted_at"]).month for o, r in pairs)
    assert any(quarter(r["posted_at"]) != quarter(o["posted_at"]) for o, r in pairs)
    assert any(when(r["posted_at"]).year > when(o["posted_at"]).year for o, r in pairs)
    lines = lines_of(data)
    reversed_tax = defaultdict(int)
    for line in lines:
        if line["type"] == "reversal":
            reversed_tax[line["transaction"]["reversal"]["original_transaction"]] += line["amount_tax"]
    collected = defaultdict(int)
    for line in lines:
        if line["type"] == "transaction":
            collected[line["transaction"]["id"]] += line["amount_tax"]
    partial = [tid for tid, tax in reversed_tax.items() if tax != 0 and -tax < collected[tid]]
    assert partial


def test_originals_posted_after_their_tax_date_across_a_month_end(data: Dataset) -> None:
    late = [
        txn
        for txn in data["tax.transaction"]
        if txn["type"] == "transaction" and when(txn["posted_at"]).month != when(txn["tax_date"]).month
    ]
    assert late


def test_a_standard_and_an_oss_registration_cover_the_same_country_at_once(data: Dataset) -> None:
    registrations = data["tax.registration"]
    oss = [r for r in registrations if next(iter(r["country_options"].values()))["type"].startswith("oss")]
    standard_eu = [
        r
        for r in registrations
        if r["country"] in EU and next(iter(r["country_options"].values()))["type"] == "standard"
    ]
    overlapping = [
        (o, s)
        for o in oss
        for s in standard_eu
        if max(o["active_from"], s["active_from"]) < min(o["expires_at"] or 2**40, s["expires_at"] or 2**40)
    ]
    assert overlapping


def test_balances_were_refreshed_mid_stream(data: Dataset) -> None:
    cases = Counter()
    for account in data["financial_connections.account"]:
        as_of = account["balance"]["as_of"]
        for txn in data["financial_connections.transaction"]:
            if txn["account"] != account["id"] or txn["transacted_at"] > as_of:
                continue
            posted, void = txn["status_transitions"]["posted_at"], txn["status_transitions"]["void_at"]
            cases["posted after as_of"] += bool(posted and posted > as_of)
            cases["voided after as_of"] += bool(void and void > as_of)
            cases["still pending"] += txn["status"] == "pending"
    assert all(cases[name] > 0 for name in ("posted after as_of", "voided after as_of", "still pending"))


def test_a_currency_outside_the_table_and_a_three_decimal_one(data: Dataset) -> None:
    fc = {txn["currency"] for txn in data["financial_connections.transaction"]}
    tax = {txn["currency"] for txn in data["tax.transaction"]}
    assert [code for code in sorted(fc | tax) if not is_known(code)] == ["xcg"]
    assert "bhd" in tax


def test_fields_null_in_every_row_before_have_values(data: Dataset) -> None:
    assert any(txn["shipping_cost"] for txn in data["tax.transaction"])
    assert any(item["metadata"] for item in data["tax.transaction_line_item"])
    assert any(order["product_substituted_at"] for order in data["climate.order"])
    assert {"processing", "redacted", "validated"} == {
        s["redaction"]["status"] for s in data["identity.verification_session"] if s["redaction"]
    }
    reports = data["identity.verification_report"]
    assert {"verified"} <= {r["email"]["status"] for r in reports if r.get("email")}
    assert {"verified", "unverified"} == {r["phone"]["status"] for r in reports if r.get("phone")}


# -- finlab agrees with the recomputation ----------------------------------------------------------


@pytest.fixture(scope="module")
def lines(stripe: finlab.Connection) -> pl.DataFrame:
    return tax_lines(stripe.tax_line_items(), stripe.tax_transactions())


def test_taxable_amount_and_liability_per_quarter_by_posting_date(data: Dataset, lines: pl.DataFrame) -> None:
    expected_base: Counter[str] = Counter()
    expected_tax: Counter[tuple[str, tuple[int, int]]] = Counter()
    for line in lines_of(data):
        currency = line["transaction"]["currency"]
        expected_base[currency] += taxable(line)
        expected_tax[(currency, quarter(line["transaction"]["posted_at"]))] += line["amount_tax"]

    liability = tax_liability(lines, period="quarter")

    got_base = dict(liability.group_by("currency").agg(pl.col("taxable_amount").sum()).rows())
    got_tax = {
        (currency, (start.year, (start.month - 1) // 3)): net
        for currency, start, net in liability.group_by("currency", "period_start")
        .agg(pl.col("net_tax").sum())
        .rows()
    }
    assert dict(expected_base) == got_base
    assert {key: value for key, value in expected_tax.items() if value} == {
        k: v for k, v in got_tax.items() if v
    }


def test_filing_summary_files_each_line_once(
    data: Dataset, lines: pl.DataFrame, stripe: finlab.Connection
) -> None:
    expected = Counter()
    for line in lines_of(data):
        expected[(_registration_of(line, data["tax.registration"]), line["transaction"]["currency"])] += line[
            "amount_tax"
        ]

    summary = filing_summary(lines, stripe.tax_registrations(), period="year")

    got = Counter()
    for registration, currency, net in summary.select("registration", "currency", "net_tax").rows():
        got[(registration, currency)] += net
    assert {k: v for k, v in expected.items() if v} == {k: v for k, v in got.items() if v}


def _registration_of(line: Json, registrations: list[Json]) -> str | None:
    """EU rules: non-Union OSS, then Union OSS outside its own country, then the standard one, then IOSS."""
    txn = line["transaction"]
    address = txn["customer_details"]["address"]
    country, state, moment = address["country"], address["state"], txn["tax_date"]
    business = bool(txn["customer_details"]["tax_ids"])
    ranked = []
    for reg in registrations:
        options = next(iter(reg["country_options"].values()))
        kind = options["type"]
        if not (reg["active_from"] <= moment < (reg["expires_at"] or 2**40)):
            continue
        if kind in {"oss_non_union", "oss_union", "ioss"}:
            covers = (
                country in EU and not business and not (kind == "oss_union" and country == reg["country"])
            )
            rank = {"oss_non_union": 1, "oss_union": 2, "ioss": 4}[kind]
        else:
            covers = reg["country"] == country and (country != "US" or options.get("state") == state)
            rank = 3
        if covers:
            ranked.append((rank, -reg["active_from"], reg["id"]))
    return min(ranked)[2] if ranked else None


def test_balances_count_what_had_posted_by_as_of(data: Dataset, stripe: finlab.Connection) -> None:
    transactions, accounts = stripe.transactions(), stripe.accounts()

    flows = cash_flow(transactions, accounts, period="month")

    for account in data["financial_connections.account"]:
        currency, as_of = next(iter(account["balance"]["current"].items()))[0], account["balance"]["as_of"]
        later = sum(
            txn["amount"]
            for txn in data["financial_connections.transaction"]
            if txn["account"] == account["id"]
            and txn["status"] == "posted"
            and txn["status_transitions"]["posted_at"] > as_of
        )
        mine = flows.filter(pl.col("account") == account["id"]).filter(pl.col("currency") == currency)
        assert account["balance"]["current"][currency] + later == mine["running_balance"][-1]
        at_as_of = balance_at(transactions, accounts, when(as_of)).filter(pl.col("account") == account["id"])
        assert account["balance"]["current"][currency] == at_as_of["balance"].item()


def test_dashboards_show_an_unknown_currency_in_minor_units(stripe: finlab.Connection) -> None:
    dashboard = CashFlowDashboard.from_connection(stripe)

    net = dashboard.kpis["net"]
    assert isinstance(net.money["xcg"], Decimal)
    assert any(line.endswith("XCG (minor units)") for line in net.lines())
    assert any(note.startswith("XCG: finlab does not know") for note in dashboard.notes)
    tax = TaxLiabilityDashboard.from_connection(stripe)
    assert "bhd" in tax.kpis["net_tax"].money
