"""The registry: one `Resource` per Stripe object type finlab reads.

Each entry says where the objects live (list and retrieve paths), which list filters Stripe accepts,
which id prefix its ids carry, which read permission a restricted key needs, and which typed columns
its frame has (`Col`). The column list *is* the Polars schema: :mod:`finlab.frames` builds every frame
from it, so an empty result has the same columns as a full one.

Examples
--------
>>> RESOURCES["climate.order"].list_path
'/v1/climate/orders'
>>> schema("climate.order")["metric_tons"]
Decimal(precision=38, scale=9)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from finlab.errors import ConfigurationError

Kind = Literal["str", "int", "bool", "float", "time", "tons", "crypto", "money", "json", "strings", "struct"]
#: Kinds of a plain value (not a JSON blob or a struct): frames check its JSON type, wire parses it.
FLAT_KINDS: frozenset[str] = frozenset(
    {"str", "int", "bool", "float", "time", "tons", "crypto", "money", "strings"}
)

#: Polars types per column kind; "money" adds a ``<name>_major`` Decimal column next to the Int64.
DTYPES: dict[str, pl.DataType] = {
    "str": pl.String(),
    "int": pl.Int64(),
    "bool": pl.Boolean(),
    "float": pl.Float64(),
    "time": pl.Datetime("us", "UTC"),
    "tons": pl.Decimal(38, 9),
    "crypto": pl.Decimal(38, 18),
    "money": pl.Int64(),
    "json": pl.String(),
    "strings": pl.List(pl.String()),
}
MAJOR_SUFFIX = "_major"


@dataclass(frozen=True)
class Col:
    """One output column: its name, where its value sits in the object, and its kind.

    ``path`` defaults to the name split on ``.``; the column is named with ``_`` between the parts
    (``status_transitions.posted_at`` -> ``status_transitions_posted_at``). ``derive`` computes the
    value from the whole object instead. ``currency`` names the currency column of a money column.
    ``enum`` lists the values Stripe documents; others are kept and reported once.
    """

    spec: str
    kind: Kind = "str"
    currency: str = "currency"
    enum: tuple[str, ...] = ()
    dtype: pl.DataType | None = None
    derive: Callable[[Mapping[str, Any]], Any] | None = None

    @property
    def name(self) -> str:
        """The column name."""
        return self.spec.replace(".", "_")

    @property
    def path(self) -> tuple[str, ...]:
        """Keys from the object down to the value."""
        return tuple(self.spec.split("."))

    @property
    def polars_type(self) -> pl.DataType:
        """The column's Polars type."""
        if self.dtype is not None:
            return self.dtype
        return DTYPES[self.kind]


@dataclass(frozen=True)
class Resource:
    """Where a Stripe object type lives and what its frame looks like."""

    object: str
    method: str
    id_prefix: str
    permission: str
    columns: tuple[Col, ...]
    list_path: str | None = None
    retrieve_path: str | None = None
    filters: frozenset[str] = frozenset()
    parent: str | None = None
    hidden: frozenset[str] = frozenset()
    mutable: bool = True

    @property
    def schema(self) -> pl.Schema:
        """The frame's fixed Polars schema."""
        fields: dict[str, pl.DataType] = {}
        for col in self.columns:
            fields[col.name] = col.polars_type
            if col.kind == "money":
                fields[col.name + MAJOR_SUFFIX] = pl.Decimal(38, 3)
        return pl.Schema(fields)

    @property
    def known_fields(self) -> frozenset[str]:
        """Top-level fields finlab knows: surfaced as columns, or deliberately left out."""
        return frozenset(c.path[0] for c in self.columns) | self.hidden


def _first_value(mapping_path: tuple[str, ...], key: str | None = None) -> Callable[[Mapping[str, Any]], Any]:
    """Derive a value from the first entry of a map keyed by country or currency."""

    def get(obj: Mapping[str, Any]) -> Any:
        node: Any = obj
        for part in mapping_path:
            node = node.get(part) if isinstance(node, Mapping) else None
        if not isinstance(node, Mapping) or not node:
            return None
        first_key, value = next(iter(node.items()))
        if key is None:
            return first_key
        if key == "":
            return value
        return value.get(key) if isinstance(value, Mapping) else None

    return get


def _balance(kind: str) -> Callable[[Mapping[str, Any]], Any]:
    """An FC account's balance in its own currency (``current`` or ``available``)."""
    currency_of = _first_value(("balance", "current"))

    def get(obj: Mapping[str, Any]) -> Any:
        currency = currency_of(obj)
        balance = obj.get("balance") or {}
        source = balance.get("current") if kind == "current" else (balance.get("cash") or {}).get("available")
        return (source or {}).get(currency) if currency else None

    return get


