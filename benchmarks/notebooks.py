"""Kernel CPU seconds each notebook takes on the demo account, run top to bottom as a user would.

Each notebook runs in a fresh kernel (nbclient); a last cell, added in memory only, prints the kernel's
own CPU time (user + system), which counts its start-up and imports too.

    uv run python benchmarks/notebooks.py
"""

from __future__ import annotations

import time
from pathlib import Path

import common
import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = ("quickstart", "cash_flow", "tax_liability", "carbon_spend", "operations")
CPU_CELL = "import resource as _r\n_u = _r.getrusage(_r.RUSAGE_SELF)\nprint(_u.ru_utime + _u.ru_stime)"


def kernel_cpu(name: str) -> tuple[float, float]:
    """The notebook's kernel CPU seconds and its wall seconds."""
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(CPU_CELL))
    client = NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(NOTEBOOKS)}})
    started = time.perf_counter()
    client.execute()
    wall = time.perf_counter() - started
    printed = "".join(output.get("text", "") for output in notebook.cells[-1].outputs)
    return float(printed), wall


def main() -> None:
    print(common.machine_load())
    common.row("notebook", "kernel CPU s", "wall s")
    figures = {}
    for name in NAMES:
        cpu, wall = figures[name] = kernel_cpu(name)
        common.row(name, f"{cpu:.1f}", f"{wall:.1f}")
    print(common.machine_load())
    print("\nSUMMARY notebooks kernel CPU: " + ", ".join(f"{n} {c:.1f} s" for n, (c, _) in figures.items()))


if __name__ == "__main__":
    main()
