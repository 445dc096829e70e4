"""Stripe Tax: registrations, transactions with reversals, line items, associations, calculations.

The cases an analyst files by are here on purpose, each as Stripe defines the fields:

- inclusive and exclusive lines in every currency (an inclusive line's ``amount`` includes its tax);
- reversals that post (``posted_at``) days to weeks after their original, keeping its ``tax_date``,
  some of them in a later month, quarter and year, some partial, and one four months later;
- originals posted after their tax date (invoices paid late), across month ends;
- overlapping registrations: Germany's standard registration and the non-Union OSS one in Ireland
  both cover German consumers (the OSS one files them);
- Bahrain's VAT in BHD, a three-decimal currency;
- shipping costs (with their own tax) on orders that ship a welcome kit, and line-item metadata.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal

from finlab.demo.clock import DAY, Calendar, weekday_after
from finlab.demo.dataset import (
    Json,
    new_id,
)


@dataclass(frozen=True)
class Remittance:
    """Sales tax or VAT collected in one quarter, paid to ``authority`` on ``due``."""

    due: date
    authority: str
    currency: str
    amount: int


@dataclass(frozen=True)
class _Place:
    """A tax jurisdiction customers live in, with cities and their combined rates."""

    country: str
    state: str | None
    name: str
    currency: str
    tax_type: str
    weight: int
    cities: tuple[tuple[str, str, str], ...]  # (city, postal code, rate as a decimal string)

    @property
    def key(self) -> str:
        return f"{self.country}-{self.state}" if self.state else self.country


_PLACES = (
    _Place(
        "US",
        "CA",
        "California",
        "usd",
        "sales_tax",
        22,
        (
            ("San Francisco", "94107", "0.08625"),
            ("Los Angeles", "90012", "0.095"),
            ("San Diego", "92101", "0.0775"),
        ),
    ),
    _Place(
        "US",
        "NY",
        "New York",
        "usd",
        "sales_tax",
        14,
        (("New York", "10001", "0.08875"), ("Brooklyn", "11201", "0.08875"), ("Buffalo", "14202", "0.0875")),
    ),
    _Place(
        "US",
        "TX",
        "Texas",
        "usd",
        "sales_tax",
        10,
        (("Austin", "78701", "0.0825"), ("Dallas", "75201", "0.0825"), ("Houston", "77002", "0.0825")),
    ),
    _Place(
        "US",
        "WA",
        "Washington",
        "usd",
        "sales_tax",
        6,
        (("Seattle", "98101", "0.1035"), ("Bellevue", "98004", "0.102")),
    ),
    _Place(
        "DE",
        None,
        "Germany",
        "eur",
        "vat",
        12,
        (("Berlin", "10115", "0.19"), ("Munich", "80331", "0.19"), ("Hamburg", "20095", "0.19")),
    ),
    _Place("FR", None, "France", "eur", "vat", 8, (("Paris", "75002", "0.20"), ("Lyon", "69002", "0.20"))),
    _Place(
        "NL",
        None,
        "Netherlands",
        "eur",
        "vat",
        6,
        (("Amsterdam", "1012 JS", "0.21"), ("Rotterdam", "3011 AD", "0.21")),
    ),
    _Place(
        "IE", None, "Ireland", "eur", "vat", 4, (("Dublin", "D02 X285", "0.23"), ("Cork", "T12 W8CY", "0.23"))
    ),
    _Place(
        "GB",
        None,
        "United Kingdom",
        "gbp",
        "vat",
        10,
        (("London", "EC2A 4NE", "0.20"), ("Manchester", "M1 1AE", "0.20")),
    ),
    _Place(
        "JP", None, "Japan", "jpy", "jct", 8, (("Tokyo", "100-0005", "0.10"), ("Osaka", "530-0001", "0.10"))
    ),
    _Place("BH", None, "Bahrain", "bhd", "vat", 3, (("Manama", "317", "0.10"), ("Muharraq", "217", "0.10"))),
)
_EU = frozenset({"DE", "FR", "NL", "IE"})
_TAX_NAMES = {"sales_tax": "Sales Tax", "vat": "VAT", "jct": "JCT"}
_AUTHORITIES = {
    "US-CA": "CDTFA Sales Tax Payment",
    "US-NY": "NYS DTF Sales Tax",
    "US-TX": "Texas Comptroller Sales Tax",
    "DE": "Revenue Commissioners OSS VAT",  # consumers: the OSS registration takes them
    "FR": "Revenue Commissioners OSS VAT",
    "NL": "Revenue Commissioners OSS VAT",
    "IE": "Revenue Commissioners OSS VAT",
    "GB": "HMRC VAT",
    "JP": "National Tax Agency JCT",
    "BH": "NBR Bahrain VAT",
}
_STANDARD = {"standard": {"place_of_supply_scheme": "standard"}, "type": "standard"}
_REGISTRATIONS: tuple[tuple[str, Json, int, int | None, tuple[str, ...]], ...] = (
    # (country, country_options, active_from and expires_at in days from now, jurisdictions covered)
    ("US", {"us": {"state": "CA", "type": "state_sales_tax"}}, -760, None, ("US-CA",)),
    ("US", {"us": {"state": "NY", "type": "state_sales_tax"}}, -500, None, ("US-NY",)),
    ("US", {"us": {"state": "TX", "type": "state_sales_tax"}}, -700, 45, ("US-TX",)),
    ("US", {"us": {"state": "FL", "type": "state_sales_tax"}}, -900, -400, ("US-FL",)),
    ("US", {"us": {"state": "CO", "type": "state_sales_tax"}}, 30, None, ("US-CO",)),
    ("IE", {"ie": {"type": "oss_non_union"}}, -800, None, ("DE", "FR", "NL", "IE")),
    ("DE", {"de": _STANDARD}, -300, None, ("DE",)),
    ("NL", {"nl": _STANDARD}, -720, -200, ("NL",)),
    ("FR", {"fr": _STANDARD}, 60, None, ("FR",)),
    ("GB", {"gb": _STANDARD}, -790, None, ("GB",)),
    ("JP", {"jp": _STANDARD}, -390, None, ("JP",)),
    ("BH", {"bh": {"type": "standard"}}, -600, None, ("BH",)),
)
_CATALOG = (  # (reference, tax code, unit price by currency, probability on an order); BHD in fils
    (
        "starter_plan",
        "txcd_10103001",
        {"usd": 4_900, "eur": 4_500, "gbp": 3_900, "jpy": 7_000, "bhd": 18_500},
        0.0,
    ),
    (
        "team_plan",
        "txcd_10103001",
        {"usd": 19_900, "eur": 18_500, "gbp": 15_900, "jpy": 29_000, "bhd": 75_000},
        0.0,
    ),
    (
        "business_plan",
        "txcd_10103001",
        {"usd": 59_900, "eur": 55_000, "gbp": 47_900, "jpy": 88_000, "bhd": 226_000},
        0.0,
    ),
    (
        "additional_seat",
        "txcd_10103001",
        {"usd": 1_200, "eur": 1_100, "gbp": 950, "jpy": 1_800, "bhd": 4_500},
        0.4,
    ),
    ("api_usage", "txcd_10000000", {"usd": 8, "eur": 7, "gbp": 6, "jpy": 12, "bhd": 30}, 0.25),
    (
        "onboarding_service",
        "txcd_20030000",
        {"usd": 150_000, "eur": 140_000, "gbp": 120_000, "jpy": 220_000, "bhd": 565_000},
        0.04,
    ),
)
#: Shipping of the welcome kit that comes with onboarding, per currency.
_KIT_SHIPPING = {"usd": 1_500, "eur": 1_400, "gbp": 1_200, "jpy": 2_200, "bhd": 5_650}
_SHIPPING_TAX_CODE = "txcd_92010001"
_LATE_POSTING_RATE = 0.04
_PLAN_WEIGHTS = (45, 35, 20)
_ORIGINALS = 2_100
_REVERSAL_RATE = 0.065
_CALCULATIONS = 50
_COMMITTED_CALCULATIONS = 36


@dataclass(frozen=True)
class _Buyer:
    customer: str | None
    place: _Place
    city: tuple[str, str, str]
    line1: str
    vat_id: str | None  # businesses in the EU and UK buy with a VAT id (reverse charge)

    def details(self) -> Json:
        city, postal_code, _ = self.city
        tax_ids = (
            [{"type": "gb_vat" if self.place.country == "GB" else "eu_vat", "value": self.vat_id}]
            if self.vat_id
            else []
        )
        address = {
            "city": city,
            "country": self.place.country,
            "line1": self.line1,
            "line2": None,
            "postal_code": postal_code,
            "state": self.place.state,
        }
        return {
            "address": address,
            "address_source": "billing",
            "ip_address": None,
            "tax_ids": tax_ids,
            "taxability_override": "none",
        }


@dataclass(frozen=True)
class _Priced:
    """One line of an order: what was sold, its amount and its tax."""

    reference: str
    tax_code: str
    product: str
    quantity: int
    amount: int
    tax: int
    behavior: str
    rate: Decimal
    reason: str

    def scaled(self, share: Decimal) -> _Priced:
        """Return the line reversed: negative amount and tax, times ``share``."""
        return replace(self, amount=-round(self.amount * share), tax=-round(self.tax * share))


@dataclass
class _Sale:
    """A tax transaction with what the generator knows about it (buyer, lines, association)."""

    txn: Json
    buyer: _Buyer
    priced: list[_Priced]
    line_ids: list[str]
    shipping: _Priced | None = None
    association: Json | None = None  # only for originals
    reversed: bool = False


@dataclass
class _Tax:
    """Everything Stripe Tax knows about the demo account."""

    registrations: list[Json]
    sales: list[_Sale] = field(default_factory=list)
    line_items: list[Json] = field(default_factory=list)
    associations: list[Json] = field(default_factory=list)
    calculations: list[Json] = field(default_factory=list)
    calculation_items: list[Json] = field(default_factory=list)
    parents: dict[str, str] = field(default_factory=dict)


def make_tax(rng: random.Random, cal: Calendar) -> _Tax:
    """Return tax registrations, transactions (with reversals), associations and calculations."""
    tax = _Tax(
        [
            _registration(rng, cal, country, options, starts, ends)
            for country, options, starts, ends, _ in _REGISTRATIONS
        ]
    )
    products = {reference: new_id(rng, "prod_") for reference, *_ in _CATALOG}
    buyers = [_buyer(rng, with_customer=True) for _ in range(420)]
    days = [day for day in cal.days if cal.at(day, 23) < cal.end - 3_600]
    weights = [cal.growth(cal.at(day, 12)) * (1.3 if day.month == 12 else 1.0) for day in days]
    moments = sorted(
        cal.at(day, rng.uniform(7, 23)) for day in rng.choices(days, weights=weights, k=_ORIGINALS)
    )
    last = cal.end - 3_600
    for number, moment in enumerate(moments, start=1):
        buyer = rng.choice(buyers) if rng.random() < 0.85 else _buyer(rng, with_customer=False)
        reference = f"INV-{datetime.fromtimestamp(moment, UTC).year}-{number:06d}"
        posted = moment
        if rng.random() < _LATE_POSTING_RATE:  # an invoice paid late: liability posts after its tax date
            posted = min(moment + rng.randint(1, 20) * DAY + rng.randint(0, 3_600), last)
        priced = _order(rng, buyer, moment, products, cal.end)
        sale = _record(rng, tax, buyer, priced, (moment, posted), reference, None, _shipping(buyer, priced))
        sale.association = _association(rng, sale.txn["id"])
        tax.associations.append(sale.association)
        if posted < cal.end - 5 * DAY and rng.random() < _REVERSAL_RATE:
            _reverse(rng, tax, sale, min(posted + rng.randint(2, 45) * DAY, last))
    _reverse_across_years(rng, tax, last)
    _reverse_months_later(tax, last)
    tax.associations += [_errored_association(rng) for _ in range(12)]
    _calculations(rng, tax, cal, buyers, products)
    return tax


def _registration(
    rng: random.Random, cal: Calendar, country: str, options: Json, starts: int, ends: int | None
) -> Json:
    """Return a registration active from ``starts`` days after now until ``ends`` (None: forever)."""
    active_from = cal.end + starts * DAY
    expires_at = None if ends is None else cal.end + ends * DAY
    if active_from > cal.end:
        status = "scheduled"
    elif expires_at is not None and expires_at <= cal.end:
        status = "expired"
    else:
        status = "active"
    return {
        "active_from": active_from,
        "country": country,
        "country_options": options,
        "created": min(active_from - 14 * DAY, cal.end - 10 * DAY),
        "expires_at": expires_at,
        "id": new_id(rng, "taxreg_"),
        "livemode": False,
        "object": "tax.registration",
        "status": status,
    }


def _collecting(place: _Place, moment: int, end: int) -> bool:
    """Whether an active registration covers ``place`` at ``moment``."""
    for _, _, starts, ends, covers in _REGISTRATIONS:
        expires = float("inf") if ends is None else end + ends * DAY
        if place.key in covers and end + starts * DAY <= moment < expires:
            return True
    return False


def _buyer(rng: random.Random, *, with_customer: bool) -> _Buyer:
    place = rng.choices(_PLACES, weights=[place.weight for place in _PLACES])[0]
    business = place.country in _EU | {"GB"} and rng.random() < 0.3
    vat_id = f"{place.country}{rng.randrange(10**8, 10**9)}" if business else None
    line1 = (
        f"{rng.randint(1, 999)} {rng.choice(('Market', 'Main', 'Harbor', 'Station', 'Park', 'Mill'))} Street"
    )
    return _Buyer(
        new_id(rng, "cus_") if with_customer else None, place, rng.choice(place.cities), line1, vat_id
    )


def _order(
    rng: random.Random, buyer: _Buyer, moment: int, products: dict[str, str], end: int
) -> list[_Priced]:
    """Return the priced lines of one order: a plan plus optional seats, usage and onboarding."""
    place = buyer.place
    chosen = [(rng.choices(_CATALOG[:3], weights=_PLAN_WEIGHTS)[0], 1)]
    for item in _CATALOG[3:]:
        if rng.random() < item[3]:
            quantity = {"additional_seat": rng.randint(1, 25), "api_usage": rng.randint(10, 5_000)}.get(
                item[0], 1
            )
            chosen.append((item, quantity))
    inclusive = buyer.vat_id is None and rng.random() < (0.08 if place.country == "US" else 0.7)
    if buyer.vat_id:
        rate, reason = Decimal(0), "reverse_charge"
    elif _collecting(place, moment, end):
        rate, reason = Decimal(buyer.city[2]), "standard_rated"
    else:
        rate, reason = Decimal(0), "not_collecting"
    lines = []
    for (reference, tax_code, prices, _), quantity in chosen:
        amount = prices[place.currency] * quantity
        tax = round(amount * rate / (1 + rate)) if inclusive else round(amount * rate)
        behavior = "inclusive" if inclusive else "exclusive"
        lines.append(
            _Priced(reference, tax_code, products[reference], quantity, amount, tax, behavior, rate, reason)
        )
    return lines


def _shipping(buyer: _Buyer, priced: list[_Priced]) -> _Priced | None:
    """The welcome kit's shipping, taxed like the order, when the order includes onboarding."""
    if not any(line.reference == "onboarding_service" for line in priced):
        return None
    line, amount = priced[0], _KIT_SHIPPING[buyer.place.currency]
    rate, inclusive = line.rate, line.behavior == "inclusive"
    tax = round(amount * rate / (1 + rate)) if inclusive else round(amount * rate)
    return replace(
        line, reference="shipping", tax_code=_SHIPPING_TAX_CODE, quantity=1, amount=amount, tax=tax
    )


