"""The SQLite adapter: its dialect and a unit of work on a connection."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from ..sql.dialect import Db, Dialect, Rows, Tuple

SQLITE = Dialect(
    name="SQLite",
    empty_bytes="x''",
    bytewise="",  # BINARY, the default collation, is byte order
    position="rowid",
    unbounded=-1,
    no_limit="-1",
    row_locks=False,  # one writer at a time (BEGIN IMMEDIATE)
    returning=False,  # RETURNING needs SQLite 3.35
    arrays=False,
    like_has_case=False,
    distinct_list="GROUP_CONCAT(DISTINCT {})",
    types={"text": "TEXT", "integer": "INTEGER", "bigint": "INTEGER", "real": "REAL", "bytes": "BLOB"},
    tables_query="SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
)


class SqliteDb(Db):
    """A thread's connection, for each unit of work of the thread in turn.
    Writers are one at a time (``BEGIN IMMEDIATE``): nothing to lock."""

    dialect = SQLITE
    locking = False

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        return self.conn.execute(sql, args).rowcount

    def one(self, sql: str, args: Sequence[Any] = ()) -> Tuple | None:
        row: Tuple | None = self.conn.execute(sql, args).fetchone()
        return row

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[Tuple]:
        return self.conn.execute(sql, args).fetchall()

    def stream(self, sql: str, args: Sequence[Any] = (), *, expected: int | None = None) -> Rows:
        return self.conn.execute(sql, args)  # a cursor reads as it goes

    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def dicts(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self.conn.execute(sql, args)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor]

    def lock(self, namespace: int, key: str) -> None:
        """Nothing: writers are one at a time."""
