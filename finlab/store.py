"""The local store: one Delta Lake table per resource, per Stripe account and mode.

Layout::

    <root>/<acct_id>/<live|test>/<object type>/   e.g. ~/.finlab/acct_1Abc/live/climate.order/
    <root>/<acct_id>/<live|test>/_state/          sync state: the account, cursors, last sync times
    <root>/<acct_id>/<live|test>/.lock            held (flock) while a sync writes

A table holds the resource's typed columns plus ``raw``, each object's JSON as Stripe sent it, so a
finlab with another schema rebuilds its frames from ``raw`` without fetching (`Store.reparse`, and
reads do it on the fly). Tables are plain Delta Lake: Polars, DuckDB, Spark and Databricks read them,
and ``root`` may be an object-store URI (``s3://bucket/finlab``) that deltalake opens directly.

Invariants
----------
1. Every write is one Delta commit, so a reader sees whole commits or nothing, never half a page.
2. No id is stored twice: mutable objects are merged on ``id``; immutable ones are appended only
   after the sync (holding the lock) checked their ids are absent.
3. A data commit may carry a cursor in its commit metadata (`CURSOR_KEY`): which listing it belongs
   to and the last id it holds. Rows and cursor are committed together or not at all, so a sync
   killed at any point resumes after the last committed page and fetches nothing it had committed.
4. ``_state`` is written only *after* the data it describes (a completed listing, a sync time). A crash
   in between leaves ``_state`` behind the data, never ahead: the next sync finds the newer cursor in
   the data table's commits after the version ``_state`` recorded. A stale ``_state`` therefore costs
   at most a repeated request that returns nothing new; a ``_state`` ahead of its data, which could
   lose rows, cannot happen.

Files are private to the user (directories 0700, files 0600) and nothing here ever sees the API key.

Examples
--------
>>> store = Store("/tmp/finlab-doc", "acct_1Doc", livemode=False)  # doctest: +SKIP
>>> store.read("climate.order", as_of=3)  # the frame as it was at Delta version 3  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import polars as pl

from finlab import frames, resources
from finlab.errors import ConfigurationError, StoreError
from finlab.extras import needs
from finlab.resources import STORED, Resource

with needs("store"):
    from deltalake import CommitProperties, DeltaTable, write_deltalake
    from deltalake.exceptions import DeltaError

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


def _first_line(exc: BaseException) -> str:
    """An exception's message without the Rust backtrace deltalake appends."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _is_uri(root: str) -> bool:
    return "://" in root


