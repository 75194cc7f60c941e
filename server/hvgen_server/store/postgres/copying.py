"""Rows of the PostgreSQL store in their logical form, for copying a store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..base import TABLES, Row
from .db import Db


def _table(name: str) -> str:
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}")
    return name


def tables(db: Db) -> set[str]:
    rows = db.execute("SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema()").fetchall()
    return {str(r["tablename"]) for r in rows}


def export_rows(db: Db, table: str, after: Sequence[Any] | None, limit: int) -> list[Row]:
    key = TABLES[_table(table)]
    where = ""
    if after is not None:
        where = f" WHERE ({', '.join(key)}) > ({', '.join(['%s'] * len(key))})"
    sql = f"SELECT * FROM {table}{where} ORDER BY {', '.join(key)} LIMIT %s"
    return [dict(r) for r in db.execute(sql, [*(after or ()), int(limit)]).fetchall()]


def import_rows(db: Db, table: str, rows: list[Row]) -> int:
    added = 0
    for row in rows:
        values = {k: v for k, v in row.items() if k != "position"}
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
