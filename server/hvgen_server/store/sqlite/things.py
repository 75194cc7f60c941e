"""Things, versions and the blobs versions name, in SQLite."""

from __future__ import annotations

import sqlite3

from ..rows import ACTIVE, DELETED, BlobRef, BlobRow, ThingSelection, ThingVersion, VersionBlob
from ..tables import ThingTable

_VERSION_COLUMNS = (
    "t.thing_id, t.type_id, v.version_stamp, v.state, t.eff_date, t.created, t.updated, v.xml, v.seq"
)


def _version(row: sqlite3.Row) -> ThingVersion:
    return ThingVersion(**dict(row))


def _marks(count: int) -> str:
    return ",".join("?" * count)


class SqliteThings(ThingTable):
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def current(self, record_id: str, thing_id: str) -> ThingVersion | None:
        row = self.db.execute(
            f"SELECT {_VERSION_COLUMNS} FROM things t JOIN versions v ON v.version_stamp = t.version_stamp "
            "WHERE t.thing_id = ? AND t.record_id = ?",
            (thing_id, record_id),
        ).fetchone()
        return None if row is None else _version(row)

    def select(self, record_id: str, selection: ThingSelection) -> list[ThingVersion]:
        where = ["t.record_id = ?"]
        args: list[object] = [record_id]
        if selection.thing_ids:
            where.append(f"t.thing_id IN ({_marks(len(selection.thing_ids))})")
            args.extend(selection.thing_ids)
        if selection.client_thing_ids:
            where.append(f"t.client_thing_id IN ({_marks(len(selection.client_thing_ids))})")
            args.extend(selection.client_thing_ids)
        keys = selection.keys
        if keys:
            where.append(f"t.thing_id IN ({_marks(len(keys))})")
            args.extend(keys)
        every_version = selection.all_versions or bool(keys)
        join = "v.thing_id = t.thing_id" if every_version else "v.version_stamp = t.version_stamp"
        rows = self.db.execute(
            f"SELECT {_VERSION_COLUMNS} FROM things t JOIN versions v ON {join} WHERE "
            + " AND ".join(where)
            + " ORDER BY t.eff_date DESC, t.created DESC, v.seq DESC",
            args,
        ).fetchall()
        found = [_version(r) for r in rows]
        if keys:
            found = [v for v in found if not keys.get(v.thing_id) or keys[v.thing_id] == v.version_stamp]
        return found

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

    def update(
        self, thing_id: str, version_stamp: str, client_thing_id: str | None, eff_date: str, now: float
    ) -> None:
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
    ) -> None:
        self.db.execute(
            "INSERT INTO versions(version_stamp, thing_id, seq, state, xml, created) VALUES (?, ?, ?, ?, ?, ?)",
            (version_stamp, thing_id, seq, state, xml, now),
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
