"""Stripe objects -> typed Polars frames, following the registry in :mod:`finlab.resources`.

Nested single objects become ``parent_child`` columns, lists become List columns, timestamps become
``Datetime("us", "UTC")``, money stays Int64 minor units with a Decimal ``<name>_major`` column beside
it, and ``metric_tons`` becomes a Decimal. Fields and enum values finlab does not know are kept where
they have a column, and reported once each with a `SchemaDriftWarning`. A frame is built in two steps,
`untyped_frame` (JSON values as they come) then `typed`; "raw" means one thing only: an object's JSON
text as Stripe sent it, which `build_raw` keeps beside the columns (`RAW_COLUMN`) for the store.

Examples
--------
>>> frame = build("climate.supplier", [])
>>> frame.height, frame.columns[:3]
(0, ['id', 'name', 'removal_pathway'])
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl

from finlab import money
from finlab.errors import SchemaDriftWarning
from finlab.resources import FLAT_KINDS, MAJOR_SUFFIX, Col, Resource, get

_reported: set[tuple[str, ...]] = set()
_reported_lock = threading.Lock()


def build(resource: str | Resource, objects: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Turn Stripe objects of one type into the resource's typed frame.

    An empty input gives an empty frame with the same schema.
    """
    res = resource if isinstance(resource, Resource) else get(resource)
    rows = objects if isinstance(objects, Sequence) else list(objects)
    report_unknown_fields(res, rows)
    return typed(res, untyped_frame(res, rows))


