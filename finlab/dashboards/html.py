r"""HTML for KPI tiles and tables: shared by the dashboards and the static report.

Money is shown in major units with its currency code (``1,234.56 USD``, ``1,500 JPY``), using the
``<name>_major`` Decimal column the analysis puts beside every Int64 minor-unit column ``<name>``.
Markup carries stable classes and ``data-*`` attributes (``finlab-kpi-tile``, ``data-name``,
``data-currency``, ``data-column``) so that browser tests can find and read values. Styles are inline:
no stylesheet or font is fetched.

Examples
--------
>>> from decimal import Decimal
>>> format_money(Decimal("1234.5"), "usd"), format_money(Decimal("1500"), "jpy")
('1,234.50 USD', '1,500 JPY')
>>> Kpi("Net", money={"usd": Decimal("12.5")}).lines()
['12.50 USD']
>>> script_json({"state": "<!--<script>"})
'{"state": "\\u003c!--\\u003cscript\\u003e"}'
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from html import escape

import polars as pl

from finlab.money import exponent, is_known, to_major
from finlab.resources import MAJOR_SUFFIX

__all__ = [
    "MAX_TABLE_ROWS",
    "MISSING",
    "Kpi",
    "format_money",
    "format_value",
    "kpi_html",
    "script_json",
    "table_html",
]

#: Rows a table shows; the frame behind it keeps them all.
MAX_TABLE_ROWS = 400
#: Shown where a value is unknown or there is nothing to show.
MISSING = "—"

TILE_STYLE = (
    "border:1px solid #e4e7eb;border-radius:6px;padding:8px 12px;min-width:150px;"
    "font-family:'Segoe UI','Helvetica Neue',Arial,sans-serif;color:#1f2933"
)
LABEL_STYLE = "font-size:12px;color:#52606d"
VALUE_STYLE = "font-size:18px;font-weight:600;white-space:nowrap"
TABLE_STYLE = (
    "border-collapse:collapse;font-size:12px;font-family:'Segoe UI','Helvetica Neue',Arial,sans-serif"
)
CELL_STYLE = "padding:2px 8px;border-bottom:1px solid #e4e7eb"


@dataclass(frozen=True)
class Kpi:
    """One KPI tile: a label and either money per currency (major units), a single number, or a word.

    ``money`` maps lower-case currency codes to Decimal major units; amounts in two currencies are
    never added up, so a tile shows one line per currency. ``number`` is a count or a quantity shown
    with ``unit`` (``"t"`` for tonnes). ``text`` is a status in words (``"matched"``), shown as is.
    """

    label: str
    money: Mapping[str, Decimal] = field(default_factory=dict)
    number: int | Decimal | None = None
    unit: str = ""
    text: str | None = None

    def lines(self) -> list[str]:
        """The tile's values as display text, one line per currency (``["—"]`` when empty)."""
        if self.money:
            return [format_money(amount, code) for code, amount in sorted(self.money.items())]
        if self.text is not None:
            return [self.text]
        if self.number is None:
            return [MISSING]
        text = f"{self.number:,}" if isinstance(self.number, int) else f"{self.number:,.3f}"
        return [f"{text} {self.unit}".strip()]


def format_money(amount: Decimal | int | None, currency: str) -> str:
    """``1,234.56 USD``: major units with the currency's own number of decimals.

    For a currency finlab does not know (`finlab.money.is_known`) ``amount`` is in minor units, and
    says so: ``123,456 XCG (minor units)``. It never guesses the decimals.
    """
    if amount is None:
        return MISSING
    spec, suffix = _money_format(currency)
    return f"{amount:{spec}}{suffix}"


def _money_format(currency: str) -> tuple[str, str]:
    """How `format_money` writes amounts of ``currency``: the number's format spec and the suffix."""
    if not is_known(currency):
        return ",", f" {currency.upper()} (minor units)"
    return f",.{exponent(currency)}f", f" {currency.upper()}"


def format_minor(amount: int | None, currency: str) -> str:
    """Like `format_money`, from integer minor units: ``format_minor(123456, "usd") == "1,234.56 USD"``.

    The safe choice for any frame column of minor units: a currency finlab does not know is shown as
    minor units, and says so, instead of failing or guessing.
    """
    if amount is None:
        return MISSING
    return format_money(to_major(amount, currency) if is_known(currency) else amount, currency)


def unknown_currency_notes(currencies: Iterable[str]) -> tuple[str, ...]:
    """One note per currency code finlab does not know: its amounts are shown in minor units."""
    return tuple(
        f"{code.upper()}: finlab does not know this currency's decimals, so its amounts are shown in "
        "minor units, exactly as Stripe sent them, and are never added to another currency."
        for code in sorted({c.lower() for c in currencies if c and not is_known(c)})
    )


