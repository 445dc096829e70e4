"""Stripe Tax's report files (Reporting API CSVs) -> typed Polars frames, one schema per report type.

`parse_report(kind, content)` is a pure function of the CSV bytes: no HTTP here. Each report type has
one explicit schema (`SCHEMAS`); the CSV is read with Polars' reader, every column as text, then
converted:

- money (``subtotal``, ``taxable_amount``, ``non_taxable_amount``, ``tax_amount``, ``total``) in
  integer minor units of the row's ``currency``, the ``filing_*`` amounts in minor units of its
  ``filing_currency`` (``finlab.money``: JPY has none, BHD three). A value with more decimals than its
  currency has raises `ReportFormatError` (finlab never rounds money); a currency finlab does not know
  keeps null amounts, with a `SchemaDriftWarning`;
- ``transaction_date`` a UTC datetime (the CSV has it in the run's ``timezone``), ``tax_date`` a date;
- ``tax_rate``, ``filing_exchange_rate`` and ``quantity_decimal`` exact decimals;
- Stripe's ``id``, ``line_item_id``, ``payment_intent_id`` and ``refund_id`` become
  ``tax_transaction``, ``line_item``, ``payment_intent`` and ``refund``, and ``jurisdiction`` is added in
  finlab's form (``"US-CA"``, ``"DE"``: country, and state where there is one), as in
  `finlab.analysis.tax`.

A column the schema has but the CSV lacks (a run made with ``columns``) is null, with one warning,
unless the report type cannot be read without it (`REQUIRED`): then `ReportFormatError` names it. A
column the schema does not know is dropped, with one warning. An empty file gives the same columns.

Column sources: ``tax.transactions.itemized.2`` from Stripe's "Tax report type" page
(docs.stripe.com/reports/report-types/tax); the other two, which that page does not list, as
`finlab.demo.tax_exports` describes.

Examples
--------
>>> csv = b"id,line_item_id,currency,transaction_date,country_code,state_code,tax_amount\\n"
>>> csv += b"tax_1,tax_li_1,jpy,2026-03-01 10:00:00,JP,,100\\n"
>>> import warnings
>>> with warnings.catch_warnings():  # the example has only the columns finlab needs: it warns
...     warnings.simplefilter("ignore")
...     frame = parse_report("tax.transactions.itemized.2", csv)
>>> frame.select("jurisdiction", "tax_amount", "transaction_date").row(0)
('JP', 100, datetime.datetime(2026, 3, 1, 10, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')))
"""

from __future__ import annotations

import io
import warnings
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from finlab.errors import ConfigurationError, ReportFormatError, SchemaDriftWarning
from finlab.money import exponent_expr

ITEMIZED = "tax.transactions.itemized.2"
ITEMIZED_EXPORT = "tax.itemized_export.1"
SUMMARIZED_EXPORT = "tax.summarized_export.1"
REPORT_TYPES = (ITEMIZED, ITEMIZED_EXPORT, SUMMARIZED_EXPORT)
UTC_DATETIME = pl.Datetime("us", "UTC")
RATE_DTYPE = pl.Decimal(38, 12)
MONEY = ("subtotal", "taxable_amount", "non_taxable_amount", "tax_amount", "total")
FILING_MONEY = ("filing_taxable_amount", "filing_non_taxable_amount", "filing_tax_amount", "filing_total")
#: Stripe's column name -> finlab's.
RENAMED = {
    "id": "tax_transaction",
    "line_item_id": "line_item",
    "payment_intent_id": "payment_intent",
    "refund_id": "refund",
}
_TEXT = pl.String()
_PLACE = {"country_code": _TEXT, "state_code": _TEXT, "jurisdiction": _TEXT}
_LEVEL = {"jurisdiction_level": _TEXT, "jurisdiction_name": _TEXT, "tax_name": _TEXT, "tax_rate": RATE_DTYPE}
_FILING = {"filing_currency": _TEXT, **dict.fromkeys(FILING_MONEY, pl.Int64())}
_ITEMIZED = {
    "tax_transaction": _TEXT,
    "line_item": _TEXT,
    "type": _TEXT,
    "currency": _TEXT,
    "transaction_date": UTC_DATETIME,
    "tax_date": pl.Date(),
    **_PLACE,
    "destination_resolved_address_country": _TEXT,
    "destination_resolved_address_state": _TEXT,
    "origin_resolved_address_country": _TEXT,
    "origin_resolved_address_state": _TEXT,
    "customer_tax_id": _TEXT,
    **_LEVEL,
    "taxability": _TEXT,
    "taxability_reason": _TEXT,
    "tax_code": _TEXT,
    "quantity": pl.Int64(),
    "quantity_decimal": RATE_DTYPE,
    **dict.fromkeys(MONEY, pl.Int64()),
    "filing_exchange_rate": RATE_DTYPE,
    **_FILING,
}
#: The frame each report type parses into.
SCHEMAS: dict[str, pl.Schema] = {
    ITEMIZED: pl.Schema(_ITEMIZED),
    ITEMIZED_EXPORT: pl.Schema(
        {
            **_ITEMIZED,
            "destination_resolved_address_city": _TEXT,
            "destination_resolved_address_postal_code": _TEXT,
            "payment_intent": _TEXT,
            "refund": _TEXT,
            "tax_behavior": _TEXT,
            "tax_type": _TEXT,
        }
    ),
    SUMMARIZED_EXPORT: pl.Schema(
        {
            **_PLACE,
            **_LEVEL,
            "currency": _TEXT,
            **{name: pl.Int64() for name in MONEY if name != "subtotal"},
            **_FILING,
        }
    ),
}
_ITEMIZED_NEEDS = ("id", "line_item_id", "currency", "transaction_date", "country_code", "tax_amount")
#: Stripe columns without which a report type cannot be read.
REQUIRED: dict[str, tuple[str, ...]] = {
    ITEMIZED: _ITEMIZED_NEEDS,
    ITEMIZED_EXPORT: _ITEMIZED_NEEDS,
    SUMMARIZED_EXPORT: ("country_code", "currency", "tax_amount"),
}
_DERIVED = frozenset({"jurisdiction"})
_FINLAB_TO_STRIPE = {value: key for key, value in RENAMED.items()}


