"""Things, versions and the blobs versions name."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..audits import audit_values
from ..rows import ACTIVE, DELETED, BlobRef, BlobRow, Match, ThingFilter, ThingSelection, ThingVersion, VersionBlob
from ..tables import ThingTable
from .dialect import SqlTable, columns
from .thingsql import VERSION_COLUMNS, filter_clause, select_query

_BLOB_COLUMNS = columns(BlobRow, "b.")
_CURRENT = (
    f"SELECT {VERSION_COLUMNS} FROM things t JOIN versions v ON v.version_stamp = t.version_stamp "
    "WHERE t.thing_id = ? AND t.record_id = ?"
)


class Things(SqlTable, ThingTable):
    def current(self, record_id: str, thing_id: str) -> ThingVersion | None:
        row = self.db.one(_CURRENT + self.db.for_update("t"), (thing_id, record_id))
        return None if row is None else ThingVersion._make(row)

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
        query = select_query(
            self.db.dialect, record_id, selection, filters, limit=limit, offset=offset, with_xml=with_xml
        )
        # Rows are the version's columns in ThingVersion's field order, then the filter flags.
        width = len(ThingVersion._fields)
        make = ThingVersion._make
        matched_by: dict[tuple[object, ...], tuple[int, ...]] = {}  # flags -> indexes of the filters matched
        rows = self.db.stream(query.sql, query.args, expected=limit)
        try:
            for row in rows:
                flags = row[width:]
                matched = matched_by.get(flags)
                if matched is None:
                    matched = matched_by[flags] = tuple(i for i, flag in enumerate(flags) if flag)
                yield Match(make(row[:width]), matched)
        finally:
            rows.close()

    def count(self, record_id: str, spec: ThingFilter, *, hidden_flags: int = 0) -> int:
        clause, args = filter_clause(spec)
        hidden = " AND (t.flags & ?) = 0" if hidden_flags else ""
        counted = self.db.value(
            "SELECT count(*) FROM things t JOIN versions v ON v.version_stamp = t.version_stamp "
            f"WHERE t.record_id = ? AND {clause}{hidden}",
            [record_id, *args, *([int(hidden_flags)] if hidden_flags else [])],
        )
        return int(counted or 0)

    def xml(self, version_stamp: str) -> bytes:
        xml = self.db.value("SELECT xml FROM versions WHERE version_stamp = ?", (version_stamp,))
        return b"" if xml is None else bytes(xml)

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
        self.db.run(
            "INSERT INTO things(thing_id, record_id, type_id, version_stamp, state, client_thing_id, "
            "eff_date, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (thing_id, record_id, type_id, version_stamp, ACTIVE, client_thing_id, eff_date, now, now),
        )

    def update(self, thing_id: str, version_stamp: str, client_thing_id: str | None, eff_date: str, now: float) -> None:
        self.db.run(
            "UPDATE things SET version_stamp = ?, state = ?, client_thing_id = ?, eff_date = ?, "
            "updated = ? WHERE thing_id = ?",
            (version_stamp, ACTIVE, client_thing_id, eff_date, now, thing_id),
        )

    def set_flags(self, thing_id: str, flags: int, type_id: str | None = None) -> None:
        self.db.run(
            "UPDATE things SET flags = ?, type_id = COALESCE(?, type_id) WHERE thing_id = ?", (flags, type_id, thing_id)
        )

    def mark_deleted(self, thing_id: str, version_stamp: str, now: float) -> None:
        self.db.run(
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
        self.db.run(
            "INSERT INTO versions(version_stamp, thing_id, seq, state, xml, created, created_app_id, "
            "created_person_id, updated_app_id, updated_person_id, layout) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (version_stamp, thing_id, seq, state, xml, now, *audit_values(xml), layout),
        )
        if blobs:
            self.db.many(
                "INSERT INTO version_blobs(version_stamp, name, content_type, blob_id) VALUES (?, ?, ?, ?)",
                [(version_stamp, ref.name, ref.content_type, ref.blob_id) for ref in blobs],
            )

    def blob_refs(self, version_stamp: str) -> list[BlobRef]:
        rows = self.db.all(
            "SELECT name, content_type, blob_id FROM version_blobs WHERE version_stamp = ? "
            f"ORDER BY {self.db.dialect.position}",
            (version_stamp,),
        )
        return [BlobRef(*r) for r in rows]

    def version_blobs(self, version_stamp: str) -> list[VersionBlob]:
        rows = self.db.all(
            f"SELECT vb.name, vb.content_type, {_BLOB_COLUMNS} FROM version_blobs vb "
            "JOIN blobs b ON b.blob_id = vb.blob_id "
            f"WHERE vb.version_stamp = ? ORDER BY vb.{self.db.dialect.position}",
            (version_stamp,),
        )
        return [VersionBlob(r[0], r[1], BlobRow(*r[2:])) for r in rows]