ADDRESS = ("city", "country", "line1", "line2", "postal_code", "state")
LOCATION = pl.Struct(
    {
        "city": pl.String,
        "country": pl.String,
        "latitude": pl.Float64,
        "longitude": pl.Float64,
        "region": pl.String,
    }
)
SUPPLIER_REF = pl.Struct({"id": pl.String, "name": pl.String, "removal_pathway": pl.String})
DELIVERY = pl.Struct(
    {
        "delivered_at": pl.Datetime("us", "UTC"),
        "metric_tons": pl.Decimal(38, 9),
        "registry_url": pl.String,
        "location": LOCATION,
        "supplier": SUPPLIER_REF,
    }
)
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
REMOVAL_PATHWAYS = (
    "biomass_carbon_removal_and_storage",
    "direct_air_capture",
    "enhanced_weathering",
    "marine_carbon_removal",
)


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


#: Keys finlab adds to a line item it fetched under a parent: line items carry neither.
PARENT_KEY = "_parent"
CURRENCY_KEY = "_currency"
#: Resources the store keeps (here, so that reading without a store never imports Delta Lake). Identity,
#: forwarding and onramp objects stay out: their raw JSON holds personal or card data that must not land
#: on disk. Tax calculations are quotes that expire.
STORED = (
    "financial_connections.account",
    "financial_connections.transaction",
    "tax.transaction",
    "tax.transaction_line_item",
    "tax.registration",
    "tax.settings",
    "climate.order",
    "climate.product",
    "climate.supplier",
)


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