def _metadata(line: _Priced, index: int) -> Json | None:
    """Line-item metadata an integration might set: the billing interval of plans, the seat source."""
    if line.reference.endswith("_plan"):
        return {"billing_interval": "year" if index % 5 == 0 else "month"}
    if line.reference == "additional_seat":
        return {"seats_added_by": "admin_console"}
    return None


def _record(
    rng: random.Random,
    tax: _Tax,
    buyer: _Buyer,
    priced: list[_Priced],
    dates: tuple[int, int],
    reference: str,
    reversal: tuple[_Sale, list[int]] | None,
    shipping: _Priced | None = None,
) -> _Sale:
    """Add a tax transaction and its line items; ``reversal`` = (original sale, its lines reversed).

    ``dates`` = (tax date, posted at) of an original; a reversal keeps its original's tax date.
    """
    tax_date, posted = dates
    txn_id = new_id(rng, "tax_")
    line_ids = [new_id(rng, "tax_li_") for _ in priced]
    for index, (item_id, line) in enumerate(zip(line_ids, priced, strict=True)):
        tax.parents[item_id] = txn_id
        tax.line_items.append(
            {
                "amount": line.amount,
                "amount_tax": line.tax,
                "id": item_id,
                "livemode": False,
                "metadata": None if reversal else _metadata(line, len(tax.line_items)),
                "object": "tax.transaction_line_item",
                "product": line.product,
                "quantity": line.quantity,
                "reference": line.reference,
                "reversal": {"original_line_item": reversal[0].line_ids[reversal[1][index]]}
                if reversal
                else None,
                "tax_behavior": line.behavior,
                "tax_code": line.tax_code,
                "type": "reversal" if reversal else "transaction",
            }
        )
    txn = {
        "created": posted,
        "currency": buyer.place.currency,
        "customer": buyer.customer,
        "customer_details": buyer.details(),
        "id": txn_id,
        "livemode": False,
        "metadata": None,
        "object": "tax.transaction",
        "posted_at": posted,
        "reference": reference,
        "reversal": {"original_transaction": reversal[0].txn["id"]} if reversal else None,
        "ship_from_details": None,
        "shipping_cost": _shipping_cost(rng, shipping) if shipping else None,
        "tax_date": reversal[0].txn["tax_date"] if reversal else tax_date,
        "type": "reversal" if reversal else "transaction",
    }
    sale = _Sale(txn, buyer, priced, line_ids, shipping)
    tax.sales.append(sale)
    return sale


