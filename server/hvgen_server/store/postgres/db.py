"""The PostgreSQL adapter: its dialect and a unit of work on a connection."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Generator, Iterable, Sequence
from typing import Any

import psycopg

from ..sql.dialect import Db, Dialect, Rows, Tuple

POSTGRES = Dialect(
    name="PostgreSQL",
    empty_bytes="''::bytea",
    bytewise=' COLLATE "C"',  # whatever the database's collation
    position="position",
    unbounded=None,
    no_limit=None,
    row_locks=True,
    returning=True,
    arrays=True,
    like_has_case=True,
    distinct_list="string_agg(DISTINCT {}, ',')",
    types={"text": "TEXT", "integer": "INTEGER", "bigint": "BIGINT", "real": "DOUBLE PRECISION", "bytes": "BYTEA"},
    tables_query="SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
)

#: Rows a lazily read query fetches at a time; a query of at most this many
#: rows (as its caller expects) is read at once.
FETCH = 200
EAGER_LIMIT = 500

_names = itertools.count()


#: Statements up to this long are rewritten once (the most recent ones kept);
#: longer ones (GetThings of many ids) each time.
_KEPT_TEXT, _KEPT = 2048, 512


def _rewrite(sql: str) -> bytes:
    """The tables' SQL as psycopg takes it: ``%s`` marks (``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s").encode("utf-8")


_kept = functools.lru_cache(maxsize=_KEPT)(_rewrite)


def _query(sql: str) -> bytes:
    return _kept(sql) if len(sql) <= _KEPT_TEXT else _rewrite(sql)


class PostgresDb(Db):
    """A connection inside one transaction.

    In a write transaction (``locking``), rows read to decide a write are
    locked (``FOR UPDATE``) until it ends: concurrent writers of the same
    thing, blob or package wait for each other, as SQLite's single writer
    made them, while writers of different rows go on at once.
    """

    dialect = POSTGRES

    def __init__(self, conn: psycopg.Connection[Tuple], locking: bool, prepare: bool | None = None) -> None:
        self.conn = conn
        self.locking = locking
        #: psycopg's ``prepare`` of every statement: None prepares a statement once the
        #: connection ran it ``prepare_threshold`` times, True at once (a warm-up).
        self.prepare = prepare
        self._cursors: list[psycopg.ServerCursor[Tuple]] = []

    def _execute(self, sql: str, args: Sequence[Any]) -> psycopg.Cursor[Tuple]:
        return self.conn.execute(_query(sql), args, prepare=self.prepare)

    def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        return self._execute(sql, args).rowcount

    def one(self, sql: str, args: Sequence[Any] = ()) -> Tuple | None:
        return self._execute(sql, args).fetchone()

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[Tuple]:
        return self._execute(sql, args).fetchall()

    def stream(self, sql: str, args: Sequence[Any] = (), *, expected: int | None = None) -> Rows:
        """Few rows at once; more through a server-side cursor, :data:`FETCH`
        at a time (closed when the transaction ends, if not before)."""
        if expected is not None and expected <= EAGER_LIMIT:
            return self._execute(sql, args)  # a client-side cursor: the rows came at once
        return self._streamed(sql, args)

    def _streamed(self, sql: str, args: Sequence[Any]) -> Generator[Tuple, None, None]:
        cursor = self.conn.cursor(name=f"hvgen_{next(_names)}")
        cursor.itersize = FETCH
        self._cursors.append(cursor)
        try:
            cursor.execute(_query(sql), args)
            yield from cursor
        finally:
            cursor.close()

    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(_query(sql), rows)

    def dicts(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self._execute(sql, args)
        names = [column.name for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def lock(self, namespace: int, key: str) -> None:
        """A transaction advisory lock on (``namespace``, the key's hash)."""
        self.conn.execute(b"SELECT pg_advisory_xact_lock(%s::integer, hashtext(%s))", (namespace, key))

    def close_cursors(self) -> None:
        for cursor in self._cursors:
            cursor.close()
        self._cursors.clear()
