"""Rows of the SQLite store in their logical form, for copying a store."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ..base import POSITION, TABLES, Row


def _table(name: str) -> str:
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}")
    return name


def _positioned(name: str) -> bool:
    """Whether the table is ordered by the order its rows were added in (their rowid here)."""
    return TABLES[name] == (POSITION,)


def _key(name: str) -> tuple[str, ...]:
    """Key columns as SQL."""
    return ("rowid",) if _positioned(name) else TABLES[name]


def tables(conn: sqlite3.Connection) -> set[str]:
    found = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return {str(r[0]) for r in found}


def _column(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a column name: {name!r}")
    return "rowid AS position" if name == POSITION else name


def export_rows(
    conn: sqlite3.Connection, table: str, after: Sequence[Any] | None, limit: int, wanted: Sequence[str] | None = None
) -> list[Row]:
    key = _key(_table(table))
    columns = "rowid AS position, *" if _positioned(table) else "*"
    if wanted is not None:
        columns = ", ".join(_column(c) for c in wanted)
    where, args = "", list(after or ())
    if after is not None:
        where = f" WHERE ({', '.join(key)}) > ({', '.join('?' * len(key))})"
    sql = f"SELECT {columns} FROM {table}{where} ORDER BY {', '.join(key)} LIMIT ?"
    rows = [dict(r) for r in conn.execute(sql, [*args, int(limit)])]
    for row in rows:
        for name, value in row.items():
            if isinstance(value, memoryview):
                row[name] = bytes(value)
    return rows


def import_rows(conn: sqlite3.Connection, table: str, rows: list[Row]) -> int:
    added = 0
    for row in rows:
        values = {k: v for k, v in row.items() if k != POSITION}
        names = ", ".join(values)
        cursor = conn.execute(
            f"INSERT OR IGNORE INTO {_table(table)}({names}) VALUES ({', '.join('?' * len(values))})",
            list(values.values()),
        )
        added += cursor.rowcount
    return added


def count_rows(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT COUNT(*) FROM {_table(table)}").fetchone()[0])
