"""The wheel in a clean venv: its install size, and the seconds from ``import finlab`` to a first frame.

    uv run python benchmarks/install.py          # the core
    uv run python benchmarks/install.py all      # with an extra

Builds the wheel from this checkout, installs it with uv (bytecode compiled, as pip does) into a new
Python 3.11 venv, sums site-packages, then times ``import finlab; finlab.connect().transactions()``
(the demo account) in fresh interpreters.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
UV = os.environ.get("UV") or shutil.which("uv") or "uv"
RUNS = 5
FIRST_FRAME = (
    "import time; wall, cpu = time.perf_counter(), time.process_time(); import finlab; "
    "finlab.connect().transactions(); print(time.perf_counter() - wall, time.process_time() - cpu)"
)


def main(extra: str = "") -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        subprocess.run([UV, "build", "--wheel", "--quiet", "--out-dir", str(tmp), str(REPO)], check=True)
        [wheel] = tmp.glob("*.whl")
        requirement = f"finlab-stripe[{extra}] @ {wheel.as_uri()}" if extra else str(wheel)
        python = tmp / "venv" / "bin" / "python"
        subprocess.run([UV, "venv", "--quiet", "--python", "3.11", str(tmp / "venv")], check=True)
        started = time.perf_counter()
        install = [UV, "pip", "install", "--quiet", "--compile-bytecode", "--python", str(python)]
        subprocess.run([*install, requirement], check=True)
        install_seconds = time.perf_counter() - started
        [site] = (tmp / "venv" / "lib").glob("python*/site-packages")
        size = sum(path.stat().st_size for path in site.rglob("*") if path.is_file())
        packages = len(list(site.glob("*.dist-info")))
        command = [str(python), "-c", FIRST_FRAME]
        runs = [subprocess.run(command, cwd=tmp, capture_output=True, text=True).stdout for _ in range(RUNS)]
        wall, cpu = zip(*(map(float, run.split()) for run in runs), strict=True)
    print(f"finlab-stripe{f'[{extra}]' if extra else ''}: {packages} packages, {size / 2**20:.0f} MiB")
    print(f"install (uv, from its cache): {install_seconds:.1f} s")
    for name, seconds in (("wall", wall), ("CPU", cpu)):
        print(
            f"import finlab -> first frame, {name}: median {statistics.median(seconds):.2f} s "
            f"({min(seconds):.2f}-{max(seconds):.2f} s, {RUNS} runs)"
        )
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main(*sys.argv[1:2])
