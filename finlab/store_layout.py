"""What the store is made of: where it lives, its tables' names and schemas, ``_state`` rows, as-of values,
private files and the writer's lock, and the order rows are kept in. `finlab.store.Store` uses them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from finlab import resources
from finlab.errors import ConfigurationError, StoreError
from finlab.extras import needs
from finlab.resources import Resource

with needs("store"):
    from deltalake import CommitProperties

#: Where the store lives when neither ``store=`` nor ``FINLAB_STORE`` says.
DEFAULT_ROOT = "~/.finlab"
STATE = "_state"
#: Commit-metadata key of a listing cursor (JSON) in a data commit.
CURSOR_KEY = "finlab.cursor"
STORE_FORMAT = 1
#: Keep the Delta log ten years so that as-of reads (a filed tax report) stay reproducible.
TABLE_CONFIG = {"delta.logRetentionDuration": "interval 3650 days"}
STATE_SCHEMA = pl.Schema(
    {
        "resource": pl.String(),
        "scope": pl.String(),
        "cursor": pl.String(),
        "synced_at": pl.Datetime("us", "UTC"),
        "version": pl.Int64(),
        "account": pl.String(),
        "livemode": pl.Boolean(),
    }
)

#: finlab's own table of the PaymentIntents a sync resolved to tax transactions (see `finlab.tax_sync`).
RESOLVED = "_tax_resolved"
RESOLVED_SCHEMA = pl.Schema(
    {
        "payment_intent": pl.String(),
        "created": pl.Int64(),
        "status": pl.String(),
        "settled": pl.Boolean(),
        "tax_transactions": pl.List(pl.String()),
        "resolved_at": pl.Datetime("us", "UTC"),
    }
)

AsOf = int | datetime | str | None


def default_root() -> str:
    """``FINLAB_STORE`` if set, else `DEFAULT_ROOT`."""
    return os.environ.get("FINLAB_STORE") or DEFAULT_ROOT


def parse_as_of(as_of: AsOf) -> int | datetime | None:
    """A Delta version (int >= 0) or an aware datetime, from what a user or the CLI passed.

    >>> parse_as_of("3"), parse_as_of("2026-01-31T00:00:00+00:00").year
    (3, 2026)
    """
    if as_of is None or (isinstance(as_of, datetime | int) and not isinstance(as_of, bool)):
        value = as_of
    elif isinstance(as_of, str) and as_of.strip().isdigit():
        value = int(as_of)
    elif isinstance(as_of, str):
        try:
            value = datetime.fromisoformat(as_of.strip())
        except ValueError:
            msg = f"as_of={as_of!r} is neither a Delta version (e.g. 3) nor an ISO datetime with a timezone."
            raise ConfigurationError(msg) from None
    else:
        msg = f"as_of must be a Delta version (int) or a datetime, not {type(as_of).__name__}."
        raise ConfigurationError(msg)
    if isinstance(value, int) and value < 0:
        msg = f"as_of={value} is not a Delta version: versions count up from 0 (see `finlab status`)."
        raise ConfigurationError(msg)
    if isinstance(value, datetime) and value.tzinfo is None:
        msg = f"as_of={value.isoformat()} has no timezone; pass an aware datetime (e.g. tzinfo=UTC)."
        raise ConfigurationError(msg)
    return value


@dataclass(frozen=True)
class StateRow:
    """One ``_state`` entry: a resource's (or one of its scopes') completed cursor and sync time."""

    resource: str
    scope: str
    cursor: Mapping[str, Any] = field(default_factory=dict)
    synced_at: datetime | None = None
    version: int | None = None


@dataclass(frozen=True)
class TableStatus:
    """What `Store.status` reports for one table."""

    resource: str
    rows: int
    version: int
    committed_at: datetime
    synced_at: datetime | None


def first_line(exc: BaseException) -> str:
    """An exception's message without the Rust backtrace deltalake appends, and for an object-store
    error its cause: the S3 error code and message, else the innermost line of deltalake's chain.

    >>> first_line(OSError("Generic S3 error\\n  \\u21b3 HTTP error\\n   \\u21b3 Connection refused"))
    'Generic S3 error (Connection refused)'
    """
    lines = [_ANSI.sub("", line).strip() for line in str(exc).strip().splitlines()]
    head = (lines or [type(exc).__name__])[0]
    code = _S3_ERROR.search(str(exc))
    causes = [line.lstrip("\u21b3 ") for line in lines[1:] if line.startswith("\u21b3")]
    if code:
        return f"{head} ({code['code']}: {code['message']})"
    return f"{head} ({causes[-1]})" if causes else head


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_S3_ERROR = re.compile(r"<Code>(?P<code>[^<]*)</Code>\s*<Message>(?P<message>[^<]*)</Message>")


def is_uri(root: str) -> bool:
    return "://" in root


@contextlib.contextmanager
def private_files() -> Iterator[None]:
    """Create every file and directory in the block readable by the user only."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (released by the OS even if the process is killed)."""
    import fcntl

    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            msg = (
                f"Another finlab sync is writing to {path.parent}; wait for it to finish (or stop it), "
                "then run this again."
            )
            raise StoreError(msg) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def commit_properties(cursor: Mapping[str, Any] | None) -> CommitProperties | None:
    if cursor is None:
        return None
    return CommitProperties(custom_metadata={CURSOR_KEY: json.dumps(cursor, sort_keys=True)})


def sync_unit(name: str) -> str:
    """The resource whose sync writes table ``name`` (line items come with their tax transactions)."""
    res = resources.get(name)
    return res.parent or res.object


def sort(res: Resource, frame: pl.DataFrame) -> pl.DataFrame:
    """Rows in the store's order: newest first (by ``transacted_at`` or ``created``), then id.

    Line items sort by their parent, then id. A store read is therefore the same frame every time.
    """
    names = frame.columns
    if res.parent:
        keys, descending = [names[1], "id"], False
    else:
        keys = [key for key in ("transacted_at", "created", "id") if key in names]
        descending = True
    if not keys:
        return frame
    return frame.sort(keys, descending=descending, nulls_last=True, maintain_order=True)


def accounts_in(root: str | os.PathLike[str]) -> list[tuple[str, bool]]:
    """(account, livemode) of every account directory under a local store root."""
    base = Path(os.path.expanduser(os.fspath(root)))
    found = []
    for state in sorted(base.glob(f"acct_*/*/{STATE}")):
        if state.parent.name in ("live", "test"):
            found.append((state.parent.parent.name, state.parent.name == "live"))
    return found
