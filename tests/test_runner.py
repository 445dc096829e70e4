"""finlab.runner: async fetching from sync code, with the errors of the coroutine and nothing else."""

from __future__ import annotations

import asyncio
import traceback

import pytest

import finlab
from finlab.errors import NotFoundError
from finlab.runner import run_sync


class RefusedError(Exception):
    pass


async def refuse() -> None:
    msg = "no"
    raise RefusedError(msg)


def chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception chained to it (``__cause__`` and ``__context__``)."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is not None and current not in seen:
            seen.append(current)
            todo += [current.__cause__, current.__context__]
    return seen


def assert_no_event_loop_noise(exc: BaseException) -> None:
    assert [] == [e for e in chain(exc) if isinstance(e, RuntimeError)]
    assert "no running event loop" not in "".join(traceback.format_exception(exc))


def test_an_error_outside_a_loop_carries_no_chained_runtime_error() -> None:
    with pytest.raises(RefusedError) as raised:
        run_sync(refuse())

    assert_no_event_loop_noise(raised.value)
    assert raised.value.__context__ is None


def test_an_error_inside_a_running_loop_carries_no_chained_runtime_error() -> None:
    async def notebook_cell() -> BaseException:
        with pytest.raises(RefusedError) as raised:
            run_sync(refuse())
        return raised.value

    assert_no_event_loop_noise(asyncio.run(notebook_cell()))


def test_a_connection_error_carries_no_chained_runtime_error() -> None:
    stripe = finlab.connect(demo=True)

    with pytest.raises(NotFoundError) as raised:
        stripe.tax_calculations(["taxcalc_doesnotexist"])

    assert_no_event_loop_noise(raised.value)
