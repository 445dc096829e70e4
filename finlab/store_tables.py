"""Reading and writing one account's Delta tables: open them, read them (now or as of a version), and
commit to them. `finlab.store.Store` adds its checks, the sync state and the rules of each write.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import polars as pl

from finlab import frames, resources
from finlab.errors import ConfigurationError, StoreError
from finlab.extras import needs
from finlab.resources import STORED, Resource
from finlab.store_layout import (
    CURSOR_KEY,
    RESOLVED,
    STATE,
    TABLE_CONFIG,
    AsOf,
    commit_properties,
    first_line,
    is_uri,
    parse_as_of,
    sort,
)
from finlab.store_lock import ObjectLock

with needs("store"):
    from deltalake import DeltaTable, write_deltalake
    from deltalake.exceptions import DeltaError


class DeltaTables:
    """The Delta tables under ``base`` (set by `finlab.store.Store`, with ``storage_options``)."""

    base: str
    storage_options: dict[str, str] | None
    _current: set[str]
    #: The object-store lock while a sync holds it (`finlab.store.Store.writing`).
    _writer: ObjectLock | None = None

    def _guard(self) -> None:
        """Before a commit: raise if the sync lost its object-store lock to another."""
        if self._writer is not None:
            self._writer.check()

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
            f"The store table {uri} cannot be read: {first_line(exc)}. "
            "Nothing was changed. Move that directory aside and run `finlab sync` to fetch it again "
            "(the other tables are kept), or read an earlier version with as_of=."
        )
        return StoreError(msg)

    def _open(self, name: str) -> DeltaTable | None:
        """The table's latest version, or None if it does not exist yet (a corrupt one raises).

        A directory holding nothing beside a ``_delta_log`` without a commit is a creation cut short
        (see `_create`): it does not exist yet. Anything more beside it, with no commit, is data whose
        log was lost: corrupt.
        """
        uri = self._uri(name)
        if self._is_table(uri):
            return self._load(uri, name)
        if not is_uri(uri) and os.path.isdir(uri) and set(os.listdir(uri)) - {"_delta_log"}:
            exc = FileNotFoundError(errno.ENOENT, "no Delta log (_delta_log) beside its data files")
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

    def scan(self, resource: str, as_of: AsOf = None) -> pl.LazyFrame:
        """The stored rows of ``resource`` as a lazy scan of its table (typed columns, unsorted), now or
        ``as_of``: nothing is read until it is collected, then only what the plan needs.

        When the stored columns differ from finlab's current schema it is `read` (rebuilt from ``raw``).
        """
        res = self._resource(resource)
        table = self._open(res.object)
        at = parse_as_of(as_of)
        version = None if table is None or at is None else self._version_at(table, res.object, at)
        if table is None or (at is not None and version is None):
            return self.read(res.object, as_of).lazy()
        try:
            if version is not None:
                table.load_as_version(version)
            scan = pl.scan_delta(table).drop(frames.RAW_COLUMN)
            schema = scan.collect_schema()
        except (DeltaError, OSError, pl.exceptions.PolarsError) as exc:
            raise self._corrupt(self._uri(res.object), exc) from None
        if list(schema.items()) != list(res.schema.items()):
            return self.read(res.object, as_of).lazy()
        return scan

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
        self._guard()
        try:
            table = table or self._open(name) or self._create(name, frame.schema)
            write_deltalake(
                table,
                frame,
                mode=mode,
                schema_mode="overwrite" if schema else None,
                commit_properties=commit_properties(cursor),
            )
            return int(table.version())
        except (DeltaError, OSError) as exc:
            raise self._unwritten(name, exc) from None

    def _create(self, name: str, schema: pl.Schema) -> DeltaTable:
        """A new table's version 0: its schema and settings, no rows. Its log exists before any data
        file does, so a sync killed during its first data commit leaves a table (with a file no commit
        names, which readers ignore), never data without a log."""
        return DeltaTable.create(
            self._uri(name),
            schema,
            name=name,
            configuration=TABLE_CONFIG,
            storage_options=self.storage_options,
        )

    def _unwritten(self, name: str, exc: BaseException) -> StoreError:
        msg = (
            f"Could not write {name} to {self._uri(name)}: {first_line(exc)}. A Delta commit is all or "
            "nothing, so the table is as it was. Fix the cause (space, permissions) and sync again: it "
            "resumes from the last commit."
        )
        return StoreError(msg)