def _shipping_cost(rng: random.Random, shipping: _Priced) -> Json:
    return {
        "amount": shipping.amount,
        "amount_tax": shipping.tax,
        "shipping_rate": new_id(rng, "shr_"),
        "tax_behavior": shipping.behavior,
        "tax_code": shipping.tax_code,
    }


def _reverse_across_years(rng: random.Random, tax: _Tax, last: int) -> None:
    """Reverse, early in January, two December sales of each year: one in full, one in half.

    Their reversals post in a later month, quarter and year than the sale: the cases a filing by
    tax date books back into a period that may already be filed.
    """
    for year in sorted({datetime.fromtimestamp(s.txn["posted_at"], UTC).year for s in tax.sales})[:-1]:
        late_december = [
            sale
            for sale in tax.sales
            if sale.association
            and not sale.reversed
            and len(sale.priced) == 1
            and datetime.fromtimestamp(sale.txn["posted_at"], UTC) >= datetime(year, 12, 15, tzinfo=UTC)
            and datetime.fromtimestamp(sale.txn["posted_at"], UTC) < datetime(year + 1, 1, 1, tzinfo=UTC)
        ]
        for sale, share in zip(
            rng.sample(late_december, k=min(2, len(late_december))), ("1", "0.5"), strict=False
        ):
            moment = int(datetime(year + 1, 1, rng.randint(5, 20), 11, tzinfo=UTC).timestamp())
            _reverse(rng, tax, sale, min(moment, last), Decimal(share))