def untyped_frame(res: Resource, rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """The frame before typing: one column per `Col`, of type `untyped_dtype`.

    Values of the wrong JSON type become null, reported once with a `SchemaDriftWarning`.
    """
    return pl.DataFrame([_untyped_series(res, col, rows) for col in res.columns])


def typed(res: Resource, untyped: pl.DataFrame) -> pl.DataFrame:
    """Type an `untyped_frame` (UTC datetimes, decimals, major-unit money); report new enum values once."""
    frame = untyped.select(_typed_exprs(res))
    report_unknown_enums(res, frame)
    return frame


#: The column `build_raw` adds: each object's compact JSON, exactly as Stripe sent it.
RAW_COLUMN = "raw"


def build_raw(resource: str | Resource, objects: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """`build`, plus a ``raw`` String column holding each object's compact, key-sorted JSON.

    The store keeps it so that a frame can be rebuilt (``build(res, map(json.loads, raw))``) after
    finlab's schema changes, without fetching anything again.

    >>> build_raw("climate.supplier", [{"id": "climsup_1"}]).get_column("raw").to_list()
    ['{"id":"climsup_1"}']
    """
    res = resource if isinstance(resource, Resource) else get(resource)
    rows = objects if isinstance(objects, Sequence) else list(objects)
    texts = [raw_json(row) for row in rows]
    return build(res, rows).with_columns(pl.Series(RAW_COLUMN, texts, dtype=pl.String()))


def raw_json(obj: Mapping[str, Any]) -> str:
    """The text `build_raw` stores for ``obj``: compact JSON with sorted keys (equal objects, equal text)."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=True)


def empty(resource: str | Resource) -> pl.DataFrame:
    """An empty frame with the resource's schema."""
    res = resource if isinstance(resource, Resource) else get(resource)
    return pl.DataFrame(schema=res.schema)


def dig(obj: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at ``path`` in nested dicts, or None where any step is missing or null."""
    node: Any = obj
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _column_values(col: Col, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
    if col.derive is not None:
        values = [col.derive(row) for row in rows]
    elif len(col.path) == 1:
        key = col.path[0]
        values = [row.get(key) for row in rows]
    else:
        values = [dig(row, col.path) for row in rows]
    if col.kind == "json":
        return [None if v is None else json.dumps(v, sort_keys=True) for v in values]
    if col.kind == "struct":
        return [_convert(v, col.polars_type) for v in values]
    return values


def _untyped_series(res: Resource, col: Col, rows: Sequence[Mapping[str, Any]]) -> pl.Series:
    """The column before typing; values of the wrong type become null, reported once."""
    values = _column_values(col, rows)
    if col.kind in FLAT_KINDS:
        wrong = [v for v in values if v is not None and not _is_kind(v, col.kind)]
        if wrong:
            _warn_once(
                ("type", res.object, col.name),
                f"{res.object}.{col.name} holds values of an unexpected type (e.g. {wrong[0]!r}); "
                "they are set to null in the frame and kept in the raw object.",
            )
            values = [v if v is None or _is_kind(v, col.kind) else None for v in values]
    return pl.Series(col.name, values, dtype=untyped_dtype(col))


def _is_kind(value: Any, kind: str) -> bool:
    """Whether a JSON value fits a column kind (bools are not ints; int64 range; decimal strings)."""
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind in ("int", "time", "money"):
        return isinstance(value, int) and -(2**63) <= value < 2**63
    if kind == "float":
        return isinstance(value, int | float)
    if kind == "strings":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if not isinstance(value, str):
        return False
    if kind in ("tons", "crypto"):
        try:
            Decimal(value)
        except InvalidOperation:
            return False
    return True


def untyped_dtype(col: Col) -> pl.DataType:
    """The column's type as JSON carries it: epoch seconds and minor units as Int64, decimals as text."""
    if col.kind in ("time", "money"):
        return pl.Int64()
    if col.kind in ("tons", "crypto", "json"):
        return pl.String()
    return col.polars_type


def _convert(value: Any, dtype: Any) -> Any:
    """Epoch seconds -> datetimes and decimal strings -> Decimals, inside nested list/struct values."""
    if value is None:
        return None
    if isinstance(dtype, pl.List):
        return [_convert(v, dtype.inner) for v in value] if isinstance(value, list) else None
    if isinstance(dtype, pl.Struct):
        if not isinstance(value, Mapping):
            return None
        return {f.name: _convert(value.get(f.name), f.dtype) for f in dtype.fields}
    if isinstance(dtype, pl.Datetime):
        return datetime.fromtimestamp(value, UTC) if isinstance(value, int) else None
    if isinstance(dtype, pl.Decimal):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return None
    return value


def _typed_exprs(res: Resource) -> list[pl.Expr]:
    exprs: list[pl.Expr] = []
    for col in res.columns:
        column = pl.col(col.name)
        if col.kind == "time":
            exprs.append(pl.from_epoch(column, time_unit="s").dt.replace_time_zone("UTC").alias(col.name))
        elif col.kind in ("tons", "crypto"):
            exprs.append(column.str.to_decimal(scale=col.polars_type.scale).alias(col.name))  # type: ignore[attr-defined]
        elif col.kind == "money":
            exprs.append(column)
            major = money.major_expr(column, pl.col(col.currency)).alias(col.name + MAJOR_SUFFIX)
            exprs.append(major)
        else:
            exprs.append(column)
    return exprs


def _warn_once(key: tuple[str, ...], message: str) -> None:
    with _reported_lock:
        if key in _reported:
            return
        _reported.add(key)
    warnings.warn(message, SchemaDriftWarning, stacklevel=3)


def report_unknown_fields(res: Resource, rows: Sequence[Mapping[str, Any]]) -> None:
    """Warn once per field that Stripe sent but finlab does not know (never fatal)."""
    known = res.known_fields
    unknown = sorted({key for row in rows for key in row if key not in known})
    for name in unknown:
        _warn_once(
            ("field", res.object, name),
            f"{res.object} objects carry a field finlab does not know: {name!r}. It is kept in the raw "
            "object (and the store) but has no column; upgrade finlab or report it.",
        )


def report_unknown_enums(res: Resource, frame: pl.DataFrame) -> None:
    """Warn once per enum value Stripe sent that finlab does not know; the value is kept."""
    for col in res.columns:
        if col.enum and frame.height:
            seen = frame.get_column(col.name).drop_nulls().unique().to_list()
            for value in sorted(set(seen) - set(col.enum)):
                _warn_once(
                    ("enum", res.object, col.name, value),
                    f"{res.object}.{col.name} has a value finlab does not know: {value!r}. "
                    "It is kept as is; analyses may not classify it.",
                )
        if col.kind == "money" and frame.height:
            _report_unknown_currencies(res, frame, col)


def _report_unknown_currencies(res: Resource, frame: pl.DataFrame, col: Col) -> None:
    codes = frame.get_column(col.currency).drop_nulls().unique().to_list()
    for code in sorted(c for c in codes if c.lower() not in money.KNOWN_CURRENCIES):
        _warn_once(
            ("currency", res.object, code),
            f"{res.object} has amounts in an unknown currency {code!r}: their minor units are kept, "
            f"but {col.name}{MAJOR_SUFFIX} is null because the number of decimals is unknown.",
        )
