"""Re-run notebooks and keep only the outputs nbval checks (cells marked ``# NBVAL_CHECK_OUTPUT``).

Run after the demo account or a checked cell changes: ``uv run python notebooks/refresh_outputs.py
[NAME.ipynb ...]`` (default: every notebook here). Every other output is stripped, as committed
notebooks are, so no widget state or chart bundle lands in git.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).parent
CHECKED = "# NBVAL_CHECK_OUTPUT"


def refresh(path: Path) -> None:
    """Execute ``path`` in its own folder and write it back with only the checked outputs."""
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(HERE)}}).execute()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if cell.source.startswith(CHECKED):
            cell.outputs = [out for out in cell.outputs if out.get("name") == "stdout"]
        else:
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)


def main() -> None:
    names = sys.argv[1:] or sorted(p.name for p in HERE.glob("*.ipynb"))
    for name in names:
        refresh(HERE / name)
        print(f"refreshed {name}")


if __name__ == "__main__":
    main()
