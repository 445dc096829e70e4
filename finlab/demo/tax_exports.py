"""Stripe Tax's exports of the demo account as CSV: the files behind the demo's tax report runs.

The rows come from the same tax transactions and line items the API serves, so a correct
reconciliation is exact, except for ONE planted difference (`planted`): a sale Stripe Tax recorded
for an invoice paid outside Stripe (``INV-2026-OFFLINE-0001``, New York, March 2026). No
PaymentIntent and no tax association leads to it, and the API side of the demo does not serve it:
the export has it, finlab's liability does not. `finlab.analysis.reconciliation` must find it and
nothing else.

Columns, per report type:

- ``tax.transactions.itemized.2``: Stripe's "Tax report type" page
  (docs.stripe.com/reports/report-types/tax, "Itemized tax transactions"); the metadata columns
  (``invoice_metadata[key]`` and the like) are left out, the demo has none.
- ``tax.itemized_export.1``: the Dashboard's itemized export. Stripe's documentation reachable here
  lists no columns for it; these follow a published warehouse view of Stripe's itemized tax export
  (Mozilla's generated ``stripe_itemized_tax_transactions`` view): the columns above plus the
  customer's city and postal code, ``payment_intent_id``, ``refund_id``, ``tax_behavior`` and ``tax_type``.
- ``tax.summarized_export.1``: no column list found; finlab's assumption is the itemized rows
  summed per place, jurisdiction, tax, rate and currency.

Values: one row per line item and jurisdiction (a US line has state, county and city rows, whose
tax adds up to the line's ``amount_tax``; the county/city split of the combined rate is fictional);
``taxable_amount``, ``non_taxable_amount`` and ``subtotal`` repeat on each row of a line (Stripe:
"you may see several rows with the same line item ID"); money in major units with the currency's
decimals; ``transaction_date`` is when the liability posted (``posted_at``) in the run's timezone,
``tax_date`` its date; ``tax_rate`` a decimal fraction; the filing currency is the transaction's own
(rate 1), as every demo place files in the currency it sells in. A shipping cost is a line with
``line_item_id = "shipping_cost"``.
"""

from __future__ import annotations

import csv
import io
import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from finlab.demo.dataset import Dataset, Json, new_id
from finlab.demo.tax import city_rates
from finlab.money import exponent

ITEMIZED = "tax.transactions.itemized.2"
ITEMIZED_EXPORT = "tax.itemized_export.1"
SUMMARIZED_EXPORT = "tax.summarized_export.1"
_BASE = (
    "id line_item_id type currency transaction_date tax_date country_code state_code "
    "destination_resolved_address_country destination_resolved_address_state "
    "origin_resolved_address_country origin_resolved_address_state customer_tax_id "
    "jurisdiction_level jurisdiction_name tax_name tax_rate taxability taxability_reason tax_code "
    "quantity quantity_decimal subtotal taxable_amount non_taxable_amount tax_amount total "
    "filing_currency filing_exchange_rate filing_taxable_amount filing_non_taxable_amount "
    "filing_tax_amount filing_total"
).split()
_MONEY = ("taxable_amount", "non_taxable_amount", "tax_amount", "total")
COLUMNS: dict[str, tuple[str, ...]] = {
    ITEMIZED: tuple(_BASE),
    ITEMIZED_EXPORT: (
        *_BASE,
        "destination_resolved_address_city",
        "destination_resolved_address_postal_code",
        "payment_intent_id",
        "refund_id",
        "tax_behavior",
        "tax_type",
    ),
    SUMMARIZED_EXPORT: tuple(
        (
            "country_code state_code jurisdiction_level jurisdiction_name tax_name tax_rate currency "
            "filing_currency taxable_amount non_taxable_amount tax_amount total filing_taxable_amount "
            "filing_non_taxable_amount filing_tax_amount filing_total"
        ).split()
    ),
}
_STATE_RATES = {
    "CA": Decimal("0.0725"),
    "NY": Decimal("0.04"),
    "TX": Decimal("0.0625"),
    "WA": Decimal("0.065"),
}
_COUNTIES = {
    "San Francisco": "San Francisco",
    "Los Angeles": "Los Angeles",
    "San Diego": "San Diego",
    "New York": "New York",
    "Brooklyn": "Kings",
    "Buffalo": "Erie",
    "Austin": "Travis",
    "Dallas": "Dallas",
    "Houston": "Harris",
    "Seattle": "King",
    "Bellevue": "King",
}
_TAX_NAMES = {"sales_tax": "Sales Tax", "vat": "VAT", "jct": "JCT"}
_ORIGIN = ("US", "CA")
_RATES = city_rates()
_PLANTED_POSTED = int(datetime(2026, 3, 11, 15, 20, tzinfo=UTC).timestamp())


