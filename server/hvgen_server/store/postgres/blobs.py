"""Blob state in PostgreSQL (the bytes are elsewhere: :mod:`..files`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple, fields

from ..rows import ACTIVE, COMMITTED, RECORD_BLOB, BlobRow
from ..tables import BlobTable
from .db import Db

_COLUMNS = [f.name for f in fields(BlobRow)]
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM blobs"


class PostgresBlobs(BlobTable):
    def __init__(self, db: Db) -> None:
        self.db = db

    def get(self, blob_id: str) -> BlobRow | None:
        found = self.db.one(f"{_SELECT} WHERE blob_id = %s{self.db.for_update}", (blob_id,))
        return None if found is None else BlobRow(**found)

    def add(self, row: BlobRow) -> None:
        self.db.execute(
            f"INSERT INTO blobs({', '.join(_COLUMNS)}) VALUES ({', '.join(['%s'] * len(_COLUMNS))})", astuple(row)
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
            "UPDATE blobs SET received = %s, total = %s, last_range = %s, block_digests = %s, files_state = %s "
            "WHERE blob_id = %s AND received = %s AND state = 'uploading'",
            (received, total, last_range, block_digests, files_state, blob_id, expected),
        )
        return updated.rowcount == 1

    def complete(self, blob_id: str, size: int, digest: str | None) -> None:
        self.db.execute(
            "UPDATE blobs SET state = 'complete', received = %s, total = %s, hash = %s WHERE blob_id = %s",
            (size, size, digest, blob_id),
        )

    def mark_committed(self, blob_id: str) -> None:
        self.db.execute("UPDATE blobs SET state = %s WHERE blob_id = %s", (COMMITTED, blob_id))

    def content_type(self, blob_id: str) -> str | None:
        found = self.db.one("SELECT content_type FROM version_blobs WHERE blob_id = %s LIMIT 1", (blob_id,))
        return None if found is None else str(found["content_type"])

    def drop_unreferenced(self, candidates: Iterable[str]) -> list[str]:
        gone = []
        for blob_id in dict.fromkeys(candidates):
            held = self.db.one(  # by the current version of a thing not deleted
                "SELECT 1 FROM version_blobs vb JOIN things t ON t.version_stamp = vb.version_stamp "
                "WHERE vb.blob_id = %s AND t.state = %s LIMIT 1",
                (blob_id, ACTIVE),
            )
            if held is not None:
                continue
            row = self.db.one("SELECT state, kind FROM blobs WHERE blob_id = %s FOR UPDATE", (blob_id,))
            if row is None or row["state"] != COMMITTED or row["kind"] != RECORD_BLOB:
                continue
            self.db.execute("DELETE FROM version_blobs WHERE blob_id = %s", (blob_id,))
            self.db.execute("DELETE FROM blobs WHERE blob_id = %s", (blob_id,))
            gone.append(blob_id)
        return gone

    def downloadable(self, blob_id: str, record_id: str) -> bool:
        found = self.db.one(
            "SELECT 1 FROM version_blobs vb JOIN things t ON t.version_stamp = vb.version_stamp "
            "WHERE vb.blob_id = %s AND t.record_id = %s AND t.state = %s LIMIT 1",
            (blob_id, record_id, ACTIVE),
        )
        return found is not None

    def drop_expired(self, now: float) -> list[str]:
        rows = self.db.execute(
            "DELETE FROM blobs WHERE blob_id IN (SELECT b.blob_id FROM blobs b WHERE b.state <> %s AND b.expires < %s "
            "AND NOT EXISTS (SELECT 1 FROM package_blobs pb WHERE pb.blob_id = b.blob_id) "
            "AND NOT EXISTS (SELECT 1 FROM version_blobs vb WHERE vb.blob_id = b.blob_id) "
            "FOR UPDATE SKIP LOCKED) RETURNING blob_id",
            (COMMITTED, now),
        ).fetchall()
        return [str(r["blob_id"]) for r in rows]

    def ids(self) -> set[str]:
        return {str(r["blob_id"]) for r in self.db.stream("SELECT blob_id FROM blobs")}
