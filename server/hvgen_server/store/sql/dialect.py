"""What an SQL backend gives the tables: a :class:`Dialect` (how its SQL is
spelled where databases differ) and a :class:`Db` (one unit of work on one
of its connections, rows as plain tuples).

The tables write one SQL for every backend: the common part of SQLite's and
PostgreSQL's, parameters marked ``?`` (an adapter whose driver marks them
otherwise rewrites the text, once per text). Where the databases really
differ, a table asks the dialect: how text is put in byte order, which
column numbers a table's rows in the order they were added, whether rows can
be locked, ``RETURNING``, arrays for batch deletes, an unbounded ``LIMIT``,
a case-sensitive wildcard match, a list of distinct values. Writers of one
key that must wait for each other ask the :class:`Db` for a lock
(PostgreSQL's advisory locks; nothing where writers are one at a time, as
in SQLite).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any, Protocol

#: A row as a query gives it: its columns in the order the query names them.
Tuple = tuple[Any, ...]


class Rows(Protocol):
    """Rows read as the caller goes; ``close`` when it stops early."""

    def __iter__(self) -> Iterator[Tuple]: ...

    def __next__(self) -> Tuple: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Dialect:
    """How a database spells what the tables need where SQL differs."""

    #: The database, for people ("SQLite", "PostgreSQL").
    name: str
    #: An empty BLOB/bytea literal.
    empty_bytes: str
    #: Text after an expression that puts text in byte order (as Python
    #: orders ``str``): "" where that is already the order.
    bytewise: str
    #: The column that numbers a table's rows in the order they were added
    #: (SQLite's ``rowid``; a ``position`` column of its own elsewhere).
    position: str
    #: The value of a ``LIMIT ?`` that sets no limit.
    unbounded: int | None
    #: The LIMIT that lets an OFFSET stand alone in a statement, if one is needed.
    no_limit: str | None
    #: Whether rows read to decide a write can be locked (``FOR UPDATE``,
    #: ``SKIP LOCKED``); where they cannot, writers run one at a time.
    row_locks: bool
    #: Whether ``UPDATE`` and ``DELETE`` take ``RETURNING``.
    returning: bool
    #: Whether a parameter can be an array (``= ANY(?)``).
    arrays: bool
    #: Whether ``LIKE`` tells letters' cases apart (else ``GLOB`` does).
    like_has_case: bool
    #: The distinct values of ``{}`` of a group, joined by commas.
    distinct_list: str
    #: Types of the schema's columns (:mod:`.schema`) by their names there.
    types: dict[str, str]
    #: A query of the names of the tables the store has.
    tables_query: str


def marks(count: int) -> str:
    """``count`` parameter marks, for an ``IN (...)`` list."""
    return ",".join("?" * count)


class Db(ABC):
    """One unit of work on a connection of a backend.

    ``locking`` says that it is a write whose reads decide (rows so read are
    locked where the dialect can). Every method takes SQL with ``?`` marks.
    """

    dialect: Dialect
    locking: bool

    @abstractmethod
    def run(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run a statement; returns how many rows it changed."""

    @abstractmethod
    def one(self, sql: str, args: Sequence[Any] = ()) -> Tuple | None:
        """The first row of a query."""

    @abstractmethod
    def all(self, sql: str, args: Sequence[Any] = ()) -> list[Tuple]: ...

    @abstractmethod
    def stream(self, sql: str, args: Sequence[Any] = (), *, expected: int | None = None) -> Rows:
        """The rows of a query as the caller reads them (it may stop early,
        and then closes them). ``expected``: at most how many there are, if
        known (an adapter may read that few at once)."""

    @abstractmethod
    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run a statement once for each row of arguments."""

    @abstractmethod
    def dicts(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The rows of a query as column name to value."""

    @abstractmethod
    def lock(self, namespace: int, key: str) -> None:
        """Until the unit of work ends, other writers taking the same lock
        (``namespace`` and ``key``) wait; nothing where writers are one at a time."""

    def for_update(self, of: str = "") -> str:
        """``FOR UPDATE`` (``OF`` a table, if given) in a write whose reads
        decide, where rows can be locked; else nothing."""
        if not (self.locking and self.dialect.row_locks):
            return ""
        return f" FOR UPDATE OF {of}" if of else " FOR UPDATE"

    def value(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """The first column of the first row of a query (None without rows)."""
        row = self.one(sql, args)
        return None if row is None else row[0]


def skip_locked(db: Db) -> str:
    """What makes a query pass over rows another writer has locked, where rows lock."""
    return " FOR UPDATE SKIP LOCKED" if db.dialect.row_locks else ""


def delete_returning(
    db: Db, table: str, key: str, where: str, args: Sequence[Any], limit: int | None = None
) -> list[Any]:
    """Delete the rows of ``table`` that ``where`` chooses (up to ``limit``
    of them, in the order ``where`` ends with, if any), passing over rows
    other writers hold; returns their keys."""
    bound = "" if limit is None else f" LIMIT {int(limit)}"
    chosen = f"SELECT {key} FROM {table} WHERE {where}{bound}{skip_locked(db)}"
    if db.dialect.returning:
        return [r[0] for r in db.all(f"DELETE FROM {table} WHERE {key} IN ({chosen}) RETURNING {key}", args)]
    keys = [r[0] for r in db.all(chosen, args)]
    db.many(f"DELETE FROM {table} WHERE {key} = ?", [(k,) for k in keys])
    return keys


def update_returning(
    db: Db, table: str, assignments: str, where: str, args: Sequence[Any], key: str, key_value: Any, column: str
) -> Any:
    """Update the row of ``table`` whose ``key`` is ``key_value`` if
    ``where`` holds of it (``args``: those of ``assignments``, then those of
    ``where``); returns its ``column`` as updated (None when no row was)."""
    sql = f"UPDATE {table} SET {assignments} WHERE {where} AND {key} = ?"
    if db.dialect.returning:
        return db.value(f"{sql} RETURNING {column}", [*args, key_value])
    if db.run(sql, [*args, key_value]) != 1:
        return None
    return db.value(f"SELECT {column} FROM {table} WHERE {key} = ?", (key_value,))


def delete_keys(db: Db, table: str, column: str, keys: Iterable[Any]) -> None:
    """Delete the rows whose ``column`` is one of ``keys``, in one order for
    every writer (no deadlock between two)."""
    ordered = sorted(set(keys))
    if not ordered:
        return
    if db.dialect.arrays:
        db.run(f"DELETE FROM {table} WHERE {column} = ANY(?)", (ordered,))
    else:
        db.many(f"DELETE FROM {table} WHERE {column} = ?", [(k,) for k in ordered])


def columns(row_class: Any, prefix: str = "") -> str:
    """The columns of a row class (a dataclass whose fields are its table's
    columns), in the order of its fields: a row of them makes one positionally."""
    return ", ".join(prefix + f.name for f in fields(row_class))


class SqlTable:
    """A table over one unit of work."""

    def __init__(self, db: Db) -> None:
        self.db = db
