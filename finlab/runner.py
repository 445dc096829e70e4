"""Run finlab's async fetching from synchronous code, including inside a running Jupyter loop.

A notebook cell already runs inside an event loop, where ``asyncio.run`` is refused. `Portal` keeps one
event loop in a daemon thread for as long as its owner lives, so that a `finlab.Connection` keeps one
HTTP client (its connection pool, its TLS sessions) across calls, in a script and in a notebook alike;
the caller's loop is never touched (``nest_asyncio`` would patch it instead). `run_sync` runs a single
coroutine without a portal: ``asyncio.run``, or a fresh loop in a worker thread inside a running loop.

Examples
--------
>>> async def answer() -> int:
...     return 42
>>> run_sync(answer())
42
>>> portal = Portal()
>>> portal.run(answer())
42
>>> portal.close()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine, Generator
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


class _Escaped(Exception):  # noqa: N818 (it carries one, it is not an error of its own)
    """A ``KeyboardInterrupt`` or ``SystemExit`` raised in a portal task, carried as an ordinary error.

    asyncio lets those two out of the loop itself, which would stop the portal's thread and leave the
    caller waiting for ever. Boxed, they wind down like any error and the caller raises the original.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(repr(error))
        self.error = error


async def _boxing(coroutine: Coroutine[Any, Any, T]) -> T:
    try:
        return await coroutine
    except (KeyboardInterrupt, SystemExit) as exc:
        raise _Escaped(exc) from None


def _boxing_task_factory(
    loop: asyncio.AbstractEventLoop,
    coroutine: Generator[Any, None, T] | Coroutine[Any, Any, T],
    **kwargs: Any,
) -> asyncio.Task[T]:
    """Every task of the portal's loop, its coroutine run through `_boxing`."""
    return asyncio.Task(_boxing(coroutine), loop=loop, **kwargs)  # type: ignore[arg-type]


class Portal:
    """An event loop in a daemon thread, started on first use, that sync code runs coroutines on.

    ``run`` blocks until its coroutine is done and returns its result or raises its error. A
    ``KeyboardInterrupt`` while waiting cancels the coroutine, waits for it to wind down (a commit in
    flight lands), then goes on. Several threads may run coroutines at once.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the portal's loop and return its result."""
        loop = self._started()
        if threading.current_thread() is self._thread:
            coroutine.close()
            msg = "Portal.run was called from its own loop: await the coroutine instead."
            raise RuntimeError(msg)
        finished = threading.Event()

        async def main() -> T:
            try:
                return await coroutine
            finally:
                finished.set()

        future: concurrent.futures.Future[T] | None = None
        try:
            future = asyncio.run_coroutine_threadsafe(main(), loop)
            return future.result()
        except _Escaped as boxed:
            raise boxed.error from None
        except BaseException:
            if future is not None:
                future.cancel()
                finished.wait()
            raise

    def close(self) -> None:
        """Stop the loop and its thread (a later ``run`` starts them again)."""
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                loop.set_task_factory(_boxing_task_factory)
                thread = threading.Thread(target=loop.run_forever, name="finlab-portal", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop
