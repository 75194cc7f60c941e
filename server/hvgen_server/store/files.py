"""Blob bytes, kept apart from blob state.

:class:`BlobFiles` is what the platform needs of a place for blob bytes;
:class:`LocalBlobFiles` keeps each blob as one file under a folder, named by
its id (folders and files readable by their owner only). The state of a blob (how far its upload got, whether a thing holds
it) is a row of the store's blob table.

Bytes are written before the row that names them is committed; a crash in
between leaves bytes with no row, which :meth:`BlobFiles.remove_orphans`
removes.

An upload in progress may need a backend's own bookkeeping (an object
store's multipart upload and the chunks not yet in a part): each append
takes the upload's *state* as the blob row has it and returns the new one,
which the caller stores with the chunk's row in one transaction. So the row
always says where the acknowledged bytes are, and any server process can go
on with the upload. :class:`LocalBlobFiles` needs none (its state is "").
"""

from __future__ import annotations

import errno
import os
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from healthvault import filemodes

#: Pieces read at a time when streaming a blob out.
READ_SIZE = 1024 * 1024

#: Threads flushing blob folders side by side (kept: a batch of studies flushes many folders).
_SYNCING = ThreadPoolExecutor(max_workers=8, thread_name_prefix="blob-sync")


class BlobFiles(ABC):
    """The bytes of blobs, by blob id."""

    #: How many blobs a reader of many (WADO-RS of a study) fetches ahead of the one it
    #: sends: 0 where reading waits for nothing but a disk (local files), more where
    #: each read waits for a round trip (an object store).
    read_ahead = 0

    @abstractmethod
    def create(self, blob_id: str) -> str:
        """An empty blob, to be appended to, durably; returns the upload's state."""

    @abstractmethod
    def append(self, blob_id: str, offset: int, data: bytes, state: str) -> str:
        """Write ``data`` at ``offset`` (the bytes acknowledged so far, as
        ``state`` says), dropping any bytes from there on (a chunk that was
        never acknowledged), durably; returns the new state. Raises OSError
        when fewer than ``offset`` bytes are there (acknowledged bytes lost:
        never filled in with zeros)."""

    @abstractmethod
    def finish(self, blob_id: str, size: int, state: str) -> None:
        """The upload of ``size`` bytes is complete: make them readable as one
        blob. Done again after a crash, it does no harm."""

    @abstractmethod
    def put(self, blob_id: str, pieces: Iterable[bytes]) -> int:
        """The whole blob from ``pieces``, replacing it at once, durably; returns its length."""

    def adopt(self, blob_id: str, path: Path, *, flushed: bool = False) -> bool:
        """Make the file at ``path`` the blob's bytes without copying them, if
        this backend can (the same file system: a second name for the file,
        its bytes flushed to disk unless ``flushed`` says they are already;
        made durable with :meth:`sync`); False when it cannot (the caller
        then writes them with :meth:`put`)."""
        return False

    def adopted_as(self, blob_id: str, path: Path) -> bool:
        """Whether the blob's bytes are (still) the file at ``path``, a name :meth:`adopt` gave."""
        return False

    def sync(self, blob_ids: Iterable[str]) -> None:
        """Make durable the names :meth:`adopt` gave (nothing for a backend that adopts nothing)."""
        return None

    @abstractmethod
    def same_bytes(self, blob_id: str, offset: int, data: bytes, state: str) -> bool:
        """Whether ``data`` is the last chunk appended, at ``offset``."""

    @abstractmethod
    def size(self, blob_id: str) -> int: ...

    @abstractmethod
    def read(self, blob_id: str, first: int = 0, length: int | None = None, piece: int = READ_SIZE) -> Iterator[bytes]:
        """``length`` bytes from ``first`` (all to the end by default), in
        pieces of ``piece`` bytes (the last may be shorter)."""

    def read_all(self, blob_id: str) -> bytes:
        """The whole blob (only for blobs small enough to be inline)."""
        return b"".join(self.read(blob_id))

    @abstractmethod
    def delete(self, blob_id: str) -> None:
        """Remove the blob's bytes (nothing happens if there are none)."""

    @abstractmethod
    def remove_orphans(self, known: set[str], before: float) -> None:
        """Remove the bytes of every blob not in ``known`` last written before
        ``before`` (epoch seconds; younger bytes may belong to a row not yet
        committed)."""


def _fsync_folder(folder: Path) -> None:
    filemodes.flush_folder(folder)