def _reverse_months_later(tax: _Tax, last: int) -> None:
    """Refund, on 2026-10-14 (or ``last``), half of a June 2026 sale: four months and a quarter later.

    The refund comes long after the sale, so only a sync that lists refunds finds its reversal. It
    draws from its own generator, so every other object of the account keeps its id, and it posts in
    a quarter whose remittance is not yet due, so the bank account is unchanged.
    """
    moment = min(int(datetime(2026, 10, 14, 10, tzinfo=UTC).timestamp()), last)
    june = [
        sale
        for sale in tax.sales
        if sale.association
        and not sale.reversed
        and sale.buyer.place.key == "US-CA"
        and datetime.fromtimestamp(sale.txn["posted_at"], UTC).strftime("%Y-%m") == "2026-06"
    ]
    if june and moment > june[0].txn["posted_at"]:
        _reverse(random.Random(june[0].txn["id"]), tax, june[0], moment, Decimal("0.5"))


def _reverse(
    rng: random.Random, tax: _Tax, original: _Sale, moment: int, share: Decimal | None = None
) -> None:
    """Reverse ``original`` in full or in part (some of its lines, or a ``share`` of each).

    Without ``share`` the generator picks: all lines, some of them, or half of its only line. A full
    reversal also reverses the shipping.
    """
    picks = list(range(len(original.priced)))
    if share is None:
        share = Decimal(1)
        if rng.random() < 0.45 and len(picks) > 1:
            picks = sorted(rng.sample(picks, k=rng.randint(1, len(picks) - 1)))
        elif rng.random() < 0.45:
            share = Decimal("0.5")
    lines = [original.priced[index].scaled(share) for index in picks]
    full = share == 1 and len(picks) == len(original.priced)
    shipping = original.shipping.scaled(share) if original.shipping and full else None
    reference = f"{original.txn['reference']}-R"
    original.reversed = True
    sale = _record(rng, tax, original.buyer, lines, (moment, moment), reference, (original, picks), shipping)
    assert original.association is not None
    original.association["tax_transaction_attempts"].append(
        {"committed": {"transaction": sale.txn["id"]}, "source": new_id(rng, "re_"), "status": "committed"}
    )


