"""Shared fixtures: Stripe's reference data (tests/stripe/) and a clean slate for drift warnings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import finlab.frames

STRIPE_DIR = Path(__file__).parent / "stripe"


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
