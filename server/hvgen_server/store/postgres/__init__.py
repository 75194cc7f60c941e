"""The PostgreSQL store of the shared platform.

Any number of server processes, on one machine or several, share one
database. Every unit of work is one PostgreSQL transaction on a connection
of the process's pool (:mod:`psycopg_pool`): readers see a snapshot
(``REPEATABLE READ READ ONLY``) and never wait; writers (``READ COMMITTED``)
lock the rows they read to decide a write (``FOR UPDATE``), so two writers
wait for each other only when they touch the same thing, blob or package.
A write that loses to another (a deadlock, or a lock waited on past
``lock_timeout``) is rolled back and raised as :class:`~..base.Conflict`.
Every statement is bounded by ``statement_timeout``.

The schema is created and migrated when the store opens
(:mod:`.schema`); a database that does not exist yet is created.

A new connection of the pool is warmed before it serves (:meth:`PostgresStore.warm`):
the reads the server names (``warm``: those of every DICOMweb request, run on keys
that match nothing) and the transactions' ``BEGIN`` and ``COMMIT`` are prepared on
it. A fresh PostgreSQL session otherwise loads the catalog entries of each table,
index and operator it meets, and plans each statement, on the first request it
serves (about 5 ms of a QIDO-RS of 100 studies), and psycopg prepares a statement
only once the connection has run it five times: with the pool handing out its idle
connections in turn, the first requests after a load or a start each met a new one.
The first connection is opened and warmed before the store is returned (before the
server says it is ready). The warm-up is a fixed handful of reads, in a read-only
transaction of the connection's own, so it is the same on any number of server
processes of one database; a warm-up that fails is logged and the connection serves
unwarmed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import psycopg_pool
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import DictRow, TupleRow, dict_row

from ..base import Conflict, Row, Store, Transaction
from ..errors import StoreError
from ..sql import copying, tables
from .db import PostgresDb
from .schema import migrate

log = logging.getLogger("hvgen_server.store")

#: Milliseconds a statement may run, and a writer may wait for a row lock.
STATEMENT_TIMEOUT_MS = 60_000
LOCK_TIMEOUT_MS = 30_000
#: Seconds to wait for a connection (to the server, or from the pool).
CONNECT_TIMEOUT = 10
POOL_TIMEOUT = 30.0
#: Namespace (the first key) of the advisory locks of :meth:`PostgresStore.hold`, and
#: seconds between two tries to take one.
HOLD_LOCKS, HOLD_POLL = 0x6876_686C, 0.1

#: What PostgreSQL reports when a write lost to another one (a deadlock, a
#: lock waited on too long, a row of the same key another writer added first:
#: done again, the write sees that row and decides anew).
_LOST = (errors.DeadlockDetected, errors.SerializationFailure, errors.LockNotAvailable, errors.UniqueViolation)

#: How units of work begin (:meth:`PostgresStore.read`, :meth:`PostgresStore.write`).
READ, WRITE = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "BEGIN ISOLATION LEVEL READ COMMITTED"


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "the database URL"
    user = f"{params['user']}@" if params.get("user") else ""
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql://{user}{params.get('host', '')}{port}/{params.get('dbname', '')}"


def _connect(url: str, **extra: Any) -> psycopg.Connection[DictRow]:
    return psycopg.connect(url, autocommit=True, row_factory=dict_row, connect_timeout=CONNECT_TIMEOUT, **extra)


def create_database_if_missing(url: str) -> bool:
    """Create the URL's database when it does not exist; True if it was created."""
    try:
        _connect(url).close()
        return False
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise StoreError(f"cannot connect to {redacted(url)}: {str(exc).strip()}") from None
    dbname = conninfo_to_dict(url).get("dbname")
    if not dbname:
        raise StoreError(f"{redacted(url)} names no database")
    try:
        with _connect(make_conninfo(url, dbname="postgres")) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(dbname))))
    except (errors.DuplicateDatabase, errors.UniqueViolation):
        return False  # another process created it meanwhile
    except psycopg.Error as exc:
        raise StoreError(f"cannot create the database of {redacted(url)}: {str(exc).strip()}") from None
    return True


