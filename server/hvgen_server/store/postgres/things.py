"""Things, versions and the blobs versions name, in PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..audits import audit_values
from ..rows import ACTIVE, DELETED, BlobRef, BlobRow, Match, ThingFilter, ThingSelection, ThingVersion, VersionBlob
from ..tables import ThingTable
from ..thingsql import POSTGRES, VERSION_COLUMNS, filter_clause, select_query
from .db import Db

_BLOB_COLUMNS = (
    "b.blob_id, b.record_id, b.kind, b.chunk_size, b.state, b.received, b.total, b.last_range, b.block_size, "
    "b.block_digests, b.hash, b.created, b.expires, b.files_state"
)

#: Queries asking for at most this many rows read them at once; others
#: (and those with no limit) through a cursor, as the caller goes.
EAGER_LIMIT = 500


class PostgresThings(ThingTable):
    def __init__(self, db: Db) -> None:
        self.db = db

    def current(self, record_id: str, thing_id: str) -> ThingVersion | None:
        lock = " FOR UPDATE OF t" if self.db.locking else ""
        row = self.db.one(
            f"SELECT {VERSION_COLUMNS} FROM things t JOIN versions v ON v.version_stamp = t.version_stamp "
            f"WHERE t.thing_id = %s AND t.record_id = %s{lock}",
            (thing_id, record_id),
        )
        return None if row is None else ThingVersion(**row)

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
        query = select_query(POSTGRES, record_id, selection, filters, limit=limit, offset=offset, with_xml=with_xml)
        if limit is not None and limit <= EAGER_LIMIT:
            rows: Iterator[dict[str, object]] = iter(self.db.execute(query.sql, query.args).fetchall())
        else:
            rows = self.db.stream(query.sql, query.args)
        for row in rows:
            matched = tuple(i for i in range(query.filters) if row.pop(f"m{i}"))
            yield Match(ThingVersion(**row), matched)  # type: ignore[arg-type]

    def count(self, record_id: str, spec: ThingFilter) -> int:
        clause, args = filter_clause(spec, POSTGRES)
        row = self.db.one(
            "SELECT count(*) AS n FROM things t JOIN versions v ON v.version_stamp = t.version_stamp "
            f"WHERE t.record_id = %s AND {clause}",
            [record_id, *args],
        )
        return 0 if row is None else int(row["n"])

    def xml(self, version_stamp: str) -> bytes:
        row = self.db.one("SELECT xml FROM versions WHERE version_stamp = %s", (version_stamp,))
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
            "eff_date, created, updated) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (thing_id, record_id, type_id, version_stamp, ACTIVE, client_thing_id, eff_date, now, now),
        )

    def update(self, thing_id: str, version_stamp: str, client_thing_id: str | None, eff_date: str, now: float) -> None:
        self.db.execute(
            "UPDATE things SET version_stamp = %s, state = %s, client_thing_id = %s, eff_date = %s, "
            "updated = %s WHERE thing_id = %s",
            (version_stamp, ACTIVE, client_thing_id, eff_date, now, thing_id),
        )

    def mark_deleted(self, thing_id: str, version_stamp: str, now: float) -> None:
        self.db.execute(
            "UPDATE things SET version_stamp = %s, state = %s, updated = %s WHERE thing_id = %s",
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
            "created_person_id, updated_app_id, updated_person_id, layout) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (version_stamp, thing_id, seq, state, xml, now, *audit_values(xml), layout),
        )
        for ref in blobs:
            self.db.execute(
                "INSERT INTO version_blobs(version_stamp, name, content_type, blob_id) VALUES (%s, %s, %s, %s)",
                (version_stamp, ref.name, ref.content_type, ref.blob_id),
            )

    def blob_refs(self, version_stamp: str) -> list[BlobRef]:
        rows = self.db.execute(
            "SELECT name, content_type, blob_id FROM version_blobs WHERE version_stamp = %s ORDER BY position",
            (version_stamp,),
        ).fetchall()
        return [BlobRef(r["name"], r["content_type"], r["blob_id"]) for r in rows]

    def version_blobs(self, version_stamp: str) -> list[VersionBlob]:
        rows = self.db.execute(
            f"SELECT vb.name AS blob_name, vb.content_type AS blob_content_type, {_BLOB_COLUMNS} "
            "FROM version_blobs vb JOIN blobs b ON b.blob_id = vb.blob_id "
            "WHERE vb.version_stamp = %s ORDER BY vb.position",
            (version_stamp,),
        ).fetchall()
        found = []
        for row in rows:
            name, content_type = row.pop("blob_name"), row.pop("blob_content_type")
            found.append(VersionBlob(name, content_type, BlobRow(**row)))
        return found
