"""The optional features and the extra that installs each.

The core (``pip install finlab-stripe``) reads frames; a feature whose extra is missing raises a
`MissingExtraError` (an ``ImportError``) that names the line to run:

>>> from finlab.extras import install_line
>>> install_line("store")
'pip install "finlab-stripe[store]"'
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator

from finlab.errors import MissingExtraError

#: The distribution's name on PyPI (``finlab`` there is an unrelated package with the same module name).
DIST = "finlab-stripe"

#: vl-convert bundles Vega for offline charts in Jupyter, and draws the report's PNG/SVG.
_DASHBOARDS = ("ipywidgets", "altair", "anywidget", "vl_convert")
#: The modules each extra installs (import names).
MODULES = {
    "store": ("deltalake",),
    "dashboards": _DASHBOARDS,
    "images": _DASHBOARDS,
    "app": ("voila", "ipykernel", *_DASHBOARDS),
}


def install_line(extra: str) -> str:
    """The command that installs ``extra``."""
    return f'pip install "{DIST}[{extra}]"'


def _missing(extra: str, module: str) -> MissingExtraError:
    msg = f"This needs {module}, which finlab's {extra!r} extra installs: {install_line(extra)}"
    return MissingExtraError(msg, name=module)


@contextlib.contextmanager
def needs(extra: str) -> Iterator[None]:
    """Turn an import of a module ``extra`` installs that fails into an error naming the install line."""
    try:
        yield
    except ImportError as error:
        module = (error.name or "").partition(".")[0]
        if module not in MODULES[extra]:
            raise
        raise _missing(extra, module) from error


def require(extra: str) -> None:
    """Raise the error of `needs` unless every module of ``extra`` is installed (without importing it)."""
    for module in MODULES[extra]:
        if importlib.util.find_spec(module) is None:
            raise _missing(extra, module)
