"""Every docstring example in finlab/ runs, as part of the README's test command."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import finlab

MODULES = sorted(info.name for info in pkgutil.walk_packages(finlab.__path__, "finlab."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert 0 == result.failed, f"{result.failed} of {result.attempted} examples failed in {name}"
