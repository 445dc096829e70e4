"""Stripe Climate: spend, tonnes, cost per tonne and removal-pathway mix of carbon-removal orders.

Inputs are ``climate.order``, ``climate.product`` and (optionally) ``climate.supplier`` frames.
Choices:

- Canceled orders are left out of spend, tonnes, cost per tonne and the pathway mix; only
  `orders_by_status` shows them.
- Spend is dated by the order's ``created`` timestamp.
- An order is bought from its product (a portfolio of suppliers). Spend per supplier splits the order
  **evenly across the product's suppliers**, exactly in minor units (the first suppliers in the
  product's list get the leftover units): totals and subtotals add up to the order's, fees are
  ``total - subtotal``. Orders of an unknown product, or of one without suppliers, keep a null supplier.
- Delivered tonnes are the sum of ``delivery_details[].metric_tons``, or the ordered tonnes for a
  ``delivered`` order without details. Outstanding = ordered - delivered (never below zero).
- Pathway mix: delivered tonnes go to the pathway of the supplier that delivered them (from
  ``delivery_details``); tonnes without details (outstanding, or delivered without details) are
  split evenly across the product's suppliers, exactly to 1e-9 t. Unknown pathways read ``"unknown"``.
- Tonnes are ``Decimal(38, 9)``; money stays Int64 minor units per currency with ``*_major`` beside.

Examples
--------
>>> from finlab.frames import build
>>> orders = build("climate.order", [
...     {"id": "climorder_1", "status": "open", "product": "climsku_1", "metric_tons": "10",
...      "currency": "usd", "amount_subtotal": 10000, "amount_fees": 300, "amount_total": 10300,
...      "created": 1705312800, "expected_delivery_year": 2027},
... ])
>>> products = build("climate.product", [
...     {"id": "climsku_1", "name": "Portfolio", "suppliers": [
...         {"id": "climsup_a", "name": "A", "removal_pathway": "direct_air_capture"},
...         {"id": "climsup_b", "name": "B", "removal_pathway": "enhanced_weathering"},
...         {"id": "climsup_c", "name": "C", "removal_pathway": "enhanced_weathering"}]},
... ])
>>> carbon_spend(orders, products)["amount_total"].to_list()
[3434, 3433, 3433]
>>> pathway_mix(orders, products).select("removal_pathway", "tonnes_outstanding").rows()
[('enhanced_weathering', Decimal('6.666666666')), ('direct_air_capture', Decimal('3.333333334'))]
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from finlab.analysis import (
    PERIOD_DTYPE,
    check_timezone,
    conform,
    major_columns,
    money_schema,
    period_end,
    period_start,
    require_columns,
)
from finlab.money import MAJOR_DTYPE

__all__ = [
    "CARBON_SPEND_SCHEMA",
    "CARBON_TONNES_SCHEMA",
    "COST_PER_TONNE_SCHEMA",
    "EXPECTED_DELIVERIES_SCHEMA",
    "ORDERS_BY_STATUS_SCHEMA",
    "PATHWAY_MIX_SCHEMA",
    "TONNES_DTYPE",
    "UNKNOWN_PATHWAY",
    "carbon_spend",
    "carbon_tonnes",
    "cost_per_tonne",
    "expected_deliveries",
    "orders_by_status",
    "pathway_mix",
]

TONNES_DTYPE = pl.Decimal(38, 9)
NANO = 10**9
UNKNOWN_PATHWAY = "unknown"
ORDER_MONEY = ("amount_subtotal", "amount_fees", "amount_total")
TONNES = ("tonnes_ordered", "tonnes_delivered", "tonnes_outstanding")
TONNES_FIELDS: dict[str, pl.DataType] = dict.fromkeys(TONNES, TONNES_DTYPE)

#: Spend of non-canceled orders per period (of ``created``), currency, product and supplier.
CARBON_SPEND_SCHEMA = pl.Schema(
    {
        "period_start": PERIOD_DTYPE,
        "period_end": PERIOD_DTYPE,
        "currency": pl.String(),
        "product": pl.String(),
        "product_name": pl.String(),
        "supplier": pl.String(),
        "supplier_name": pl.String(),
        "order_count": pl.Int64(),
        **money_schema(*ORDER_MONEY),
    }
)

#: Tonnes of non-canceled orders per product.
CARBON_TONNES_SCHEMA = pl.Schema(
    {"product": pl.String(), "product_name": pl.String(), "order_count": pl.Int64(), **TONNES_FIELDS}
)

#: Tonnes of non-canceled orders per expected delivery year.
EXPECTED_DELIVERIES_SCHEMA = pl.Schema(
    {"expected_delivery_year": pl.Int64(), "order_count": pl.Int64(), **TONNES_FIELDS}
)

#: Every order (canceled too) per status and currency.
ORDERS_BY_STATUS_SCHEMA = pl.Schema(
    {
        "status": pl.String(),
        "currency": pl.String(),
        "order_count": pl.Int64(),
        "metric_tons": TONNES_DTYPE,
        **money_schema(*ORDER_MONEY),
    }
)

#: Average cost per tonne of non-canceled orders per currency: ``cost_per_tonne`` in minor units per
#: tonne, ``cost_per_tonne_major`` in major units per tonne (null when no tonnes).
COST_PER_TONNE_SCHEMA = pl.Schema(
    {
        "currency": pl.String(),
        "order_count": pl.Int64(),
        "metric_tons": TONNES_DTYPE,
        **money_schema("amount_total"),
        "cost_per_tonne": TONNES_DTYPE,
        "cost_per_tonne_major": MAJOR_DTYPE,
    }
)

#: Tonnes of non-canceled orders per removal pathway; ``share`` of all ordered tonnes (0..1, null if none).
PATHWAY_MIX_SCHEMA = pl.Schema({"removal_pathway": pl.String(), **TONNES_FIELDS, "share": pl.Float64()})

ORDER_COLUMNS = (
    "id",
    "status",
    "product",
    "metric_tons",
    "currency",
    *ORDER_MONEY,
    "created",
    "expected_delivery_year",
    "delivery_details",
)
PRODUCT_COLUMNS = ("id", "name", "suppliers")
SUPPLIER_COLUMNS = ("id", "name", "removal_pathway")
NOT_CANCELED = pl.col("status").ne_missing("canceled")


def carbon_spend(
    orders: pl.DataFrame,
    products: pl.DataFrame,
    *,
    period: str = "month",
    timezone: str = "UTC",
    suppliers: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Subtotal, fees and total spend per period, currency, product and supplier.

    Returns a frame with `CARBON_SPEND_SCHEMA`; each order is split evenly across its product's
    suppliers (see the module docstring).
    """
    check_timezone(timezone)
    keys = ["period_start", "currency", "product", "product_name", "supplier", "supplier_name"]
    spend = (
        _supplier_shares(_active(orders), products, suppliers)
        .with_columns(
            period_start("created", period, timezone),
            amount_total=_split_evenly(pl.col("amount_total")),
            amount_subtotal=_split_evenly(pl.col("amount_subtotal")),
        )
        .with_columns(amount_fees=pl.col("amount_total") - pl.col("amount_subtotal"))
        .group_by(keys)
        .agg(*(pl.col(name).sum() for name in ORDER_MONEY), order_count=pl.len())
        .with_columns(period_end(pl.col("period_start"), period), *major_columns(ORDER_MONEY))
        .sort(keys, nulls_last=True)
    )
    return conform(spend, CARBON_SPEND_SCHEMA)


