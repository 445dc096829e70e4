"""Stripe's tax reports through the Reporting API: find a succeeded run (or create one), download, parse.

Reading is GET only: the report type (``data_available_start`` / ``_end``), the report runs (newest
first), and the result file from the files host. Creating a run (``POST /v1/reporting/report_runs``)
is the one write finlab ever sends, and only for ``create=True``; it is then polled until it succeeds
or fails.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import polars as pl

from finlab.arguments import check_seconds
from finlab.client import AsyncClient
from finlab.errors import ConfigurationError, FinlabError, NotFoundError, ReportRunError
from finlab.pagination import aiter_pages
from finlab.tax_reports import REPORT_TYPES, parse_report

Json = dict[str, Any]
RUNS = "/v1/reporting/report_runs"
#: Seconds between polls of a pending run.
POLL_EVERY = 2.0
#: Seconds a created run is waited for by default: finlab's choice, not a Stripe field (a caller can pass
#: a longer ``wait``; the run goes on at Stripe either way).
WAIT = 600.0


def _day(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


async def report_type(client: AsyncClient, kind: str) -> Json:
    """The report type ``kind``; a clear error when the key's mode does not have it."""
    if kind not in REPORT_TYPES:
        msg = f"{kind!r} is not a tax report type finlab reads; use one of {', '.join(REPORT_TYPES)}."
        raise ConfigurationError(msg)
    try:
        return await client.get(f"/v1/reporting/report_types/{kind}", expect="reporting.report_type")
    except NotFoundError as exc:
        mode = "live" if client.policy.livemode else "test"
        exc.args = (
            f"Stripe has no report type {kind!r} for this key in {mode} mode"
            + (
                "; some report types are live-mode only: use a live key (rk_live_...)."
                if mode == "test"
                else "."
            )
            + f" ({exc})",
        )
        raise


def interval(found: Json, start: int | None, end: int | None) -> tuple[int, int]:
    """``[start, end)`` within the report type's available data (its whole range by default)."""
    low, high = int(found["data_available_start"]), int(found["data_available_end"])
    chosen = (low if start is None else start, high if end is None else end)
    if not low <= chosen[0] < chosen[1] <= high:
        msg = (
            f"{found['id']} has data from {_day(low)} to {_day(high)}; the interval asked for "
            f"({_day(chosen[0])} to {_day(chosen[1])}) lies outside it. Pass start and end within it."
        )
        raise ConfigurationError(msg)
    return chosen


async def newest_run(client: AsyncClient, kind: str, span: tuple[int, int]) -> Json:
    """The newest succeeded run of ``kind`` whose interval covers ``span`` and whose file has not expired.

    Without one, the error says why: the newest such run failed (with Stripe's error), its file
    expired, or there is none.
    """
    passed: list[Json] = []  # covering runs that cannot be used, newest first
    async for page in aiter_pages(client, RUNS):
        for run in page:
            parameters = run.get("parameters") or {}
            low, high = parameters.get("interval_start", 0), parameters.get("interval_end", 0)
            if run.get("report_type") != kind or not low <= span[0] < span[1] <= high:
                continue
            if run.get("status") == "succeeded" and not _expired(run):
                return run
            passed.append(run)
    raise _unusable(kind, span, passed)


def _unusable(kind: str, span: tuple[int, int], passed: list[Json]) -> FinlabError:
    """Why no run of ``kind`` covering ``span`` can be read, from the newest one that could not."""
    create = "Pass create=True to create a new run (the one write finlab ever sends)."
    done = [run for run in passed if run.get("status") != "pending"]
    if done and done[0].get("status") == "failed":
        return _failure(done[0], kind, f" {create}")
    if done and _expired(done[0]):
        run = done[0]
        expired = _day(run["result"]["expires_at"])
        return ConfigurationError(f"The result file of {run['id']} ({kind}) expired at {expired}. {create}")
    pending = " (one is still pending: try again in a few minutes)" if passed and not done else ""
    return ConfigurationError(
        f"No succeeded {kind} run covers {_day(span[0])} to {_day(span[1])}{pending}. Create one in "
        f"the Dashboard (Reports > Tax), or: {create}"
    )


def _failure(run: Mapping[str, Any], kind: str, advice: str = "") -> ReportRunError:
    """A run that did not succeed, with Stripe's ``error``."""
    error = str(run.get("error") or "no reason given").rstrip(".")
    return ReportRunError(f"Stripe's report run {run['id']} ({kind}) {run.get('status')}: {error}.{advice}")


def _still_pending(run: Mapping[str, Any], kind: str, wait: float) -> ReportRunError:
    """A created run that has not finished within ``wait`` seconds: it goes on at Stripe."""
    return ReportRunError(
        f"Stripe's report run {run['id']} ({kind}) is still pending after {wait:g} s. It goes on at "
        f"Stripe: read it later with tax_report({kind!r}, start, end) (without create=True, so nothing "
        "is created twice), or pass a longer wait."
    )


def _expired(run: Mapping[str, Any]) -> bool:
    expires = (run.get("result") or {}).get("expires_at")
    return expires is not None and expires <= time.time()


async def create_run(
    client: AsyncClient, kind: str, span: tuple[int, int], timezone: str, wait: float = WAIT
) -> Json:
    """Create a run (POST) and poll it until it succeeds; a failed run, or one still pending after
    ``wait`` seconds, raises `ReportRunError`."""
    from tqdm.auto import tqdm

    params = {
        "report_type": kind,
        "parameters": {"interval_start": span[0], "interval_end": span[1], "timezone": timezone},
    }
    run = await client.create_report_run(params)
    deadline = time.monotonic() + wait
    with tqdm(desc=f"report run {run['id']}", unit="poll", file=sys.stderr) as bar:
        while run.get("status") == "pending":
            if time.monotonic() >= deadline:
                raise _still_pending(run, kind, wait)
            await asyncio.sleep(POLL_EVERY)
            run = await client.get(f"{RUNS}/{run['id']}", expect="reporting.report_run")
            bar.update(1)
    if run.get("status") != "succeeded":
        raise _failure(run, kind)
    return run


async def report_frame(
    client: AsyncClient,
    kind: str,
    start: int | None,
    end: int | None,
    *,
    create: bool,
    timezone: str,
    wait: float = WAIT,
) -> pl.DataFrame:
    """The report ``kind`` over ``[start, end)`` as its typed frame (see `finlab.tax_reports`)."""
    wait = check_seconds(wait, "wait")
    span = interval(await report_type(client, kind), start, end)
    if create:
        run = await create_run(client, kind, span, timezone, wait)
    else:
        run = await newest_run(client, kind, span)
    content = await client.download(run["result"]["id"])
    parameters = run.get("parameters") or {}
    frame = parse_report(kind, content, timezone=parameters.get("timezone") or "Etc/UTC")
    if "transaction_date" not in frame.columns or (start is None and end is None):
        return frame
    moment = pl.col("transaction_date")
    low, high = datetime.fromtimestamp(span[0], UTC), datetime.fromtimestamp(span[1], UTC)
    return frame.filter((moment >= low) & (moment < high))
