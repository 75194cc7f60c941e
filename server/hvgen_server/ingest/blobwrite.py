"""Blobs written straight into the blob store, hashed (SHA256Block) as they are written.

A file already on the blob folder's file system (the DICOM listener's
spool, STOW-RS's parts) is not copied: the blob store adopts it
(:meth:`~hvgen_server.store.files.BlobFiles.adopt`, a second name for the
same bytes, flushed to disk), after it is read once for its hash; the
names are made durable together (:func:`sync`) before the transaction that
adds their rows. Other backends (an object store) get the bytes uploaded.

A file the DICOM listener received is **staged** while its association
goes on (:func:`stage`; not the first of a part: a one-instance study is
stored at once): adopted (its bytes were flushed before it was
acknowledged) and hashed then, or uploaded when the store cannot adopt
it, kept with its header, so that storing the study only names it
(waiting for one being made). A staged blob is used when its file is still the one
adopted and it is younger than :data:`STAGED_FOR` (by the file's
modification time, the sweeper's clock; using it makes that time now);
one left unused (an instance the study had already, a study that failed)
is removed when the study is stored (:func:`unstage`), and any other (a
file replaced by one sent again) by the sweeper.

A blob written here has no row yet: its row (:func:`..methods.blobs.complete_row`) is added
by the transaction that stores the thing naming it; bytes left without a row
(a failure in between) are removed by the blob sweeper as any abandoned upload.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from pydicom.dataset import Dataset

from healthvault import blobhash

from ..context import Platform
from ..methods.blobs import complete_row
from ..store.rows import BlobRow
from ..sweeper import ORPHAN_AGE

log = logging.getLogger("hvgen_server.ingest")

#: Bytes read from a file at a time (memory stays bounded whatever the file's size).
PIECE = 1024 * 1024
#: Seconds a staged blob is used for: well within the sweeper's grace for bytes with no row
#: (half as long for an uploaded one, whose age cannot be made now when it is used).
STAGED_FOR = ORPHAN_AGE / 2
#: Where :func:`stage` keeps its blob, on the instance's header (or that it is
#: being made, or that the study went without it: ``_MAKING``, ``_CLOSED``).
_STAGED = "_hvgen_staged"
_MAKING, _CLOSED = "making", "closed"
_STAGING = threading.Condition()
#: Seconds storing a study waits for a blob being made of one of its files (one file's copy).
WAIT_FOR_STAGED = 30.0


@dataclasses.dataclass
class Staged:
    """A blob made of a received file before its study is stored."""

    blob_id: str
    size: int
    digest: str
    modified: int  # the file's modification time (ns) once adopted: when it was staged, by the sweeper's clock
    file: tuple[int, int]  # the file's device and inode
    copied: bool = False  # uploaded (a store that cannot adopt the file), not adopted
    used: bool = False


def _pieces(path: Path, hasher: blobhash.SHA256Block) -> Iterator[bytes]:
    with open(path, "rb") as f:
        yield from _read(f, hasher)


def write_file(platform: Platform, record_id: str, path: Path, staged: Staged | None = None) -> BlobRow:
    """A file into the blob store (adopted when the store can, else copied), hashed on the way;
    ``staged``: the blob made of it ahead (:func:`stage`), used when it still can be.

    An adopted file's name is durable only after :func:`sync`."""
    if staged is not None and _usable(platform, staged, path):
        try:
            if not staged.copied:
                os.utime(path)  # (the sweeper's grace counts from now)
        except OSError:
            pass
        else:
            if staged.copied or platform.files.adopted_as(staged.blob_id, path):
                staged.used = True
                return complete_row(platform, record_id, staged.blob_id, staged.size, staged.digest)
    blob_id = str(uuid.uuid4())
    hasher = blobhash.SHA256Block(platform.config.block_size)
    if platform.files.adopt(blob_id, path):
        size = sum(len(piece) for piece in _pieces(path, hasher))
        return complete_row(platform, record_id, blob_id, size, hasher.b64digest())
    size = platform.files.put(blob_id, _pieces(path, hasher))
    return complete_row(platform, record_id, blob_id, size, hasher.b64digest())


def _usable(platform: Platform, staged: Staged, path: Path) -> bool:
    """Whether ``staged`` is still ``path``'s bytes, unchanged since it was adopted, and young enough."""
    limit = STAGED_FOR / 2 if staged.copied else STAGED_FOR
    if staged.used or time.time() - staged.modified / 1e9 >= limit:  # (the sweeper's clock)
        return False
    try:
        found = os.stat(path)
    except OSError:
        return False
    if (found.st_size, found.st_mtime_ns, (found.st_dev, found.st_ino)) != (staged.size, staged.modified, staged.file):
        return False
    return staged.copied or platform.files.adopted_as(staged.blob_id, path)


