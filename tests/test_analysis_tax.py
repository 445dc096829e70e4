"""finlab.analysis.tax: joined lines, liability per period and jurisdiction, flags, filing summaries."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from framekit import frame
from hypothesis import given, settings
from hypothesis import strategies as st

from finlab.analysis import between
from finlab.analysis.tax import (
    FILING_SUMMARY_SCHEMA,
    FLAG_EXPIRING,
    FLAG_UNREGISTERED,
    NOT_REGISTERED,
    REGISTRATION_FLAGS_SCHEMA,
    TAX_LIABILITY_SCHEMA,
    TAX_LINES_SCHEMA,
    UNKNOWN_JURISDICTION,
    assign_registrations,
    filing_summary,
    registration_flags,
    tax_liability,
    tax_lines,
)
from finlab.errors import ConfigurationError

NUMBERS = itertools.count(1)
CURRENCY_OF = {"US": "usd", "FR": "eur", "JP": "jpy", "DE": "eur", None: "usd"}


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def sale(
    tax: int,
    when: datetime,
    country: str | None = "US",
    state: str | None = "CA",
    *,
    amount: int = 1000,
    kind: str = "transaction",
    behavior: str = "exclusive",
    posted: datetime | None = None,
    business: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A tax transaction with one line item, as (transaction, line item) rows.

    ``posted`` is the transaction's ``posted_at`` (default: ``when``, its tax date); ``business``
    gives the buyer a VAT id.
    """
    number = next(NUMBERS)
    parent = f"tax_{number}"
    transaction = {
        "id": parent,
        "type": kind,
        "currency": CURRENCY_OF[country and country.upper()],
        "customer_details_address_country": country,
        "customer_details_address_state": state,
        "customer_details_tax_id_types": ["eu_vat"] if business else [],
        "tax_date": when,
        "posted_at": posted or when,
    }
    sign = -1 if kind == "reversal" else 1
    line = {
        "id": f"tax_li_{number}",
        "tax_transaction": parent,
        "type": kind,
        "tax_behavior": behavior,
        "currency": CURRENCY_OF[country and country.upper()],
        "amount": sign * amount,
        "amount_tax": sign * tax,
    }
    return transaction, line


def lines_of(*sales: tuple[dict[str, Any], dict[str, Any]]) -> pl.DataFrame:
    transactions = frame("tax.transaction", [t for t, _ in sales])
    items = frame("tax.transaction_line_item", [li for _, li in sales])
    return tax_lines(items, transactions)


LONG_AGO = at(2020, 1, 1)


def registration(
    country: str,
    state: str | None = None,
    *,
    active_from: datetime = LONG_AGO,
    expires_at: datetime | None = None,
    kind: str = "standard",
    id: str = "taxreg_1",
) -> dict[str, Any]:
    return {
        "id": id,
        "country": country,
        "state": state,
        "registration_type": kind,
        "status": "active",
        "active_from": active_from,
        "expires_at": expires_at,
    }


def registrations(*rows: dict[str, Any]) -> pl.DataFrame:
    return frame("tax.registration", list(rows))


def test_lines_take_jurisdiction_date_and_type_from_their_transaction() -> None:
    us = sale(80, at(2024, 1, 5), "us", "ca")
    fr = sale(200, at(2024, 1, 6), "FR", "")
    nowhere = sale(5, at(2024, 1, 7), None, None)
    untyped = (
        us[0] | {"id": "tax_x", "type": "reversal"},
        us[1] | {"tax_transaction": "tax_x", "type": None},
    )
    orphan = frame(
        "tax.transaction_line_item", [us[1] | {"id": "tax_li_orphan", "tax_transaction": "tax_gone"}]
    )
    items = pl.concat([frame("tax.transaction_line_item", [us[1], fr[1], nowhere[1], untyped[1]]), orphan])

    lines = tax_lines(items, frame("tax.transaction", [us[0], fr[0], nowhere[0], untyped[0]]))

    assert lines.schema == TAX_LINES_SCHEMA
    expected = [
        ("US-CA", "US", "CA"),
        ("FR", "FR", None),
        (UNKNOWN_JURISDICTION, None, None),
        ("US-CA", "US", "CA"),
    ]
    assert expected == lines.select("jurisdiction", "country", "state").rows()
    assert lines["type"].to_list() == ["transaction", "transaction", "transaction", "reversal"]