def parse_report(
    kind: str, content: bytes, *, timezone: str = "Etc/UTC", decimal_separator: str = "."
) -> pl.DataFrame:
    """Return the report file ``content`` of report type ``kind`` as a frame with ``SCHEMAS[kind]``.

    ``timezone`` is the run's ``timezone`` parameter (its ``transaction_date`` values are local
    times there); ``decimal_separator`` its ``decimal_separator`` (``"."`` or ``","``).

    Raises
    ------
    ConfigurationError
        An unknown report type, timezone or decimal separator.
    ReportFormatError
        The file lacks a column the report type needs, or holds a value that is not what its column says.
    """
    schema = _schema(kind)
    zone = _zone(timezone)
    if decimal_separator not in {".", ","}:
        msg = f"decimal_separator is {decimal_separator!r}; Stripe's reports use '.' or ','."
        raise ConfigurationError(msg)
    raw = _read(content)
    columns = _check_columns(kind, raw.columns, schema)
    raw = raw.select(pl.col(name) for name in raw.columns if name in columns.values())
    for name in columns.values():
        if name not in raw.columns:
            raw = raw.with_columns(pl.lit(None, pl.String).alias(name))
    frame = raw.rename({stripe: finlab for finlab, stripe in columns.items() if stripe in raw.columns})
    frame = frame.with_columns(jurisdiction=_jurisdiction())
    converted = frame.select(_convert(name, dtype, zone, decimal_separator) for name, dtype in schema.items())
    _check_money(frame, converted, kind, decimal_separator)
    return converted


def _schema(kind: str) -> pl.Schema:
    if kind not in SCHEMAS:
        msg = f"Unknown tax report type {kind!r}. finlab reads {', '.join(REPORT_TYPES)}."
        raise ConfigurationError(msg)
    return SCHEMAS[kind]


def _zone(timezone: str) -> str:
    try:
        return ZoneInfo(timezone).key
    except (ZoneInfoNotFoundError, ValueError):
        msg = (
            f"Unknown timezone {timezone!r}: pass the report run's IANA 'timezone' parameter, e.g. 'Etc/UTC'."
        )
        raise ConfigurationError(msg) from None


def _read(content: bytes) -> pl.DataFrame:
    if not content.strip():
        return pl.DataFrame()
    try:
        return pl.read_csv(io.BytesIO(content), infer_schema=False)
    except pl.exceptions.PolarsError as error:
        msg = f"The report file is not a CSV Polars can read ({type(error).__name__}: {error})."
        raise ReportFormatError(msg) from None


