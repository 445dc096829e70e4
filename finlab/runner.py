"""Run finlab's async fetching from synchronous code, including inside a running Jupyter loop.

A notebook cell already runs inside an event loop, where ``asyncio.run`` is refused. There the
coroutine runs to completion on a fresh loop in a worker thread; elsewhere ``asyncio.run`` is used.
(``nest_asyncio`` would patch the notebook's own loop instead; a thread keeps the loop untouched.)

Examples
--------
>>> async def answer() -> int:
...     return 42
>>> run_sync(answer())
42
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion and return its result (exceptions propagate unchanged)."""
    if not _loop_running():  # outside the ``except``, so errors do not chain "no running event loop"
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="finlab") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