def test_liability_sums_collected_reversed_and_net_per_jurisdiction_and_behavior() -> None:
    lines = lines_of(
        sale(100, at(2024, 1, 5), amount=1000),
        sale(50, at(2024, 2, 5), amount=500),
        sale(100, at(2024, 2, 6), amount=1000, kind="reversal"),
        sale(9, at(2024, 2, 7), amount=99, behavior="inclusive"),
        sale(70, at(2024, 3, 8), "FR", None, amount=350),
    )

    liability = tax_liability(lines, period="quarter")

    columns = ("jurisdiction", "tax_behavior", "taxable_amount", "tax_collected", "tax_reversed", "net_tax")
    expected = [("FR", "exclusive", 350, 70, 0, 70), ("US-CA", "exclusive", 500, 150, -100, 50),
                ("US-CA", "inclusive", 90, 9, 0, 9)]  # fmt: skip
    assert expected == liability.select(columns).rows()
    assert liability.schema == TAX_LIABILITY_SCHEMA
    assert set(liability["period_start"]) == {date(2024, 1, 1)}


@pytest.mark.parametrize(
    ("timezone", "quarter"), [("Europe/Paris", date(2024, 4, 1)), ("America/New_York", date(2024, 1, 1))]
)
def test_filing_periods_follow_the_local_calendar(timezone: str, quarter: date) -> None:
    lines = lines_of(sale(100, at(2024, 3, 31, 23, 30)))

    liability = tax_liability(lines, period="quarter", timezone=timezone)

    assert [quarter] == liability["period_start"].to_list()


def test_jpy_tax_is_shown_in_yen() -> None:
    lines = lines_of(sale(1500, at(2024, 5, 1), "JP", None, amount=15000))

    liability = tax_liability(lines, period="year")

    assert (Decimal("1500"), Decimal("15000")) == liability.select(
        "net_tax_major", "taxable_amount_major"
    ).row(0)
    assert (date(2024, 1, 1), date(2025, 1, 1)) == liability.select("period_start", "period_end").row(0)


def test_empty_inputs_give_the_fixed_schemas() -> None:
    lines = tax_lines(frame("tax.transaction_line_item", []), frame("tax.transaction", []))
    none = registrations()

    assert lines.schema == TAX_LINES_SCHEMA
    assert tax_liability(lines).schema == TAX_LIABILITY_SCHEMA
    assert registration_flags(lines, none, now=at(2024, 1, 1)).schema == REGISTRATION_FLAGS_SCHEMA
    assert filing_summary(lines, none, period="quarter").schema == FILING_SUMMARY_SCHEMA


def test_bad_arguments_raise_configuration_errors() -> None:
    lines = lines_of(sale(1, at(2024, 1, 1)))
    items = frame("tax.transaction_line_item", [])

    with pytest.raises(ConfigurationError, match="period"):
        tax_liability(lines, period="week")
    with pytest.raises(ConfigurationError, match="tax_lines"):
        tax_liability(items)
    with pytest.raises(ConfigurationError, match="timezone"):
        filing_summary(lines, registrations(), period="month", timezone="Nowhere/Town")


def test_flags_tax_collected_without_a_registration_active_on_the_tax_date() -> None:
    lines = lines_of(
        sale(10, at(2024, 3, 1), "US", "CA"),  # covered
        sale(20, at(2024, 3, 1), "US", "NY"),  # no NY registration
        sale(40, at(2024, 3, 2), "US", "NY"),
        sale(30, at(2023, 6, 1), "US", "TX"),  # before TX registration started
        sale(50, at(2024, 3, 1), "FR", "IDF"),  # France registers nationally: covered
        sale(60, at(2024, 9, 1), "DE", None),  # DE registration expired
        sale(0, at(2024, 3, 1), "US", "WA"),  # no tax collected: nothing to flag
        sale(70, at(2024, 3, 1), "US", "OR", kind="reversal"),  # a reversal collects nothing
    )
    regs = registrations(
        registration("US", "CA", id="taxreg_ca"),
        registration("US", "TX", active_from=at(2024, 1, 1), id="taxreg_tx"),
        registration("FR", id="taxreg_fr"),
        registration("DE", expires_at=at(2024, 6, 1), id="taxreg_de"),
    )

    flags = registration_flags(lines, regs, now=at(2020, 1, 1))

    expected = [("DE", "eur", 60, 1), ("US-NY", "usd", 60, 2), ("US-TX", "usd", 30, 1)]
    assert expected == flags.select("jurisdiction", "currency", "tax_collected", "line_count").rows()
    assert {FLAG_UNREGISTERED} == set(flags["flag"])
    assert (at(2024, 3, 1), at(2024, 3, 2)) == flags.select("first_tax_date", "last_tax_date").row(1)


