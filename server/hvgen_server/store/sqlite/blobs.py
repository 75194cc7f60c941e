"""Blob state in SQLite (the bytes are elsewhere: :mod:`..files`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
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
        self,
        blob_id: str,
        expected: int,
        received: int,
        total: int | None,
        last_range: str,
        block_digests: bytes,
        files_state: str,
    ) -> bool:
        updated = self.db.execute(
            "UPDATE blobs SET received = ?, total = ?, last_range = ?, block_digests = ?, files_state = ? "
            "WHERE blob_id = ? AND received = ? AND state = 'uploading'",
            (received, total, last_range, block_digests, files_state, blob_id, expected),
        )
        return updated.rowcount == 1

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

    def drop_unreferenced(self, candidates: Iterable[str]) -> list[str]:
        gone = []
        for blob_id in dict.fromkeys(candidates):
            held = self.db.execute(  # by the current version of a thing not deleted
                "SELECT 1 FROM version_blobs vb JOIN things t ON t.version_stamp = vb.version_stamp "
                "WHERE vb.blob_id = ? AND t.state = ? LIMIT 1",
                (blob_id, ACTIVE),
            ).fetchone()
            if held is not None:
                continue
            row = self.db.execute("SELECT state, kind FROM blobs WHERE blob_id = ?", (blob_id,)).fetchone()
            if row is None or row["state"] != COMMITTED or row["kind"] != RECORD_BLOB:
                continue
            self.db.execute("DELETE FROM version_blobs WHERE blob_id = ?", (blob_id,))
            self.db.execute("DELETE FROM blobs WHERE blob_id = ?", (blob_id,))
            gone.append(blob_id)
        return gone

    def downloadable(self, blob_id: str, record_id: str) -> bool:
        found = self.db.execute(
            "SELECT 1 FROM version_blobs vb JOIN things t ON t.version_stamp = vb.version_stamp "
            "WHERE vb.blob_id = ? AND t.record_id = ? AND t.state = ? LIMIT 1",
            (blob_id, record_id, ACTIVE),
        ).fetchone()
        return found is not None

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
