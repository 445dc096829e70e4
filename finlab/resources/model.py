"""What a registry entry is: `Resource` (where a Stripe object type lives) and its columns (`Col`).

The column list *is* the Polars schema: :mod:`finlab.frames` builds every frame from it, so an empty
result has the same columns as a full one. `first_value` derives a column from a map keyed by
country or currency.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

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

#: Keys finlab adds to a line item it fetched under a parent: line items carry neither.
PARENT_KEY = "_parent"
CURRENCY_KEY = "_currency"


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


def first_value(mapping_path: tuple[str, ...], key: str | None = None) -> Callable[[Mapping[str, Any]], Any]:
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