def test_an_eu_oss_registration_covers_every_member_state() -> None:
    lines = lines_of(sale(50, at(2024, 3, 1), "FR", None), sale(60, at(2024, 3, 1), "DE", None))
    regs = registrations(registration("IE", kind="oss_union", id="taxreg_oss"))

    assert registration_flags(lines, regs, now=at(2020, 1, 1)).height == 0
    assert filing_summary(lines, regs, period="month").select(
        "registration", "country", "net_tax"
    ).rows() == [("taxreg_oss", "IE", 110)]


def test_flags_registrations_expiring_within_sixty_days_of_now() -> None:
    now = at(2024, 6, 1, 12)
    regs = registrations(
        registration("US", "CA", expires_at=now + timedelta(days=59), id="taxreg_soon"),
        registration("US", "NY", expires_at=now + timedelta(days=61), id="taxreg_later"),
        registration("FR", expires_at=now - timedelta(days=1), id="taxreg_gone"),
        registration("DE", id="taxreg_open_ended"),
    )

    flags = registration_flags(lines_of(), regs, now=now)

    expected = [(FLAG_EXPIRING, "taxreg_soon", "US-CA", 59)]
    assert expected == flags.select("flag", "registration", "jurisdiction", "days_to_expiry").rows()


def test_filing_summary_counts_only_lines_inside_each_registration_window() -> None:
    lines = lines_of(
        sale(100, at(2024, 1, 10), amount=1000),
        sale(100, at(2024, 2, 10), amount=1000, kind="reversal"),
        sale(40, at(2024, 4, 10), amount=400),
        sale(999, at(2024, 7, 10), amount=9990),  # after the registration expired
        sale(5, at(2024, 1, 10), "FR", None),  # no FR registration
    )
    regs = registrations(registration("US", "CA", expires_at=at(2024, 7, 1), id="taxreg_ca"))

    summary = filing_summary(lines, regs, period="quarter")

    columns = ("registration", "period_start", "taxable_amount", "tax_collected", "tax_reversed", "net_tax")
    expected = [
        ("taxreg_ca", date(2024, 1, 1), 0, 100, -100, 0),
        ("taxreg_ca", date(2024, 4, 1), 400, 40, 0, 40),
        (None, date(2024, 1, 1), 1000, 5, 0, 5),  # FR: not registered
        (None, date(2024, 7, 1), 9990, 999, 0, 999),
    ]
    assert expected == summary.select(columns).rows()
    registration_columns = ("registration", "country", "state", "registration_type")
    assert {("taxreg_ca", "US", "CA", "standard"), (None, None, None, NOT_REGISTERED)} == set(
        summary.select(registration_columns).rows()
    )


# -- the four definitions an analyst files by ---------------------------------------------------


def test_taxable_amount_is_net_of_tax_for_inclusive_lines_and_gross_includes_tax() -> None:
    lines = lines_of(
        sale(19, at(2024, 1, 5), "DE", None, amount=119, behavior="inclusive"),
        sale(19, at(2024, 1, 5), "DE", None, amount=100, behavior="exclusive"),
    )

    liability = tax_liability(lines, period="month")

    assert [(100, 119), (100, 119)] == lines.select("taxable_amount", "gross_amount").rows()
    assert [("exclusive", 100, 119, 19), ("inclusive", 100, 119, 19)] == liability.select(
        "tax_behavior", "taxable_amount", "gross_amount", "net_tax"
    ).rows()


def test_periods_follow_posted_at_so_a_late_refund_reduces_the_period_it_posts_in() -> None:
    sold, refunded = at(2024, 3, 20), at(2024, 4, 3)  # Q1 sale, refund posted in Q2 with Q1's tax date
    lines = lines_of(
        sale(100, sold, amount=1000),
        sale(100, sold, amount=1000, kind="reversal", posted=refunded),
    )

    by_posting = tax_liability(lines, period="quarter")
    by_tax_date = tax_liability(lines, period="quarter", basis="tax_date")

    columns = ("period_start", "tax_collected", "tax_reversed", "net_tax")
    assert [(date(2024, 1, 1), 100, 0, 100), (date(2024, 4, 1), 0, -100, -100)] == by_posting.select(
        columns
    ).rows()
    assert [(date(2024, 1, 1), 100, -100, 0)] == by_tax_date.select(columns).rows()
    with pytest.raises(ConfigurationError, match="posted_at"):
        tax_liability(lines, basis="created")


