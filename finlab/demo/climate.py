"""Climate: suppliers, products and orders at every stage of their lifecycle."""

from __future__ import annotations

import random
from decimal import Decimal

from finlab.demo.clock import COMPANY, DAY, Calendar
from finlab.demo.dataset import (
    Json,
    advance_order,
    climate_order,
    milli_to_tons,
)

_SUPPLIERS = (  # (id suffix, name, pathway, (city, country, latitude, longitude, region))
    (
        "charm_industrial",
        "Charm Industrial",
        "biomass_carbon_removal_and_storage",
        ("San Francisco", "US", 37.7480408, -122.4057404, "CA"),
    ),
    ("heirloom", "Heirloom", "direct_air_capture", ("Brisbane", "US", 37.686, -122.403, "CA")),
    ("lithos", "Lithos", "enhanced_weathering", ("San Francisco", "US", 37.7749, -122.4194, "CA")),
    (
        "vaulted",
        "Vaulted Deep",
        "biomass_carbon_removal_and_storage",
        ("Houston", "US", 29.7604, -95.3698, "TX"),
    ),
    ("ebb_carbon", "Ebb Carbon", "marine_carbon_removal", ("San Carlos", "US", 37.5072, -122.2605, "CA")),
)
_PRODUCTS = (  # (id, name, delivery year, supplier suffixes, USD subtotal per ton, tons available)
    (
        "climsku_frontier_offtake_portfolio_2026",
        "Frontier's 2026 offtake portfolio",
        2026,
        ("charm_industrial", "heirloom", "lithos"),
        52_000,
        "25000",
    ),
    (
        "climsku_frontier_offtake_portfolio_2027",
        "Frontier's 2027 offtake portfolio",
        2027,
        ("charm_industrial", "heirloom", "lithos", "vaulted", "ebb_carbon"),
        55_000,
        "1000000",
    ),
    (
        "climsku_frontier_offtake_portfolio_2028",
        "Frontier's 2028 offtake portfolio",
        2028,
        ("heirloom", "lithos", "vaulted", "ebb_carbon"),
        58_000,
        "750000",
    ),
    (
        "climsku_frontier_direct_air_capture_2029",
        "Frontier's 2029 direct air capture portfolio",
        2029,
        ("heirloom",),
        62_000,
        "120000",
    ),
    (
        "climsku_frontier_enhanced_weathering_2027",
        "Frontier's 2027 enhanced weathering portfolio",
        2027,
        ("lithos",),
        48_000,
        "80000",
    ),
)
_ORDERS = 48
#: Statuses fixed by order position (negative: from the newest), so that every status occurs.
_PINNED_STATUSES = {
    0: "delivered",
    1: "canceled",
    2: "confirmed",
    -3: "open",
    -2: "awaiting_funds",
    -1: "open",
}
_EUR_PER_USD = Decimal("0.92")


def make_climate(rng: random.Random, cal: Calendar) -> tuple[list[Json], list[Json], list[Json]]:
    """Return suppliers, products and orders (every status, older orders further along)."""
    suppliers = {
        suffix: {
            "id": f"climsup_{suffix}",
            "info_url": f"https://frontierclimate.com/portfolio/{suffix.replace('_', '-')}",
            "livemode": False,
            "locations": [
                {"city": city, "country": country, "latitude": lat, "longitude": lon, "region": region}
            ],
            "name": name,
            "object": "climate.supplier",
            "removal_pathway": pathway,
        }
        for suffix, name, pathway, (city, country, lat, lon, region) in _SUPPLIERS
    }
    products = [
        {
            "created": cal.start - (40 - 7 * index) * DAY,
            "current_prices_per_metric_ton": {
                currency: {
                    "amount_fees": round(sub * 3 / 100),
                    "amount_subtotal": sub,
                    "amount_total": sub + round(sub * 3 / 100),
                }
                for currency, sub in (("usd", usd), ("eur", int(usd * _EUR_PER_USD)))
            },
            "delivery_year": year,
            "id": product_id,
            "livemode": False,
            "metric_tons_available": available,
            "name": name,
            "object": "climate.product",
            "suppliers": [suppliers[suffix] for suffix in members],
        }
        for index, (product_id, name, year, members, usd, available) in enumerate(_PRODUCTS)
    ]
    orders = []
    for index in range(_ORDERS):
        created = cal.start + (index * (cal.end - cal.start - 3 * DAY)) // _ORDERS + rng.randint(0, 5 * DAY)
        product = rng.choice(products)
        order = climate_order(
            rng,
            product=product,
            metric_tons=milli_to_tons(max(100, round(rng.lognormvariate(1.2, 0.8) * 1000))),
            currency="eur" if rng.random() < 0.25 else "usd",
            created=created,
            beneficiary=COMPANY,
        )
        pinned = _PINNED_STATUSES.get(index) or _PINNED_STATUSES.get(index - _ORDERS)
        status = pinned or _likely_status(rng, cal.end - created)
        _progress(rng, order, status, cal.end, product)
        orders.append(order)
    _substitute(orders, products, cal)
    return list(suppliers.values()), products, orders


#: How many confirmed orders had their product substituted three weeks after they were placed.
_SUBSTITUTED = 2


def _substitute(orders: list[Json], products: list[Json], cal: Calendar) -> None:
    """Move the first confirmed orders to the next product, as Stripe does when a portfolio is replaced."""
    ids = [product["id"] for product in products]
    for order in [order for order in orders if order["status"] == "confirmed"][:_SUBSTITUTED]:
        successor = products[(ids.index(order["product"]) + 1) % len(products)]
        order["product"] = successor["id"]
        order["expected_delivery_year"] = successor["delivery_year"]
        order["product_substituted_at"] = min(order["created"] + 21 * DAY, cal.end - DAY)


def _likely_status(rng: random.Random, age: int) -> str:
    """Pick a status that fits an order's age: old orders are mostly delivered."""
    if age > 270 * DAY:
        return rng.choices(("delivered", "canceled", "confirmed"), weights=(75, 15, 10))[0]
    if age > 30 * DAY:
        return rng.choices(("confirmed", "delivered", "canceled"), weights=(70, 15, 15))[0]
    return rng.choices(("open", "awaiting_funds", "confirmed"), weights=(50, 20, 30))[0]


def _progress(rng: random.Random, order: Json, status: str, end: int, product: Json) -> None:
    """Walk ``order`` from ``open`` to ``status`` with plausible timestamps before ``end``."""
    created = order["created"]
    if status == "awaiting_funds":
        advance_order(order, status, created + 3_600, product=product)
    elif status == "canceled":
        reason = rng.choice(("requested", "expired", "product_unavailable"))
        canceled = min(created + rng.randint(1, 60) * DAY, end - DAY)
        advance_order(order, status, canceled, product=product, reason=reason)
    elif status in {"confirmed", "delivered"}:
        confirmed = created + rng.randint(1, 3) * DAY
        advance_order(order, "confirmed", confirmed, product=product)
        if status == "delivered":
            advance_order(
                order, "delivered", min(confirmed + rng.randint(120, 300) * DAY, end - DAY), product=product
            )
        elif rng.random() < 0.2:
            order["delayed_at"] = min(confirmed + rng.randint(30, 90) * DAY, end - DAY)
            order["expected_delivery_year"] += 1
