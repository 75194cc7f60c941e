"""Blob state (the bytes are elsewhere: :mod:`..files`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple

from ..rows import ACTIVE, COMMITTED, RECORD_BLOB, BlobRow
from ..tables import BlobTable
from .dialect import SqlTable, columns, delete_returning, marks

_COLUMNS = columns(BlobRow)
_ADD = f"INSERT INTO blobs({_COLUMNS}) VALUES ({marks(len(_COLUMNS.split(', ')))})"
#: Whether a current version of an active thing (of the record, with ``AND t.record_id = ?``) holds a blob.
_HELD = (
    "SELECT 1 FROM version_blobs vb JOIN things t ON t.version_stamp = vb.version_stamp "
    "WHERE vb.blob_id = ? AND t.state = ?"
)


class Blobs(SqlTable, BlobTable):
    def get(self, blob_id: str) -> BlobRow | None:
        row = self.db.one(f"SELECT {_COLUMNS} FROM blobs WHERE blob_id = ?{self.db.for_update()}", (blob_id,))
        return None if row is None else BlobRow(*row)

    def add(self, row: BlobRow) -> None:
        self.db.run(_ADD, astuple(row))

    def record_chunk(
        self,
        blob_id: str,
        expected: int,
        received: int,
        total: int | None,
        last_range: str,
        block_digests: bytes,
        files_state: str,
    ) -> bool:
        updated = self.db.run(
            "UPDATE blobs SET received = ?, total = ?, last_range = ?, block_digests = ?, files_state = ? "
            "WHERE blob_id = ? AND received = ? AND state = 'uploading'",
            (received, total, last_range, block_digests, files_state, blob_id, expected),
        )
        return updated == 1

    def complete(self, blob_id: str, size: int, digest: str | None) -> None:
        self.db.run(
            "UPDATE blobs SET state = 'complete', received = ?, total = ?, hash = ? WHERE blob_id = ?",
            (size, size, digest, blob_id),
        )

    def mark_committed(self, blob_id: str) -> None:
        self.db.run("UPDATE blobs SET state = ? WHERE blob_id = ?", (COMMITTED, blob_id))

    def content_type(self, blob_id: str) -> str | None:
        found = self.db.value("SELECT content_type FROM version_blobs WHERE blob_id = ? LIMIT 1", (blob_id,))
        return None if found is None else str(found)

    def drop_unreferenced(self, candidates: Iterable[str]) -> list[str]:
        gone = []
        for blob_id in dict.fromkeys(candidates):
            if self.db.one(f"{_HELD} LIMIT 1", (blob_id, ACTIVE)) is not None:
                continue
            row = self.db.one(f"SELECT state, kind FROM blobs WHERE blob_id = ?{self.db.for_update()}", (blob_id,))
            if row is None or row[0] != COMMITTED or row[1] != RECORD_BLOB:
                continue
            self.db.run("DELETE FROM version_blobs WHERE blob_id = ?", (blob_id,))
            self.db.run("DELETE FROM blobs WHERE blob_id = ?", (blob_id,))
            gone.append(blob_id)
        return gone

    def downloadable(self, blob_id: str, record_id: str) -> bool:
        return self.db.one(f"{_HELD} AND t.record_id = ? LIMIT 1", (blob_id, ACTIVE, record_id)) is not None

    def drop_expired(self, now: float) -> list[str]:
        gone = delete_returning(
            self.db,
            "blobs",
            "blob_id",
            "state <> ? AND expires < ? "
            "AND NOT EXISTS (SELECT 1 FROM package_blobs pb WHERE pb.blob_id = blobs.blob_id) "
            "AND NOT EXISTS (SELECT 1 FROM version_blobs vb WHERE vb.blob_id = blobs.blob_id)",
            (COMMITTED, now),
        )
        return [str(blob_id) for blob_id in gone]

    def ids(self) -> set[str]:
        return {str(r[0]) for r in self.db.stream("SELECT blob_id FROM blobs")}