def _check_columns(kind: str, present: list[str], schema: pl.Schema) -> dict[str, str]:
    """Return finlab column -> Stripe column for every schema column read from the file."""
    wanted = {name: _FINLAB_TO_STRIPE.get(name, name) for name in schema if name not in _DERIVED}
    if present:
        missing = [name for name in REQUIRED[kind] if name not in present]
        if missing:
            msg = (
                f"This {kind} file has no {', '.join(missing)} column(s), which finlab needs to read it. "
                "Create the report run with the report type's default columns, or include them in 'columns'."
            )
            raise ReportFormatError(msg)
        absent = sorted(stripe for stripe in wanted.values() if stripe not in present)
        unknown = sorted(set(present) - set(wanted.values()))
        if absent:
            warnings.warn(
                f"The {kind} file has no {', '.join(absent)} column(s); they are null in the frame.",
                SchemaDriftWarning,
                stacklevel=3,
            )
        if unknown:
            warnings.warn(
                f"The {kind} file has column(s) finlab does not know, left out of the frame: "
                f"{', '.join(unknown)}.",
                SchemaDriftWarning,
                stacklevel=3,
            )
    return wanted


def _jurisdiction() -> pl.Expr:
    country = pl.col("country_code").str.strip_chars().str.to_uppercase()
    state = pl.col("state_code").str.strip_chars().str.to_uppercase()
    return (
        pl.when(state.is_not_null() & (state != ""))
        .then(pl.concat_str(country, pl.lit("-"), state))
        .otherwise(country)
    )


def _convert(name: str, dtype: pl.DataType, zone: str, separator: str) -> pl.Expr:
    text = pl.col(name).str.strip_chars()
    text = pl.when(text == "").then(None).otherwise(text)
    if dtype == pl.Int64 and name != "quantity":
        currency = "filing_currency" if name.startswith("filing_") else "currency"
        return _minor(text, separator, pl.col(currency)).alias(name)
    if dtype == pl.Int64:
        return text.cast(pl.Int64, strict=False).alias(name)
    if isinstance(dtype, pl.Decimal):
        return text.str.replace(",", ".", literal=True).cast(dtype, strict=False).alias(name)
    if dtype == pl.Date:
        return text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).alias(name)
    if isinstance(dtype, pl.Datetime):
        local = text.str.replace("T", " ", literal=True).str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False)
        return local.dt.replace_time_zone(zone).dt.convert_time_zone("UTC").cast(UTC_DATETIME).alias(name)
    if name in {"currency", "filing_currency"}:
        return text.str.to_lowercase().alias(name)
    return text.alias(name)


def _minor(text: pl.Expr, separator: str, currency: pl.Expr) -> pl.Expr:
    """Exact major units (decimal text) -> Int64 minor units of each row's currency."""
    if separator == ",":
        text = text.str.replace(".", "", literal=True).str.replace(",", ".", literal=True)
    value = text.cast(pl.Decimal(38, 9), strict=False)
    scaled = value * pl.lit(10, pl.Int64).pow(exponent_expr(currency.str.strip_chars())).cast(
        pl.Decimal(38, 0)
    )
    return scaled.cast(pl.Int64, strict=False)


def _check_money(raw: pl.DataFrame, frame: pl.DataFrame, kind: str, separator: str) -> None:
    """Raise on a value that is not money in its currency; warn once per column for unknown currencies."""
    rows = raw.with_row_index("row")
    for name in (n for n in frame.columns if frame.schema[n] == pl.Int64 and n != "quantity"):
        currency = "filing_currency" if name.startswith("filing_") else "currency"
        exponent = exponent_expr(pl.col(currency).str.strip_chars())
        text = pl.col(name).str.strip_chars()
        if separator == ",":
            text = text.str.replace(".", "", literal=True).str.replace(",", ".", literal=True)
        decimals = text.str.extract(r"\.(\d*?)0*$").str.len_chars().fill_null(0)
        unreadable = text.cast(pl.Decimal(38, 9), strict=False).is_null()
        given = text.is_not_null() & (text != "")
        bad = rows.filter(given & exponent.is_not_null() & (unreadable | (decimals > exponent)))
        if bad.height:
            row, value = bad.select("row", name).row(0)
            msg = (
                f"The {kind} file's {name!r} on data row {row + 1} is {value!r}: not an amount in its "
                "currency (a number with at most as many decimals as the currency has)."
            )
            raise ReportFormatError(msg)
        unknown = rows.filter(given & exponent.is_null())[currency].unique().sort().to_list()
        if unknown:
            warnings.warn(
                f"The {kind} file has {name} in currencies finlab does not know "
                f"({', '.join(map(str, unknown))}): it is null there, as the number of decimals is unknown.",
                SchemaDriftWarning,
                stacklevel=3,
            )
