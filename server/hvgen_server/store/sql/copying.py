"""Rows of a store in their logical form, for copying a store (``hvgen migrate``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..base import POSITION, TABLES, Row
from .dialect import Db, marks


def _table(name: str) -> str:
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}")
    return name


def _column(name: str, db: Db) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a column name: {name!r}")
    position = db.dialect.position
    return f"{position} AS {POSITION}" if name == POSITION and position != POSITION else name


def tables(db: Db) -> set[str]:
    return {str(r[0]) for r in db.all(db.dialect.tables_query)}


def export_rows(db: Db, table: str, after: Sequence[Any] | None, limit: int, wanted: Sequence[str] | None) -> list[Row]:
    key = TABLES[_table(table)]
    if wanted is not None:
        selected = ", ".join(_column(c, db) for c in wanted)
    elif key == (POSITION,):
        selected = "*" if db.dialect.position == POSITION else f"{_column(POSITION, db)}, *"
    else:
        selected = "*"
    # Text keys in byte order (as Python orders them), whatever the database's collation.
    ordered = [db.dialect.position if k == POSITION else f"{k}{db.dialect.bytewise}" for k in key]
    where = "" if after is None else f" WHERE ({', '.join(ordered)}) > ({marks(len(key))})"
    sql = f"SELECT {selected} FROM {table}{where} ORDER BY {', '.join(ordered)} LIMIT ?"
    return db.dicts(sql, [*(after or ()), int(limit)])


def import_rows(db: Db, table: str, rows: list[Row]) -> int:
    added = 0
    for row in rows:
        values = {k: v for k, v in row.items() if k != POSITION}
        added += db.run(
            f"INSERT INTO {_table(table)}({', '.join(values)}) VALUES ({marks(len(values))}) ON CONFLICT DO NOTHING",
            list(values.values()),
        )
    return added


def count_rows(db: Db, table: str) -> int:
    return int(db.value(f"SELECT COUNT(*) FROM {_table(table)}"))
