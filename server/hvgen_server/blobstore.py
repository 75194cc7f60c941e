"""Blob bytes on disk, blob state in the database.

Each blob is one file under ``blobs/``, named by its id. Its row says how far
an upload got (``received`` bytes, the last acknowledged range, the block
digests so far) and whether it is ``uploading``, ``complete`` (the client
said so and the length matched) or ``committed`` (a stored thing version
refers to it). A blob becomes visible only when committed.

Files are written before the row that names them is committed; a crash in
between leaves a file with no row, which :meth:`BlobStore.sweep` removes
along with abandoned uploads.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from healthvault.blobhash import SHA256Block

from .config import ServerConfig


@dataclass
class BlobRow:
    blob_id: str
    record_id: str | None
    kind: str
    chunk_size: int | None
    state: str
    received: int
    total: int | None
    last_range: str | None
    block_size: int
    block_digests: bytes
    hash: str | None
    created: float
    expires: float


class BlobStore:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.root = config.blob_dir
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, blob_id: str) -> Path:
        uuid.UUID(blob_id)  # never a path from outside
        return self.root / blob_id[:2] / blob_id

    def row(self, db: sqlite3.Connection, blob_id: str) -> BlobRow | None:
        found = db.execute("SELECT * FROM blobs WHERE blob_id = ?", (blob_id,)).fetchone()
        return None if found is None else BlobRow(**dict(found))

    def begin(self, db: sqlite3.Connection, record_id: str | None, *, kind: str = "record", chunk_size: int | None = None) -> str:
        """Register a new upload; its file starts empty. Connect-package
        blobs (``kind="package"``) belong to no record and arrive encrypted,
        in chunks of ``chunk_size``."""
        blob_id = str(uuid.uuid4())
        path = self.path(blob_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        now = time.time()
        db.execute(
            "INSERT INTO blobs(blob_id, record_id, kind, chunk_size, state, block_size, created, expires) "
            "VALUES (?, ?, ?, ?, 'uploading', ?, ?, ?)",
            (blob_id, record_id, kind, chunk_size or self.config.chunk_size, self.config.block_size, now,
             now + self.config.blob_write_ttl),
        )
        return blob_id

    def store_inline(self, db: sqlite3.Connection, record_id: str, data: bytes) -> tuple[str, str]:
        """Store an inline blob's bytes as a complete blob; returns (id, hash)."""
        blob_id = str(uuid.uuid4())
        path = self.path(blob_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
        hasher = SHA256Block(self.config.block_size)
        hasher.update(data)
        now = time.time()
        db.execute(
            "INSERT INTO blobs(blob_id, record_id, state, received, total, block_size, hash, created, expires) "
            "VALUES (?, ?, 'complete', ?, ?, ?, ?, ?, ?)",
            (blob_id, record_id, len(data), len(data), self.config.block_size, hasher.b64digest(), now,
             now + self.config.blob_write_ttl),
        )
        return blob_id, hasher.b64digest()

    def read_all(self, blob_id: str) -> bytes:
        """Whole blob (only for blobs small enough to be inline)."""
        return self.path(blob_id).read_bytes()

    def size(self, blob_id: str) -> int:
        return self.path(blob_id).stat().st_size

    @staticmethod
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    def sweep(self, db: sqlite3.Connection) -> list[str]:
        """Remove uploads past their expiry that no thing refers to, and
        blob files that have no row. Returns the ids removed."""
        now = time.time()
        gone = [
            r["blob_id"]
            for r in db.execute(
                "SELECT blob_id FROM blobs WHERE state != 'committed' AND expires < ? AND blob_id NOT IN "
                "(SELECT blob_id FROM package_blobs)",
                (now,),
            )
        ]
        for blob_id in gone:
            db.execute("DELETE FROM blobs WHERE blob_id = ?", (blob_id,))
        known = {r["blob_id"] for r in db.execute("SELECT blob_id FROM blobs")}
        for folder in self.root.iterdir():
            if not folder.is_dir():
                continue
            for file in folder.iterdir():
                name = file.name.split(".")[0]
                if name not in known:
                    file.unlink(missing_ok=True)
        return gone