def format_value(value: object) -> str:
    """A cell value as text: dates ISO, decimals without trailing zeros, floats to 3 decimals."""
    if value is None:
        return MISSING
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value.normalize():,f}"
    if isinstance(value, float):
        return f"{value:,.3f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(format_value(item) for item in value)
    return str(value)


def kpi_html(name: str, kpi: Kpi) -> str:
    """One tile: ``<div class="finlab-kpi-tile" data-name=...>`` with its label and value lines."""
    values = "".join(
        f'<div class="finlab-kpi-value" data-currency="{escape(code)}" style="{VALUE_STYLE}">'
        f"{escape(format_money(amount, code))}</div>"
        for code, amount in sorted(kpi.money.items())
    ) or "".join(
        f'<div class="finlab-kpi-value" style="{VALUE_STYLE}">{escape(line)}</div>' for line in kpi.lines()
    )
    return (
        f'<div class="finlab-kpi-tile" data-name="{escape(name)}" style="{TILE_STYLE}">'
        f'<div class="finlab-kpi-label" style="{LABEL_STYLE}">{escape(kpi.label)}</div>{values}</div>'
    )


def table_html(frame: pl.DataFrame, name: str, *, max_rows: int = MAX_TABLE_ROWS) -> str:
    """An HTML table of ``frame``; each money column shows its ``_major`` twin with the row's currency.

    Shows at most ``max_rows`` rows and says how many were left out. Cells are made a column at a
    time (`_cells`), each column's formatting chosen once from its type.
    """
    money = {c for c in frame.columns if c + MAJOR_SUFFIX in frame.columns and "currency" in frame.columns}
    columns = [
        c for c in frame.columns if not (c.endswith(MAJOR_SUFFIX) and c.removesuffix(MAJOR_SUFFIX) in money)
    ]
    head = "".join(
        f'<th data-column="{escape(c)}" style="{CELL_STYLE};text-align:left">{escape(_header(c))}</th>'
        for c in columns
    )
    shown = frame.head(max_rows)
    cells = [_cells(shown, column, column in money) for column in columns]
    body = ["<tr>" + "".join(row) + "</tr>" for row in zip(*cells, strict=True)]
    if frame.is_empty():
        body.append(
            f'<tr><td colspan="{len(columns)}" style="{CELL_STYLE}">No rows for this selection.</td></tr>'
        )
    note = ""
    if frame.height > max_rows:
        note = (
            f'<p class="finlab-table-note">Showing the first {max_rows:,} of {frame.height:,} rows; '
            "the dashboard's frames hold them all.</p>"
        )
    return (
        f'<table class="finlab-table" data-name="{escape(name)}" style="{TABLE_STYLE}">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{note}"
    )


def _cells(frame: pl.DataFrame, column: str, money: bool) -> list[str]:
    """Each row's ``<td>`` of ``column``: money with its currency, numbers right-aligned (not nulls)."""
    tag = f'<td data-column="{escape(column)}" style="{CELL_STYLE};text-align:'
    left, right = f'{tag}left">', f'{tag}right">'
    if money:
        return _money_cells(frame, column, right)
    values = frame.get_column(column).to_list()
    dtype = frame.schema[column]
    if dtype.is_numeric() or dtype == pl.Boolean:  # digits and signs: nothing to escape
        return [f"{left}{MISSING}</td>" if v is None else f"{right}{format_value(v)}</td>" for v in values]
    if dtype.is_temporal():
        return [f"{left}{format_value(v)}</td>" for v in values]
    return [f"{left}{escape(format_value(v))}</td>" for v in values]


def _money_cells(frame: pl.DataFrame, column: str, opening: str) -> list[str]:
    """Money cells as `format_money` writes them: major units, or minor ones for a currency finlab does
    not know; each currency's format is worked out once."""
    codes = [code or "" for code in frame.get_column("currency").to_list()]
    majors = frame.get_column(column + MAJOR_SUFFIX).to_list()
    formats = {code: (is_known(code), *_money_format(code)) for code in set(codes)}
    ends = {code: f"{escape(suffix)}</td>" for code, (_, _, suffix) in formats.items()}
    cells = []
    for code, major, minor in zip(codes, majors, frame.get_column(column).to_list(), strict=True):
        known, spec, _ = formats[code]
        amount = major if known else minor
        text = MISSING + "</td>" if amount is None else f"{amount:{spec}}{ends[code]}"
        cells.append(opening + text)
    return cells


def _header(column: str) -> str:
    return column.replace("_", " ").capitalize()


#: ``<``, ``>`` and ``&`` as JSON escapes: raw, ``</script>`` ends a script early and ``<!--<script>``
#: makes the HTML parser read past the real ``</script>``, swallowing the rest of the page.
_SCRIPT_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def script_json(value: object) -> str:
    """``value`` as JSON that is safe inside an HTML ``<script>`` element (the same value once parsed)."""
    return json.dumps(value).translate(_SCRIPT_ESCAPES)
