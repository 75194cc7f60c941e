"""Blob state in SQLite (the bytes are elsewhere: :mod:`..files`)."""

from __future__ import annotations

import sqlite3
from dataclasses import astuple, fields

from ..rows import ACTIVE, COMMITTED, RECORD_BLOB, BlobRow
from ..tables import BlobTable

_COLUMNS = [f.name for f in fields(BlobRow)]


class SqliteBlobs(BlobTable):
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def get(self, blob_id: str) -> BlobRow | None:
        found = self.db.execute("SELECT * FROM blobs WHERE blob_id = ?", (blob_id,)).fetchone()
        return None if found is None else BlobRow(**dict(found))

    def add(self, row: BlobRow) -> None:
        self.db.execute(
            f"INSERT INTO blobs({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
            astuple(row),
        )

    def record_chunk(
        self, blob_id: str, received: int, total: int | None, last_range: str, block_digests: bytes
    ) -> None:
        self.db.execute(
            "UPDATE blobs SET received = ?, total = ?, last_range = ?, block_digests = ? WHERE blob_id = ?",
            (received, total, last_range, block_digests, blob_id),
        )

    def complete(self, blob_id: str, size: int, digest: str | None) -> None:
        self.db.execute(
            "UPDATE blobs SET state = 'complete', received = ?, total = ?, hash = ? WHERE blob_id = ?",
            (size, size, digest, blob_id),
        )

    def mark_committed(self, blob_id: str) -> None:
        self.db.execute("UPDATE blobs SET state = ? WHERE blob_id = ?", (COMMITTED, blob_id))

    def content_type(self, blob_id: str) -> str | None:
        found = self.db.execute(
            "SELECT content_type FROM version_blobs WHERE blob_id = ? LIMIT 1", (blob_id,)
        ).fetchone()
        return None if found is None else str(found["content_type"])

    def drop_unreferenced(self) -> list[str]:
        gone = [
            r["blob_id"]
            for r in self.db.execute(
                "SELECT b.blob_id FROM blobs b WHERE b.state = ? AND b.kind = ? AND NOT EXISTS ("
                " SELECT 1 FROM version_blobs vb JOIN things t ON t.version_stamp = vb.version_stamp"
                " WHERE vb.blob_id = b.blob_id AND t.state = ?)",  # the current version of a thing not deleted
                (COMMITTED, RECORD_BLOB, ACTIVE),
            )
        ]
        for blob_id in gone:
            self.db.execute("DELETE FROM version_blobs WHERE blob_id = ?", (blob_id,))
            self.db.execute("DELETE FROM blobs WHERE blob_id = ?", (blob_id,))
        return gone

    def drop_expired(self, now: float) -> list[str]:
        gone = [
            r["blob_id"]
            for r in self.db.execute(
                "SELECT blob_id FROM blobs WHERE state != ? AND expires < ? AND blob_id NOT IN "
                "(SELECT blob_id FROM package_blobs)",
                (COMMITTED, now),
            )
        ]
        for blob_id in gone:
            self.db.execute("DELETE FROM blobs WHERE blob_id = ?", (blob_id,))
        return gone

    def ids(self) -> set[str]:
        return {r["blob_id"] for r in self.db.execute("SELECT blob_id FROM blobs")}