def carbon_tonnes(orders: pl.DataFrame, products: pl.DataFrame) -> pl.DataFrame:
    """Tonnes ordered, delivered and outstanding per product. Returns `CARBON_TONNES_SCHEMA`."""
    require_columns(products, PRODUCT_COLUMNS, "a climate.product frame")
    names = products.select(pl.col("id").alias("product"), pl.col("name").alias("product_name")).unique(
        subset="product", keep="first", maintain_order=True
    )
    tonnes = (
        _order_tonnes(_active(orders))
        .group_by("product")
        .agg(*_tonne_sums())
        .join(names, on="product", how="left")
        .sort("product", nulls_last=True)
    )
    return conform(tonnes, CARBON_TONNES_SCHEMA)


def expected_deliveries(orders: pl.DataFrame) -> pl.DataFrame:
    """Tonnes per expected delivery year. Returns `EXPECTED_DELIVERIES_SCHEMA`."""
    years = (
        _order_tonnes(_active(orders))
        .group_by("expected_delivery_year")
        .agg(*_tonne_sums())
        .sort("expected_delivery_year", nulls_last=True)
    )
    return conform(years, EXPECTED_DELIVERIES_SCHEMA)


def orders_by_status(orders: pl.DataFrame) -> pl.DataFrame:
    """Order count, tonnes and money per status and currency, canceled orders included."""
    require_columns(orders, ORDER_COLUMNS, "a climate.order frame")
    statuses = (
        orders.group_by("status", "currency")
        .agg(
            *(pl.col(name).sum() for name in (*ORDER_MONEY, "metric_tons")),
            order_count=pl.len(),
        )
        .with_columns(major_columns(ORDER_MONEY))
        .sort("status", "currency", nulls_last=True)
    )
    return conform(statuses, ORDERS_BY_STATUS_SCHEMA)


