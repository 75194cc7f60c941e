"""Blobs written straight into the blob store, hashed (SHA256Block) as they are written.

A file already on the blob folder's file system (the DICOM listener's
spool, STOW-RS's parts) is not copied: the blob store adopts it
(:meth:`~hvgen_server.store.files.BlobFiles.adopt`, a second name for the
same bytes, flushed to disk), after it is read once for its hash; the
names are made durable together (:func:`sync`) before the transaction that
adds their rows. Other backends (an object store) get the bytes uploaded.

A blob written here has no row yet: its row (:func:`..methods.blobs.complete_row`) is added
by the transaction that stores the thing naming it; bytes left without a row
(a failure in between) are removed by the blob sweeper as any abandoned upload.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

from healthvault import blobhash

from ..context import Platform
from ..methods.blobs import complete_row
from ..store.rows import BlobRow

#: Bytes read from a file at a time (memory stays bounded whatever the file's size).
PIECE = 1024 * 1024


def _pieces(path: Path, hasher: blobhash.SHA256Block) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while piece := f.read(PIECE):
            hasher.update(piece)
            yield piece


def write_file(platform: Platform, record_id: str, path: Path) -> BlobRow:
    """A file into the blob store (adopted when the store can, else copied), hashed on the way.

    An adopted file's name is durable only after :func:`sync`."""
    blob_id = str(uuid.uuid4())
    hasher = blobhash.SHA256Block(platform.config.block_size)
    if platform.files.adopt(blob_id, path):
        size = sum(len(piece) for piece in _pieces(path, hasher))
        return complete_row(platform, record_id, blob_id, size, hasher.b64digest())
    size = platform.files.put(blob_id, _pieces(path, hasher))
    return complete_row(platform, record_id, blob_id, size, hasher.b64digest())


def sync(platform: Platform, rows: list[BlobRow]) -> None:
    """Make the names of adopted blobs durable (once per folder, after all are written)."""
    platform.files.sync(row.blob_id for row in rows)
