"""Stripe's Reporting API on the demo account: tax report types, report runs and their result files.

What the account holds (API reference, ``reporting.report_type``, ``reporting.report_run``, ``file``):

- the three tax report types, with ``data_available_start`` / ``data_available_end`` spanning the
  account's tax history;
- report runs, newest first: a succeeded itemized run of the whole history, a summarized one of the
  last quarter, an itemized one whose result file has expired (``expires_at`` in the past), a failed
  one with Stripe's ``error``, a ``balance.summary.1`` run (not a tax report: readers skip it) and a
  ``pending`` itemized export that succeeds after two polls (`RunDesk.poll`);
- a result ``file`` per succeeded run (``purpose = finance_report_run``), downloaded from the files
  host (``GET https://files.stripe.com/v1/files/{file}/contents``); its CSV is computed from the
  tax data by `finlab.demo.tax_exports`.

`RunDesk` is the server side: ``POST /v1/reporting/report_runs`` (`RunDesk.create`), polls, and file
contents. It raises `RefusedError` with Stripe's status, message and parameter for a bad request.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from finlab.demo.clock import DAY, Calendar
from finlab.demo.dataset import Dataset, Json, new_id
from finlab.demo.tax_exports import COLUMNS, ITEMIZED, ITEMIZED_EXPORT, SUMMARIZED_EXPORT, export_csv

REPORT_TYPE = "reporting.report_type"
REPORT_RUN = "reporting.report_run"
FILE = "file"
FILES_HOST = "files.stripe.com"
#: Polls of a pending run before it succeeds.
POLLS_TO_SUCCEED = 2
#: How long a result file can be downloaded.
FILE_LIFETIME = 365 * DAY
_NAMES = {
    ITEMIZED: "Itemized tax transactions",
    ITEMIZED_EXPORT: "Tax itemized export",
    SUMMARIZED_EXPORT: "Tax summarized export",
}
_FAILED = "An internal error occurred while generating your report. Please try creating a new report run."


class RefusedError(Exception):
    """A request Stripe would refuse: HTTP status, message, error code and the parameter at fault."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param


def make_reporting(rng: random.Random, cal: Calendar) -> tuple[list[Json], list[Json], list[Json]]:
    """Return the report types, report runs and result files of the demo account."""
    start, end = cal.start - cal.start % DAY, cal.end - cal.end % DAY
    types = [
        {
            "data_available_end": end,
            "data_available_start": start,
            "default_columns": list(COLUMNS[kind]),
            "id": kind,
            "livemode": False,
            "name": name,
            "object": REPORT_TYPE,
            "updated": end,
            "version": int(kind.rsplit(".", 1)[1]),
        }
        for kind, name in _NAMES.items()
    ]
    quarter = end - 92 * DAY
    plans = [  # (report type, interval, created, outcome)
        (ITEMIZED, (start, end), end + 3_600, "succeeded"),
        (SUMMARIZED_EXPORT, (quarter, end), end + 1_800, "succeeded"),
        ("balance.summary.1", (quarter, end), end + 900, "succeeded"),
        (ITEMIZED_EXPORT, (quarter, end), end + 600, "failed"),
        (ITEMIZED, (start, start + 90 * DAY), start + 100 * DAY, "succeeded"),  # its file has expired
        (ITEMIZED_EXPORT, (quarter, end), end + 7_200, "pending"),
    ]
    runs, files = [], []
    for kind, (low, high), created, outcome in plans:
        run = _run(rng, kind, {"interval_end": high, "interval_start": low}, created)
        if outcome == "failed":
            run.update(status="failed", error=_FAILED)
        elif outcome == "succeeded":
            files.append(_succeed(rng, run, created + 120))
        runs.append(run)
    return types, runs, files


def _run(rng: random.Random, kind: str, parameters: Json, created: int) -> Json:
    return {
        "created": created,
        "error": None,
        "id": new_id(rng, "frr_"),
        "livemode": False,
        "object": REPORT_RUN,
        "parameters": parameters,
        "report_type": kind,
        "result": None,
        "status": "pending",
        "succeeded_at": None,
    }


def _succeed(rng: random.Random, run: Json, at: int) -> Json:
    """Mark ``run`` succeeded at ``at`` with a new result file; return the file."""
    file_id = new_id(rng, "file_")
    result = {
        "created": at,
        "expires_at": at + FILE_LIFETIME,
        "filename": f"{file_id}.csv",
        "id": file_id,
        "links": None,
        "object": FILE,
        "purpose": "finance_report_run",
        "size": 0,
        "title": f"{run['report_type']} run {run['id']}",
        "type": "csv",
        "url": f"https://{FILES_HOST}/v1/files/{file_id}/contents",
    }
    run.update(status="succeeded", succeeded_at=at, result=result)
    return result


