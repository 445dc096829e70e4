"""Shared fixtures: Stripe's reference data (tests/stripe/) and a clean slate for drift warnings.

Tests marked ``browser`` need Chromium (``FINLAB_CHROMIUM``, default /usr/bin/chromium). Without it they
are skipped, unless ``FINLAB_REQUIRE_BROWSER=1`` (set by .ci/run): then the run stops with an error.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import finlab.frames

STRIPE_DIR = Path(__file__).parent / "stripe"
CHROMIUM = Path(os.environ.get("FINLAB_CHROMIUM", "/usr/bin/chromium"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the browser tests when there is no Chromium; fail instead when it is required."""
    browser_tests = [item for item in items if item.get_closest_marker("browser")]
    if not browser_tests or CHROMIUM.exists():
        return
    reason = (
        f"no Chromium at {CHROMIUM}: to run the browser tests, `apt-get install -y chromium` "
        "(or set FINLAB_CHROMIUM) and run `FINLAB_REQUIRE_BROWSER=1 uv run pytest -m browser`"
    )
    if os.environ.get("FINLAB_REQUIRE_BROWSER") == "1":
        msg = f"FINLAB_REQUIRE_BROWSER=1 but {reason}"
        raise pytest.UsageError(msg)
    for item in browser_tests:
        item.add_marker(pytest.mark.skip(reason=reason))


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
