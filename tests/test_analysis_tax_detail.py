"""finlab.analysis.tax.filing_summary with Stripe's export: county and city rows, filing-currency amounts."""

from __future__ import annotations

import warnings
from datetime import date
from decimal import Decimal

import polars as pl
import pytest

import finlab
from finlab.analysis import between
from finlab.analysis.reconciliation import report_between
from finlab.analysis.tax import (
    FILING_DETAIL_SCHEMA,
    FILING_SUMMARY_SCHEMA,
    TAX_LINES_SCHEMA,
    filing_summary,
    tax_lines,
)
from finlab.demo import default_dataset
from finlab.demo.tax_exports import ITEMIZED, planted
from finlab.demo.tax_exports import export_csv as demo_export
from finlab.errors import ConfigurationError
from finlab.tax_reports import SCHEMAS, parse_report

KEYS = ["registration", "period_start", "currency"]
NEW_YORK = ("US", "NY", "state_sales_tax")


@pytest.fixture(scope="module")
def demo() -> dict[str, pl.DataFrame]:
    stripe = finlab.connect(demo=True)
    return {
        "lines": tax_lines(stripe.tax_line_items(), stripe.tax_transactions()),
        "registrations": stripe.tax_registrations(),
        "report": parse_report(ITEMIZED, demo_export(default_dataset(), ITEMIZED, 0, 2**40)),
    }


def net_per_filing(frame: pl.DataFrame) -> dict[tuple[object, ...], int]:
    sums = frame.group_by(*KEYS, "country", "state", "registration_type").agg(pl.col("net_tax").sum())
    return {row[:6]: row[6] for row in sums.rows()}


def test_without_a_report_the_summary_is_unchanged(demo: dict[str, pl.DataFrame]) -> None:
    plain = filing_summary(demo["lines"], demo["registrations"], period="quarter")
    assert plain.schema == FILING_SUMMARY_SCHEMA
    assert plain.equals(filing_summary(demo["lines"], demo["registrations"], period="quarter", report=None))


def test_the_detail_adds_up_to_the_summary_but_for_the_planted_sale(demo: dict[str, pl.DataFrame]) -> None:
    summary = filing_summary(demo["lines"], demo["registrations"], period="quarter")
    detail = filing_summary(demo["lines"], demo["registrations"], period="quarter", report=demo["report"])
    assert detail.schema == FILING_DETAIL_SCHEMA
    ours, stripes = net_per_filing(summary), net_per_filing(detail)
    differing = {key: stripes[key] - ours.get(key, 0) for key in stripes if stripes[key] != ours.get(key, 0)}
    [(key, difference)] = differing.items()  # the invoice paid outside Stripe, filed under New York
    assert (key[1:], difference) == ((date(2026, 1, 1), "usd", *NEW_YORK), planted()[1][0]["amount_tax"])
    assert set(ours) == set(stripes)


def test_us_registrations_show_state_county_and_city_rows(demo: dict[str, pl.DataFrame]) -> None:
    detail = filing_summary(demo["lines"], demo["registrations"], period="year", report=demo["report"])
    new_york = detail.filter(
        (pl.col("country") == "US") & (pl.col("state") == "NY") & (pl.col("period_start") == date(2025, 1, 1))
    )
    levels = new_york.select("jurisdiction_level", "jurisdiction_name").rows()
    assert levels[0] == ("state", "New York")  # the state first, then counties, then cities
    assert {"Kings County", "Erie County", "New York County"} == {
        name for level, name in levels if level == "county"
    }
    assert {"Brooklyn", "Buffalo", "New York"} == {name for level, name in levels if level == "city"}
    state_lines = new_york.filter(pl.col("jurisdiction_level") == "state")["line_count"].item()
    assert new_york.filter(pl.col("jurisdiction_level") == "city")["line_count"].sum() <= state_lines
    france = detail.filter(pl.col("registration_type") == "oss_non_union")["jurisdiction_level"].unique()
    assert ["country"] == france.to_list()  # outside the US one row per country