def planted() -> tuple[Json, list[Json]]:
    """The one sale the export has and the API does not (see the module docstring)."""
    rng = random.Random("finlab-demo:planted")
    txn_id = new_id(rng, "tax_")
    address = {"city": "New York", "country": "US", "line1": "12 Hudson Street", "postal_code": "10001"}
    txn = {
        "currency": "usd",
        "customer_details": {"address": {**address, "line2": None, "state": "NY"}, "tax_ids": []},
        "id": txn_id,
        "posted_at": _PLANTED_POSTED,
        "reference": "INV-2026-OFFLINE-0001",
        "shipping_cost": None,
        "tax_date": _PLANTED_POSTED,
        "type": "transaction",
    }
    line = {
        "amount": 19_900,
        "amount_tax": 1_766,  # 8.875% of 199.00 USD
        "id": new_id(rng, "tax_li_"),
        "quantity": 1,
        "tax_behavior": "exclusive",
        "tax_code": "txcd_10103001",
    }
    return txn, [line]


def export_csv(
    dataset: Dataset,
    report_type: str,
    interval_start: int,
    interval_end: int,
    timezone: str = "Etc/UTC",
    columns: list[str] | None = None,
) -> bytes:
    """Return the CSV of ``report_type`` for liability posted in ``[interval_start, interval_end)``."""
    zone = ZoneInfo(timezone)
    rows = [
        row
        for txn, lines in _transactions(dataset)
        if interval_start <= txn["posted_at"] < interval_end
        for row in _rows(txn, lines, zone)
    ]
    if report_type == SUMMARIZED_EXPORT:
        rows = _summarized(rows)
    header = list(columns or COLUMNS[report_type])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([row.get(name, "") for name in header] for row in rows)
    return out.getvalue().encode()


def _transactions(dataset: Dataset) -> Iterator[tuple[Json, list[Json]]]:
    """Each tax transaction (the planted one too) with its line items, ``intent`` and ``refund`` ids."""
    lines: dict[str, list[Json]] = defaultdict(list)
    for item in dataset["tax.transaction_line_item"]:
        lines[dataset.parents[item["id"]]].append(item)
    sources: dict[str, tuple[str, str | None]] = {}
    for association in dataset["tax.association"]:
        for attempt in association["tax_transaction_attempts"]:
            if attempt["status"] == "committed":
                refund = attempt["source"] if attempt["source"].startswith("re_") else None
                sources[attempt["committed"]["transaction"]] = (association["payment_intent"], refund)
    for txn in dataset["tax.transaction"]:
        intent, refund = sources.get(txn["id"], (None, None))
        yield {**txn, "_intent": intent, "_refund": refund}, lines[txn["id"]]
    txn, extra = planted()
    yield {**txn, "_intent": None, "_refund": None}, extra


def _rows(txn: Json, lines: list[Json], zone: ZoneInfo) -> Iterator[Json]:
    """The export rows of one transaction: one per line item (shipping too) and jurisdiction."""
    address = txn["customer_details"]["address"]
    country, state, city = address["country"], address.get("state"), address["city"]
    rate, place, tax_type = _RATES.get((country, state, city), (Decimal(0), country, "vat"))
    common = _common(txn, zone, tax_type)
    shipping = txn.get("shipping_cost")
    if shipping:
        lines = [*lines, {**shipping, "id": "shipping_cost", "quantity": 1}]
    for line in lines:
        taxed = bool(line["amount_tax"])
        taxable = (
            line["amount"] - line["amount_tax"] if line["tax_behavior"] == "inclusive" else line["amount"]
        )
        reason = (
            "standard_rated"
            if taxed
            else ("reverse_charge" if common["customer_tax_id"] else "not_collecting")
        )
        levels = _levels(country, state, city, place, rate if taxed else Decimal(0))
        for (level, name, share), tax in zip(levels, _split(line["amount_tax"], levels, rate), strict=True):
            amounts = {
                "subtotal": taxable,
                "taxable_amount": taxable if taxed else 0,
                "non_taxable_amount": 0 if taxed else taxable,
                "tax_amount": tax,
                "total": taxable + tax,
            }
            money = {key: _major(value, txn["currency"]) for key, value in amounts.items()}
            yield {
                **common,
                **money,
                **{f"filing_{key}": money[key] for key in _MONEY},
                "line_item_id": line["id"],
                "jurisdiction_level": level,
                "jurisdiction_name": name,
                "tax_rate": str(share),
                "taxability": "taxable" if taxed else "non_taxable",
                "taxability_reason": reason,
                "tax_code": line["tax_code"],
                "tax_behavior": line["tax_behavior"],
                "quantity": line["quantity"],
                "quantity_decimal": str(line["quantity"]),
            }


