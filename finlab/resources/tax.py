"""Stripe Tax: transactions and their line items, calculations, registrations and settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from finlab.resources.model import CURRENCY_KEY, PARENT_KEY, Col, Resource, first_value

ADDRESS = ("city", "country", "line1", "line2", "postal_code", "state")

TAX_BREAKDOWN = pl.Struct(
    {
        "amount": pl.Int64,
        "inclusive": pl.Boolean,
        "taxability_reason": pl.String,
        "taxable_amount": pl.Int64,
        "tax_rate_details": pl.Struct(
            {"country": pl.String, "state": pl.String, "percentage_decimal": pl.String, "tax_type": pl.String}
        ),
    }
)

TAX_BEHAVIOR = ("exclusive", "inclusive")
TAXABILITY_OVERRIDE = ("customer_exempt", "none", "reverse_charge")


def _customer_details() -> tuple[Col, ...]:
    return (
        *(Col(f"customer_details.address.{part}") for part in ADDRESS),
        Col("customer_details.address_source", enum=("billing", "shipping")),
        Col("customer_details.taxability_override", enum=TAXABILITY_OVERRIDE),
        # The types only (``eu_vat``, ...): a buyer with a tax id buys as a business. The ids stay out.
        Col("customer_details.tax_id_types", "strings", derive=_tax_id_types),
    )


def _tax_id_types(obj: Mapping[str, Any]) -> list[str] | None:
    details = obj.get("customer_details")
    tax_ids = details.get("tax_ids") if isinstance(details, Mapping) else None
    if not isinstance(tax_ids, list):
        return None
    return [str(entry.get("type")) for entry in tax_ids if isinstance(entry, Mapping)]


def _tax_line_item_columns(parent: str) -> tuple[Col, ...]:
    return (
        Col("id"),
        Col(parent, derive=lambda o: o.get(PARENT_KEY)),
        Col("reference"),
        Col("product"),
        Col("quantity", "int"),
        Col("amount", "money"),
        Col("amount_tax", "money"),
        Col("currency", derive=lambda o: o.get(CURRENCY_KEY)),
        Col("tax_behavior", enum=TAX_BEHAVIOR),
        Col("tax_code"),
        Col("livemode", "bool"),
        Col("metadata", "json"),
    )


#: Stripe Tax objects (transactions and calculations have no list endpoint).
TAX: tuple[Resource, ...] = (
    Resource(
        "tax.transaction",
        "tax_transactions",
        "tax_",
        "rak_tax_transaction_read",
        (
            Col("id"),
            Col("type", enum=("reversal", "transaction")),
            Col("reference"),
            Col("currency"),
            Col("customer"),
            *_customer_details(),
            Col("reversal.original_transaction"),
            Col("shipping_cost.amount", "money"),
            Col("shipping_cost.amount_tax", "money"),
            Col("shipping_cost.tax_behavior", enum=TAX_BEHAVIOR),
            Col("tax_date", "time"),
            Col("posted_at", "time"),
            Col("created", "time"),
            Col("livemode", "bool"),
            Col("metadata", "json"),
        ),
        retrieve_path="/v1/tax/transactions/{id}",
        hidden=frozenset({"object", "line_items", "ship_from_details"}),
        mutable=False,
    ),
    Resource(
        "tax.transaction_line_item",
        "tax_line_items",
        "tax_li_",
        "rak_tax_transaction_read",
        (
            *_tax_line_item_columns("tax_transaction"),
            Col("type", enum=("reversal", "transaction")),
            Col("reversal.original_line_item"),
        ),
        list_path="/v1/tax/transactions/{parent}/line_items",
        parent="tax.transaction",
        hidden=frozenset({"object", PARENT_KEY, CURRENCY_KEY}),
        mutable=False,
    ),
    Resource(
        "tax.calculation",
        "tax_calculations",
        "taxcalc_",
        "rak_tax_calculation_read",
        (
            Col("id"),
            Col("currency"),
            Col("customer"),
            *_customer_details(),
            Col("amount_total", "money"),
            Col("tax_amount_exclusive", "money"),
            Col("tax_amount_inclusive", "money"),
            Col("shipping_cost.amount", "money"),
            Col("shipping_cost.amount_tax", "money"),
            Col("tax_breakdown", "struct", dtype=pl.List(TAX_BREAKDOWN)),
            Col("tax_date", "time"),
            Col("expires_at", "time"),
            Col("livemode", "bool"),
        ),
        retrieve_path="/v1/tax/calculations/{id}",
        hidden=frozenset({"object", "line_items", "ship_from_details"}),
        mutable=False,
    ),
    Resource(
        "tax.calculation_line_item",
        "tax_calculation_line_items",
        "tax_li_",
        "rak_tax_calculation_read",
        _tax_line_item_columns("tax_calculation"),
        list_path="/v1/tax/calculations/{parent}/line_items",
        parent="tax.calculation",
        hidden=frozenset({"object", "tax_breakdown", PARENT_KEY, CURRENCY_KEY}),
        mutable=False,
    ),
    Resource(
        "tax.registration",
        "tax_registrations",
        "taxreg_",
        "rak_tax_registration_read",
        (
            Col("id"),
            Col("country"),
            Col("state", derive=first_value(("country_options",), "state")),
            Col("registration_type", derive=first_value(("country_options",), "type")),
            Col("status", enum=("active", "expired", "scheduled")),
            Col("active_from", "time"),
            Col("expires_at", "time"),
            Col("created", "time"),
            Col("livemode", "bool"),
        ),
        list_path="/v1/tax/registrations",
        retrieve_path="/v1/tax/registrations/{id}",
        filters=frozenset({"status"}),
        hidden=frozenset({"object", "country_options"}),
    ),
    Resource(
        "tax.settings",
        "tax_settings",
        "",
        "rak_tax_settings_read",
        (
            Col("status", enum=("active", "pending")),
            Col("defaults.provider", enum=("anrok", "avalara", "sphere", "stripe")),
            Col("defaults.tax_behavior", enum=("exclusive", "inclusive", "inferred_by_currency")),
            Col("defaults.tax_code"),
            *(Col(f"head_office.address.{part}") for part in ADDRESS),
            Col("livemode", "bool"),
        ),
        retrieve_path="/v1/tax/settings",
        hidden=frozenset({"object", "status_details"}),
    ),
)
