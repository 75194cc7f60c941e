"""The SQLite store of the local platform.

One database file in WAL mode with ``synchronous=FULL``: a committed
transaction survives the process being killed at any moment, and an
uncommitted one leaves no trace. Every method request that writes runs in a
single transaction (:meth:`SqliteStore.write`), so a PutThings either stores
all of its things or none.

Each thread has its own connection. Readers (``BEGIN``) see a snapshot and
never wait for a writer (WAL); writers take SQLite's write lock up front
(``BEGIN IMMEDIATE``) and wait for one another through ``busy_timeout``.
No lock of this process decides anything, so the same transactions work
for several server processes on one database. The database file is
readable by its owner only (and so its ``-wal`` and ``-shm`` files, which
SQLite creates with the database's mode).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from healthvault import filemodes

from ..base import Row, Store, Transaction
from ..sql import copying, tables
from .db import SqliteDb
from .schema import migrate

#: Milliseconds a writer waits for another writer's transaction to end.
BUSY_TIMEOUT_MS = 30_000


class SqliteStore(Store):
    """The database, one connection per thread of the server."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=filemodes.PRIVATE_DIR)
        # Owner-only, whatever the umask: SQLite gives the -wal and -shm files the database file's mode.
        os.close(filemodes.open_private(path, os.O_RDWR | os.O_CREAT))
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._registry = threading.Lock()  # guards the list above, nothing else
        conn = self._connection()[0].conn
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            migrate(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _connection(self) -> tuple[SqliteDb, Transaction]:
        """This thread's connection and the tables over it."""
        found = getattr(self._local, "conn", None)
        if found is not None:
            return found  # type: ignore[no-any-return]
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        db = SqliteDb(conn)
        with self._registry:
            self._connections.append(conn)
        self._local.conn = (db, tables(db))
        return self._local.conn  # type: ignore[no-any-return]

    def close(self) -> None:
        with self._registry:
            for conn in self._connections:
                try:
                    conn.close()
                except sqlite3.ProgrammingError:
                    pass
            self._connections.clear()
        self._local = threading.local()

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        db, tx = self._connection()
        db.conn.execute("BEGIN")
        try:
            yield tx
        finally:
            db.conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[Transaction]:
        db, tx = self._connection()
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield tx
        except BaseException:
            db.conn.execute("ROLLBACK")
            raise
        else:
            db.conn.execute("COMMIT")

    def tables(self) -> set[str]:
        with self.read():
            return copying.tables(self._connection()[0])

    def export_rows(
        self, table: str, after: Sequence[Any] | None, limit: int, columns: Sequence[str] | None = None
    ) -> list[Row]:
        with self.read():
            return copying.export_rows(self._connection()[0], table, after, limit, columns)

    def import_rows(self, table: str, rows: list[Row]) -> int:
        with self.write():
            return copying.import_rows(self._connection()[0], table, rows)

    def count_rows(self, table: str) -> int:
        with self.read():
            return copying.count_rows(self._connection()[0], table)