def _common(txn: Json, zone: ZoneInfo, tax_type: str) -> Json:
    """The columns every row of a transaction shares."""
    details = txn["customer_details"]
    address = details["address"]
    reversal = txn["type"] == "reversal"
    return {
        "id": txn["id"],
        "type": "refund" if reversal else ("payment_intent" if txn["_intent"] else "invoice"),
        "currency": txn["currency"],
        "transaction_date": datetime.fromtimestamp(txn["posted_at"], zone).strftime("%Y-%m-%d %H:%M:%S"),
        "tax_date": datetime.fromtimestamp(txn["tax_date"], zone).strftime("%Y-%m-%d"),
        "country_code": address["country"],
        "state_code": address.get("state") or "",
        "destination_resolved_address_country": address["country"],
        "destination_resolved_address_state": address.get("state") or "",
        "destination_resolved_address_city": address["city"],
        "destination_resolved_address_postal_code": address["postal_code"],
        "origin_resolved_address_country": _ORIGIN[0],
        "origin_resolved_address_state": _ORIGIN[1],
        "customer_tax_id": ";".join(
            f"{tax_id['type']}:{tax_id['value']}" for tax_id in details.get("tax_ids") or []
        ),
        "tax_name": _TAX_NAMES[tax_type],
        "tax_type": tax_type,
        "payment_intent_id": txn["_intent"] or "",
        "refund_id": txn["_refund"] or "",
        "filing_currency": txn["currency"],
        "filing_exchange_rate": "1",
    }


def _levels(
    country: str, state: str | None, city: str, place: str, rate: Decimal
) -> list[tuple[str, str, Decimal]]:
    """The jurisdictions imposing ``rate``: state, county and city in the US, else the country."""
    if country != "US" or state is None:
        return [("country", place, rate)]
    if not rate:
        return [("state", place, rate)]
    state_rate = _STATE_RATES[state]
    county = ((rate - state_rate) / 2).quantize(Decimal("0.00001"))
    return [
        ("state", place, state_rate),
        ("county", f"{_COUNTIES.get(city, city)} County", county),
        ("city", city, rate - state_rate - county),
    ]


def _split(tax: int, levels: list[tuple[str, str, Decimal]], rate: Decimal) -> list[int]:
    """Share ``tax`` between ``levels`` by their rates; the last one takes what rounding leaves."""
    if not rate or len(levels) == 1:
        return [tax] + [0] * (len(levels) - 1)
    shares = [round(tax * share / rate) for _, _, share in levels[:-1]]
    return [*shares, tax - sum(shares)]


def _major(amount: int, currency: str) -> str:
    """Minor units as Stripe's decimal text in major units (``-1234`` USD -> ``"-12.34"``)."""
    places = exponent(currency)
    if not places:
        return str(amount)
    whole, part = divmod(abs(amount), 10**places)
    return f"{'-' if amount < 0 else ''}{whole}.{part:0{places}d}"


def _summarized(rows: list[Json]) -> list[Json]:
    """Itemized rows summed per place, jurisdiction, tax, rate and currency (taxable once per line)."""
    keys = ("country_code", "state_code", "jurisdiction_level", "jurisdiction_name", "tax_name", "tax_rate")
    sums: dict[tuple[str, ...], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in rows:
        group = (*(str(row[key]) for key in keys), row["currency"])
        for key in _MONEY:
            sums[group][key] += Decimal(row[key])
    summary = []
    for group, money in sorted(sums.items()):
        *names, currency = group
        values = {key: f"{money[key]:.{exponent(currency)}f}" for key in _MONEY}
        filing = {f"filing_{key}": value for key, value in values.items()}
        summary.append(
            {
                **dict(zip(keys, names, strict=True)),
                "currency": currency,
                "filing_currency": currency,
                **values,
                **filing,
            }
        )
    return summary