def _association(rng: random.Random, transaction: str) -> Json:
    """Return the association of a new PaymentIntent with its committed ``transaction``."""
    payment_intent = new_id(rng, "pi_")
    return {
        "calculation": new_id(rng, "taxcalc_"),
        "id": new_id(rng, "taxa_"),
        "object": "tax.association",
        "payment_intent": payment_intent,
        "tax_transaction_attempts": [
            {"committed": {"transaction": transaction}, "source": payment_intent, "status": "committed"}
        ],
    }


def _errored_association(rng: random.Random) -> Json:
    """An association whose calculation expired before the payment: no tax transaction."""
    payment_intent = new_id(rng, "pi_")
    return {
        "calculation": new_id(rng, "taxcalc_"),
        "id": new_id(rng, "taxa_"),
        "object": "tax.association",
        "payment_intent": payment_intent,
        "tax_transaction_attempts": [
            {"errored": {"reason": "calculation_expired"}, "source": payment_intent, "status": "errored"}
        ],
    }


def _calculations(
    rng: random.Random, tax: _Tax, cal: Calendar, buyers: list[_Buyer], products: dict[str, str]
) -> None:
    """Add the calculations behind the latest transactions and some abandoned checkouts."""
    for sale in [sale for sale in tax.sales if sale.association][-_COMMITTED_CALCULATIONS:]:
        assert sale.association is not None
        _calculation(rng, tax, sale.association["calculation"], sale.buyer, sale.priced, sale.txn["tax_date"])
    for _ in range(_CALCULATIONS - _COMMITTED_CALCULATIONS):
        buyer, moment = rng.choice(buyers), cal.end - rng.randint(3_600, 60 * DAY)
        _calculation(
            rng, tax, new_id(rng, "taxcalc_"), buyer, _order(rng, buyer, moment, products, cal.end), moment
        )