def stage(platform: Platform, header: Dataset, paths: Sequence[Path]) -> None:
    """Adopt and hash ahead the received file whose header is ``header``
    (found at the first of ``paths`` there is: the file moves when its part
    is handed on), its bytes already flushed; kept with the header. A blob
    store that cannot adopt it (an object store) gets it uploaded."""
    with _STAGING:
        if getattr(header, _STAGED, None) is not None:
            return
        object.__setattr__(header, _STAGED, _MAKING)
    made: Staged | None = None
    try:
        made = _made(platform, paths)
    finally:
        with _STAGING:
            closed = getattr(header, _STAGED, None) == _CLOSED  # (its study was stored meanwhile)
            object.__setattr__(header, _STAGED, _CLOSED if closed or made is None else made)
            _STAGING.notify_all()
        if closed and made is not None:
            _delete(platform, made.blob_id)


def _made(platform: Platform, paths: Sequence[Path]) -> Staged | None:
    for path in paths:
        blob_id = str(uuid.uuid4())
        if not platform.files.adopt(blob_id, path, flushed=True):
            copied = _copied(platform, blob_id, path)
            if copied is not None:
                return copied
            continue
        try:
            found = os.stat(path)
        except OSError:  # (moved on meanwhile: handed on)
            _delete(platform, blob_id)
            continue
        try:
            hasher = blobhash.SHA256Block(platform.config.block_size)
            size = 0
            for piece in platform.files.read(blob_id, piece=PIECE):
                hasher.update(piece)
                size += len(piece)
        except BaseException:
            _delete(platform, blob_id)
            raise
        return Staged(blob_id, size, hasher.b64digest(), found.st_mtime_ns, (found.st_dev, found.st_ino))
    return None


def _copied(platform: Platform, blob_id: str, path: Path) -> Staged | None:
    """The file uploaded as blob ``blob_id``; None when it is not there (moved on)."""
    try:
        f = open(path, "rb")
    except OSError:
        return None
    with f:
        try:
            found = os.fstat(f.fileno())
            hasher = blobhash.SHA256Block(platform.config.block_size)
            size = platform.files.put(blob_id, _read(f, hasher))
        except BaseException:
            _delete(platform, blob_id)
            raise
    return Staged(blob_id, size, hasher.b64digest(), found.st_mtime_ns, (found.st_dev, found.st_ino), copied=True)


def _read(f: BinaryIO, hasher: blobhash.SHA256Block) -> Iterator[bytes]:
    while piece := f.read(PIECE):
        hasher.update(piece)
        yield piece


def staged_of(header: object, wait: float = 0.0) -> Staged | None:
    """The blob :func:`stage` made of the file of ``header``, if any; one being
    made is waited for, ``wait`` seconds at most (storing its study: rather
    than writing the file a second time)."""
    deadline = time.monotonic() + wait
    with _STAGING:
        while getattr(header, _STAGED, None) == _MAKING and (left := deadline - time.monotonic()) > 0:
            _STAGING.wait(left)
        found = getattr(header, _STAGED, None)
    return found if isinstance(found, Staged) else None


def unstage(platform: Platform, headers: Iterable[object]) -> int:
    """After their study was stored (or failed): remove the staged blobs of
    ``headers`` it did not use, and stage none of them any more (one being
    made now is removed when it is made); how many were removed (one that
    cannot be is logged, and left to the sweeper)."""
    unused: list[str] = []
    with _STAGING:
        for header in headers:
            staged = getattr(header, _STAGED, None)
            if isinstance(staged, Staged) and not staged.used:
                unused.append(staged.blob_id)
            object.__setattr__(header, _STAGED, _CLOSED)
    return sum(_delete(platform, blob_id) for blob_id in unused)


def _delete(platform: Platform, blob_id: str) -> bool:
    """Remove a blob made ahead that nothing names; False (logged) when it cannot be: the sweeper will."""
    try:
        platform.files.delete(blob_id)
    except Exception as exc:
        log.warning("blob %s, made ahead and not used, is left to the sweeper: %s", blob_id, exc)
        return False
    return True


def sync(platform: Platform, rows: list[BlobRow]) -> None:
    """Make the names of adopted blobs durable (once per folder, after all are written)."""
    platform.files.sync(row.blob_id for row in rows)
