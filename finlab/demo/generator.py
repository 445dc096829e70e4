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

import bisect
import calendar
import itertools
import json
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from finlab.demo.dataset import (
    ACCOUNT,
    DATA_DIR,
    TRANSACTION,
    Dataset,
    Json,
    advance_order,
    climate_order,
    fc_balance,
    fc_transaction,
    milli_to_tons,
    new_id,
    refresh_id,
    timestamp,
    write,
)

DEMO_NOW = datetime(2026, 11, 1, tzinfo=UTC)
COMPANY = "Northwind Labs"
DAY = 86_400
_HISTORY_DAYS = 730
#: Minutes between the last bank refresh (also the balances' ``as_of``) and ``now``.
_REFRESH_LAG = 20 * 60


# --------------------------------------------------------------------------------------- calendar


@dataclass(frozen=True)
class _Calendar:
    """The 24 months of history before ``end`` and helpers to place events in them."""

    end: int

    @property
    def start(self) -> int:
        return self.end - _HISTORY_DAYS * DAY

    @property
    def cutoff(self) -> int:
        """Time of the last bank refresh; bank lines stop ten minutes before it."""
        return self.end - _REFRESH_LAG

    @property
    def days(self) -> list[date]:
        first = datetime.fromtimestamp(self.start, UTC).date()
        last = datetime.fromtimestamp(self.cutoff - 600, UTC).date()
        return [first + timedelta(days=k) for k in range((last - first).days + 1)]

    def months(self) -> list[tuple[int, int]]:
        return sorted({(day.year, day.month) for day in self.days})

    def at(self, day: date, hour: float) -> int:
        return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() + hour * 3_600)

    def growth(self, moment: int) -> float:
        """Business size at ``moment``: 1.0 two years ago, 1.6 now."""
        return 1 + 0.6 * (moment - self.start) / (self.end - self.start)


