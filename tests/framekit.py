"""Frames for analysis tests, built from partial rows of a resource's columns."""

from __future__ import annotations

from typing import Any

import polars as pl

from finlab.resources import schema


def frame(name: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """A frame of resource ``name`` from partial rows of its columns (missing columns are null)."""
    columns = schema(name)
    return pl.DataFrame([{c: row.get(c) for c in columns} for row in rows], schema=columns)
