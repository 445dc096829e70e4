"""Shared fixtures: Stripe's reference data (tests/stripe/) and a clean slate for drift warnings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import finlab.frames
from finlab.resources import schema

STRIPE_DIR = Path(__file__).parent / "stripe"


def frame(name: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """A frame of resource ``name`` from partial rows of its columns (missing columns are null).

    Shared by the analysis tests (``from conftest import frame``): a plain function, not a fixture,
    so hypothesis tests can call it for every example.
    """
    columns = schema(name)
    return pl.DataFrame([{c: row.get(c) for c in columns} for row in rows], schema=columns)


@pytest.fixture(scope="session")
def stripe_fixtures() -> dict[str, dict[str, Any]]:
    """Stripe's official example objects, GA and private preview, keyed by object type."""
    data = json.loads((STRIPE_DIR / "fixtures-subset.json").read_text())
    return {**data["resources"], **data["private_preview_resources"]}


@pytest.fixture(scope="session")
def stripe_spec() -> dict[str, Any]:
    """Stripe's OpenAPI spec (subset) for API version 2026-07-29.dahlia."""
    spec: dict[str, Any] = json.loads((STRIPE_DIR / "spec-subset.json").read_text())
    return spec


@pytest.fixture
def fresh_drift_reports() -> Iterator[None]:
    """Forget which drift warnings `finlab.frames` already gave, before and after the test."""
    finlab.frames._reported.clear()
    yield
    finlab.frames._reported.clear()