def _weekday_before(day: date) -> date:
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def _weekday_after(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _month_day(year: int, month: int, day: int) -> date:
    """Return ``day`` of the month, clamped to its last day (31 -> 28 in February)."""
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


# ---------------------------------------------------------------------------------------- banking


@dataclass(frozen=True)
class _Bank:
    display_name: str
    institution: str
    last4: str
    currency: str
    subcategory: str
    opening: int  # least opening balance, minor units
    cushion: int  # lowest running balance the opening balance must leave


_BANKS = (
    _Bank("Operating Checking", "JPMorgan Chase", "4021", "usd", "checking", 1_800_000_00, 400_000_00),
    _Bank("Treasury Savings", "JPMorgan Chase", "7734", "usd", "savings", 1_500_000_00, 1_000_000_00),
    _Bank("EUR Operating", "Deutsche Bank", "9052", "eur", "checking", 450_000_00, 120_000_00),
)
_OPERATING, _SAVINGS, _EURO = 0, 1, 2

_USD_VENDORS = (  # (payee, day of month, monthly amount in cents, grows with the business)
    ("Gusto", 1, 42_500, True),
    ("AWS", 3, 2_650_000, True),
    ("Google Cloud", 5, 640_000, True),
    ("Datadog", 7, 410_000, True),
    ("Snowflake", 8, 365_000, True),
    ("Salesforce", 10, 298_000, False),
    ("HubSpot", 11, 212_000, False),
    ("Slack", 12, 146_000, True),
    ("GitHub", 12, 91_500, True),
    ("Atlassian", 14, 61_200, True),
    ("Zoom", 16, 38_900, False),
    ("Figma", 18, 45_600, True),
    ("Notion", 20, 24_000, True),
    ("Carta", 25, 28_000, False),
)
_EUR_VENDORS = (
    ("Personio", 2, 64_000, True),
    ("Hetzner Online", 4, 318_000, True),
    ("Mindspace Services", 6, 38_000, False),
    ("Deutsche Telekom", 9, 18_900, False),
    ("DATEV", 15, 9_520, False),
)
_CUSTOMERS = (
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella Health",
    "Stark Logistics",
    "Wayne Enterprises",
    "Hooli",
    "Soylent Foods",
    "Vandelay Imports",
    "Wonka Industries",
    "Cyberdyne Systems",
    "Tyrell Biotech",
)
_EU_CUSTOMERS = ("Kessler Maschinenbau", "Lumen BV", "Atelier Rousseau", "Brightwater Ltd", "Nordwerk AG")
_US_CARDS = (  # (merchant, median amount in cents, log-normal sigma, weight)
    ("Uber", 2_800, 0.5, 10),
    ("Lyft", 2_600, 0.5, 5),
    ("Starbucks", 1_150, 0.35, 9),
    ("Blue Bottle Coffee", 1_400, 0.3, 4),
    ("DoorDash", 6_500, 0.6, 8),
    ("Sweetgreen", 3_800, 0.4, 6),
    ("Chipotle", 2_900, 0.4, 5),
    ("Amazon", 8_900, 1.0, 10),
    ("Costco", 32_000, 0.6, 2),
    ("Office Depot", 7_400, 0.7, 2),
    ("Staples", 5_600, 0.6, 2),
    ("Best Buy", 42_000, 0.8, 1),
    ("Apple", 129_900, 0.5, 1),
    ("FedEx", 4_800, 0.7, 3),
    ("UPS", 3_900, 0.6, 2),
    ("Delta Air Lines", 48_000, 0.5, 3),
    ("United Airlines", 52_000, 0.5, 3),
    ("Marriott", 61_000, 0.5, 2),
    ("Hilton", 58_000, 0.5, 2),
    ("Airbnb", 74_000, 0.6, 1),
    ("Google Ads", 250_000, 0.6, 1),
    ("LinkedIn Ads", 180_000, 0.5, 1),
    ("Meta Ads", 150_000, 0.7, 1),
    ("Eventbrite", 35_000, 0.8, 1),
)
_EU_CARDS = (
    ("Deutsche Bahn", 8_900, 0.6, 6),
    ("Lufthansa", 32_000, 0.5, 2),
    ("REWE", 3_400, 0.6, 5),
    ("Lieferando", 4_200, 0.4, 5),
    ("Amazon.de", 6_900, 0.9, 6),
    ("Bolt", 1_600, 0.4, 5),
    ("FREENOW", 2_200, 0.4, 4),
    ("Einstein Kaffee", 850, 0.3, 5),
    ("MediaMarkt", 29_000, 0.8, 1),
    ("Booking.com", 42_000, 0.5, 2),
    ("Miles Mobility", 1_800, 0.5, 2),
)
_LOCAL_HOURS = (0, 0, 0, 0, 0, 0, 1, 3, 5, 6, 6, 8, 12, 9, 6, 6, 6, 7, 9, 9, 6, 4, 2, 1)
_WEEKDAY_SPEND = (1.1, 1.15, 1.15, 1.1, 1.0, 0.45, 0.35)
_MONTH_SPEND = (0.85, 0.9, 1.0, 1.0, 1.0, 1.05, 0.95, 0.8, 1.05, 1.05, 1.15, 1.5)
_US_SHARE = 0.64
_VOID_RATE = 0.011
_REFUND_EVERY = 70  # one card refund per this many card lines


@dataclass
class _Line:
    """A bank line before it gets an id, a status and a refresh."""

    account: int
    at: int
    amount: int
    description: str
    settles: int = 0  # seconds until it posts (or is voided); card spend settles later
    voided: bool = False


@dataclass(frozen=True)
class _Remittance:
    """Sales tax or VAT collected in one quarter, paid to ``authority`` on ``due``."""

    due: date
    authority: str
    currency: str
    amount: int


def _banking(
    rng: random.Random, cal: _Calendar, n: int, remittances: list[_Remittance]
) -> tuple[list[Json], list[Json]]:
    """Return the three FC accounts and exactly ``n`` transactions across them."""
    holder = new_id(rng, "cus_")
    ids = [new_id(rng, "fca_") for _ in _BANKS]
    lines = [line for line in _recurring(rng, cal, remittances) if cal.start <= line.at <= cal.cutoff - 600]
    if len(lines) > n:
        lines = [lines[i] for i in sorted(rng.sample(range(len(lines)), n))]
    lines += _card_spend(rng, cal, n - len(lines))
    lines.sort(key=lambda line: (line.at, line.account, line.description, line.amount))
    refreshes = _refreshes(rng, cal)
    transactions = [
        _transaction(rng, cal, line, ids[line.account], refreshes[line.account]) for line in lines
    ]
    accounts = [
        _account(
            bank,
            ids[k],
            holder,
            cal,
            refreshes[k][1][-1],
            [t for t in transactions if t["account"] == ids[k]],
        )
        for k, bank in enumerate(_BANKS)
    ]
    return accounts, transactions


def _recurring(rng: random.Random, cal: _Calendar, remittances: list[_Remittance]) -> list[_Line]:
    """Return every scheduled bank line: payouts, receipts, payroll, rent, vendors, transfers, tax."""
    return [
        *_payouts_and_receipts(rng, cal),
        *_payroll(rng, cal),
        *_monthly_bills(rng, cal),
        *_transfers(rng, cal),
        *_tax_payments(cal, remittances),
    ]


def _payouts_and_receipts(rng: random.Random, cal: _Calendar) -> list[_Line]:
    """Stripe payouts every weekday at 23:30 UTC (Mondays carry the weekend) and customer credits."""
    lines = []
    for day in cal.days:
        if day.weekday() >= 5:
            continue
        grow, weekend = cal.growth(cal.at(day, 0)), 1.9 if day.weekday() == 0 else 1.0
        for account, base in ((_OPERATING, 27_000_00), (_EURO, 2_500_00)):
            amount = round(base * grow * weekend * rng.lognormvariate(0, 0.25))
            lines.append(_Line(account, cal.at(day, 23.5), amount, "Stripe Payout"))
        if rng.random() < 0.35:
            amount = round(14_000_00 * grow * rng.lognormvariate(0, 0.6))
            lines.append(_Line(_OPERATING, cal.at(day, 15), amount, f"ACH Credit {rng.choice(_CUSTOMERS)}"))
        if rng.random() < 0.3:
            amount = round(6_500_00 * grow * rng.lognormvariate(0, 0.6))
            lines.append(_Line(_EURO, cal.at(day, 10), amount, f"SEPA Credit {rng.choice(_EU_CUSTOMERS)}"))
    return lines


def _payroll(rng: random.Random, cal: _Calendar) -> list[_Line]:
    """US payroll on the 15th and the last weekday of the month; Berlin on the last weekday."""
    lines = []
    for year, month in cal.months():
        month_end = _weekday_before(_month_day(year, month, 31))
        for day in (_weekday_before(date(year, month, 15)), month_end):
            at, grow = cal.at(day, 13), cal.growth(cal.at(day, 13))
            for payee, base in (
                ("Gusto Payroll", 158_000_00),
                ("Gusto Payroll Taxes", 53_000_00),
                ("Guideline 401(k)", 9_400_00),
            ):
                lines.append(_Line(_OPERATING, at, -round(base * grow * rng.gauss(1, 0.02)), payee))
        at, grow = cal.at(month_end, 9), cal.growth(cal.at(month_end, 9))
        for payee, base in (
            ("Personio Payroll", 61_000_00),
            ("Finanzamt Lohnsteuer", 19_500_00),
            ("Techniker Krankenkasse", 14_200_00),
        ):
            lines.append(_Line(_EURO, at, -round(base * grow * rng.gauss(1, 0.02)), payee))
    return lines


def _monthly_bills(rng: random.Random, cal: _Calendar) -> list[_Line]:
    """Rent, software vendors, bank fees and savings interest."""
    lines = []
    for index, (year, month) in enumerate(cal.months()):
        first = _weekday_after(date(year, month, 1))
        rent = 38_500_00 if index < 12 else 41_200_00
        lines.append(_Line(_OPERATING, cal.at(first, 13), -rent, "WeWork Rent"))
        lines.append(_Line(_EURO, cal.at(first, 8), -14_500_00, "Mindspace Berlin Rent"))
        for account, vendors in ((_OPERATING, _USD_VENDORS), (_EURO, _EUR_VENDORS)):
            for payee, day, base, grows in vendors:
                at = cal.at(_month_day(year, month, day), 13)
                amount = base * (cal.growth(at) if grows else 1) * rng.lognormvariate(0, 0.08)
                lines.append(_Line(account, at, -round(amount), payee))
        last = _month_day(year, month, 31)
        lines.append(_Line(_OPERATING, cal.at(last, 22), -9_500, "Monthly Service Fee"))
        lines.append(_Line(_EURO, cal.at(last, 22), -1_290, "Account Maintenance Fee"))
        interest = round((1_500_000_00 + index * 70_000_00) * 0.041 / 12)
        lines.append(_Line(_SAVINGS, cal.at(last, 12), interest, "Interest Payment"))
    return lines


def _transfers(rng: random.Random, cal: _Calendar) -> list[_Line]:
    """Monthly sweeps to savings and wires to the EUR account; quarterly draws from savings."""
    lines = []
    to_savings = "Online Transfer to Treasury Savings ••7734"
    from_operating = "Online Transfer from Operating Checking ••4021"
    for year, month in cal.months():
        sweep_day = _weekday_after(date(year, month, 2))
        at = cal.at(sweep_day, 14)
        sweep = round(180 * cal.growth(at) * rng.lognormvariate(0, 0.15)) * 100_000  # whole $1,000s
        lines += [_Line(_OPERATING, at, -sweep, to_savings), _Line(_SAVINGS, at, sweep, from_operating)]
        wire_day = _weekday_after(date(year, month, 10))
        at = cal.at(wire_day, 14)
        wire = round(50 * cal.growth(at)) * 100_000
        lines += [
            _Line(_OPERATING, at, -wire, "Wire Transfer to EUR Operating ••9052"),
            _Line(_OPERATING, at, -45_00, "Wire Transfer Fee"),
            _Line(_EURO, at + 7_200, round(wire * 0.92), "Incoming Wire Operating Checking ••4021"),
        ]
        if month % 3 == 0:
            at = cal.at(_weekday_after(date(year, month, 20)), 14)
            lines += [
                _Line(_SAVINGS, at, -350_000_00, "Online Transfer to Operating Checking ••4021"),
                _Line(_OPERATING, at, 350_000_00, "Online Transfer from Treasury Savings ••7734"),
            ]
    return lines


def _tax_payments(cal: _Calendar, remittances: list[_Remittance]) -> list[_Line]:
    """Quarterly sales tax and VAT payments; GBP and JPY liabilities are paid from USD."""
    usd_per = {"usd": 1.0, "gbp": 1.27, "jpy": 0.67}  # cents per minor unit (yen are whole units)
    lines = []
    for due in remittances:
        at = cal.at(_weekday_after(due.due), 15)
        if due.currency == "eur":
            lines.append(_Line(_EURO, at, -due.amount, due.authority))
        else:
            lines.append(_Line(_OPERATING, at, -round(due.amount * usd_per[due.currency]), due.authority))
    return lines


def _card_spend(rng: random.Random, cal: _Calendar, count: int) -> list[_Line]:
    """Return ``count`` card lines: purchases by weekday and season, plus a few refunds."""
    if count <= 0:
        return []
    days = cal.days
    weights = [
        _WEEKDAY_SPEND[day.weekday()] * _MONTH_SPEND[day.month - 1] * cal.growth(cal.at(day, 12))
        for day in days
    ]
    refunds = count // _REFUND_EVERY
    purchases = []
    for day in rng.choices(days, weights=weights, k=count - refunds):
        cards, offset = (_US_CARDS, 8) if rng.random() < _US_SHARE else (_EU_CARDS, -1)
        merchant, median, sigma, _ = rng.choices(cards, weights=[card[3] for card in cards])[0]
        hour = rng.choices(range(24), weights=_LOCAL_HOURS)[0] + offset + rng.randrange(60) / 60
        at = cal.at(day, hour)
        if at > cal.cutoff - 600:
            at -= DAY
        voided = rng.random() < _VOID_RATE
        settles = rng.randint(DAY, 5 * DAY) if voided else rng.randint(20 * 3_600, 3 * DAY)
        amount = -max(50, round(median * rng.lognormvariate(0, sigma)))
        purchases.append(_Line(_OPERATING if offset > 0 else _EURO, at, amount, merchant, settles, voided))
    settled = [line for line in purchases if not line.voided]
    lines = list(purchases)
    for parent in rng.sample(settled, k=min(refunds, len(settled))):
        at = min(parent.at + rng.randint(2, 20) * DAY, cal.cutoff - 600)
        share = 1.0 if rng.random() < 0.7 else rng.uniform(0.2, 0.9)
        settles = rng.randint(DAY, 3 * DAY)
        lines.append(
            _Line(parent.account, at, round(-parent.amount * share), f"{parent.description} Refund", settles)
        )
    return lines


def _refreshes(rng: random.Random, cal: _Calendar) -> list[tuple[list[int], list[str]]]:
    """Return, per account, the times and ids of its refreshes: daily at 06:00 UTC and at cutoff.

    Refresh ids are numbered in time order across all accounts, so later ones sort after.
    """
    times = [cal.at(day, 6) for day in cal.days if cal.at(day, 6) < cal.cutoff] + [cal.cutoff]
    seq = itertools.count(1)
    ids: list[list[str]] = [[] for _ in _BANKS]
    for _, account in itertools.product(times, range(len(_BANKS))):
        ids[account].append(refresh_id(rng, next(seq)))
    return [(times, account_ids) for account_ids in ids]


def _transaction(
    rng: random.Random, cal: _Calendar, line: _Line, account: str, refreshes: tuple[list[int], list[str]]
) -> Json:
    """Return the transaction for ``line``: settled lines posted (or void), recent ones pending."""
    settled = line.at + line.settles
    posted_at = settled if not line.voided and settled <= cal.cutoff else None
    void_at = settled if line.voided and settled <= cal.cutoff else None
    changed = posted_at or void_at or line.at
    times, ids = refreshes
    index = bisect.bisect_left(times, changed)
    return fc_transaction(
        rng,
        account=account,
        currency=_BANKS[line.account].currency,
        amount=line.amount,
        description=line.description,
        transacted_at=line.at,
        posted_at=posted_at,
        void_at=void_at,
        refresh=ids[index],
        updated=times[index],
    )


def _account(
    bank: _Bank, account_id: str, holder: str, cal: _Calendar, refresh: str, transactions: list[Json]
) -> Json:
    """Return an FC account whose current balance is an opening balance plus its posted lines."""
    running, lowest, pending = 0, 0, 0
    for txn in sorted(transactions, key=lambda txn: txn["transacted_at"]):
        if txn["status"] == "posted":
            running += txn["amount"]
            lowest = min(lowest, running)
        elif txn["status"] == "pending":
            pending += txn["amount"]
    opening = max(bank.opening, -(-(bank.cushion - lowest) // 100_000_00) * 100_000_00)
    refreshed = {
        "last_attempted_at": cal.cutoff,
        "next_refresh_available_at": cal.cutoff + 3_600,
        "status": "succeeded",
    }
    return {
        "account_holder": {"customer": holder, "type": "customer"},
        "balance": fc_balance(bank.currency, opening + running, pending, cal.cutoff),
        "balance_refresh": refreshed,
        "category": "cash",
        "created": cal.start - 2 * DAY,
        "display_name": bank.display_name,
        "id": account_id,
        "institution_name": bank.institution,
        "last4": bank.last4,
        "livemode": False,
        "object": ACCOUNT,
        "ownership": None,
        "ownership_refresh": None,
        "permissions": ["balances", "transactions"],
        "status": "active",
        "subcategory": bank.subcategory,
        "subscriptions": ["transactions"],
        "supported_payment_method_types": ["us_bank_account"],
        "transaction_refresh": {"id": refresh, **refreshed},
    }


# -------------------------------------------------------------------------------------------- tax


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
)
_EU = frozenset({"DE", "FR", "NL", "IE"})
_TAX_NAMES = {"sales_tax": "Sales Tax", "vat": "VAT", "jct": "JCT"}
_AUTHORITIES = {
    "US-CA": "CDTFA Sales Tax Payment",
    "US-NY": "NYS DTF Sales Tax",
    "US-TX": "Texas Comptroller Sales Tax",
    "DE": "Finanzamt Berlin VAT",
    "FR": "Revenue Commissioners OSS VAT",
    "NL": "Revenue Commissioners OSS VAT",
    "IE": "Revenue Commissioners OSS VAT",
    "GB": "HMRC VAT",
    "JP": "National Tax Agency JCT",
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
)
_CATALOG = (  # (reference, tax code, unit price by currency, probability on an order)
    ("starter_plan", "txcd_10103001", {"usd": 4_900, "eur": 4_500, "gbp": 3_900, "jpy": 7_000}, 0.0),
    ("team_plan", "txcd_10103001", {"usd": 19_900, "eur": 18_500, "gbp": 15_900, "jpy": 29_000}, 0.0),
    ("business_plan", "txcd_10103001", {"usd": 59_900, "eur": 55_000, "gbp": 47_900, "jpy": 88_000}, 0.0),
    ("additional_seat", "txcd_10103001", {"usd": 1_200, "eur": 1_100, "gbp": 950, "jpy": 1_800}, 0.4),
    ("api_usage", "txcd_10000000", {"usd": 8, "eur": 7, "gbp": 6, "jpy": 12}, 0.25),
    (
        "onboarding_service",
        "txcd_20030000",
        {"usd": 150_000, "eur": 140_000, "gbp": 120_000, "jpy": 220_000},
        0.04,
    ),
)
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
    association: Json | None = None  # only for originals


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


def _tax(rng: random.Random, cal: _Calendar) -> _Tax:
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
    for number, moment in enumerate(moments, start=1):
        buyer = rng.choice(buyers) if rng.random() < 0.85 else _buyer(rng, with_customer=False)
        reference = f"INV-{datetime.fromtimestamp(moment, UTC).year}-{number:06d}"
        sale = _record(
            rng, tax, buyer, _order(rng, buyer, moment, products, cal.end), moment, reference, None
        )
        sale.association = _association(rng, sale.txn["id"])
        tax.associations.append(sale.association)
        if moment < cal.end - 5 * DAY and rng.random() < _REVERSAL_RATE:
            _reverse(rng, tax, sale, min(moment + rng.randint(2, 45) * DAY, cal.end - 3_600))
    tax.associations += [_errored_association(rng) for _ in range(12)]
    _calculations(rng, tax, cal, buyers, products)
    return tax


def _registration(
    rng: random.Random, cal: _Calendar, country: str, options: Json, starts: int, ends: int | None
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


def _record(
    rng: random.Random,
    tax: _Tax,
    buyer: _Buyer,
    priced: list[_Priced],
    moment: int,
    reference: str,
    reversal: tuple[_Sale, list[int]] | None,
) -> _Sale:
    """Add a tax transaction and its line items; ``reversal`` = (original sale, its lines reversed)."""
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
                "metadata": None,
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
        "created": moment,
        "currency": buyer.place.currency,
        "customer": buyer.customer,
        "customer_details": buyer.details(),
        "id": txn_id,
        "livemode": False,
        "metadata": None,
        "object": "tax.transaction",
        "posted_at": moment,
        "reference": reference,
        "reversal": {"original_transaction": reversal[0].txn["id"]} if reversal else None,
        "ship_from_details": None,
        "shipping_cost": None,
        "tax_date": reversal[0].txn["tax_date"] if reversal else moment,
        "type": "reversal" if reversal else "transaction",
    }
    sale = _Sale(txn, buyer, priced, line_ids)
    tax.sales.append(sale)
    return sale


def _reverse(rng: random.Random, tax: _Tax, original: _Sale, moment: int) -> None:
    """Reverse ``original`` in full or in part (some of its lines, or half of its only line)."""
    picks, share = list(range(len(original.priced))), Decimal(1)
    if rng.random() < 0.45 and len(picks) > 1:
        picks = sorted(rng.sample(picks, k=rng.randint(1, len(picks) - 1)))
    elif rng.random() < 0.45:
        share = Decimal("0.5")
    lines = [original.priced[index].scaled(share) for index in picks]
    reference = f"{original.txn['reference']}-R"
    sale = _record(rng, tax, original.buyer, lines, moment, reference, (original, picks))
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
    rng: random.Random, tax: _Tax, cal: _Calendar, buyers: list[_Buyer], products: dict[str, str]
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


def _remittances(tax: _Tax, cal: _Calendar) -> list[_Remittance]:
    """Sum tax by authority and quarter; each quarter is due on the 20th of the next month."""
    owed: dict[tuple[date, str, str], int] = defaultdict(int)
    for sale in tax.sales:
        key = sale.buyer.place.key
        if key not in _AUTHORITIES:
            continue
        posted = datetime.fromtimestamp(sale.txn["posted_at"], UTC)
        month = (posted.month - 1) // 3 * 3 + 4
        due = date(posted.year + (month > 12), (month - 1) % 12 + 1, 20)
        owed[(due, _AUTHORITIES[key], sale.txn["currency"])] += sum(line.tax for line in sale.priced)
    last_day = cal.days[-1]
    return [
        _Remittance(due, authority, currency, amount)
        for (due, authority, currency), amount in sorted(owed.items())
        if amount > 0 and _weekday_after(due) <= last_day
    ]


def _tax_settings() -> Json:
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


# ---------------------------------------------------------------------------------------- climate

_SUPPLIERS = (  # (id suffix, name, pathway, (city, country, latitude, longitude, region))
    (
        "charm_industrial",
        "Charm Industrial",
        "biomass_carbon_removal_and_storage",
        ("San Francisco", "US", 37.7480408, -122.4057404, "CA"),
    ),
    ("heirloom", "Heirloom", "direct_air_capture", ("Brisbane", "US", 37.686, -122.403, "CA")),
    ("lithos", "Lithos", "enhanced_weathering", ("San Francisco", "US", 37.7749, -122.4194, "CA")),
    (
        "vaulted",
        "Vaulted Deep",
        "biomass_carbon_removal_and_storage",
        ("Houston", "US", 29.7604, -95.3698, "TX"),
    ),
    ("ebb_carbon", "Ebb Carbon", "marine_carbon_removal", ("San Carlos", "US", 37.5072, -122.2605, "CA")),
)
_PRODUCTS = (  # (id, name, delivery year, supplier suffixes, USD subtotal per ton, tons available)
    (
        "climsku_frontier_offtake_portfolio_2026",
        "Frontier's 2026 offtake portfolio",
        2026,
        ("charm_industrial", "heirloom", "lithos"),
        52_000,
        "25000",
    ),
    (
        "climsku_frontier_offtake_portfolio_2027",
        "Frontier's 2027 offtake portfolio",
        2027,
        ("charm_industrial", "heirloom", "lithos", "vaulted", "ebb_carbon"),
        55_000,
        "1000000",
    ),
    (
        "climsku_frontier_offtake_portfolio_2028",
        "Frontier's 2028 offtake portfolio",
        2028,
        ("heirloom", "lithos", "vaulted", "ebb_carbon"),
        58_000,
        "750000",
    ),
    (
        "climsku_frontier_direct_air_capture_2029",
        "Frontier's 2029 direct air capture portfolio",
        2029,
        ("heirloom",),
        62_000,
        "120000",
    ),
    (
        "climsku_frontier_enhanced_weathering_2027",
        "Frontier's 2027 enhanced weathering portfolio",
        2027,
        ("lithos",),
        48_000,
        "80000",
    ),
)
_ORDERS = 48
#: Statuses fixed by order position (negative: from the newest), so that every status occurs.
_PINNED_STATUSES = {
    0: "delivered",
    1: "canceled",
    2: "confirmed",
    -3: "open",
    -2: "awaiting_funds",
    -1: "open",
}
_EUR_PER_USD = Decimal("0.92")


def _climate(rng: random.Random, cal: _Calendar) -> tuple[list[Json], list[Json], list[Json]]:
    """Return suppliers, products and orders (every status, older orders further along)."""
    suppliers = {
        suffix: {
            "id": f"climsup_{suffix}",
            "info_url": f"https://frontierclimate.com/portfolio/{suffix.replace('_', '-')}",
            "livemode": False,
            "locations": [
                {"city": city, "country": country, "latitude": lat, "longitude": lon, "region": region}
            ],
            "name": name,
            "object": "climate.supplier",
            "removal_pathway": pathway,
        }
        for suffix, name, pathway, (city, country, lat, lon, region) in _SUPPLIERS
    }
    products = [
        {
            "created": cal.start - (40 - 7 * index) * DAY,
            "current_prices_per_metric_ton": {
                currency: {
                    "amount_fees": round(sub * 3 / 100),
                    "amount_subtotal": sub,
                    "amount_total": sub + round(sub * 3 / 100),
                }
                for currency, sub in (("usd", usd), ("eur", int(usd * _EUR_PER_USD)))
            },
            "delivery_year": year,
            "id": product_id,
            "livemode": False,
            "metric_tons_available": available,
            "name": name,
            "object": "climate.product",
            "suppliers": [suppliers[suffix] for suffix in members],
        }
        for index, (product_id, name, year, members, usd, available) in enumerate(_PRODUCTS)
    ]
    orders = []
    for index in range(_ORDERS):
        created = cal.start + (index * (cal.end - cal.start - 3 * DAY)) // _ORDERS + rng.randint(0, 5 * DAY)
        product = rng.choice(products)
        order = climate_order(
            rng,
            product=product,
            metric_tons=milli_to_tons(max(100, round(rng.lognormvariate(1.2, 0.8) * 1000))),
            currency="eur" if rng.random() < 0.25 else "usd",
            created=created,
            beneficiary=COMPANY,
        )
        pinned = _PINNED_STATUSES.get(index) or _PINNED_STATUSES.get(index - _ORDERS)
        status = pinned or _likely_status(rng, cal.end - created)
        _progress(rng, order, status, cal.end, product)
        orders.append(order)
    return list(suppliers.values()), products, orders


def _likely_status(rng: random.Random, age: int) -> str:
    """Pick a status that fits an order's age: old orders are mostly delivered."""
    if age > 270 * DAY:
        return rng.choices(("delivered", "canceled", "confirmed"), weights=(75, 15, 10))[0]
    if age > 30 * DAY:
        return rng.choices(("confirmed", "delivered", "canceled"), weights=(70, 15, 15))[0]
    return rng.choices(("open", "awaiting_funds", "confirmed"), weights=(50, 20, 30))[0]


def _progress(rng: random.Random, order: Json, status: str, end: int, product: Json) -> None:
    """Walk ``order`` from ``open`` to ``status`` with plausible timestamps before ``end``."""
    created = order["created"]
    if status == "awaiting_funds":
        advance_order(order, status, created + 3_600, product=product)
    elif status == "canceled":
        reason = rng.choice(("requested", "expired", "product_unavailable"))
        canceled = min(created + rng.randint(1, 60) * DAY, end - DAY)
        advance_order(order, status, canceled, product=product, reason=reason)
    elif status in {"confirmed", "delivered"}:
        confirmed = created + rng.randint(1, 3) * DAY
        advance_order(order, "confirmed", confirmed, product=product)
        if status == "delivered":
            advance_order(
                order, "delivered", min(confirmed + rng.randint(120, 300) * DAY, end - DAY), product=product
            )
        elif rng.random() < 0.2:
            order["delayed_at"] = min(confirmed + rng.randint(30, 90) * DAY, end - DAY)
            order["expected_delivery_year"] += 1


# --------------------------------------------------------------------------------------- identity

_FIRST_NAMES = (
    "Jenny",
    "Marcus",
    "Aiko",
    "Lena",
    "Diego",
    "Priya",
    "Tomás",
    "Grace",
    "Omar",
    "Sofia",
    "Liam",
    "Hana",
)
_LAST_NAMES = (
    "Rosen",
    "Okafor",
    "Tanaka",
    "Fischer",
    "Alvarez",
    "Nair",
    "Silva",
    "Chen",
    "Haddad",
    "Rossi",
    "Walsh",
    "Kim",
)
_FUNNEL = (  # (status, how many, report status or None)
    ("verified", 15, "verified"),
    ("requires_input", 5, "unverified"),
    ("requires_input", 3, None),
    ("processing", 2, None),
    ("canceled", 5, None),
)
_DOCUMENT_ERRORS = (
    ("document_expired", "The document is expired."),
    ("document_unverified_other", "The document could not be verified."),
    ("selfie_face_mismatch", "The selfie does not match the face on the document."),
)


def _identity(rng: random.Random, cal: _Calendar) -> tuple[list[Json], list[Json]]:
    """Return a verification funnel: 30 sessions and the 20 reports they produced."""
    plan = [(status, report) for status, count, report in _FUNNEL for _ in range(count)]
    rng.shuffle(plan)
    sessions, reports = [], []
    for number, (status, report_status) in enumerate(plan, start=1):
        created = cal.end - rng.randint(2 * 3_600, 180 * DAY)
        kind = "id_number" if rng.random() < 0.2 else "document"
        selfie = kind == "document" and rng.random() < 0.6
        options = (
            {
                "document": {
                    "allowed_types": ["driving_license", "id_card", "passport"],
                    "require_id_number": False,
                    "require_live_capture": True,
                    "require_matching_selfie": selfie,
                }
            }
            if kind == "document"
            else {"id_number": {}}
        )
        session_id = new_id(rng, "vs_")
        error = rng.choice(_DOCUMENT_ERRORS) if report_status == "unverified" else None
        report = None
        if report_status is not None:
            report = _report(
                rng, session_id, f"user_{number:04d}", created + rng.randint(60, 900), kind, options, error
            )
            reports.append(report)
        if status == "requires_input" and error is None:
            error = ("abandoned", "The user did not finish the verification.")
        sessions.append(
            {
                "client_reference_id": f"user_{number:04d}",
                "client_secret": None,
                "created": created,
                "id": session_id,
                "last_error": {"code": error[0], "reason": error[1]} if error else None,
                "last_verification_report": report["id"] if report else None,
                "livemode": False,
                "metadata": {},
                "object": "identity.verification_session",
                "options": options,
                "provided_details": None,
                "redaction": None,
                "related_customer": new_id(rng, "cus_") if rng.random() < 0.5 else None,
                "related_customer_account": None,
                "status": status,
                "type": kind,
                "url": f"https://verify.stripe.com/start/test_{new_id(rng, '')}"
                if status == "requires_input"
                else None,
                "verified_outputs": None,
            }
        )
    return sessions, reports


def _report(
    rng: random.Random,
    session: str,
    reference: str,
    created: int,
    kind: str,
    options: Json,
    error: tuple[str, str] | None,
) -> Json:
    status = "unverified" if error else "verified"
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    report: Json = {
        "client_reference_id": reference,
        "created": created,
        "id": new_id(rng, "vr_"),
        "livemode": False,
        "object": "identity.verification_report",
        "options": options,
        "type": kind,
        "verification_session": session,
    }
    if kind == "id_number":
        report["id_number"] = {
            "dob": None,
            "error": {"code": "id_number_mismatch", "reason": "The ID number does not match."}
            if error
            else None,
            "first_name": first,
            "id_number": None,
            "id_number_type": "us_ssn",
            "last_name": last,
            "status": status,
        }
        return report
    document_error = error if error and error[0].startswith("document") else None
    report["document"] = {
        "address": {
            "city": "San Francisco",
            "country": "US",
            "line1": "1234 Main St.",
            "line2": None,
            "postal_code": "94111",
            "state": "CA",
        },
        "dob": None,
        "error": {"code": document_error[0], "reason": document_error[1]} if document_error else None,
        "expiration_date": {
            "day": rng.randint(1, 28),
            "month": rng.randint(1, 12),
            "year": rng.randint(2027, 2034),
        },
        "files": [new_id(rng, "file_"), new_id(rng, "file_")],
        "first_name": first,
        "issued_date": {
            "day": rng.randint(1, 28),
            "month": rng.randint(1, 12),
            "year": rng.randint(2016, 2025),
        },
        "issuing_country": "US",
        "last_name": last,
        "number": None,
        "sex": None,
        "status": "unverified" if document_error else "verified",
        "type": rng.choice(("driving_license", "passport", "id_card")),
        "unparsed_place_of_birth": None,
        "unparsed_sex": None,
    }
    if options["document"]["require_matching_selfie"]:
        selfie_error = error if error and error[0].startswith("selfie") else None
        report["selfie"] = {
            "document": new_id(rng, "file_"),
            "error": {"code": selfie_error[0], "reason": selfie_error[1]} if selfie_error else None,
            "selfie": new_id(rng, "file_"),
            "status": "unverified" if selfie_error else "verified",
        }
    return report


# ------------------------------------------------------------------------ forwarding, webhooks, crypto

_DESTINATIONS = (
    "https://checkout.partner-psp.example/v71/payments",
    "https://api.card-vault.example/v2/tokens",
    "https://pay.acquirer.example/authorize",
)
_FORWARD_RESULTS = (
    (200, '{"resultCode":"Authorised"}'),
    (201, '{"status":"created"}'),
    (402, '{"error":"card_declined"}'),
    (500, '{"error":"upstream_timeout"}'),
)


def _forwarding(rng: random.Random, cal: _Calendar) -> list[Json]:
    """Return 15 forwarded card requests to payment partners over the last 90 days."""
    requests = []
    for _ in range(15):
        status, body = rng.choices(_FORWARD_RESULTS, weights=(70, 15, 10, 5))[0]
        replacements = [
            "card_number",
            "card_expiry",
            "card_cvc",
            *(["cardholder_name"] if rng.random() < 0.5 else []),
        ]
        requests.append(
            {
                "created": cal.end - rng.randint(3_600, 90 * DAY),
                "id": new_id(rng, "fwdreq_"),
                "livemode": False,
                "metadata": {},
                "object": "forwarding.request",
                "payment_method": new_id(rng, "pm_"),
                "replacements": replacements,
                "request_context": {
                    "destination_duration": rng.randint(120, 2_400),
                    "destination_ip_address": f"203.0.113.{rng.randint(2, 254)}",
                },
                "request_details": {
                    "body": json.dumps(
                        {
                            "amount": rng.randint(500, 90_000),
                            "card": {"number": "************4242", "cvc": "***"},
                        }
                    ),
                    "headers": [
                        {"name": "Content-Type", "value": "application/json"},
                        {"name": "Idempotency-Key", "value": new_id(rng, "")},
                    ],
                    "http_method": "POST",
                },
                "response_details": {
                    "body": body,
                    "headers": [{"name": "Content-Type", "value": "application/json;charset=UTF-8"}],
                    "status": status,
                },
                "url": rng.choice(_DESTINATIONS),
            }
        )
    return requests


_WEBHOOKS = (  # (url, description, enabled events, status)
    (
        "https://api.northwind.example/stripe/webhooks",
        "Bank feeds and tax into the finance warehouse",
        [
            "financial_connections.account.refreshed_balance",
            "financial_connections.account.refreshed_transactions",
            "tax.settings.updated",
        ],
        "enabled",
    ),
    (
        "https://hooks.northwind.example/climate",
        "Carbon removal order tracking",
        ["climate.order.canceled", "climate.order.delayed", "climate.order.delivered"],
        "enabled",
    ),
    (
        "https://identity.northwind.example/webhooks",
        "Customer onboarding checks",
        ["identity.verification_session.requires_input", "identity.verification_session.verified"],
        "enabled",
    ),
    ("https://legacy.northwind.example/stripe", "Old integration, kept for audit", ["*"], "disabled"),
)


def _webhooks(rng: random.Random, cal: _Calendar) -> list[Json]:
    return [
        {
            "api_version": "2026-07-29.dahlia" if status == "enabled" else None,
            "application": None,
            "created": cal.start + index * 90 * DAY + rng.randint(0, 30 * DAY),
            "description": description,
            "enabled_events": events,
            "id": new_id(rng, "we_"),
            "livemode": False,
            "metadata": {},
            "object": "webhook_endpoint",
            "status": status,
            "url": url,
        }
        for index, (url, description, events, status) in enumerate(_WEBHOOKS)
    ]


_ONRAMP_STATUSES = (
    "initialized",
    "rejected",
    "requires_payment",
    "fulfillment_processing",
    "fulfillment_complete",
)
_NETWORKS = (("ethereum", "usdc"), ("solana", "usdc"), ("polygon", "usdc"), ("base_network", "eth"))
_WALLETS = (
    "avalanche",
    "base_network",
    "bitcoin",
    "ethereum",
    "optimism",
    "polygon",
    "solana",
    "stellar",
    "worldchain",
    "sui",
    "tempo",
    "celo",
)


def _onramp(rng: random.Random, cal: _Calendar) -> list[Json]:
    """Return 8 crypto onramp sessions (private preview shape), one or more per status."""
    sessions = []
    for index in range(8):
        status = _ONRAMP_STATUSES[index % len(_ONRAMP_STATUSES)]
        network, currency = rng.choice(_NETWORKS)
        session_id = new_id(rng, "cos_")
        wallet = "0x" + "".join(rng.choices("0123456789abcdef", k=40))
        paid = status in {"fulfillment_processing", "fulfillment_complete"}
        source = Decimal(rng.randint(2_000, 50_000)) / 100
        fee = (source * Decimal("0.015")).quantize(Decimal("0.01"))
        wallets: Json = dict.fromkeys(_WALLETS)
        wallets["destination_tags"] = {"stellar": None}
        if status != "initialized":
            wallets[network] = wallet
        sessions.append(
            {
                "client_secret": f"{session_id}_secret_{new_id(rng, '')}",
                "created": cal.end - rng.randint(3_600, 120 * DAY),
                "id": session_id,
                "kyc_details_provided": status != "initialized",
                "livemode": False,
                "metadata": None,
                "object": "crypto.onramp_session",
                "redirect_url": None,
                "status": status,
                "transaction_details": {
                    "destination_amount": f"{source - fee - Decimal('0.25'):.2f}" if paid else None,
                    "destination_currencies": [currency],
                    "destination_currency": currency,
                    "destination_network": network.removesuffix("_network"),
                    "destination_networks": [network.removesuffix("_network")],
                    "fees": {
                        "network_fee_amount": "0.25" if paid else None,
                        "transaction_fee_amount": f"{fee:.2f}" if paid else None,
                    },
                    "lock_wallet_address": False,
                    "settlement_speed": "instant",
                    "source_amount": f"{source:.2f}" if status != "initialized" else None,
                    "source_currency": "usd",
                    "transaction_id": "0x" + "".join(rng.choices("0123456789abcdef", k=64))
                    if status == "fulfillment_complete"
                    else None,
                    "wallet_address": wallet if status != "initialized" else None,
                    "wallet_addresses": wallets,
                },
            }
        )
    return sessions


# ------------------------------------------------------------------------------------------ entry


def generate(*, seed: int = 7, now: datetime = DEMO_NOW, n_transactions: int = 16_000) -> Dataset:
    """Return the demo account as of ``now`` with ``n_transactions`` bank transactions.

    Parameters
    ----------
    seed
        Seed of every random choice; equal arguments give equal datasets.
    now
        The moment the account is observed; all history lies in the 24 months before it.
    n_transactions
        Financial Connections transactions across the three bank accounts.

    Examples
    --------
    >>> dataset = generate(n_transactions=2_000)
    >>> len(dataset["financial_connections.transaction"])
    2000
    """
    cal = _Calendar(timestamp(now))
    tax = _tax(random.Random(f"{seed}:tax"), cal)
    remittances = _remittances(tax, cal)
    accounts, transactions = _banking(random.Random(f"{seed}:banking"), cal, n_transactions, remittances)
    suppliers, products, orders = _climate(random.Random(f"{seed}:climate"), cal)
    sessions, reports = _identity(random.Random(f"{seed}:identity"), cal)
    misc = random.Random(f"{seed}:misc")
    objects: dict[str, list[Json]] = {
        ACCOUNT: accounts,
        TRANSACTION: transactions,
        "tax.transaction": [sale.txn for sale in tax.sales],
        "tax.transaction_line_item": tax.line_items,
        "tax.association": tax.associations,
        "tax.calculation": tax.calculations,
        "tax.calculation_line_item": tax.calculation_items,
        "tax.registration": tax.registrations,
        "tax.settings": [_tax_settings()],
        "climate.supplier": suppliers,
        "climate.product": products,
        "climate.order": orders,
        "identity.verification_session": sessions,
        "identity.verification_report": reports,
        "forwarding.request": _forwarding(misc, cal),
        "webhook_endpoint": _webhooks(misc, cal),
        "crypto.onramp_session": _onramp(misc, cal),
    }
    return Dataset(objects, tax.parents)


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