def _calculation(
    rng: random.Random, tax: _Tax, calc_id: str, buyer: _Buyer, priced: list[_Priced], moment: int
) -> None:
    place = buyer.place
    breakdown: dict[tuple[Decimal, str, bool], list[int]] = defaultdict(lambda: [0, 0])
    for line in priced:
        item_id = new_id(rng, "tax_li_")
        tax.parents[item_id] = calc_id
        taxable = line.amount - line.tax if line.behavior == "inclusive" else line.amount
        taxable = taxable if line.reason == "standard_rated" else 0
        rate_details = (
            {
                "display_name": _TAX_NAMES[place.tax_type],
                "percentage_decimal": _percent(line.rate),
                "tax_type": place.tax_type,
            }
            if line.reason == "standard_rated"
            else None
        )
        tax.calculation_items.append(
            {
                "amount": line.amount,
                "amount_tax": line.tax,
                "id": item_id,
                "livemode": False,
                "metadata": None,
                "object": "tax.calculation_line_item",
                "product": line.product,
                "quantity": line.quantity,
                "reference": line.reference,
                "tax_behavior": line.behavior,
                "tax_breakdown": [
                    {
                        "amount": line.tax,
                        "jurisdiction": {
                            "country": place.country,
                            "display_name": place.name,
                            "level": "state" if place.state else "country",
                            "state": place.state,
                        },
                        "sourcing": "destination",
                        "tax_rate_details": rate_details,
                        "taxability_reason": line.reason,
                        "taxable_amount": taxable,
                    }
                ],
                "tax_code": line.tax_code,
            }
        )
        totals = breakdown[(line.rate, line.reason, line.behavior == "inclusive")]
        totals[0] += line.tax
        totals[1] += taxable
    exclusive = sum(line.tax for line in priced if line.behavior == "exclusive")
    tax.calculations.append(
        {
            "amount_total": sum(line.amount for line in priced) + exclusive,
            "currency": place.currency,
            "customer": buyer.customer,
            "customer_details": buyer.details(),
            "expires_at": moment + 90 * DAY,
            "id": calc_id,
            "livemode": False,
            "object": "tax.calculation",
            "ship_from_details": None,
            "shipping_cost": None,
            "tax_amount_exclusive": exclusive,
            "tax_amount_inclusive": sum(line.tax for line in priced if line.behavior == "inclusive"),
            "tax_breakdown": [
                {
                    "amount": amount,
                    "inclusive": inclusive,
                    "tax_rate_details": {
                        "country": place.country,
                        "flat_amount": None,
                        "percentage_decimal": _percent(rate),
                        "rate_type": "percentage",
                        "state": place.state,
                        "tax_type": place.tax_type,
                    },
                    "taxability_reason": reason,
                    "taxable_amount": taxable,
                }
                for (rate, reason, inclusive), (amount, taxable) in breakdown.items()
            ],
            "tax_date": moment,
        }
    )