def test_a_shipping_cost_is_a_taxable_line_of_its_transaction() -> None:
    shipped, line = sale(20, at(2024, 1, 5), "DE", None, amount=100)
    shipped |= {"shipping_cost_amount": 1_190, "shipping_cost_amount_tax": 190,
                "shipping_cost_tax_behavior": "inclusive"}  # fmt: skip

    lines = lines_of((shipped, line))

    assert [(line["id"], 100, 20), (f"{shipped['id']}:shipping", 1_000, 190)] == lines.select(
        "id", "taxable_amount", "amount_tax"
    ).rows()
    assert 210 == tax_liability(lines)["net_tax"].sum()


def test_a_line_covered_by_a_standard_and_an_oss_registration_is_filed_once_under_oss() -> None:
    lines = lines_of(
        sale(19, at(2024, 3, 1), "DE", None),  # consumer in DE: the OSS scheme takes it
        sale(20, at(2024, 3, 1), "FR", None),
        sale(0, at(2024, 3, 1), "DE", None, business=True),  # a business buyer: never OSS
    )
    regs = registrations(
        registration("IE", kind="oss_non_union", id="taxreg_oss"),
        registration("DE", id="taxreg_de"),
    )

    registered = assign_registrations(lines, regs)
    summary = filing_summary(lines, regs, period="month")

    assert ["taxreg_oss", "taxreg_oss", "taxreg_de"] == registered["registration"].to_list()
    assert [("taxreg_de", 0, 1), ("taxreg_oss", 39, 2)] == summary.select(
        "registration", "net_tax", "line_count"
    ).rows()
    assert lines["amount_tax"].sum() == summary["net_tax"].sum()


def test_union_oss_leaves_domestic_sales_to_the_standard_registration() -> None:
    lines = lines_of(sale(19, at(2024, 3, 1), "DE", None), sale(20, at(2024, 3, 1), "FR", None))
    regs = registrations(
        registration("DE", kind="oss_union", id="taxreg_oss"),
        registration("DE", id="taxreg_de"),
        registration("FR", kind="ioss", id="taxreg_ioss"),
    )

    assert ["taxreg_de", "taxreg_oss"] == assign_registrations(lines, regs)["registration"].to_list()


def test_ioss_takes_only_what_no_other_registration_takes() -> None:
    lines = lines_of(sale(19, at(2024, 3, 1), "DE", None), sale(20, at(2024, 3, 1), "FR", None))
    regs = registrations(
        registration("DE", id="taxreg_de"), registration("NL", kind="ioss", id="taxreg_ioss")
    )

    assert ["taxreg_de", "taxreg_ioss"] == assign_registrations(lines, regs)["registration"].to_list()


# -- identities on generated frames --------------------------------------------------------------

sales = st.lists(
    st.builds(
        sale,
        tax=st.integers(0, 10**8),
        when=st.datetimes(datetime(2023, 1, 1), datetime(2025, 12, 31), timezones=st.just(UTC)),
        country=st.sampled_from(["US", "FR", "JP", None]),
        state=st.sampled_from(["CA", "NY", None]),
        amount=st.integers(0, 10**9),
        kind=st.sampled_from(["transaction", "transaction", "reversal"]),
        behavior=st.sampled_from(["exclusive", "inclusive"]),
        posted=st.one_of(
            st.none(), st.datetimes(datetime(2023, 1, 1), datetime(2026, 6, 30), timezones=st.just(UTC))
        ),
        business=st.booleans(),
    ),
    max_size=40,
)
instants = st.datetimes(datetime(2022, 6, 1), datetime(2026, 6, 1), timezones=st.just(UTC))
timezones = st.sampled_from(["UTC", "Europe/Paris", "America/Los_Angeles", "Asia/Tokyo"])


def per_currency(frame: pl.DataFrame, column: str) -> dict[str, int]:
    sums = frame.group_by("currency").agg(pl.col(column).sum())
    return {currency: total for currency, total in sums.rows() if total != 0}


@settings(max_examples=30, deadline=None)
@given(rows=sales, period=st.sampled_from(["month", "quarter", "year"]), timezone=timezones,
       bounds=st.lists(instants, min_size=2, max_size=2))  # fmt: skip