@dataclass
class RunDesk:
    """Creates report runs, moves pending ones along and serves result files, over a `Dataset`."""

    dataset: Dataset

    def __post_init__(self) -> None:
        self._polls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._contents: dict[tuple[str, int], bytes] = {}

    def create(self, pairs: list[tuple[str, str]], now: int) -> Json:
        """Create a pending run from the (key, value) pairs of a ``POST /v1/reporting/report_runs`` form."""
        form = dict(pairs)
        kind = form.get("report_type")
        if not kind:
            raise RefusedError(
                400, "Missing required param: report_type.", code="parameter_missing", param="report_type"
            )
        report_type = self._report_type(kind)
        known = {"report_type", *(f"parameters[{name}]" for name in _PARAMETERS)}
        unknown = sorted(key for key in form if key not in known and not key.startswith(_LISTS))
        if unknown:
            raise RefusedError(
                400, f"Received unknown parameter: {unknown[0]}", code="parameter_unknown", param=unknown[0]
            )
        parameters: Json = {name: _integer(form, name) for name in ("interval_start", "interval_end")}
        low, high = report_type["data_available_start"], report_type["data_available_end"]
        if not low <= parameters["interval_start"] < parameters["interval_end"] <= high:
            msg = (
                f"The interval must lie within the report type's data_available_start ({low}) and "
                f"data_available_end ({high}), with interval_start before interval_end."
            )
            raise RefusedError(400, msg, code="parameter_invalid_integer", param="parameters[interval_start]")
        if "parameters[timezone]" in form:
            parameters["timezone"] = _timezone(form["parameters[timezone]"])
        columns = [value for key, value in pairs if key.startswith("parameters[columns]")]
        if columns:
            bad = sorted(set(columns) - set(COLUMNS[kind]))
            if bad:
                raise RefusedError(
                    400, f"Invalid columns for {kind}: {', '.join(bad)}", param="parameters[columns]"
                )
            parameters["columns"] = columns
        run = _run(random.Random(f"run:{now}:{len(self.dataset[REPORT_RUN])}"), kind, parameters, now)
        with self._lock:
            self.dataset[REPORT_RUN].append(run)
            self.dataset.touch()
        return run

    def poll(self, run: Json) -> None:
        """Count a retrieve of a pending run; the `POLLS_TO_SUCCEED`-th one finishes it."""
        with self._lock:
            if run["status"] != "pending":
                return
            self._polls[run["id"]] += 1
            if self._polls[run["id"]] < POLLS_TO_SUCCEED:
                return
            result = _succeed(random.Random(run["id"]), run, run["created"] + 60 * self._polls[run["id"]])
            result["size"] = len(run_csv(self.dataset, run))
            self.dataset[FILE].append(result)
            self.dataset.touch()

    def contents(self, file_id: str, now: int) -> bytes:
        """The CSV of a run's result file, or a `RefusedError` if there is no such file or it expired."""
        run = next((r for r in self.dataset[REPORT_RUN] if (r["result"] or {}).get("id") == file_id), None)
        if run is None:
            raise RefusedError(404, f"No such file: '{file_id}'", code="resource_missing", param="file")
        expires = run["result"]["expires_at"]
        if expires is not None and expires <= now:
            msg = (
                f"The file '{file_id}' expired at {expires} and can no longer be downloaded. "
                "Create a new report run."
            )
            raise RefusedError(404, msg, code="resource_missing", param="file")
        key = (file_id, self.dataset.version)
        with self._lock:
            if key not in self._contents:
                self._contents[key] = run_csv(self.dataset, run)
            return self._contents[key]

    def _report_type(self, kind: str) -> Json:
        for report_type in self.dataset[REPORT_TYPE]:
            if report_type["id"] == kind:
                return report_type
        raise RefusedError(
            404, f"No such report type: '{kind}'", code="resource_missing", param="report_type"
        )


def run_csv(dataset: Dataset, run: Json) -> bytes:
    """The CSV a succeeded ``run`` produced (its report type, interval, timezone and columns)."""
    parameters = run["parameters"]
    return export_csv(
        dataset,
        run["report_type"],
        parameters["interval_start"],
        parameters["interval_end"],
        parameters.get("timezone", "Etc/UTC"),
        parameters.get("columns"),
    )


def size_files(dataset: Dataset) -> None:
    """Set each tax run's result file ``size`` to the length of its CSV."""
    sizes = {
        run["result"]["id"]: len(run_csv(dataset, run))
        for run in dataset[REPORT_RUN]
        if run["result"] and run["report_type"] in COLUMNS
    }
    for run in dataset[REPORT_RUN]:
        if run["result"]:
            run["result"]["size"] = sizes.get(run["result"]["id"], 2_048)
    for file in dataset[FILE]:
        file["size"] = sizes.get(file["id"], 2_048)


_PARAMETERS = ("interval_start", "interval_end", "timezone")
#: Form keys of list parameters: ``parameters[columns][]`` (or ``[0]``, ``[1]``, ...) and ``expand[]``.
_LISTS = ("parameters[columns][", "expand[")


def _integer(form: dict[str, str], name: str) -> int:
    key = f"parameters[{name}]"
    if key not in form:
        raise RefusedError(400, f"Missing required param: {key}.", code="parameter_missing", param=key)
    try:
        return int(form[key])
    except ValueError:
        raise RefusedError(
            400, f"Invalid integer: {form[key]}", code="parameter_invalid_integer", param=key
        ) from None


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RefusedError(400, f"Invalid timezone: {name}", param="parameters[timezone]") from None
    return name
