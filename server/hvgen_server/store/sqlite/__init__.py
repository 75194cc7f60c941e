"""The SQLite store of the local platform.

One database file in WAL mode with ``synchronous=FULL``: a committed
transaction survives the process being killed at any moment, and an
uncommitted one leaves no trace. Every method request that writes runs in a
single transaction (:meth:`SqliteStore.write`), so a PutThings either stores
all of its things or none.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..base import Store, Transaction
from .blobs import SqliteBlobs
from .directory import SqliteApplications, SqliteMeta, SqliteRecords, SqliteSessions
from .packages import SqlitePackages
from .schema import DDL, SCHEMA_VERSION
from .things import SqliteThings


class SqliteStore(Store):
    """The database, shared by the server's worker threads.

    SQLite allows one writer at a time; a lock serializes access so that a
    write transaction is never interleaved with another thread's statements.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._tx = Transaction(
            meta=SqliteMeta(self._conn),
            applications=SqliteApplications(self._conn),
            records=SqliteRecords(self._conn),
            sessions=SqliteSessions(self._conn),
            things=SqliteThings(self._conn),
            blobs=SqliteBlobs(self._conn),
            packages=SqlitePackages(self._conn),
        )
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA busy_timeout=10000")
            self._conn.executescript(DDL)
            self._conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._tx
            finally:
                self._conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[Transaction]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._tx
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
