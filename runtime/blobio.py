"""Blob transfer primitives: the client a transfer needs, errors, exact-size
chunks read from any source, and streamed downloads.

Download (:func:`download`, :func:`open_blob`): a GET on the blob URL,
streamed to a file or a callback, optionally a byte range; a full download
is checked against the blob's hash-info. Uploads are in :mod:`.blobupload`,
the blob store of one thing in :mod:`.blobs`.
"""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol, TypeAlias
from uuid import UUID

import httpx

from . import blobhash, codec, filemodes
from .errors import HealthVaultError
from .protocol import BLOB_COMPLETE_HEADER, BLOB_RECEIVED_HEADER
from .schema import BeginPutBlobResult, Thing2, ThingKey
from .weburl import Unreachable, check_url, origin, reason

#: The classes this module takes from the schema set (see ``hvgen generate``).
SCHEMA_CLASSES = {
    "BeginPutBlobResult": "{urn:com.microsoft.wc.methods.response.BeginPutBlob}info",
    "BlobInfo": "{urn:com.microsoft.wc.thing}BlobInfo",
    "Thing2": "{urn:com.microsoft.wc.thing}Thing2",
    "ThingKey": "{urn:com.microsoft.wc.thing}ThingKey",
}

#: Called with (bytes done, total bytes or None) as a transfer progresses.
Progress = Callable[[int, "int | None"], None]
#: What an upload reads from: a path, a binary file object, or chunks of bytes.
Source: TypeAlias = str | os.PathLike[str] | BinaryIO | IO[bytes] | Iterable[bytes]

#: The protocol's blob header names, under the names this module first gave them.
COMPLETE_HEADER = BLOB_COMPLETE_HEADER
RECEIVED_HEADER = BLOB_RECEIVED_HEADER
READ_SIZE = 1024 * 1024


class BlobClient(Protocol):
    """What blob transfers need of a client (:class:`client.HealthVaultClient`
    is one): its HTTP connection and the methods around a blob."""

    http: httpx.Client

    def begin_put_blob(self, *, record_id: str | None = None) -> BeginPutBlobResult:
        """BeginPutBlob: where and how to upload."""
        ...

    def config_int(self, key: str, default: int) -> int:
        """A numeric item of the service definition."""
        ...

    def put_thing(self, thing: Thing2, *, record_id: str | None = None) -> ThingKey:
        """PutThings with one thing."""
        ...

    def get_thing(self, thing_id: UUID | str, *, record_id: str | None = None, **fields: Any) -> Thing2 | None:
        """One thing by id."""
        ...


