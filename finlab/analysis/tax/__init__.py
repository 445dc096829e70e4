"""Stripe Tax liability per filing period and jurisdiction, and what to file under each registration.

Start from `tax_lines`: it joins ``tax.transaction_line_item`` rows to their ``tax.transaction``
(``tax_transaction`` -> ``id``) for the jurisdiction (customer address country, and state where there
is one), the dates and the type. Every other function takes those joined lines. Each rule, with
Stripe's definition behind it, is written down in the module that applies it:

- :mod:`finlab.analysis.tax.lines`: the joined lines (`tax_lines`): taxable and gross amounts from
  ``tax_behavior``, line types and reversals, shipping costs as lines.
- :mod:`finlab.analysis.tax.registrations`: which one registration a line is filed under
  (`assign_registrations`: EU schemes, standard and US state registrations, business buyers), and
  what needs attention (`registration_flags`).
- :mod:`finlab.analysis.tax.liability`: the sums per filing period, by ``posted_at`` (the default)
  or ``tax_date``: per jurisdiction (`tax_liability`) and per registration (`filing_summary`).
- :mod:`finlab.analysis.tax.detail`: the filing summary from Stripe's itemized export, with its
  county and city rows and filing-currency amounts (`filing_summary(..., report=...)`).

Examples
--------
>>> from finlab.frames import build
>>> transactions = build("tax.transaction", [
...     {"id": "tax_1", "type": "transaction", "currency": "usd", "tax_date": 1705312800,
...      "posted_at": 1705312800, "customer_details": {"address": {"country": "US", "state": "CA"}}},
... ])
>>> items = build("tax.transaction_line_item", [
...     {"id": "tax_li_1", "_parent": "tax_1", "_currency": "usd", "amount": 1499, "amount_tax": 148,
...      "tax_behavior": "exclusive", "type": "transaction"},
... ])
>>> liability = tax_liability(tax_lines(items, transactions), period="quarter")
>>> liability.select("jurisdiction", "period_start", "taxable_amount", "gross_amount", "net_tax").row(0)
('US-CA', datetime.date(2024, 1, 1), 1499, 1647, 148)
"""

from __future__ import annotations

# Names written `X as X` are the modules' supporting constants: importable from here as before the
# split, but not part of `__all__`.
from finlab.analysis.tax.detail import FILING_DETAIL_SCHEMA
from finlab.analysis.tax.liability import (
    BASES,
    FILING_PERIODS,
    FILING_SUMMARY_SCHEMA,
    TAX_LIABILITY_SCHEMA,
    filing_summary,
    tax_liability,
)
from finlab.analysis.tax.liability import TAX_MONEY as TAX_MONEY
from finlab.analysis.tax.lines import JURISDICTION as JURISDICTION
from finlab.analysis.tax.lines import LINE_ITEM_COLUMNS as LINE_ITEM_COLUMNS
from finlab.analysis.tax.lines import LINES as LINES
from finlab.analysis.tax.lines import SHIPPING_LINE as SHIPPING_LINE
from finlab.analysis.tax.lines import (
    TAX_LINES_SCHEMA,
    UNKNOWN_JURISDICTION,
    tax_lines,
)
from finlab.analysis.tax.lines import TRANSACTION_COLUMNS as TRANSACTION_COLUMNS
from finlab.analysis.tax.registrations import EU_MEMBER_STATES as EU_MEMBER_STATES
from finlab.analysis.tax.registrations import EU_SCHEME_RANKS as EU_SCHEME_RANKS
from finlab.analysis.tax.registrations import (
    EXPIRY_WARNING,
    FLAG_EXPIRING,
    FLAG_UNREGISTERED,
    NOT_REGISTERED,
    REGISTERED_LINES_SCHEMA,
    REGISTRATION_FLAGS_SCHEMA,
    assign_registrations,
    registration_flags,
)
from finlab.analysis.tax.registrations import OWN_JURISDICTION_RANK as OWN_JURISDICTION_RANK
from finlab.analysis.tax.registrations import REGISTRATION_COLUMNS as REGISTRATION_COLUMNS

__all__ = [
    "BASES",
    "EXPIRY_WARNING",
    "FILING_DETAIL_SCHEMA",
    "FILING_PERIODS",
    "FILING_SUMMARY_SCHEMA",
    "FLAG_EXPIRING",
    "FLAG_UNREGISTERED",
    "NOT_REGISTERED",
    "REGISTERED_LINES_SCHEMA",
    "REGISTRATION_FLAGS_SCHEMA",
    "TAX_LIABILITY_SCHEMA",
    "TAX_LINES_SCHEMA",
    "UNKNOWN_JURISDICTION",
    "assign_registrations",
    "filing_summary",
    "registration_flags",
    "tax_liability",
    "tax_lines",
]
