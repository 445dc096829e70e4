"""Stripe's tax report CSVs as typed frames: schemas, money, dates, missing and unknown columns."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl
import pytest

from finlab.demo import default_dataset
from finlab.demo.tax_exports import COLUMNS, export_csv
from finlab.errors import ConfigurationError, ReportFormatError, SchemaDriftWarning
from finlab.tax_reports import (
    ITEMIZED,
    ITEMIZED_EXPORT,
    REPORT_TYPES,
    SCHEMAS,
    SUMMARIZED_EXPORT,
    parse_report,
)

HEADER = "id,line_item_id,type,currency,transaction_date,tax_date,country_code,state_code,jurisdiction_level,"
HEADER += "jurisdiction_name,tax_rate,subtotal,taxable_amount,tax_amount,filing_currency,filing_tax_amount,"
HEADER += "filing_exchange_rate\n"


def csv(*rows: str) -> bytes:
    return (HEADER + "".join(row + "\n" for row in rows)).encode()


def quiet(kind: str, content: bytes, **options: str) -> pl.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SchemaDriftWarning)
        return parse_report(kind, content, **options)


@pytest.fixture(scope="module")
def demo_files() -> dict[str, bytes]:
    dataset = default_dataset()
    return {kind: export_csv(dataset, kind, 0, 2**40) for kind in REPORT_TYPES}


@pytest.mark.parametrize("kind", REPORT_TYPES)
def test_every_report_type_parses_into_its_schema_without_a_warning(
    kind: str, demo_files: dict[str, bytes]
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = parse_report(kind, demo_files[kind])
    assert SCHEMAS[kind] == frame.schema
    assert frame.height > 30
    assert frame["tax_amount"].null_count() == 0


@pytest.mark.parametrize("kind", REPORT_TYPES)
@pytest.mark.parametrize("content", [b"", b"\n", ",".join(COLUMNS[ITEMIZED]).encode() + b"\n"])
def test_an_empty_file_has_the_same_columns(kind: str, content: bytes) -> None:
    frame = quiet(kind, content)
    assert (SCHEMAS[kind], 0) == (frame.schema, frame.height)


def test_money_is_exact_minor_units_per_currency() -> None:
    frame = quiet(
        ITEMIZED,
        csv(
            "tax_1,li_1,payment_intent,usd,2026-03-01 10:00:00,2026-03-01,US,CA,state,California,0.0725,"
            "599.00,599.00,43.42,usd,43.42,1",
            "tax_2,li_2,refund,jpy,2026-03-01 10:00:00,2026-03-01,JP,,country,Japan,0.10,-7000,-7000,-700,"
            "jpy,-700,1",
            "tax_3,li_3,invoice,BHD,2026-03-01 10:00:00,2026-03-01,BH,,country,Bahrain,0.10,18.500,18.500,"
            "1.850,"
            "bhd,1.850,1",
        ),
    )
    expected = [("US-CA", 59_900, 4_342), ("JP", -7_000, -700), ("BH", 18_500, 1_850)]
    assert expected == frame.select("jurisdiction", "subtotal", "tax_amount").rows()
    assert frame["filing_tax_amount"].to_list() == [4_342, -700, 1_850]
    assert frame["currency"].to_list() == ["usd", "jpy", "bhd"]
    assert frame["tax_rate"].to_list() == [Decimal("0.0725"), Decimal("0.1"), Decimal("0.1")]


def test_transaction_dates_are_utc_from_the_runs_timezone_and_tax_dates_are_dates() -> None:
    row = "tax_1,li_1,payment_intent,eur,2026-03-01 00:30:00,2026-02-28,DE,,country,Germany,0.19,10.00,10.00,"
    frame = quiet(ITEMIZED, csv(row + "1.90,eur,1.90,1"), timezone="Europe/Berlin")
    assert frame["transaction_date"].item() == datetime(2026, 2, 28, 23, 30, tzinfo=UTC)
    assert frame["tax_date"].item() == date(2026, 2, 28)


def test_a_comma_decimal_separator() -> None:
    content = b"id,line_item_id,currency,transaction_date,country_code,tax_amount\n"
    content += b'tax_1,li_1,eur,2026-03-01 10:00:00,FR,"1.234,56"\n'
    frame = quiet(ITEMIZED, content, decimal_separator=",")
    assert frame["tax_amount"].item() == 123_456


def test_more_decimals_than_the_currency_has_is_an_error_naming_the_value() -> None:
    row = "tax_1,li_1,payment_intent,jpy,2026-03-01 10:00:00,2026-03-01,JP,,country,Japan,0.10,10.5,10.5,"
    with pytest.raises(ReportFormatError, match=r"'subtotal' on data row 1 is '10\.5'"):
        quiet(ITEMIZED, csv(row + "1,jpy,1,1"))


def test_an_amount_that_is_not_a_number_is_an_error() -> None:
    row = "tax_1,li_1,payment_intent,usd,2026-03-01 10:00:00,2026-03-01,US,NY,state,New York,0.04,ten,10.00,"
    with pytest.raises(ReportFormatError, match="'subtotal' on data row 1 is 'ten'"):
        quiet(ITEMIZED, csv(row + "0.40,usd,0.40,1"))


def test_an_unknown_currency_keeps_null_amounts_with_a_warning() -> None:
    row = "tax_1,li_1,payment_intent,xcg,2026-03-01 10:00:00,2026-03-01,CW,,country,Curacao,0.06,10.00,10.00,"
    with pytest.warns(SchemaDriftWarning, match=r"currencies finlab does not know \(xcg\)"):
        frame = parse_report(ITEMIZED, csv(row + "0.60,xcg,0.60,1"))
    assert frame["tax_amount"].to_list() == [None]


def test_a_missing_needed_column_is_an_error_naming_it_and_the_fix() -> None:
    with pytest.raises(ReportFormatError, match=r"no tax_amount column.*default columns"):
        parse_report(
            ITEMIZED,
            b"id,line_item_id,currency,transaction_date,country_code\ntax_1,li_1,usd,2026-03-01,US\n",
        )


def test_missing_optional_and_unknown_columns_warn_and_keep_the_schema() -> None:
    content = b"id,line_item_id,currency,transaction_date,country_code,tax_amount,invoice_metadata[plan]\n"
    content += b"tax_1,li_1,usd,2026-03-01 10:00:00,US,1.00,gold\n"
    with pytest.warns(SchemaDriftWarning) as caught:
        frame = parse_report(ITEMIZED_EXPORT, content)
    messages = " | ".join(str(w.message) for w in caught)
    assert "invoice_metadata[plan]" in messages
    assert "refund_id" in messages
    assert frame.schema == SCHEMAS[ITEMIZED_EXPORT]
    assert (frame["refund"].item(), frame["tax_amount"].item()) == (None, 100)


def test_unknown_report_type_timezone_or_separator_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match=r"Unknown tax report type 'balance\.summary\.1'"):
        parse_report("balance.summary.1", b"")
    with pytest.raises(ConfigurationError, match=r"timezone 'Mars/Olympus'"):
        parse_report(ITEMIZED, b"", timezone="Mars/Olympus")
    with pytest.raises(ConfigurationError, match="decimal_separator"):
        parse_report(ITEMIZED, b"", decimal_separator=";")


def test_summarized_totals_equal_the_itemized_ones(demo_files: dict[str, bytes]) -> None:
    itemized = parse_report(ITEMIZED, demo_files[ITEMIZED])
    summarized = parse_report(SUMMARIZED_EXPORT, demo_files[SUMMARIZED_EXPORT])
    per = ["currency"]
    assert (
        itemized.group_by(per)
        .agg(pl.col("tax_amount").sum())
        .sort(per)
        .equals(summarized.group_by(per).agg(pl.col("tax_amount").sum()).sort(per))
    )


def test_us_lines_have_state_county_and_city_rows_adding_up_to_the_line(demo_files: dict[str, bytes]) -> None:
    frame = parse_report(ITEMIZED_EXPORT, demo_files[ITEMIZED_EXPORT])
    taxed = frame.filter((pl.col("country_code") == "US") & (pl.col("taxability") == "taxable"))
    levels = taxed.group_by("tax_transaction", "line_item").agg(pl.col("jurisdiction_level").sort())
    assert set(map(tuple, levels["jurisdiction_level"].to_list())) == {("city", "county", "state")}
    assert frame["refund"].drop_nulls().str.starts_with("re_").all()