class PostgresStore(Store):
    """A PostgreSQL database, through a pool of connections."""

    def __init__(self, url: str, pool_size: int = 16, warm: Callable[[Transaction], None] | None = None) -> None:
        self.url = url
        self._warm_reads = warm
        create_database_if_missing(url)
        try:
            with _connect(url) as conn:
                migrate(conn)
        except psycopg.Error as exc:
            raise StoreError(f"cannot prepare the database {redacted(url)}: {str(exc).strip()}") from None
        options = f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={LOCK_TIMEOUT_MS}"
        self._pool: psycopg_pool.ConnectionPool[psycopg.Connection[TupleRow]] = psycopg_pool.ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, pool_size),
            timeout=POOL_TIMEOUT,
            kwargs={
                "autocommit": True,
                "connect_timeout": CONNECT_TIMEOUT,
                "options": options,
            },
            name="hvgen",
            configure=self.warm,
            open=True,
        )
        try:
            self._pool.wait(POOL_TIMEOUT)
        except psycopg_pool.PoolTimeout:
            self._pool.close()
            raise StoreError(f"cannot connect to {redacted(url)}: no connection in {POOL_TIMEOUT:g} s") from None

    def close(self) -> None:
        self._pool.close()

    def warm(self, conn: psycopg.Connection[TupleRow]) -> None:
        """Prepare a new connection's statements: the pool's ``configure``.

        ``BEGIN`` of a read and of a write, ``COMMIT`` and the reads the store
        was given, each prepared (psycopg's ``prepare=True``), in one read-only
        transaction. Bounded: a fixed handful of statements per connection, each
        on keys that match nothing. A failure is logged and leaves the connection
        idle and usable (the pool would otherwise drop it and open another, again
        and again)."""
        try:
            conn.execute(WRITE.encode("ascii"), prepare=True)
            conn.execute(b"COMMIT", prepare=True)
            conn.execute(READ.encode("ascii"), prepare=True)
            if self._warm_reads is not None:
                self._warm_reads(tables(PostgresDb(conn, locking=False, prepare=True)))
            conn.execute(b"COMMIT", prepare=True)
        except Exception as exc:  # a warm-up that fails must not stop the connection serving
            log.warning(
                "could not prepare a new database connection: %s", (str(exc).strip() or repr(exc)).splitlines()[0]
            )
            _rollback(conn)

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        """Held by one thread of one server process at a time: a session
        advisory lock on a connection of its own, kept for as long (not one
        of the pool's, which the held work needs; waiters ask again every
        :data:`HOLD_POLL` seconds, so no statement waits past its timeout).
        The lock ends with the connection, however the work ends."""
        with super().hold(name):
            try:
                conn = _connect(self.url)
            except psycopg.Error as exc:
                raise StoreError(f"cannot connect to {redacted(self.url)}: {str(exc).strip()}") from None
            with conn:
                key = (HOLD_LOCKS, name)
                while not _first(conn.execute(b"SELECT pg_try_advisory_lock(%s::integer, hashtext(%s))", key)):
                    time.sleep(HOLD_POLL)
                yield

    @contextmanager
    def _unit(self, begin: str, locking: bool) -> Iterator[PostgresDb]:
        with self._pool.connection() as conn:
            db = PostgresDb(conn, locking)
            conn.execute(begin.encode("ascii"))
            try:
                yield db
                db.close_cursors()
            except BaseException as exc:
                _rollback(conn, forget=isinstance(exc, errors.FeatureNotSupported))
                if isinstance(exc, _LOST):
                    raise Conflict(str(exc).strip().splitlines()[0]) from None
                raise
            try:
                conn.execute(b"COMMIT")
            except _LOST as exc:
                raise Conflict(str(exc).strip().splitlines()[0]) from None

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        with self._unit(READ, locking=False) as db:
            yield tables(db)

    @contextmanager
    def write(self) -> Iterator[Transaction]:
        with self._unit(WRITE, locking=True) as db:
            yield tables(db)

    # -- copying a store ------------------------------------------------------------

    def tables(self) -> set[str]:
        with self._unit("BEGIN READ ONLY", locking=False) as db:
            return copying.tables(db)

    def export_rows(
        self, table: str, after: Sequence[Any] | None, limit: int, columns: Sequence[str] | None = None
    ) -> list[Row]:
        with self._unit("BEGIN READ ONLY", locking=False) as db:
            return copying.export_rows(db, table, after, limit, columns)

    def import_rows(self, table: str, rows: list[Row]) -> int:
        with self._unit("BEGIN", locking=True) as db:
            return copying.import_rows(db, table, rows)

    def count_rows(self, table: str) -> int:
        with self._unit("BEGIN READ ONLY", locking=False) as db:
            return copying.count_rows(db, table)


def _first(cursor: psycopg.Cursor[DictRow]) -> object:
    """The first column of the cursor's one row."""
    row = cursor.fetchone()
    return None if row is None else next(iter(row.values()))


def _rollback(conn: psycopg.Connection[TupleRow], forget: bool = False) -> None:
    """Roll back, if the connection still works (the pool drops it otherwise).

    Sent through libpq: psycopg's own ``execute`` of a ``ROLLBACK`` also
    deallocates every statement prepared on the connection (in case the
    transaction made or changed a table), which would undo its warm-up at the
    first request that fails. Units of work change no table, and PostgreSQL
    keeps prepared statements across a rollback. ``forget``: deallocate them
    all the same (a prepared statement whose result type a schema change of
    another process changed fails until it is prepared again)."""
    try:
        if forget:
            conn.execute(b"ROLLBACK")
        else:
            conn.pgconn.exec_(b"ROLLBACK")
    except psycopg.Error:
        pass
