"""Shared fixtures: Stripe's reference data (tests/stripe/), a clean slate for drift warnings, the wheel.

Tests marked ``browser`` need Chromium (``FINLAB_CHROMIUM``, default /usr/bin/chromium). Without it they
are skipped, unless ``FINLAB_REQUIRE_BROWSER=1`` (set by .ci/run): then the run stops with an error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import finlab.frames

STRIPE_DIR = Path(__file__).parent / "stripe"
REPO = Path(__file__).resolve().parents[1]
UV = os.environ.get("UV") or shutil.which("uv") or "uv"
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


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """finlab's wheel, built from this checkout."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [UV, "build", "--wheel", "--out-dir", str(out), str(REPO)], check=True, capture_output=True
    )
    [built] = out.glob("*.whl")
    return built


@pytest.fixture
def wheel_venv(wheel: Path, tmp_path: Path) -> Callable[[str], Path]:
    """Install the wheel with an extra ("" for the core) into a new venv; return the venv's bin folder."""

    def install(extra: str) -> Path:
        venv = tmp_path / f"venv-{extra or 'core'}"
        subprocess.run([UV, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
        requirement = f"finlab-stripe[{extra}] @ {wheel.as_uri()}" if extra else str(wheel)
        install = [UV, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), requirement]
        subprocess.run(install, check=True)
        return venv / "bin"

    return install
