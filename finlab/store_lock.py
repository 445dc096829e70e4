"""The writer's lock of a store on object storage, where no OS lock reaches: a small Delta table, ``_writer``.

Each commit to ``_writer`` takes, renews or gives back the lock; its commit metadata (`LOCK_KEY`) says
which process holds it (host, pid, a random token) and when it last said so. A commit is made against
the version just read and with no retry, and Delta commits on S3 are put-if-absent (S3's conditional
writes, ``If-None-Match``), so of two syncs that read the same free lock exactly one commits the next
version: the other's commit fails and it stops with `StoreError` before it writes anything.

While a sync writes, a thread renews the lock every `RENEW` seconds. A lock not renewed for `STALE`
seconds is free to take (its holder is gone), and so at once is one whose holder was a process on this
host that no longer runs (a sync killed with SIGKILL resumes straight away). A holder whose renewal
fails has lost the lock to such a takeover: `ObjectLock.check` then raises before its next commit.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import polars as pl

from finlab.errors import StoreError
from finlab.extras import needs
from finlab.store_layout import first_line

with needs("store"):
    from deltalake import CommitProperties, DeltaTable, write_deltalake
    from deltalake.exceptions import DeltaError, TableNotFoundError

#: The lock table's name under an account's directory, and its commit-metadata key.
LOCK = "_writer"
LOCK_KEY = "finlab.writer"
#: Seconds between renewals, and without one after which a holder is taken for gone.
RENEW = 30.0
STALE = 600.0
_SCHEMA = pl.Schema({"holder": pl.String()})


class ObjectLock:
    """Take, renew and give back the ``_writer`` lock of the account directory ``base`` (a URI)."""

    def __init__(self, base: str, storage_options: dict[str, str] | None) -> None:
        self.uri = f"{base}/{LOCK}"
        self.base = base
        self.storage_options = storage_options
        self.me = {"host": socket.gethostname(), "pid": os.getpid(), "token": secrets.token_hex(8)}
        self.lost = False
        self._table: DeltaTable | None = None
        self._stop = threading.Event()

    @contextlib.contextmanager
    def held(self) -> Iterator[ObjectLock]:
        """Hold the lock for the block (`StoreError` if another sync holds it)."""
        try:
            self._take()
        except (DeltaError, OSError) as exc:
            raise lock_error(self.base, exc) from None
        renewer = threading.Thread(target=self._renew, name="finlab-lock", daemon=True)
        renewer.start()
        try:
            yield self
        finally:
            self._stop.set()
            renewer.join()
            if not self.lost:
                with contextlib.suppress(DeltaError, OSError):
                    self._commit("free")

    def check(self) -> None:
        """Raise if another sync took the lock over (this one was silent for `STALE` seconds)."""
        if self.lost:
            msg = (
                f"This sync lost the writer's lock of {self.base}: it was silent for over {STALE:.0f} s "
                "and another sync took the store over. Nothing more is written; run `finlab sync` again "
                "once the other one has finished."
            )
            raise StoreError(msg)

    def _take(self) -> None:
        table = self._open()
        if table is None:
            try:  # the first sync of this store creates the lock table: version 0 holds the lock
                self._write(self.uri, "held", create=True)
                return
            except (DeltaError, OSError):
                table = self._open()  # another sync created it at the same moment: go on as usual
                if table is None:
                    raise
        self._table = table
        holder = self.holder(table)
        if holder is not None and holder.get("state") == "held" and not _gone(holder):
            raise self._busy(holder)
        try:
            self._commit("held")
        except (DeltaError, OSError):
            raise self._busy(self.holder(self._open())) from None

    def _renew(self) -> None:
        while not self._stop.wait(RENEW):
            try:
                self._commit("held")
            except (DeltaError, OSError):
                self.lost = True
                return

    def _open(self) -> DeltaTable | None:
        try:
            return DeltaTable(self.uri, storage_options=self.storage_options)
        except TableNotFoundError:
            return None

    @staticmethod
    def holder(table: DeltaTable | None) -> dict[str, Any] | None:
        """The lock's last commit metadata: state (held or free), host, pid, token, at."""
        if table is None:
            return None
        last = table.history(1)[0]
        return json.loads(last[LOCK_KEY]) if LOCK_KEY in last else None

    def _commit(self, state: str) -> None:
        """Commit at the next version of the table as last read or written, without retrying."""
        if self._table is None:
            self._table = self._open()
        if self._table is None:
            msg = f"The writer's lock table {self.uri} was deleted while a sync held it."
            raise OSError(msg)
        self._write(self._table, state)

    def _write(self, target: str | DeltaTable, state: str, *, create: bool = False) -> None:
        """One commit, never retried; ``create``: version 0, failing if the table exists (put-if-absent)."""
        note = json.dumps({**self.me, "state": state, "at": time.time()}, sort_keys=True)
        write_deltalake(
            target,
            pl.DataFrame(schema=_SCHEMA),
            mode="error" if create else "append",
            storage_options=self.storage_options if isinstance(target, str) else None,
            commit_properties=CommitProperties(custom_metadata={LOCK_KEY: note}, max_commit_retries=0),
        )
        if isinstance(target, str):
            self._table = self._open()

    def _busy(self, holder: dict[str, Any] | None) -> StoreError:
        who = "Another sync"
        if holder is not None:
            who += f" (host {holder['host']}, pid {holder['pid']})"
        since = "" if holder is None else f", last heard of {time.time() - holder['at']:.0f} s ago"
        msg = (
            f"{who} is writing to {self.base}{since}. Wait for it to finish, then run this again. A "
            f"sync that died on another host frees the store {STALE:.0f} s after it was last heard of."
        )
        return StoreError(msg)


def _gone(holder: dict[str, Any]) -> bool:
    """Whether a holder is gone: silent for `STALE` seconds, or a process of this host that has exited."""
    if time.time() - float(holder["at"]) > STALE:
        return True
    if holder["host"] != socket.gethostname():
        return False
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process that runs
        return False
    return False


def lock_error(base: str, exc: BaseException) -> StoreError:
    """A store that cannot be reached to take the lock (wrong endpoint, credentials, bucket)."""
    msg = (
        f"Cannot take the writer's lock of {base}: {first_line(exc)}. Check the store's URI and the "
        "object store's settings (AWS_ENDPOINT_URL, AWS_REGION, the access key); nothing was changed."
    )
    return StoreError(msg)