@contextlib.contextmanager
def _private_files() -> Iterator[None]:
    """Create every file and directory in the block readable by the user only."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
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


class Store:
    """The Delta tables of one Stripe account in one mode, under ``root``.

    Parameters
    ----------
    root
        The store directory (``~`` expanded) or an object-store URI such as ``s3://bucket/finlab``.
    account
        The Stripe account id (``acct_...``) the data belongs to.
    livemode
        Live or test data: they never share a table.
    storage_options
        Passed to deltalake for object stores (credentials otherwise come from the environment).

    Raises
    ------
    StoreError
        If ``root`` is not a directory, is itself one account's directory, or holds another account's
        data under this account's name. Nothing is created or changed before these checks pass.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        account: str,
        livemode: bool,
        *,
        storage_options: dict[str, str] | None = None,
    ) -> None:
        if not account.startswith("acct_"):
            msg = f"A store is keyed by a Stripe account id (acct_...), got {account!r}."
            raise ConfigurationError(msg)
        resources.check_id(account, "Account")  # it names a directory
        text = os.fspath(root)
        self.root = text.rstrip("/") if _is_uri(text) else os.path.abspath(os.path.expanduser(text))
        self.account = account
        self.livemode = livemode
        self.mode = "live" if livemode else "test"
        self.base = f"{self.root}/{account}/{self.mode}"
        self.storage_options = storage_options
        self._current: set[str] = set()  # tables checked to have finlab's current schema
        self._check_root()
        self._check_account()

    def __repr__(self) -> str:
        return f"<finlab.Store {self.base}>"

    # -- checks -----------------------------------------------------------------------------------

    def _check_root(self) -> None:
        if not _is_uri(self.root) and os.path.exists(self.root) and not os.path.isdir(self.root):
            msg = f"The store {self.root} is a file, not a directory. Pass store= a directory."
            raise StoreError(msg)
        for below in (self.root, f"{self.root}/live", f"{self.root}/test"):
            if self._is_table(f"{below}/{STATE}"):
                found = self._recorded(f"{below}/{STATE}")
                msg = (
                    f"The store {self.root} is itself the directory of one account ({found}). store= "
                    "names the store root, which holds one directory per account: pass "
                    f"{os.path.dirname(os.path.dirname(below))!r} instead. Nothing was changed."
                )
                raise StoreError(msg)

    def _check_account(self) -> None:
        state = self._uri(STATE)
        if not self._is_table(state):
            return
        found = self._recorded(state)
        expected = f"{self.account} ({self.mode})"
        if found != expected:
            msg = (
                f"The store at {self.base} was created for {found}, but this key reads {expected}. "
                "Was the directory copied or renamed? Use another store= directory for this key; "
                "nothing was changed."
            )
            raise StoreError(msg)

    def _recorded(self, state_uri: str) -> str:
        """``'acct_... (mode)'`` as recorded in a ``_state`` table."""
        table = self._load(state_uri, STATE)
        rows = self._frame(table, state_uri, ["account", "livemode"]).unique()
        if rows.height != 1:
            msg = f"The store's state table {state_uri} records {rows.height} accounts; it is corrupt."
            raise StoreError(msg)
        account, live = rows.row(0)
        return f"{account} ({'live' if live else 'test'})"

    # -- paths and tables -------------------------------------------------------------------------

    def _uri(self, name: str) -> str:
        return f"{self.base}/{name}"

    def path(self, resource: str) -> str:
        """Where ``resource``'s Delta table lives (a directory, or a URI under an object store)."""
        return self._uri(self._resource(resource).object)

    @staticmethod
    def _resource(resource: str) -> Resource:
        res = resources.get(resource)
        if res.object not in STORED:
            msg = f"{res.object} is not kept in the store; stored resources: {', '.join(STORED)}."
            raise ConfigurationError(msg)
        return res

    def _is_table(self, uri: str) -> bool:
        try:
            return bool(DeltaTable.is_deltatable(uri, self.storage_options))
        except (DeltaError, OSError):
            return False

    def _load(self, uri: str, name: str) -> DeltaTable:
        try:
            return DeltaTable(uri, storage_options=self.storage_options)
        except (DeltaError, OSError, ValueError) as exc:
            raise self._corrupt(uri, exc) from None

    @staticmethod
    def _corrupt(uri: str, exc: BaseException) -> StoreError:
        msg = (
            f"The store table {uri} cannot be read: {_first_line(exc)}. "
            "Nothing was changed. Move that directory aside and run `finlab sync` to fetch it again "
            "(the other tables are kept), or read an earlier version with as_of=."
        )
        return StoreError(msg)

    def _open(self, name: str) -> DeltaTable | None:
        """The table's latest version, or None if it does not exist yet (a corrupt one raises)."""
        uri = self._uri(name)
        if self._is_table(uri):
            return self._load(uri, name)
        if not _is_uri(uri) and os.path.isdir(uri) and os.listdir(uri):
            exc = FileNotFoundError(errno.ENOENT, "no Delta log (_delta_log) in a non-empty directory")
            raise self._corrupt(uri, exc)
        return None

    def _frame(self, table: DeltaTable, name: str, columns: list[str] | None = None) -> pl.DataFrame:
        """Read ``table`` (``name`` is a table name or URI, for messages)."""
        uri = name if "/" in name else self._uri(name)
        try:
            return pl.read_delta(table, columns=columns)
        except (DeltaError, OSError, pl.exceptions.PolarsError) as exc:
            raise self._corrupt(uri, exc) from None
        except BaseException as exc:  # a Rust panic on a damaged Parquet file is a BaseException
            if type(exc).__name__ == "PanicException":
                raise self._corrupt(uri, exc) from None
            raise

    def version(self, resource: str) -> int | None:
        """The table's latest Delta version, or None if nothing is stored."""
        table = self._open(self._resource(resource).object)
        return None if table is None else int(table.version())

    def check(self, names: Sequence[str]) -> None:
        """Open every existing table in ``names`` (and ``_state``): a corrupt log raises before a sync."""
        for name in (STATE, *names):
            self._open(name)

    # -- reads ------------------------------------------------------------------------------------

    def read(self, resource: str, as_of: AsOf = None) -> pl.DataFrame:
        """The stored frame of ``resource`` (typed, newest first), now or ``as_of`` a version or time.

        Rows are rebuilt from ``raw`` when the stored columns differ from finlab's current schema.
        """
        res = self._resource(resource)
        stored = self.read_columns(res.object, None, as_of)
        if stored.height == 0 and stored.width == 0:
            return frames.empty(res)
        body = stored.drop(frames.RAW_COLUMN)
        if list(body.schema.items()) != list(res.schema.items()):
            body = frames.build(res, [json.loads(text) for text in stored.get_column(frames.RAW_COLUMN)])
        return sort(res, body)

    def read_columns(self, resource: str, columns: list[str] | None, as_of: AsOf = None) -> pl.DataFrame:
        """Some columns (None: all, with ``raw``) of a table as stored; an empty frame if there is none."""
        name = resource if resource in (STATE, RESOLVED) else self._resource(resource).object
        table = self._open(name)
        if table is None:
            if as_of is not None:
                msg = f"Nothing of {name} is stored in {self.base}, so there is no earlier version to read."
                raise StoreError(msg)
            return pl.DataFrame()
        at = parse_as_of(as_of)
        if at is not None:
            version = self._version_at(table, name, at)
            if version is None:
                return pl.DataFrame()
            try:
                table.load_as_version(version)
            except (DeltaError, OSError) as exc:
                raise self._corrupt(self._uri(name), exc) from None
        return self._frame(table, name, columns)

    def _version_at(self, table: DeltaTable, name: str, at: int | datetime) -> int | None:
        """The version ``at`` names; for a time, the last commit at or before it (None: none yet)."""
        latest = int(table.version())
        if isinstance(at, int):
            if at > latest:
                msg = f"{name} has no version {at}: the latest is {latest} (see `finlab status`)."
                raise StoreError(msg)
            return at
        limit = int(at.timestamp() * 1000)
        versions = [c["version"] for c in table.history() if c["timestamp"] <= limit]
        return max(versions, default=None)

    def ids(self, resource: str, column: str = "id", as_of: AsOf = None) -> set[str]:
        """The distinct values of ``column`` in the stored table (ids by default)."""
        stored = self.read_columns(resource, [column], as_of)
        return set() if stored.width == 0 else set(stored.get_column(column).drop_nulls().to_list())

    def cursors(self, resource: str, since: int | None) -> list[tuple[int, dict[str, Any]]]:
        """(version, cursor) of cursors committed with ``resource``'s data after ``since``, newest first."""
        table = self._open(self._resource(resource).object)
        if table is None:
            return []
        latest = int(table.version())
        if since is not None and since >= latest:
            return []
        commits = table.history(None if since is None else latest - since)
        return [(int(c["version"]), json.loads(c[CURSOR_KEY])) for c in commits if CURSOR_KEY in c]

    def state(self) -> dict[tuple[str, str], StateRow]:
        """Every ``_state`` row by (resource, scope)."""
        frame = self.read_columns(STATE, None)
        if frame.width == 0:
            return {}
        return {
            (row["resource"], row["scope"]): StateRow(
                row["resource"], row["scope"], json.loads(row["cursor"]), row["synced_at"], row["version"]
            )
            for row in frame.iter_rows(named=True)
        }

    def status(self) -> list[TableStatus]:
        """Every stored table: rows, version, last commit and last sync time."""
        state = self.state()
        found = []
        for name in STORED:
            table = self._open(name)
            if table is None:
                continue
            last = table.history(1)[0]
            try:
                rows = int(pl.scan_delta(table).select(pl.len()).collect().item())
            except (DeltaError, OSError, pl.exceptions.PolarsError) as exc:
                raise self._corrupt(self._uri(name), exc) from None
            synced = state.get((sync_unit(name), ""))
            committed = datetime.fromtimestamp(last["timestamp"] / 1000, UTC)
            found.append(
                TableStatus(name, rows, int(table.version()), committed, synced.synced_at if synced else None)
            )
        return found

    # -- writes -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Create the store if needed and hold it for writing: one writer at a time, private files."""
        if _is_uri(self.base):
            self._init_state()
            yield
            return
        try:
            with _private_files():
                Path(self.base).mkdir(mode=0o700, parents=True, exist_ok=True)
                probe = Path(self.base) / f".probe-{os.getpid()}"
                probe.touch()
                probe.unlink()
        except OSError as exc:
            msg = (
                f"Cannot write the store at {self.base}: {exc.strerror or exc}. Pass store= (or set "
                "FINLAB_STORE to) a directory you can write, or fix its permissions. Nothing was changed."
            )
            raise StoreError(msg) from None
        with _private_files(), _exclusive(Path(self.base) / ".lock"):
            self._init_state()
            yield

    def resolved(self) -> pl.DataFrame:
        """Each PaymentIntent a sync resolved, as last resolved (`RESOLVED_SCHEMA`)."""
        frame = self.read_columns(RESOLVED, None)
        if frame.width == 0:
            return pl.DataFrame(schema=RESOLVED_SCHEMA)
        return frame.sort("resolved_at").unique("payment_intent", keep="last", maintain_order=True)

    def add_resolved(self, frame: pl.DataFrame) -> int:
        """Append resolutions (newer rows win). Call after the tax transactions they name are committed."""
        return self._commit(RESOLVED, frame, "append", None)

    def _init_state(self) -> None:
        if self._open(STATE) is None:
            self.save_state([StateRow("", "", {"format": STORE_FORMAT}, datetime.now(UTC))])

    def save_state(self, rows: Sequence[StateRow]) -> None:
        """Upsert ``_state`` rows by (resource, scope), in one commit. Call after the data is committed."""
        current = self.state()
        for row in rows:
            current[(row.resource, row.scope)] = row
        frame = pl.DataFrame(
            [
                {
                    "resource": row.resource,
                    "scope": row.scope,
                    "cursor": json.dumps(row.cursor, sort_keys=True),
                    "synced_at": row.synced_at,
                    "version": row.version,
                    "account": self.account,
                    "livemode": self.livemode,
                }
                for row in current.values()
            ],
            schema=STATE_SCHEMA,
            orient="row",
        )
        self._commit(STATE, frame, "overwrite", None)

    def merge(self, resource: str, frame: pl.DataFrame, cursor: Mapping[str, Any] | None = None) -> int:
        """Upsert rows (typed + ``raw``) by id in one commit; return the table's version after it.

        A row whose ``raw`` is unchanged is left alone. With a ``cursor`` a commit is always made, so
        the cursor is recorded even when no row changed.
        """
        name = self._resource(resource).object
        table = self._prepared(name)
        if table is None:
            return self._commit(name, frame, "append", cursor)
        before = int(table.version())
        properties = _properties(cursor)
        try:
            (
                table.merge(
                    frame, "t.id = s.id", source_alias="s", target_alias="t", commit_properties=properties
                )
                .when_matched_update_all(predicate="t.raw != s.raw")
                .when_not_matched_insert_all()
                .execute()
            )
        except (DeltaError, OSError) as exc:
            raise self._unwritten(name, exc) from None
        if int(table.version()) == before and cursor is not None:
            return self._commit(name, frame.head(0), "append", cursor)
        return int(table.version())

    def append(self, resource: str, frame: pl.DataFrame, cursor: Mapping[str, Any] | None = None) -> int:
        """Append rows whose ids the caller checked are absent, in one commit; return the new version."""
        name = self._resource(resource).object
        return self._commit(name, frame, "append", cursor, table=self._prepared(name))

    def replace(self, resource: str, frame: pl.DataFrame) -> int | None:
        """Make the table hold exactly ``frame`` (a full refresh) in one commit; None if already equal."""
        name = self._resource(resource).object
        table = self._prepared(name)
        if table is not None:
            stored = self._frame(table, name, [frames.RAW_COLUMN]).get_column(frames.RAW_COLUMN)
            if sorted(stored.to_list()) == sorted(frame.get_column(frames.RAW_COLUMN).to_list()):
                return None
        return self._commit(name, frame, "overwrite", None)

    def reparse(self, resource: str) -> int | None:
        """Rebuild a table's typed columns from ``raw`` under the current schema (no fetch), in one commit.

        Returns the new version, or None when the table already has the current schema.
        """
        res = self._resource(resource)
        table = self._open(res.object)
        expected = [*res.schema.items(), (frames.RAW_COLUMN, pl.String())]
        if table is None or list(pl.scan_delta(table).collect_schema().items()) == expected:
            return None
        stored = self._frame(table, res.object, [frames.RAW_COLUMN])
        objects = [json.loads(text) for text in stored.get_column(frames.RAW_COLUMN)]
        return self._commit(res.object, frames.build_raw(res, objects), "overwrite", None, schema=True)

    def _prepared(self, name: str) -> DeltaTable | None:
        """The table, re-parsed first if finlab's schema changed since it was written (checked once)."""
        if name not in self._current:
            self.reparse(name)
            self._current.add(name)
        return self._open(name)

    def _commit(
        self,
        name: str,
        frame: pl.DataFrame,
        mode: Literal["append", "overwrite"],
        cursor: Mapping[str, Any] | None,
        *,
        schema: bool = False,
        table: DeltaTable | None = None,
    ) -> int:
        """Write one commit; ``table``, if given, is the table just loaded (written through, it moves
        to the new version: no second load of its log)."""
        uri = self._uri(name)
        exists = table is not None or self._is_table(uri)
        try:
            write_deltalake(
                uri if table is None else table,
                frame,
                mode=mode,
                schema_mode="overwrite" if schema else None,
                configuration=None if exists else TABLE_CONFIG,
                name=None if exists else name,
                storage_options=self.storage_options,
                commit_properties=_properties(cursor),
            )
            return int((table or DeltaTable(uri, storage_options=self.storage_options)).version())
        except (DeltaError, OSError) as exc:
            raise self._unwritten(name, exc) from None

    def _unwritten(self, name: str, exc: BaseException) -> StoreError:
        msg = (
            f"Could not write {name} to {self._uri(name)}: {_first_line(exc)}. A Delta commit is all or "
            "nothing, so the table is as it was. Fix the cause (space, permissions) and sync again: it "
            "resumes from the last commit."
        )
        return StoreError(msg)


def _properties(cursor: Mapping[str, Any] | None) -> CommitProperties | None:
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
