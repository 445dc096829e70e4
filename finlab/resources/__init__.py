"""The registry: one `Resource` per Stripe object type finlab reads.

Each entry says where the objects live (list and retrieve paths), which list filters Stripe accepts,
which id prefix its ids carry, which read permission a restricted key needs, and which typed columns
its frame has (`Col`). The column list *is* the Polars schema: :mod:`finlab.frames` builds every frame
from it, so an empty result has the same columns as a full one.

The entries live by domain: :mod:`~finlab.resources.banking`, :mod:`~finlab.resources.tax`,
:mod:`~finlab.resources.climate` and :mod:`~finlab.resources.operations`; :mod:`~finlab.resources.model`
defines `Resource` and `Col`. This module puts them together and looks them up.

Examples
--------
>>> RESOURCES["climate.order"].list_path
'/v1/climate/orders'
>>> schema("climate.order")["metric_tons"]
Decimal(precision=38, scale=9)
"""

from __future__ import annotations

import re

import polars as pl

from finlab.errors import ConfigurationError
from finlab.resources.banking import BANKING
from finlab.resources.climate import CLIMATE, DELIVERY, LOCATION, REMOVAL_PATHWAYS, SUPPLIER_REF
from finlab.resources.model import (
    CURRENCY_KEY,
    DTYPES,
    FLAT_KINDS,
    MAJOR_SUFFIX,
    PARENT_KEY,
    Col,
    Kind,
    Resource,
)
from finlab.resources.operations import OPERATIONS
from finlab.resources.tax import ADDRESS, TAX, TAX_BEHAVIOR, TAX_BREAKDOWN, TAXABILITY_OVERRIDE

__all__ = [
    "ACCOUNT_COLUMN",
    "ADDRESS",
    "BY_METHOD",
    "CURRENCY_KEY",
    "DELIVERY",
    "DTYPES",
    "FLAT_KINDS",
    "ID_PATTERN",
    "LOCATION",
    "MAJOR_SUFFIX",
    "PARENT_KEY",
    "REMOVAL_PATHWAYS",
    "RESOURCES",
    "STORED",
    "SUPPLIER_REF",
    "TAXABILITY_OVERRIDE",
    "TAX_BEHAVIOR",
    "TAX_BREAKDOWN",
    "Col",
    "Kind",
    "Resource",
    "check_id",
    "for_path",
    "get",
    "schema",
]

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

_RESOURCES: tuple[Resource, ...] = (*BANKING, *TAX, *CLIMATE, *OPERATIONS)
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


#: The column every frame of a `finlab.Connection` ends with: the connected account a row belongs to
#: (null for the key's own account; see `finlab.connected`).
ACCOUNT_COLUMN = "stripe_account"


def schema(name: str) -> pl.Schema:
    """The fixed Polars schema of a resource's frame, as a `finlab.Connection` returns it: the resource's
    columns (`Resource.schema`, what is parsed and stored) and `ACCOUNT_COLUMN`."""
    return pl.Schema({**get(name).schema, ACCOUNT_COLUMN: pl.String()})