def test_filing_currency_amounts_stay_in_their_own_currency() -> None:
    header = (
        "id,line_item_id,type,currency,transaction_date,tax_date,country_code,state_code,customer_tax_id,"
        "jurisdiction_level,jurisdiction_name,subtotal,tax_amount,filing_currency,"
        "filing_taxable_amount,filing_non_taxable_amount,filing_tax_amount\n"
    )
    japan = "JP,,,country,Japan"  # a USD sale to Japan, filed in yen (then one filed in dollars)
    rows = [
        f"tax_1,li_1,payment_intent,usd,2026-03-02 10:00:00,2026-03-02,{japan},100.00,10.00,jpy,15000,0,1500",
        f"tax_2,li_2,payment_intent,usd,2026-03-05 10:00:00,2026-03-05,{japan},50.00,5.00,usd,50.00,0,5.00",
        f"tax_3,li_3,refund,usd,2026-03-09 10:00:00,2026-03-02,{japan},-100.00,-10.00,jpy,-15000,0,-1500",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the file has only the columns the detail reads
        report = parse_report(ITEMIZED, (header + "\n".join(rows) + "\n").encode())
    detail = filing_summary(TAX_LINES_SCHEMA.to_frame(), _no_registrations(), period="month", report=report)
    by_filing = {row["filing_currency"]: row for row in detail.iter_rows(named=True)}
    assert set(by_filing) == {"jpy", "usd"}  # never summed across filing currencies
    jpy = by_filing["jpy"]
    assert (jpy["tax_collected"], jpy["tax_reversed"], jpy["net_tax"], jpy["filing_net_tax"]) == (
        1000,
        -1000,
        0,
        0,
    )
    assert (jpy["line_count"], jpy["filing_taxable_amount"], jpy["filing_taxable_amount_major"]) == (2, 0, 0)
    usd = by_filing["usd"]
    assert (usd["net_tax_major"], usd["filing_net_tax"], usd["filing_net_tax_major"]) == (
        Decimal("5.00"),
        500,
        Decimal("5.00"),
    )
    assert usd["registration_type"] == "not_registered"


def test_the_report_is_cut_like_the_lines(demo: dict[str, pl.DataFrame]) -> None:
    start, end = date(2025, 4, 1), date(2025, 7, 1)
    cut = demo["report"].filter(report_between("posted_at", start, end, "Europe/Paris"))
    lines = demo["lines"].filter(between("posted_at", start, end, "Europe/Paris"))
    detail = filing_summary(lines, demo["registrations"], period="month", timezone="Europe/Paris", report=cut)
    summary = filing_summary(lines, demo["registrations"], period="month", timezone="Europe/Paris")
    assert net_per_filing(detail) == net_per_filing(summary)
    assert {date(2025, 4, 1), date(2025, 5, 1), date(2025, 6, 1)} == set(detail["period_start"])


def test_an_empty_report_gives_the_fixed_schema_and_bad_input_is_named(demo: dict[str, pl.DataFrame]) -> None:
    empty = filing_summary(
        demo["lines"], demo["registrations"], period="month", report=SCHEMAS[ITEMIZED].to_frame()
    )
    assert (empty.schema, empty.height) == (FILING_DETAIL_SCHEMA, 0)
    with pytest.raises(ConfigurationError, match="itemized tax report"):
        filing_summary(demo["lines"], demo["registrations"], period="month", report=demo["lines"])
    with pytest.raises(ConfigurationError, match="basis"):
        filing_summary(
            demo["lines"], demo["registrations"], period="month", basis="created", report=demo["report"]
        )


def _no_registrations() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "id": pl.String,
            "country": pl.String,
            "state": pl.String,
            "registration_type": pl.String,
            "active_from": pl.Datetime("us", "UTC"),
            "expires_at": pl.Datetime("us", "UTC"),
        }
    )
