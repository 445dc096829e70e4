"""Stripe Climate: carbon removal orders, the products they buy, and the suppliers behind them."""

from __future__ import annotations

import polars as pl

from finlab.resources.model import Col, Resource

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

REMOVAL_PATHWAYS = (
    "biomass_carbon_removal_and_storage",
    "direct_air_capture",
    "enhanced_weathering",
    "marine_carbon_removal",
)

#: Climate orders, products and suppliers (cursor pages only, no date filter).
CLIMATE: tuple[Resource, ...] = (
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
)