_RESOURCES: tuple[Resource, ...] = (
    Resource(
        "financial_connections.account",
        "accounts",
        "fca_",
        "rak_financial_connections_account_read",
        (
            Col("id"),
            Col("display_name"),
            Col("institution_name"),
            Col("last4"),
            Col("category", enum=("cash", "credit", "investment", "other")),
            Col(
                "subcategory",
                enum=("checking", "credit_card", "line_of_credit", "mortgage", "other", "savings"),
            ),
            Col("status", enum=("active", "disconnected", "inactive")),
            Col("currency", derive=_first_value(("balance", "current"))),
            Col("balance_current", "money", derive=_balance("current")),
            Col("balance_available", "money", derive=_balance("available")),
            Col("balance.as_of", "time"),
            Col("balance.type", enum=("cash", "credit")),
            Col("transaction_refresh.id"),
            Col("transaction_refresh.last_attempted_at", "time"),
            Col("transaction_refresh.status", enum=("failed", "pending", "succeeded")),
            Col("account_holder.type", enum=("account", "customer")),
            Col("account_holder.customer"),
            Col("permissions", "strings"),
            Col("subscriptions", "strings"),
            Col("created", "time"),
            Col("livemode", "bool"),
        ),
        list_path="/v1/financial_connections/accounts",
        retrieve_path="/v1/financial_connections/accounts/{id}",
        filters=frozenset({"account_holder", "session"}),
        hidden=frozenset(
            {
                "object",
                "balance",
                "balance_refresh",
                "ownership",
                "ownership_refresh",
                "supported_payment_method_types",
                "inactive_at",
                "status_details",
            }
        ),
    ),
    Resource(
        "financial_connections.transaction",
        "transactions",
        "fctxn_",
        "rak_financial_connections_transaction_read",
        (
            Col("id"),
            Col("account"),
            Col("amount", "money"),
            Col("currency"),
            Col("description"),
            Col("status", enum=("pending", "posted", "void")),
            Col("transacted_at", "time"),
            Col("status_transitions.posted_at", "time"),
            Col("status_transitions.void_at", "time"),
            Col("transaction_refresh"),
            Col("updated", "time"),
            Col("livemode", "bool"),
        ),
        list_path="/v1/financial_connections/transactions",
        retrieve_path="/v1/financial_connections/transactions/{id}",
        filters=frozenset({"account", "transacted_at", "transaction_refresh"}),
        hidden=frozenset({"object"}),
    ),
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
            Col("state", derive=_first_value(("country_options",), "state")),
            Col("registration_type", derive=_first_value(("country_options",), "type")),
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
    Resource(
        "climate.order",
        "climate_orders",
        "climorder_",
        "rak_climate_order_read",
        (
            Col("id"),
            Col("status", enum=("awaiting_funds", "canceled", "confirmed", "delivered", "open")),
            Col("product", derive=lambda o: p.get("id") if isinstance(p := o.get("product"), dict) else p),
            Col("metric_tons", "tons"),
            Col("currency"),
            Col("amount_subtotal", "money"),
            Col("amount_fees", "money"),
            Col("amount_total", "money"),
            Col("expected_delivery_year", "int"),
            Col("beneficiary.public_name"),
            Col("cancellation_reason", enum=("expired", "product_unavailable", "requested")),
            Col("certificate"),
            Col("created", "time"),
            Col("confirmed_at", "time"),
            Col("delayed_at", "time"),
            Col("delivered_at", "time"),
            Col("canceled_at", "time"),
            Col("product_substituted_at", "time"),
            Col("delivery_details", "struct", dtype=pl.List(DELIVERY)),
            Col("livemode", "bool"),
            Col("metadata", "json"),
        ),
        list_path="/v1/climate/orders",
        retrieve_path="/v1/climate/orders/{id}",
        hidden=frozenset({"object"}),
    ),
    Resource(
        "climate.product",
        "climate_products",
        "climsku_",
        "rak_climate_product_read",
        (
            Col("id"),
            Col("name"),
            Col("delivery_year", "int"),
            Col("metric_tons_available", "tons"),
            Col("suppliers", "struct", dtype=pl.List(SUPPLIER_REF)),
            Col("prices", "json", derive=lambda o: o.get("current_prices_per_metric_ton")),
            Col("created", "time"),
            Col("livemode", "bool"),
        ),
        list_path="/v1/climate/products",
        retrieve_path="/v1/climate/products/{id}",
        hidden=frozenset({"object", "current_prices_per_metric_ton"}),
    ),
    Resource(
        "climate.supplier",
        "climate_suppliers",
        "climsup_",
        "rak_climate_supplier_read",
        (
            Col("id"),
            Col("name"),
            Col("removal_pathway", enum=REMOVAL_PATHWAYS),
            Col("info_url"),
            Col("locations", "struct", dtype=pl.List(LOCATION)),
            Col("livemode", "bool"),
        ),
        list_path="/v1/climate/suppliers",
        retrieve_path="/v1/climate/suppliers/{id}",
        hidden=frozenset({"object"}),
    ),
    Resource(
        "identity.verification_session",
        "verification_sessions",
        "vs_",
        "rak_identity_verification_session_read",
        (
            Col("id"),
            Col("status", enum=("canceled", "processing", "requires_input", "verified")),
            Col("type", enum=("document", "id_number", "verification_flow")),
            Col("last_error.code"),
            Col("last_error.reason"),
            Col(
                "last_verification_report",
                derive=lambda o: (
                    r.get("id") if isinstance(r := o.get("last_verification_report"), dict) else r
                ),
            ),
            Col("client_reference_id"),
            Col("related_customer"),
            Col("redaction.status", enum=("processing", "redacted", "validated")),
            Col("created", "time"),
            Col("livemode", "bool"),
            Col("metadata", "json"),
        ),
        list_path="/v1/identity/verification_sessions",
        retrieve_path="/v1/identity/verification_sessions/{id}",
        filters=frozenset({"client_reference_id", "created", "related_customer", "status"}),
        # Personal data and secrets stay out of frames on purpose.
        hidden=frozenset(
            {
                "object",
                "client_secret",
                "url",
                "options",
                "provided_details",
                "verified_outputs",
                "related_person",
                "related_customer_account",
                "verification_flow",
            }
        ),
    ),
    Resource(
        "identity.verification_report",
        "verification_reports",
        "vr_",
        "rak_identity_verification_report_read",
        (
            Col("id"),
            Col("type", enum=("document", "id_number", "verification_flow")),
            Col("verification_session"),
            Col("document.status", enum=("unverified", "verified")),
            Col("document.error.code"),
            Col("id_number.status", enum=("unverified", "verified")),
            Col("selfie.status", enum=("unverified", "verified")),
            Col("email.status", enum=("unverified", "verified")),
            Col("phone.status", enum=("unverified", "verified")),
            Col("client_reference_id"),
            Col("created", "time"),
            Col("livemode", "bool"),
        ),
        list_path="/v1/identity/verification_reports",
        retrieve_path="/v1/identity/verification_reports/{id}",
        filters=frozenset({"client_reference_id", "created", "type", "verification_session"}),
        hidden=frozenset({"object", "options", "verification_flow"}),
        mutable=False,
    ),
    Resource(
        "crypto.onramp_session",
        "onramp_sessions",
        "cos_",
        "rak_crypto_onramp_session_read",
        (
            Col("id"),
            Col("status"),
            Col("transaction_details.source_currency"),
            Col("transaction_details.source_amount", "crypto"),
            Col("transaction_details.destination_currency"),
            Col("transaction_details.destination_network"),
            Col("transaction_details.destination_amount", "crypto"),
            Col("transaction_details.transaction_id"),
            Col("kyc_details_provided", "bool"),
            Col("created", "time"),
            Col("livemode", "bool"),
            Col("metadata", "json"),
        ),
        list_path="/v1/crypto/onramp_sessions",
        retrieve_path="/v1/crypto/onramp_sessions/{id}",
        filters=frozenset({"created", "status", "destination_currency", "destination_network"}),
        # Private preview: no published enum for status; wallet addresses and secrets stay out.
        hidden=frozenset({"object", "client_secret", "redirect_url", "transaction_details"}),
    ),
    Resource(
        "forwarding.request",
        "forwarding_requests",
        "fwdreq_",
        "rak_forwarding_request_read",
        (
            Col("id"),
            Col("payment_method"),
            Col("url"),
            Col("replacements", "strings"),
            Col("request_details.http_method"),
            Col("response_details.status", "int"),
            Col("request_context.destination_duration", "int"),
            Col("request_context.destination_ip_address"),
            Col("created", "time"),
            Col("livemode", "bool"),
            Col("metadata", "json"),
        ),
        list_path="/v1/forwarding/requests",
        retrieve_path="/v1/forwarding/requests/{id}",
        filters=frozenset({"created"}),
        # Bodies and headers carry card data: never in a frame.
        hidden=frozenset({"object", "request_details", "response_details"}),
        mutable=False,
    ),
    Resource(
        "webhook_endpoint",
        "webhook_endpoints",
        "we_",
        "rak_webhook_endpoint_read",
        (
            Col("id"),
            Col("url"),
            Col("status", enum=("disabled", "enabled")),
            Col("description"),
            Col("api_version"),
            Col("application"),
            Col("enabled_events", "strings"),
            Col("created", "time"),
            Col("livemode", "bool"),
            Col("metadata", "json"),
        ),
        list_path="/v1/webhook_endpoints",
        retrieve_path="/v1/webhook_endpoints/{id}",
        hidden=frozenset({"object", "secret"}),
    ),
)