def test_net_tax_equals_line_tax_over_transactions_and_reversals_in_range(
    rows: list[tuple[dict[str, Any], dict[str, Any]]], period: str, timezone: str, bounds: list[datetime]
) -> None:
    start, end = sorted(bounds)
    lines = lines_of(*rows).filter(between("tax_date", start, end))

    liability = tax_liability(lines, period=period, timezone=timezone)

    assert liability.schema == TAX_LIABILITY_SCHEMA
    assert per_currency(lines, "amount_tax") == per_currency(liability, "net_tax")
    assert per_currency(lines, "taxable_amount") == per_currency(liability, "taxable_amount")
    reversals = lines.filter(pl.col("type") == "reversal")
    assert per_currency(reversals, "amount_tax") == per_currency(liability, "tax_reversed")
    assert liability.select((pl.col("tax_reversed") <= 0).all()).item() in (True, None)


@settings(max_examples=30, deadline=None)
@given(rows=sales, now=instants)
def test_collected_tax_is_either_covered_or_flagged(
    rows: list[tuple[dict[str, Any], dict[str, Any]]], now: datetime
) -> None:
    lines = lines_of(*rows)
    regs = registrations(
        registration("US", "CA", active_from=at(2024, 1, 1), id="taxreg_ca"),
        registration("FR", expires_at=at(2024, 7, 1), id="taxreg_fr"),
    )

    flags = registration_flags(lines, regs, now=now)
    covered = filing_summary(lines, regs, period="month").filter(pl.col("registration").is_not_null())

    collected = lines.filter(pl.col("type") == "transaction")
    flagged = flags.filter(pl.col("flag") == FLAG_UNREGISTERED)
    covered_or_flagged = Counter(per_currency(covered, "tax_collected")) + Counter(
        per_currency(flagged, "tax_collected")
    )
    assert per_currency(collected, "amount_tax") == dict(covered_or_flagged)


@settings(max_examples=40, deadline=None)
@given(rows=sales)
def test_taxable_amount_plus_tax_is_gross_and_inclusive_gross_is_stripes_amount(
    rows: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    lines = lines_of(*rows)

    assert lines.select(
        (pl.col("taxable_amount") + pl.col("amount_tax") == pl.col("gross_amount")).all()
    ).item() in (True, None)
    inclusive = lines.filter(pl.col("tax_behavior") == "inclusive")
    assert inclusive["gross_amount"].to_list() == inclusive["amount"].to_list()


@settings(max_examples=30, deadline=None)
@given(rows=sales, period=st.sampled_from(["month", "quarter", "year"]), timezone=timezones)
def test_whole_range_totals_are_the_same_by_posted_at_and_by_tax_date(
    rows: list[tuple[dict[str, Any], dict[str, Any]]], period: str, timezone: str
) -> None:
    lines = lines_of(*rows)

    by_posting = tax_liability(lines, period=period, timezone=timezone)
    by_tax_date = tax_liability(lines, period=period, timezone=timezone, basis="tax_date")

    for column in ("taxable_amount", "gross_amount", "tax_collected", "tax_reversed", "net_tax"):
        assert per_currency(by_posting, column) == per_currency(by_tax_date, column)


EU_REGISTRATIONS = st.lists(
    st.builds(
        registration,
        country=st.sampled_from(["US", "FR", "DE", "IE", "JP"]),
        state=st.sampled_from(["CA", "NY", None]),
        active_from=st.sampled_from([LONG_AGO, at(2024, 1, 1), at(2025, 1, 1)]),
        expires_at=st.sampled_from([None, at(2024, 7, 1), at(2025, 7, 1)]),
        kind=st.sampled_from(["standard", "oss_union", "oss_non_union", "ioss", "state_sales_tax"]),
        id=st.sampled_from([f"taxreg_{n}" for n in range(8)]),
    ),
    max_size=6,
    unique_by=lambda row: row["id"],
)


@settings(max_examples=40, deadline=None)
@given(rows=sales, regs=EU_REGISTRATIONS, period=st.sampled_from(["month", "quarter", "year"]),
       basis=st.sampled_from(["posted_at", "tax_date"]))  # fmt: skip
def test_filing_summary_plus_not_registered_equals_the_liability_per_period_and_currency(
    rows: list[tuple[dict[str, Any], dict[str, Any]]], regs: list[dict[str, Any]], period: str, basis: str
) -> None:
    lines = lines_of(*rows)

    summary = filing_summary(lines, registrations(*regs), period=period, basis=basis)
    liability = tax_liability(lines, period=period, basis=basis)

    def totals(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
        money = ("taxable_amount", "gross_amount", "tax_collected", "tax_reversed", "net_tax", "line_count")
        return frame.group_by("period_start", "currency").agg(pl.col(*money).sum()).sort(pl.all()).rows()

    assert totals(liability) == totals(summary)
    assert lines.height == assign_registrations(lines, registrations(*regs)).height
