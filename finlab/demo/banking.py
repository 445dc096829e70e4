"""Financial Connections: four bank accounts and their transactions, balances and refreshes.

The awkward cases are there on purpose, each as Stripe defines the fields:

- Balances were refreshed mid-stream: ``balance.as_of`` is the last 06:00 UTC refresh, hours before the
  last transaction refresh. ``balance.current`` counts what had *posted* by then (Stripe: a pending
  transaction "does not yet affect the account's balance"), so transactions posted after it, pending
  at it, or voided after it are all outside it.
- A small Curaçao account keeps its books in XCG, the Caribbean guilder (ISO 4217 since 2025), which
  is not on Stripe's currency list: finlab must show it in minor units, never guess its decimals.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass
from datetime import date

from finlab.demo.clock import DAY, Calendar, month_day, weekday_after, weekday_before
from finlab.demo.dataset import (
    Json,
    fc_account,
    fc_balance,
    fc_transaction,
    new_id,
    refresh_id,
)
from finlab.demo.tax import Remittance


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
    _Bank("Curaçao Operating", "Maduro & Curiel's Bank", "3310", "xcg", "checking", 80_000_00, 20_000_00),
)
_OPERATING, _SAVINGS, _EURO, _CURACAO = 0, 1, 2, 3
#: Card lines transacted in the last days before the balance refresh that are voided after it.
_LATE_VOIDS = 3

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


def make_banking(
    rng: random.Random, cal: Calendar, n: int, remittances: list[Remittance]
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
    _void_after_refresh(rng, lines, _balance_as_of(refreshes), cal.cutoff)
    transactions = [
        _transaction(rng, cal, line, ids[line.account], refreshes[line.account]) for line in lines
    ]
    accounts = [
        _account(
            bank,
            ids[k],
            holder,
            cal,
            (refreshes[k][1][-1], _balance_as_of(refreshes)),
            [t for t in transactions if t["account"] == ids[k]],
        )
        for k, bank in enumerate(_BANKS)
    ]
    return accounts, transactions


def _recurring(rng: random.Random, cal: Calendar, remittances: list[Remittance]) -> list[_Line]:
    """Return every scheduled bank line: payouts, receipts, payroll, rent, vendors, transfers, tax."""
    return [
        *_payouts_and_receipts(rng, cal),
        *_payroll(rng, cal),
        *_monthly_bills(rng, cal),
        *_transfers(rng, cal),
        *_tax_payments(cal, remittances),
        *_curacao(rng, cal),
    ]


def _curacao(rng: random.Random, cal: Calendar) -> list[_Line]:
    """The Curaçao office: weekly card settlements in, monthly rent and payroll out, in XCG."""
    lines = []
    for day in cal.days:
        if day.weekday() == 4:
            amount = round(6_200_00 * cal.growth(cal.at(day, 16)) * rng.lognormvariate(0, 0.2))
            lines.append(_Line(_CURACAO, cal.at(day, 16), amount, "CRB Card Settlement"))
    for year, month in cal.months():
        first = weekday_after(date(year, month, 1))
        lines.append(_Line(_CURACAO, cal.at(first, 13), -4_500_00, "Pietermaai Office Rent"))
        payday = weekday_before(month_day(year, month, 25))
        lines.append(_Line(_CURACAO, cal.at(payday, 13), -round(17_800_00 * rng.gauss(1, 0.02)), "Payroll"))
    return lines


def _payouts_and_receipts(rng: random.Random, cal: Calendar) -> list[_Line]:
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


def _payroll(rng: random.Random, cal: Calendar) -> list[_Line]:
    """US payroll on the 15th and the last weekday of the month; Berlin on the last weekday."""
    lines = []
    for year, month in cal.months():
        month_end = weekday_before(month_day(year, month, 31))
        for day in (weekday_before(date(year, month, 15)), month_end):
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


def _monthly_bills(rng: random.Random, cal: Calendar) -> list[_Line]:
    """Rent, software vendors, bank fees and savings interest."""
    lines = []
    for index, (year, month) in enumerate(cal.months()):
        first = weekday_after(date(year, month, 1))
        rent = 38_500_00 if index < 12 else 41_200_00
        lines.append(_Line(_OPERATING, cal.at(first, 13), -rent, "WeWork Rent"))
        lines.append(_Line(_EURO, cal.at(first, 8), -14_500_00, "Mindspace Berlin Rent"))
        for account, vendors in ((_OPERATING, _USD_VENDORS), (_EURO, _EUR_VENDORS)):
            for payee, day, base, grows in vendors:
                at = cal.at(month_day(year, month, day), 13)
                amount = base * (cal.growth(at) if grows else 1) * rng.lognormvariate(0, 0.08)
                lines.append(_Line(account, at, -round(amount), payee))
        last = month_day(year, month, 31)
        lines.append(_Line(_OPERATING, cal.at(last, 22), -9_500, "Monthly Service Fee"))
        lines.append(_Line(_EURO, cal.at(last, 22), -1_290, "Account Maintenance Fee"))
        interest = round((1_500_000_00 + index * 70_000_00) * 0.041 / 12)
        lines.append(_Line(_SAVINGS, cal.at(last, 12), interest, "Interest Payment"))
    return lines


def _transfers(rng: random.Random, cal: Calendar) -> list[_Line]:
    """Monthly sweeps to savings and wires to the EUR account; quarterly draws from savings."""
    lines = []
    to_savings = "Online Transfer to Treasury Savings ••7734"
    from_operating = "Online Transfer from Operating Checking ••4021"
    for year, month in cal.months():
        sweep_day = weekday_after(date(year, month, 2))
        at = cal.at(sweep_day, 14)
        sweep = round(180 * cal.growth(at) * rng.lognormvariate(0, 0.15)) * 100_000  # whole $1,000s
        lines += [_Line(_OPERATING, at, -sweep, to_savings), _Line(_SAVINGS, at, sweep, from_operating)]
        wire_day = weekday_after(date(year, month, 10))
        at = cal.at(wire_day, 14)
        wire = round(50 * cal.growth(at)) * 100_000
        lines += [
            _Line(_OPERATING, at, -wire, "Wire Transfer to EUR Operating ••9052"),
            _Line(_OPERATING, at, -45_00, "Wire Transfer Fee"),
            _Line(_EURO, at + 7_200, round(wire * 0.92), "Incoming Wire Operating Checking ••4021"),
        ]
        if month % 3 == 0:
            at = cal.at(weekday_after(date(year, month, 20)), 14)
            lines += [
                _Line(_SAVINGS, at, -350_000_00, "Online Transfer to Operating Checking ••4021"),
                _Line(_OPERATING, at, 350_000_00, "Online Transfer from Treasury Savings ••7734"),
            ]
    return lines


def _tax_payments(cal: Calendar, remittances: list[Remittance]) -> list[_Line]:
    """Quarterly sales tax and VAT payments; GBP and JPY liabilities are paid from USD."""
    usd_per = {"usd": 1.0, "gbp": 1.27, "jpy": 0.67, "bhd": 0.265}  # cents per minor unit (fils for BHD)
    lines = []
    for due in remittances:
        at = cal.at(weekday_after(due.due), 15)
        if due.currency == "eur":
            lines.append(_Line(_EURO, at, -due.amount, due.authority))
        else:
            lines.append(_Line(_OPERATING, at, -round(due.amount * usd_per[due.currency]), due.authority))
    return lines


def _card_spend(rng: random.Random, cal: Calendar, count: int) -> list[_Line]:
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


def _refreshes(rng: random.Random, cal: Calendar) -> list[tuple[list[int], list[str]]]:
    """Return, per account, the times and ids of its refreshes: daily at 06:00 UTC and at cutoff.

    Refresh ids are numbered in time order across all accounts, so later ones sort after.
    """
    times = [cal.at(day, 6) for day in cal.days if cal.at(day, 6) < cal.cutoff] + [cal.cutoff]
    seq = itertools.count(1)
    ids: list[list[str]] = [[] for _ in _BANKS]
    for _, account in itertools.product(times, range(len(_BANKS))):
        ids[account].append(refresh_id(rng, next(seq)))
    return [(times, account_ids) for account_ids in ids]


def _balance_as_of(refreshes: list[tuple[list[int], list[str]]]) -> int:
    """When the balances were last refreshed: the last daily refresh before the final one."""
    times, _ = refreshes[0]
    return times[-2]


def _void_after_refresh(rng: random.Random, lines: list[_Line], as_of: int, cutoff: int) -> None:
    """Make a few card lines transacted before ``as_of`` pending at it and voided after it."""
    recent = [
        line
        for line in lines
        if line.amount < 0 and line.settles and as_of - 2 * DAY < line.at < as_of and not line.voided
    ]
    for line in rng.sample(recent, k=min(_LATE_VOIDS, len(recent))):
        line.voided = True
        line.settles = rng.randint(as_of - line.at + 60, cutoff - line.at)


def _transaction(
    rng: random.Random, cal: Calendar, line: _Line, account: str, refreshes: tuple[list[int], list[str]]
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
    bank: _Bank,
    account_id: str,
    holder: str,
    cal: Calendar,
    refreshed: tuple[str, int],
    transactions: list[Json],
) -> Json:
    """Return an FC account whose balance, refreshed at ``as_of``, counts what had posted by then.

    ``refreshed`` is (the last transaction refresh id, the balance's ``as_of``). ``current`` is the
    opening balance plus every line posted at or before ``as_of``; ``available`` adds the lines that
    were pending then (transacted, not yet posted or voided).
    """
    refresh, as_of = refreshed
    running, lowest = 0, 0
    for txn in sorted(transactions, key=lambda txn: txn["transacted_at"]):
        if txn["status"] == "posted":
            running += txn["amount"]
            lowest = min(lowest, running)
    opening = max(bank.opening, -(-(bank.cushion - lowest) // 100_000_00) * 100_000_00)
    current = opening + sum(txn["amount"] for txn in transactions if _posted_by(txn, as_of))
    pending = sum(txn["amount"] for txn in transactions if _pending_at(txn, as_of))
    return fc_account(
        account_id=account_id,
        holder=holder,
        balance=fc_balance(bank.currency, current, pending, as_of),
        created=cal.start - 2 * DAY,
        names=(bank.display_name, bank.institution, bank.last4),
        subcategory=bank.subcategory,
        refreshed=(refresh, cal.cutoff),
    )


def _posted_by(txn: Json, moment: int) -> bool:
    posted = txn["status_transitions"]["posted_at"]
    return txn["status"] == "posted" and posted is not None and posted <= moment


def _pending_at(txn: Json, moment: int) -> bool:
    settled = txn["status_transitions"]["posted_at"] or txn["status_transitions"]["void_at"]
    return txn["transacted_at"] <= moment and (settled is None or settled > moment)
