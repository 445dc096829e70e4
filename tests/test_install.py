"""Install paths: the core imports nothing heavy, missing extras say what to install, browser tests skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import finlab.cli
from finlab.errors import MissingExtraError
from finlab.extras import MODULES, install_line

REPO = Path(__file__).resolve().parents[1]
#: What the core must not import: the store, widgets, charts and image export.
HEAVY = ("deltalake", "altair", "ipywidgets", "anywidget", "vl_convert")
#: The modules that need an extra: a test imports them afresh.
OPTIONAL = (
    "finlab.store",
    "finlab.sync",
    "finlab.listings",
    "finlab.store_view",
    "finlab.charts",
    "finlab.dashboards",
    "finlab.report",
)
FIRST_FRAME = f"""
import sys
import finlab
finlab.connect().transactions()
print(" ".join(sorted(set({HEAVY!r}) & set(sys.modules))))
"""


def test_a_first_frame_imports_nothing_heavy() -> None:
    run = subprocess.run([sys.executable, "-c", FIRST_FRAME], capture_output=True, text=True, check=True)
    assert "" == run.stdout.strip()


@pytest.mark.parametrize(
    ("module", "missing", "extra"),
    [
        ("finlab.store", "deltalake", "store"),
        ("finlab.sync", "deltalake", "store"),
        ("finlab.listings", "deltalake", "store"),
        ("finlab.store_view", "deltalake", "store"),
        ("finlab.charts", "altair", "dashboards"),
        ("finlab.dashboards", "ipywidgets", "dashboards"),
        ("finlab.dashboards", "anywidget", "dashboards"),
        ("finlab.dashboards", "vl_convert", "dashboards"),
        ("finlab.report", "vl_convert", "images"),
        ("finlab.report", "altair", "images"),
    ],
)
def test_a_missing_extra_names_its_install_line(
    monkeypatch: pytest.MonkeyPatch, module: str, missing: str, extra: str
) -> None:
    for name in [name for name in sys.modules if name.startswith(OPTIONAL)]:
        monkeypatch.delitem(sys.modules, name)  # imported afresh (and failing), put back afterwards
    monkeypatch.setitem(sys.modules, missing, None)  # `import missing` now fails

    with pytest.raises(MissingExtraError, match=f"finlab's '{extra}' extra") as raised:
        __import__(module)

    assert f'pip install "finlab-stripe[{extra}]"' in str(raised.value)
    assert missing == raised.value.name


def test_the_app_without_its_extra_names_the_install_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "voila", None)

    assert 2 == finlab.cli.main(["app"])

    assert 'pip install "finlab-stripe[app]"' in capsys.readouterr().err


def test_every_extra_is_declared_in_pyproject() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    for extra in MODULES:
        assert f"\n{extra} = [" in pyproject, extra
    assert 'pip install "finlab-stripe[all]"' == install_line("all")


def test_the_packaged_app_notebook_is_the_repository_one() -> None:
    packaged = REPO / "finlab" / "app.ipynb"
    assert (REPO / "notebooks" / "app.ipynb").resolve() == packaged.resolve()


@pytest.mark.slow
def test_the_core_wheel_reads_frames_and_names_the_missing_extras(wheel_venv: Callable[[str], Path]) -> None:
    bin_dir = wheel_venv("")
    check = FIRST_FRAME + "import finlab.store\n"

    run = subprocess.run([bin_dir / "python", "-c", check], cwd=bin_dir, capture_output=True, text=True)

    assert run.stdout.startswith("\n"), run.stderr  # a frame, and none of HEAVY
    assert "MissingExtraError: This needs deltalake, which finlab's 'store' extra installs" in run.stderr
    assert 'pip install "finlab-stripe[store]"' in run.stderr
    app = subprocess.run([bin_dir / "finlab", "app"], capture_output=True, text=True)
    assert 2 == app.returncode
    assert 'pip install "finlab-stripe[app]"' in app.stderr


PAGE_TEST = """import pytest


@pytest.mark.browser
def test_page():
    pass
"""


def run_browser_test(tmp_path: Path, required: str) -> subprocess.CompletedProcess[str]:
    """Run one empty ``browser`` test under this suite's conftest.py, in a fresh pytest."""
    shutil.copy(REPO / "tests" / "conftest.py", tmp_path)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers = browser: drives Chromium\n")
    (tmp_path / "test_page.py").write_text(PAGE_TEST)
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)]
    env = {**os.environ, "FINLAB_CHROMIUM": str(tmp_path / "none"), "FINLAB_REQUIRE_BROWSER": required}
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)


def test_browser_tests_skip_without_chromium_and_say_how_to_run_them(tmp_path: Path) -> None:
    run = run_browser_test(tmp_path, required="")

    assert 0 == run.returncode, run.stdout + run.stderr
    assert "1 skipped" in run.stdout
    assert f"no Chromium at {tmp_path / 'none'}" in run.stdout
    assert "FINLAB_REQUIRE_BROWSER=1 uv run pytest -m browser" in run.stdout


def test_browser_tests_fail_without_chromium_when_required(tmp_path: Path) -> None:
    run = run_browser_test(tmp_path, required="1")

    assert 0 != run.returncode
    assert "skipped" not in run.stdout
    assert "FINLAB_REQUIRE_BROWSER=1 but no Chromium" in run.stdout + run.stderr
