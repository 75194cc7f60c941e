"""Things, versions and the blobs versions name, in SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

from ..audits import audit_values
from ..rows import ACTIVE, DELETED, BlobRef, BlobRow, Match, ThingFilter, ThingSelection, ThingVersion, VersionBlob
from ..tables import ThingTable
from ..thingsql import SQLITE, VERSION_COLUMNS, filter_clause, select_query


def _version(row: sqlite3.Row) -> ThingVersion:
    return ThingVersion(**dict(row))


class SqliteThings(ThingTable):
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def current(self, record_id: str, thing_id: str) -> ThingVersion | None:
        row = self.db.execute(
            f"SELECT {VERSION_COLUMNS} FROM things t JOIN versions v ON v.version_stamp = t.version_stamp "
            "WHERE t.thing_id = ? AND t.record_id = ?",
            (thing_id, record_id),
        ).fetchone()
        return None if row is None else _version(row)

    def select(
        self,
        record_id: str,
        selection: ThingSelection,
        filters: Sequence[ThingFilter] = (),
        *,
        limit: int | None = None,
        offset: int = 0,
        with_xml: bool = False,
    ) -> Iterator[Match]:
        query = select_query(SQLITE, record_id, selection, filters, limit=limit, offset=offset, with_xml=with_xml)
        cursor = self.db.execute(query.sql, query.args)
        cursor.row_factory = None  # plain tuples: the version's columns in field order, then the filter flags
        width = len(ThingVersion._fields)
        make = ThingVersion._make
        matched_by: dict[tuple[int, ...], tuple[int, ...]] = {}  # flags -> indexes of the filters matched
        try:
            for row in cursor:
                flags = row[width:]
                matched = matched_by.get(flags)
                if matched is None:
                    matched = matched_by[flags] = tuple(i for i, flag in enumerate(flags) if flag)
                yield Match(make(row[:width]), matched)
        finally:
            cursor.close()

    def count(self, record_id: str, spec: ThingFilter) -> int:
        clause, args = filter_clause(spec, SQLITE)
        row = self.db.execute(
            "SELECT count(*) FROM things t JOIN versions v ON v.version_stamp = t.version_stamp "
            f"WHERE t.record_id = ? AND {clause}",
            [record_id, *args],
        ).fetchone()
        return int(row[0])

    def xml(self, version_stamp: str) -> bytes:
        row = self.db.execute("SELECT xml FROM versions WHERE version_stamp = ?", (version_stamp,)).fetchone()
        return b"" if row is None else bytes(row["xml"])

    def add(
        self,
        record_id: str,
        thing_id: str,
        type_id: str,
        version_stamp: str,
        client_thing_id: str | None,
        eff_date: str,
        now: float,
    ) -> None:
        self.db.execute(
            "INSERT INTO things(thing_id, record_id, type_id, version_stamp, state, client_thing_id, "
            "eff_date, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (thing_id, record_id, type_id, version_stamp, ACTIVE, client_thing_id, eff_date, now, now),
        )

    def update(self, thing_id: str, version_stamp: str, client_thing_id: str | None, eff_date: str, now: float) -> None:
        self.db.execute(
            "UPDATE things SET version_stamp = ?, state = ?, client_thing_id = ?, eff_date = ?, "
            "updated = ? WHERE thing_id = ?",
            (version_stamp, ACTIVE, client_thing_id, eff_date, now, thing_id),
        )

    def mark_deleted(self, thing_id: str, version_stamp: str, now: float) -> None:
        self.db.execute(
            "UPDATE things SET version_stamp = ?, state = ?, updated = ? WHERE thing_id = ?",
            (version_stamp, DELETED, now, thing_id),
        )

    def add_version(
        self,
        thing_id: str,
        version_stamp: str,
        seq: int,
        state: str,
        xml: bytes,
        now: float,
        blobs: list[BlobRef],
        layout: str | None = None,
    ) -> None:
        self.db.execute(
            "INSERT INTO versions(version_stamp, thing_id, seq, state, xml, created, created_app_id, "
            "created_person_id, updated_app_id, updated_person_id, layout) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (version_stamp, thing_id, seq, state, xml, now, *audit_values(xml), layout),
        )
        self.db.executemany(
            "INSERT INTO version_blobs(version_stamp, name, content_type, blob_id) VALUES (?, ?, ?, ?)",
            [(version_stamp, ref.name, ref.content_type, ref.blob_id) for ref in blobs],
        )

    def blob_refs(self, version_stamp: str) -> list[BlobRef]:
        return [
            BlobRef(r["name"], r["content_type"], r["blob_id"])
            for r in self.db.execute(
                "SELECT name, content_type, blob_id FROM version_blobs WHERE version_stamp = ? ORDER BY rowid",
                (version_stamp,),
            )
        ]

    def version_blobs(self, version_stamp: str) -> list[VersionBlob]:
        rows = self.db.execute(
            "SELECT vb.name AS blob_name, vb.content_type AS blob_content_type, b.* "
            "FROM version_blobs vb JOIN blobs b ON b.blob_id = vb.blob_id "
            "WHERE vb.version_stamp = ? ORDER BY vb.rowid",
            (version_stamp,),
        ).fetchall()
        found = []
        for row in rows:
            columns = dict(row)
            name, content_type = columns.pop("blob_name"), columns.pop("blob_content_type")
            found.append(VersionBlob(name, content_type, BlobRow(**columns)))
        return found
