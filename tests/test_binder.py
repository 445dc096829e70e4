"""Binder: binder/requirements.txt is uv.lock exported, and works on top of repo2docker's environment."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO / "binder" / "requirements.txt"
#: Regenerate with: uv export ... > binder/requirements.txt (the file's header repeats the command).
EXPORT = ["export", "--locked", "--format", "requirements-txt", "--no-hashes", "--no-default-groups"]
EXPORT += ["--group", "notebook"]
UV = os.environ.get("UV") or shutil.which("uv") or "uv"


def uv(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run([UV, *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def test_requirements_are_the_lock_exported() -> None:
    expected = uv(*EXPORT)

    assert expected == REQUIREMENTS.read_text(), (
        f"binder/requirements.txt drifted from uv.lock: run `uv {' '.join(EXPORT)} > binder/requirements.txt`"
    )


@pytest.mark.slow
def test_binder_environment_stays_consistent_and_runs_every_notebook(tmp_path: Path) -> None:
    """repo2docker's Jupyter packages from PyPI, then ``pip install -r binder/requirements.txt`` on top.

    uv stands in for pip for speed; with every version pinned both end with the same packages.
    """
    venv = tmp_path / "venv"
    python = str(venv / "bin" / "python")
    uv("venv", "--quiet", "--python", "3.11", str(venv))
    uv("pip", "install", "--quiet", "--python", python, "-r", str(REPO / "tests" / "binder" / "base-env.txt"))
    uv("pip", "install", "--quiet", "--python", python, "-r", str(REQUIREMENTS))

    check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True)
    assert 0 == check.returncode, check.stdout

    notebooks = shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    jupyter = tmp_path / "jupyter"  # no kernel spec or config of this machine's user leaks in
    env = {key: value for key, value in os.environ.items() if not key.startswith(("JUPYTER", "FINLAB_"))}
    for key in ("VIRTUAL_ENV", "PYTHONPATH", "STRIPE_API_KEY"):
        env.pop(key, None)
    env |= {
        "JUPYTER_DATA_DIR": str(jupyter / "data"),
        "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
        "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
        "IPYTHONDIR": str(jupyter / "ipython"),
    }
    paths = sorted(str(path) for path in notebooks.glob("*.ipynb"))
    jupyter_bin = str(venv / "bin" / "jupyter")
    command = ["timeout", "-k", "10", "240", jupyter_bin, "nbconvert", "--to=notebook", "--execute"]
    command += ["--ExecutePreprocessor.timeout=120", f"--output-dir={tmp_path / 'out'}"]
    runs = [  # two at a time: one per core
        subprocess.Popen(
            [*command, *paths[half::2]], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        for half in (0, 1)
    ]
    for run in runs:
        log = run.communicate()[0].decode()
        assert 0 == run.returncode, log[-3000:]
    assert [Path(path).name for path in paths] == sorted(path.name for path in (tmp_path / "out").iterdir())
