"""The local store: one Delta Lake table per resource, per Stripe account and mode.

Layout::

    <root>/<acct_id>/<live|test>/<object type>/   e.g. ~/.finlab/acct_1Abc/live/climate.order/
    <root>/<acct_id>/<live|test>/_state/          sync state: the account, cursors, last sync times
    <root>/<acct_id>/<live|test>/.lock            held (flock) while a sync writes (a local store)
    <root>/<acct_id>/<live|test>/_writer/         the same lock on object storage (finlab.store_lock)

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
5. A table's first commit (version 0) is its schema alone, made before any data file is written
   (`DeltaTables._create`): a sync killed during a table's first write leaves a table and a file no
   commit names, never data without a log, which would read as a corrupt table.

Files are private to the user (directories 0700, files 0600) and nothing here ever sees the API key.

Examples
--------
>>> store = Store("/tmp/finlab-doc", "acct_1Doc", livemode=False)  # doctest: +SKIP
>>> store.read("climate.order", as_of=3)  # the frame as it was at Delta version 3  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from finlab import frames, resources
from finlab.errors import ConfigurationError, StoreError
from finlab.extras import needs
from finlab.resources import STORED
from finlab.store_layout import (
    CURSOR_KEY,
    RESOLVED,
    RESOLVED_SCHEMA,
    STATE,
    STATE_SCHEMA,
    STORE_FORMAT,
    AsOf,
    StateRow,
    TableStatus,
    accounts_in,
    commit_properties,
    default_root,
    exclusive,
    is_uri,
    parse_as_of,
    private_files,
    sort,
    sync_unit,
)
from finlab.store_lock import ObjectLock
from finlab.store_tables import DeltaTables

with needs("store"):
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError


class Store(DeltaTables):
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
        self.root = text.rstrip("/") if is_uri(text) else os.path.abspath(os.path.expanduser(text))
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

    def _check_root(self) -> None:
        if not is_uri(self.root) and os.path.exists(self.root) and not os.path.isdir(self.root):
            msg = f"The store {self.root} is a file, not a directory. Pass store= a directory."
            raise StoreError(msg)
        for below in (self.root, f"{self.root}/live", f"{self.root}/test"):
            if self._is_table(f"{below}/{STATE}"):
                found = self._recorded(f"{below}/{STATE}") or "its first sync was cut short"
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
        if found not in (None, expected):
            msg = (
                f"The store at {self.base} was created for {found}, but this key reads {expected}. "
                "Was the directory copied or renamed? Use another store= directory for this key; "
                "nothing was changed."
            )
            raise StoreError(msg)

    def _recorded(self, state_uri: str) -> str | None:
        """``'acct_... (mode)'`` as recorded in a ``_state`` table; None if it has no row yet (the
        store's first sync was killed between the table's creation and its first row)."""
        table = self._load(state_uri, STATE)
        rows = self._frame(table, state_uri, ["account", "livemode"]).unique()
        if rows.height == 0:
            return None
        if rows.height != 1:
            msg = f"The store's state table {state_uri} records {rows.height} accounts; it is corrupt."
            raise StoreError(msg)
        account, live = rows.row(0)
        return f"{account} ({'live' if live else 'test'})"

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

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Create the store if needed and hold it for writing: one writer at a time, private files."""
        if is_uri(self.base):  # no OS lock reaches object storage: a lock table does (finlab.store_lock)
            writer = ObjectLock(self.base, self.storage_options)
            with writer.held():
                self._writer = writer
                try:
                    self._init_state()
                    yield
                finally:
                    self._writer = None
            return
        try:
            with private_files():
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
        with private_files(), exclusive(Path(self.base) / ".lock"):
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
        if not self.state():  # no table yet, or only its creation (version 0)
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
        properties = commit_properties(cursor)
        self._guard()
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

    def _prepared(self, name: str) -> DeltaTable | None:
        """The table, re-parsed first if finlab's schema changed since it was written (checked once)."""
        if name not in self._current:
            self.reparse(name)
            self._current.add(name)
        return self._open(name)

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


__all__ = [
    "CURSOR_KEY",
    "RESOLVED_SCHEMA",
    "STORED",
    "AsOf",
    "StateRow",
    "Store",
    "TableStatus",
    "accounts_in",
    "default_root",
    "parse_as_of",
    "sort",
    "sync_unit",
]