def _percent(rate: Decimal) -> str:
    """Return a rate as Stripe's ``percentage_decimal`` (``Decimal("0.08625")`` -> ``"8.625"``)."""
    text = format((rate * 100).normalize(), "f")
    return text if "." in text else f"{text}.0"


def make_remittances(tax: _Tax, cal: Calendar) -> list[Remittance]:
    """Sum tax by authority and quarter; each quarter is due on the 20th of the next month."""
    owed: dict[tuple[date, str, str], int] = defaultdict(int)
    for sale in tax.sales:
        key = sale.buyer.place.key
        if key not in _AUTHORITIES:
            continue
        posted = datetime.fromtimestamp(sale.txn["posted_at"], UTC)
        month = (posted.month - 1) // 3 * 3 + 4
        due = date(posted.year + (month > 12), (month - 1) % 12 + 1, 20)
        shipped = sale.shipping.tax if sale.shipping else 0
        owed[(due, _AUTHORITIES[key], sale.txn["currency"])] += (
            sum(line.tax for line in sale.priced) + shipped
        )
    last_day = cal.days[-1]
    return [
        Remittance(due, authority, currency, amount)
        for (due, authority, currency), amount in sorted(owed.items())
        if amount > 0 and weekday_after(due) <= last_day
    ]


def city_rates() -> dict[tuple[str, str | None, str], tuple[Decimal, str, str]]:
    """Return (country, state, city) -> (combined rate, place name, tax type) of every demo city."""
    return {
        (place.country, place.state, city): (Decimal(rate), place.name, place.tax_type)
        for place in _PLACES
        for city, _, rate in place.cities
    }


def tax_settings() -> Json:
    return {
        "defaults": {"provider": "stripe", "tax_behavior": "exclusive", "tax_code": "txcd_10103001"},
        "head_office": {
            "address": {
                "city": "San Francisco",
                "country": "US",
                "line1": "510 Townsend Street",
                "line2": None,
                "postal_code": "94103",
                "state": "CA",
            }
        },
        "livemode": False,
        "object": "tax.settings",
        "status": "active",
        "status_details": {"active": {}},
    }