def cost_per_tonne(orders: pl.DataFrame) -> pl.DataFrame:
    """Average cost per tonne (total spend / tonnes) of non-canceled orders, per currency.

    Returns `COST_PER_TONNE_SCHEMA`.
    """
    tons = pl.col("metric_tons")
    costs = (
        _active(orders)
        .group_by("currency")
        .agg(pl.col("amount_total").sum(), tons.sum(), order_count=pl.len())
        .with_columns(major_columns(["amount_total"]))
        .with_columns(
            cost_per_tonne=pl.when(tons > 0).then(pl.col("amount_total").cast(pl.Decimal(38, 0)) / tons),
            cost_per_tonne_major=pl.when(tons > 0).then(pl.col("amount_total_major") / tons),
        )
        .sort("currency", nulls_last=True)
    )
    return conform(costs, COST_PER_TONNE_SCHEMA)


def pathway_mix(
    orders: pl.DataFrame, products: pl.DataFrame, *, suppliers: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Tonnes ordered, delivered and outstanding per removal pathway, with each pathway's share.

    Returns `PATHWAY_MIX_SCHEMA`, largest pathway first.
    """
    active = _order_tonnes(_active(orders))
    delivered = _delivered_by_supplier(active, suppliers)
    undetailed = _supplier_shares(active, products, suppliers).select(
        "removal_pathway",
        tonnes_delivered=_split_tonnes(pl.col("tonnes_delivered") - pl.col("tonnes_detailed")),
        tonnes_outstanding=_split_tonnes(pl.col("tonnes_outstanding")),
    )
    total = pl.col("tonnes_ordered").sum()
    mix = (
        pl.concat([delivered, undetailed], how="diagonal_relaxed")
        .with_columns(pl.col("tonnes_delivered", "tonnes_outstanding").fill_null(Decimal(0)))
        .group_by("removal_pathway")
        .agg(pl.col("tonnes_delivered", "tonnes_outstanding").sum())
        .with_columns(tonnes_ordered=pl.col("tonnes_delivered") + pl.col("tonnes_outstanding"))
        .with_columns(
            share=pl.when(total > 0).then(pl.col("tonnes_ordered").cast(pl.Float64) / total.cast(pl.Float64))
        )
        .sort("tonnes_ordered", "removal_pathway", descending=[True, False])
    )
    return conform(mix, PATHWAY_MIX_SCHEMA)


def _active(orders: pl.DataFrame) -> pl.DataFrame:
    require_columns(orders, ORDER_COLUMNS, "a climate.order frame")
    return orders.filter(NOT_CANCELED)


def _order_tonnes(orders: pl.DataFrame) -> pl.DataFrame:
    """Add ``tonnes_detailed`` (from delivery details), ``tonnes_ordered/_delivered/_outstanding``."""
    detailed = pl.col("delivery_details").list.eval(pl.element().struct.field("metric_tons")).list.sum()
    zero = pl.lit(Decimal(0), TONNES_DTYPE)
    delivered = (
        pl.when(pl.col("tonnes_detailed") > 0)
        .then(pl.col("tonnes_detailed"))
        .when(pl.col("status") == "delivered")
        .then(pl.col("tonnes_ordered"))
        .otherwise(zero)
    )
    left = pl.col("tonnes_ordered") - pl.col("tonnes_delivered")
    return (
        orders.with_columns(
            tonnes_ordered=pl.col("metric_tons").cast(TONNES_DTYPE).fill_null(zero),
            tonnes_detailed=detailed.cast(TONNES_DTYPE).fill_null(zero),
        )
        .with_columns(tonnes_delivered=delivered)
        .with_columns(tonnes_outstanding=pl.when(left > 0).then(left).otherwise(zero))
    )


def _tonne_sums() -> list[pl.Expr]:
    return [pl.len().alias("order_count"), *(pl.col(name).sum() for name in TONNES)]


def _supplier_shares(
    orders: pl.DataFrame, products: pl.DataFrame, suppliers: pl.DataFrame | None
) -> pl.DataFrame:
    """One row per order and supplier of its product, with ``share_index`` and ``supplier_count``."""
    require_columns(products, PRODUCT_COLUMNS, "a climate.product frame")
    supplier = pl.col("suppliers").struct
    per_product = (
        products.select(pl.col("id").alias("product"), pl.col("name").alias("product_name"), "suppliers")
        .unique(subset="product", keep="first", maintain_order=True)
        .explode("suppliers", empty_as_null=True)
        .with_columns(
            share_index=pl.int_range(pl.len()).over("product"),
            supplier_count=pl.len().over("product"),
            supplier=supplier.field("id"),
            supplier_name=supplier.field("name"),
            removal_pathway=supplier.field("removal_pathway"),
        )
        .drop("suppliers")
    )
    shares = orders.join(per_product, on="product", how="left").with_columns(
        pl.col("share_index").fill_null(0), pl.col("supplier_count").fill_null(1)
    )
    return _with_supplier_details(shares, suppliers)


def _with_supplier_details(frame: pl.DataFrame, suppliers: pl.DataFrame | None) -> pl.DataFrame:
    """Fill ``supplier_name`` and ``removal_pathway`` from the supplier frame where missing."""
    if suppliers is not None:
        require_columns(suppliers, SUPPLIER_COLUMNS, "a climate.supplier frame")
        known = suppliers.select(
            pl.col("id").alias("supplier"),
            pl.col("name").alias("known_name"),
            pl.col("removal_pathway").alias("known_pathway"),
        ).unique(subset="supplier", keep="first", maintain_order=True)
        frame = frame.join(known, on="supplier", how="left").with_columns(
            supplier_name=pl.coalesce("supplier_name", "known_name"),
            removal_pathway=pl.coalesce("removal_pathway", "known_pathway"),
        )
    return frame.with_columns(pl.col("removal_pathway").fill_null(UNKNOWN_PATHWAY))


def _delivered_by_supplier(orders: pl.DataFrame, suppliers: pl.DataFrame | None) -> pl.DataFrame:
    """Delivered tonnes per delivery, with the delivering supplier's pathway."""
    delivery = pl.col("delivery_details").struct
    deliveries = (
        orders.select("delivery_details")
        .explode("delivery_details")
        .filter(pl.col("delivery_details").is_not_null())
        .select(
            supplier=delivery.field("supplier").struct.field("id"),
            supplier_name=delivery.field("supplier").struct.field("name"),
            removal_pathway=delivery.field("supplier").struct.field("removal_pathway"),
            tonnes_delivered=delivery.field("metric_tons").cast(TONNES_DTYPE).fill_null(Decimal(0)),
        )
    )
    return _with_supplier_details(deliveries, suppliers).select("removal_pathway", "tonnes_delivered")


def _split_evenly(amount: pl.Expr) -> pl.Expr:
    """This row's share of an integer split over ``supplier_count`` rows; shares add up exactly."""
    count = pl.col("supplier_count").cast(pl.Int64)
    base = amount // count
    leftover = amount - base * count
    return base + (pl.col("share_index") < leftover).cast(pl.Int64)


def _split_tonnes(tonnes: pl.Expr) -> pl.Expr:
    """`_split_evenly` for Decimal tonnes, exact to the nanotonne."""
    nanotonnes = (tonnes * NANO).cast(pl.Int64)
    return _split_evenly(nanotonnes).cast(TONNES_DTYPE) * pl.lit(Decimal(1).scaleb(-9), TONNES_DTYPE)