class LocalBlobFiles(BlobFiles):
    """Blob bytes as files: ``ROOT/<first two characters of the id>/<id>``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        filemodes.private_dir(self.root)
        self._folders: set[Path] = set()  # the folders under the root known to be on disk
        self._making = threading.Lock()

    def path(self, blob_id: str) -> Path:
        uuid.UUID(blob_id)  # never a path from outside
        return self.root / blob_id[:2] / blob_id

    def _folder_of(self, path: Path) -> None:
        """Make the folder of a blob's file when it is missing, its name flushed in the
        root before any blob in it is (a blob's :meth:`sync` flushes only its folder)."""
        folder = path.parent
        if folder in self._folders:
            return
        with self._making:  # (another thread's blob waits for the flush of a folder it made)
            if folder not in self._folders:
                try:
                    folder.mkdir(mode=filemodes.PRIVATE_DIR)
                except FileExistsError:
                    pass  # (made before: by an earlier run, or by another process that may not have flushed it yet)
                _fsync_folder(self.root)
                self._folders.add(folder)

    def _open(self, path: Path, flags: int) -> BinaryIO:
        """A blob file (or its temporary twin), readable by the owner only."""
        self._folder_of(path)
        try:
            fd = filemodes.open_private(path, flags)
        except FileNotFoundError:  # (its folder was removed since: made again)
            self._folders.discard(path.parent)
            self._folder_of(path)
            fd = filemodes.open_private(path, flags)
        return os.fdopen(fd, "r+b" if flags & os.O_RDWR else "wb")

    def create(self, blob_id: str) -> str:
        path = self.path(blob_id)
        self._open(path, os.O_RDWR | os.O_CREAT).close()
        _fsync_folder(path.parent)  # (its chunks are acknowledged as they come: the file's name first)
        return ""

    def append(self, blob_id: str, offset: int, data: bytes, state: str) -> str:
        with self._open(self.path(blob_id), os.O_RDWR) as f:  # (made by create: never made again here)
            if os.fstat(f.fileno()).st_size < offset:  # never filled with zeros: bytes acknowledged are gone
                raise OSError(errno.EIO, f"blob {blob_id} holds fewer than the {offset} bytes received before")
            f.truncate(offset)
            f.seek(offset)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return ""

    def finish(self, blob_id: str, size: int, state: str) -> None:
        pass  # the file is the blob already

    def put(self, blob_id: str, pieces: Iterable[bytes]) -> int:
        path = self.path(blob_id)
        tmp = path.with_suffix(".tmp")
        length = 0
        with self._open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC) as f:
            for piece in pieces:
                f.write(piece)
                length += len(piece)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
        _fsync_folder(path.parent)
        return length

    def adopt(self, blob_id: str, path: Path, *, flushed: bool = False) -> bool:
        """A hard link to ``path`` when it is on the blob folder's file system.

        The file's modification time is made now first, so that the orphan
        sweeper (which spares bytes younger than :data:`~hvgen_server.sweeper.ORPHAN_AGE`)
        cannot take it for abandoned before the row naming it is committed."""
        target = self.path(blob_id)
        try:
            if os.stat(path).st_dev != os.stat(self.root).st_dev:
                return False
            self._folder_of(target)
            os.utime(path)
            os.link(path, target)
        except OSError:
            return False
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fchmod(fd, filemodes.PRIVATE_FILE)
            if not flushed:
                os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def adopted_as(self, blob_id: str, path: Path) -> bool:
        try:
            mine, theirs = os.stat(self.path(blob_id)), os.stat(path)
        except OSError:
            return False
        return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)

    def sync(self, blob_ids: Iterable[str]) -> None:
        folders = sorted({self.path(blob_id).parent for blob_id in blob_ids})
        if len(folders) <= 1:
            for folder in folders:
                _fsync_folder(folder)
            return
        list(_SYNCING.map(_fsync_folder, folders))  # each waits on the disk: side by side

    def same_bytes(self, blob_id: str, offset: int, data: bytes, state: str) -> bool:
        with open(self.path(blob_id), "rb") as f:
            f.seek(offset)
            return f.read(len(data)) == data

    def size(self, blob_id: str) -> int:
        return self.path(blob_id).stat().st_size

    def read(self, blob_id: str, first: int = 0, length: int | None = None, piece: int = READ_SIZE) -> Iterator[bytes]:
        with open(self.path(blob_id), "rb") as f:
            f.seek(first)
            left = length
            while left is None or left > 0:
                chunk = f.read(piece if left is None else min(piece, left))
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                yield chunk

    def delete(self, blob_id: str) -> None:
        self.path(blob_id).unlink(missing_ok=True)

    def remove_orphans(self, known: set[str], before: float) -> None:
        for folder in self.root.iterdir():
            if not folder.is_dir():
                continue
            for file in folder.iterdir():
                if file.name.split(".")[0] in known:
                    continue
                try:
                    if file.stat().st_mtime < before:
                        file.unlink(missing_ok=True)
                except FileNotFoundError:
                    pass