RESOURCES: dict[str, Resource] = {r.object: r for r in _RESOURCES}
BY_METHOD: dict[str, Resource] = {r.method: r for r in _RESOURCES}
#: Request paths -> the resource they read; tax associations lead to tax transactions.
_BY_PATH = [
    (re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(template))), r)
    for r in _RESOURCES
    for template in (r.list_path, r.retrieve_path)
    if template is not None
] + [(re.compile(re.escape("/v1/tax/associations/find")), RESOURCES["tax.transaction"])]


def get(name: str) -> Resource:
    """The resource named by Stripe object type (``"climate.order"``) or method (``"climate_orders"``)."""
    resource = RESOURCES.get(name) or BY_METHOD.get(name)
    if resource is None:
        known = ", ".join(sorted(RESOURCES))
        msg = f"Unknown resource {name!r}. Use one of: {known}."
        raise ConfigurationError(msg)
    return resource


def for_path(path: str) -> Resource | None:
    """The resource a request path reads (a list, an object or a parent's line items), or None.

    >>> for_path("/v1/tax/transactions/tax_1/line_items").permission
    'rak_tax_transaction_read'
    """
    return next((res for pattern, res in _BY_PATH if pattern.fullmatch(path)), None)


#: Every Stripe id is letters, digits and underscores. Anything else could move the request to
#: another path (``/``, ``..``, ``?``, ``#``), break a header, or name a stray store directory.
ID_PATTERN = re.compile(r"[A-Za-z0-9_]+")


def check_id(value: object, what: str) -> str:
    """``value`` if it is shaped like a Stripe id, else `ConfigurationError` (before any request).

    >>> check_id("tax_1Abc", "Tax transaction")
    'tax_1Abc'
    """
    if isinstance(value, str) and ID_PATTERN.fullmatch(value):
        return value
    msg = f"{what} id {value!r:.80} is not a Stripe id: Stripe ids hold only letters, digits and underscores."
    raise ConfigurationError(msg)


def schema(name: str) -> pl.Schema:
    """The fixed Polars schema of a resource's frame."""
    return get(name).schema
