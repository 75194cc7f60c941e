"""One unit of work on a PostgreSQL connection, as the tables use it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row

#: Rows a lazily read query fetches at a time.
FETCH = 200

_names = itertools.count()


class Db:
    """A connection inside one transaction.

    In a write transaction (``locking``), rows read to decide a write are
    locked (``FOR UPDATE``) until it ends: concurrent writers of the same
    thing, blob or package wait for each other, as SQLite's single writer
    made them, while writers of different rows go on at once.
    """

    def __init__(self, conn: psycopg.Connection[DictRow], locking: bool) -> None:
        self.conn = conn
        self.locking = locking
        self._cursors: list[psycopg.ServerCursor[DictRow]] = []

    @property
    def for_update(self) -> str:
        """``FOR UPDATE`` in a write transaction, else nothing."""
        return " FOR UPDATE" if self.locking else ""

    def execute(self, sql: str, args: Sequence[Any] = ()) -> psycopg.Cursor[DictRow]:
        return self.conn.execute(sql.encode("utf-8"), args)

    def one(self, sql: str, args: Sequence[Any] = ()) -> DictRow | None:
        return self.execute(sql, args).fetchone()

    def stream(self, sql: str, args: Sequence[Any] = ()) -> Iterator[DictRow]:
        """The rows of a query, read :data:`FETCH` at a time through a
        server-side cursor (closed when the transaction ends, if not before)."""
        cursor = self.conn.cursor(name=f"hvgen_{next(_names)}", row_factory=dict_row)
        cursor.itersize = FETCH
        self._cursors.append(cursor)
        try:
            cursor.execute(sql.encode("utf-8"), args)
            yield from cursor
        finally:
            cursor.close()

    def close_cursors(self) -> None:
        for cursor in self._cursors:
            cursor.close()
        self._cursors.clear()
