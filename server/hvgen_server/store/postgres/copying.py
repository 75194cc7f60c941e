"""Rows of the PostgreSQL store in their logical form, for copying a store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..base import POSITION, TABLES, Row
from .db import Db


def _table(name: str) -> str:
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}")
    return name


def tables(db: Db) -> set[str]:
    rows = db.execute("SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema()").fetchall()
    return {str(r["tablename"]) for r in rows}


def export_rows(
    db: Db, table: str, after: Sequence[Any] | None, limit: int, wanted: Sequence[str] | None = None
) -> list[Row]:
    key = TABLES[_table(table)]
    columns = "*"
    if wanted is not None:
        if not all(c.replace("_", "").isalnum() for c in wanted):
            raise ValueError(f"not column names: {wanted!r}")
        columns = ", ".join(wanted)
    # Text keys in byte order (as SQLite and Python order them), whatever the database's collation.
    ordered = [k if k == POSITION else f'{k} COLLATE "C"' for k in key]
    where = ""
    if after is not None:
        where = f" WHERE ({', '.join(ordered)}) > ({', '.join(['%s'] * len(key))})"
    sql = f"SELECT {columns} FROM {table}{where} ORDER BY {', '.join(ordered)} LIMIT %s"
    return [dict(r) for r in db.execute(sql, [*(after or ()), int(limit)]).fetchall()]


def import_rows(db: Db, table: str, rows: list[Row]) -> int:
    added = 0
    for row in rows:
        values = {k: v for k, v in row.items() if k != POSITION}
        cursor = db.execute(
            f"INSERT INTO {_table(table)}({', '.join(values)}) VALUES ({', '.join(['%s'] * len(values))}) "
            "ON CONFLICT DO NOTHING",
            list(values.values()),
        )
        added += cursor.rowcount
    return added


def count_rows(db: Db, table: str) -> int:
    row = db.one(f"SELECT COUNT(*) AS n FROM {_table(table)}")
    return 0 if row is None else int(row["n"])