class HealthVaultBlobError(HealthVaultError):
    """A blob transfer failed: refused by the platform, or corrupt."""

    def __init__(self, message: str, http_status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code


class BlobTooLarge(HealthVaultBlobError):
    """The blob is larger than the platform's ``max-blob-size``."""


class BlobHashMismatch(HealthVaultBlobError):
    """Downloaded bytes do not hash to the blob's hash-info."""


def platform_error(response: httpx.Response) -> HealthVaultBlobError:
    """The platform's status code and message from an error response."""
    code, message = None, response.text.strip()[:200]
    try:
        status = codec.read_response(response.content).status
        code = status.code
        if status.error is not None and status.error.message:
            message = status.error.message
    except Exception:  # not an XML status; keep the raw text
        pass
    return HealthVaultBlobError(f"HTTP {response.status_code}: {message}", response.status_code, code)


# -- reading sources in exact chunks ------------------------------------------------------


class ChunkReader:
    """Yields exactly ``size`` bytes at a time from any source (the last may be short)."""

    def __init__(self, source: Source, size: int, skip: int = 0) -> None:
        self.size = size
        self._close: Callable[[], None] | None = None
        self._stream: IO[bytes] | None = None
        self._iter: Iterator[bytes] | None = None
        self._pending = bytearray()
        if isinstance(source, (str, os.PathLike)):
            f = open(source, "rb")  # noqa: SIM115 - closed by close()
            self._stream, self._close = f, f.close
        elif hasattr(source, "read"):
            self._stream = source  # type: ignore[assignment]
        else:
            self._iter = iter(source)
        if skip:
            self._skip(skip)

    def _skip(self, count: int) -> None:
        if self._stream is not None and hasattr(self._stream, "seek"):
            try:
                self._stream.seek(count, io.SEEK_CUR)
                return
            except (OSError, io.UnsupportedOperation):
                pass
        while count > 0:
            piece = self._raw(min(count, READ_SIZE))
            if not piece:
                raise HealthVaultBlobError("the source ended before the resume point")
            count -= len(piece)

    def _raw(self, limit: int) -> bytes:
        if self._stream is not None:
            return self._stream.read(limit)
        assert self._iter is not None
        if self._pending:
            out = bytes(self._pending[:limit])
            del self._pending[:limit]
            return out
        for piece in self._iter:
            if piece:
                self._pending += piece
                return self._raw(limit)
        return b""

    def read(self) -> bytes:
        """The next chunk: ``size`` bytes unless the source ends first."""
        buf = bytearray()
        while len(buf) < self.size:
            piece = self._raw(self.size - len(buf))
            if not piece:
                break
            buf += piece
        return bytes(buf)

    def close(self) -> None:
        if self._close is not None:
            self._close()


def source_length(source: Source) -> int | None:
    if isinstance(source, (str, os.PathLike)):
        return os.path.getsize(source)
    if hasattr(source, "seek") and hasattr(source, "tell"):
        try:
            here = source.tell()
            end = source.seek(0, io.SEEK_END)
            source.seek(here)
            return int(end - here)
        except (OSError, io.UnsupportedOperation, ValueError):
            return None
    if isinstance(source, (bytes, bytearray, memoryview)):
        return len(source)
    return None


# -- download -------------------------------------------------------------------------------------


def _range_header(byte_range: tuple[int, int | None] | None) -> dict[str, str]:
    if byte_range is None:
        return {}
    first, last = byte_range
    return {"Range": f"bytes={first}-{'' if last is None else last}"}


@contextmanager
def _get(http: httpx.Client, url: str, byte_range: tuple[int, int | None] | None) -> Iterator[httpx.Response]:
    """A GET of a blob URL, streamed: a URL that cannot work raises
    :class:`weburl.InvalidURLError` before anything is sent, a failure to
    reach it or to read the answer :class:`weburl.Unreachable`, and an
    error answer the platform's status (:func:`platform_error`)."""
    check_url(url, "blob URL")
    try:
        with http.stream("GET", url, headers=_range_header(byte_range)) as response:
            if response.status_code >= 400:
                response.read()
                raise platform_error(response)
            yield response
    except httpx.TransportError as exc:
        why = reason(exc)
        raise Unreachable(f"cannot download from {origin(url)}: {why}", url, why) from None


def open_blob(http: httpx.Client, url: str, byte_range: tuple[int, int | None] | None = None) -> Iterator[bytes]:
    """The blob's bytes (or a range: first and last byte, inclusive), streamed."""
    with _get(http, url, byte_range) as response:
        yield from response.iter_bytes(READ_SIZE)


@contextmanager
def replacing(dest: str | os.PathLike[str], *, flush_name: bool = True) -> Iterator[BinaryIO]:
    """A new file next to ``dest`` that becomes ``dest`` only when the block
    ends without an error; otherwise it is removed and ``dest`` is left as
    it was (absent, or with its old content). The file is on disk, under
    its name, when the block has ended (its name unless ``flush_name`` is
    False: the caller then flushes the folder, once for many files)."""
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        with open(tmp, "xb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())  # (on disk before it is given the name: never a named empty file)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if flush_name:
        filemodes.flush_folder(dest.parent)


def download(
    http: httpx.Client,
    url: str,
    dest: str | os.PathLike[str] | BinaryIO,
    *,
    byte_range: tuple[int, int | None] | None = None,
    expected_hash: str | None = None,
    block_size: int = blobhash.DEFAULT_BLOCK_SIZE,
    progress: Progress | None = None,
    flush_name: bool = True,
) -> int:
    """Stream a blob (or a byte range) to a path or binary file; returns the byte count.

    A full download is hashed on the way and checked against
    ``expected_hash`` (the blob's hash-info); on a mismatch
    :class:`BlobHashMismatch` is raised. A path is written only when the
    download succeeds (see :func:`replacing`, and its ``flush_name``).
    """
    if isinstance(dest, (str, os.PathLike)):
        with replacing(dest, flush_name=flush_name) as f:
            return download(
                http,
                url,
                f,
                byte_range=byte_range,
                expected_hash=expected_hash,
                block_size=block_size,
                progress=progress,
            )
    workers = min(os.cpu_count() or 1, 4)
    hasher = blobhash.SHA256Block(block_size, workers) if expected_hash and byte_range is None else None
    count = 0
    with _get(http, url, byte_range) as response:
        length = response.headers.get("content-length")
        total = int(length) if length and length.isdigit() else None
        for piece in response.iter_bytes(READ_SIZE):
            dest.write(piece)
            if hasher is not None:
                hasher.update(piece)
            count += len(piece)
            if progress is not None:
                progress(count, total)
    if hasher is not None and hasher.b64digest() != expected_hash:
        raise BlobHashMismatch(
            f"downloaded bytes hash to {hasher.b64digest()}, the blob's hash-info says {expected_hash}"
        )
    return count
