"""Streaming blobs to and from the platform, in constant memory.

Upload (:class:`BlobUpload`): BeginPutBlob, then the bytes are POSTed in
chunks of exactly ``blob-chunk-size`` (the last shorter) with
``Content-Range: bytes FIRST-LAST/TOTAL`` (``*`` when the total is not
known), the last chunk carrying ``x-hv-blob-complete: 1``. The SHA256Block
hash is computed on the way, with the block size BeginPutBlob announced. A
chunk that fails is sent again, unchanged, after a pause; an upload that
cannot go on raises :class:`BlobUploadInterrupted`, and
:meth:`BlobUpload.resume` carries on from the last chunk the platform
acknowledged.

Download (:func:`download`, :func:`open_blob`): a GET on the blob URL,
streamed to a file or a callback, optionally a byte range; a full download
is checked against the blob's hash-info.

:class:`ThingBlobs` is the blob store of one thing: write, read, list,
remove and replace its named blobs, then commit the thing.
"""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol, TypeAlias
from uuid import UUID

import httpx

from . import blobhash, codec, crypto
from .errors import HealthVaultError
from .protocol import BLOB_COMPLETE_HEADER, BLOB_RECEIVED_HEADER, BLOB_STATE_HEADER
from .schema import (
    BeginPutBlobResult,
    BlobHashAlgorithmParameters,
    BlobHashInfo,
    BlobInfo,
    BlobPayload,
    BlobPayloadItem,
    Thing2,
    ThingKey,
)

#: The classes this module takes from the schema set (see ``hvgen generate``).
SCHEMA_CLASSES = {
    "BeginPutBlobResult": "{urn:com.microsoft.wc.methods.response.BeginPutBlob}info",
    "BlobPayloadItem": "{urn:com.microsoft.wc.thing}BlobPayloadItem",
    "BlobPayload": "{urn:com.microsoft.wc.thing}BlobPayload",
    "BlobInfo": "{urn:com.microsoft.wc.thing}BlobInfo",
    "BlobHashInfo": "{urn:com.microsoft.wc.thing}BlobHashInfo",
    "Thing2": "{urn:com.microsoft.wc.thing}Thing2",
    "ThingKey": "{urn:com.microsoft.wc.thing}ThingKey",
    "BlobHashAlgorithmParameters": "{urn:com.microsoft.wc.types}BlobHashAlgorithmParameters",
}

#: Called with (bytes done, total bytes or None) as a transfer progresses.
Progress = Callable[[int, "int | None"], None]
#: What an upload reads from: a path, a binary file object, or chunks of bytes.
Source: TypeAlias = str | os.PathLike[str] | BinaryIO | IO[bytes] | Iterable[bytes]

#: The protocol's blob header names, under the names this module first gave them.
COMPLETE_HEADER = BLOB_COMPLETE_HEADER
RECEIVED_HEADER = BLOB_RECEIVED_HEADER
_READ = 1024 * 1024


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


class BlobUploadInterrupted(HealthVaultBlobError):
    """An upload stopped part way; :meth:`BlobUpload.resume` can carry on."""

    def __init__(self, message: str, upload: BlobUpload) -> None:
        super().__init__(message)
        self.upload = upload


def _platform_error(response: httpx.Response) -> HealthVaultBlobError:
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


class _ChunkReader:
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
            piece = self._raw(min(count, _READ))
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


def _source_length(source: Source) -> int | None:
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


# -- upload --------------------------------------------------------------------------------------


@dataclass
class BlobUpload:
    """One streamed blob upload.

    Args:
        client: The client whose session and record the upload belongs to.
        name: The blob's name in the thing ("" for the default blob).
        content_type: Its media type.
        record_id: Record to upload to (default: the client's).
        progress: Called with (bytes sent, total or None).
        retries: Attempts per chunk after the first.
        backoff: Seconds before the first retry; doubled each time.
    """

    client: BlobClient
    name: str
    content_type: str = "application/octet-stream"
    record_id: str | None = None
    progress: Progress | None = None
    retries: int = 4
    backoff: float = 0.25
    url: str = ""
    chunk_size: int = 0
    max_size: int = 0
    block_size: int = blobhash.DEFAULT_BLOCK_SIZE
    acknowledged: int = 0
    total: int | None = None
    hash: str | None = None
    _hasher: blobhash.SHA256Block | None = field(default=None, repr=False)

    def begin(self) -> None:
        """Ask the platform for an upload URL (BeginPutBlob)."""
        result = self.client.begin_put_blob(record_id=self.record_id)
        if result.blob_hash_algorithm != blobhash.ALGORITHM:
            raise HealthVaultBlobError(f"unsupported blob hash algorithm {result.blob_hash_algorithm}")
        self.url = str(result.blob_ref_url)
        self.chunk_size = int(result.blob_chunk_size)
        self.max_size = int(result.max_blob_size)
        params = result.blob_hash_parameters
        if params is None or not params.block_size:
            raise HealthVaultBlobError("BeginPutBlob announced no hash block size")
        self.block_size = int(params.block_size)
        if self.chunk_size <= 0 or self.chunk_size % self.block_size:
            raise HealthVaultBlobError(
                f"chunk size {self.chunk_size} is not a multiple of the hash block size {self.block_size}"
            )
        self.acknowledged = 0
        self._hasher = blobhash.SHA256Block(self.block_size)

    def send(self, source: Source, total: int | None = None) -> BlobPayloadItem:
        """Upload ``source`` from its current position; returns the payload item.

        ``total`` is the byte count if known (taken from files and paths).

        Raises:
            BlobTooLarge: The source is larger than the platform accepts;
                nothing was sent.
            BlobUploadInterrupted: A chunk could not be delivered after all
                retries; call :meth:`resume` with the same source.
            HealthVaultBlobError: The platform refused the upload.
        """
        if not self.url:
            self.begin()
        self.total = total if total is not None else _source_length(source)
        if self.total is not None and self.total > self.max_size:
            raise BlobTooLarge(f"{self.total} bytes is over the platform's {self.max_size}-byte limit")
        return self._stream(_ChunkReader(source, self.chunk_size, skip=0))

    def resume(self, source: Source) -> BlobPayloadItem:
        """Carry on an interrupted upload: ask the platform how much it has,
        re-hash that part of ``source`` (read from its start), and send the rest."""
        response = self._request("GET", b"", {})
        received = int(response.headers.get(RECEIVED_HEADER, "0"))
        if response.headers.get(BLOB_STATE_HEADER) not in (None, "uploading"):
            raise HealthVaultBlobError("this upload is already complete")
        self._hasher = blobhash.SHA256Block(self.block_size)
        reader = _ChunkReader(source, self.chunk_size)
        done = 0
        while done < received:
            piece = reader.read()
            if len(piece) < self.chunk_size and done + len(piece) < received:
                raise HealthVaultBlobError("the source is shorter than what was already uploaded")
            self._hasher.update(piece[: received - done])
            done += min(len(piece), received - done)
        self.acknowledged = received
        return self._stream(reader)

    def _stream(self, reader: _ChunkReader) -> BlobPayloadItem:
        assert self._hasher is not None
        try:
            chunk = reader.read()
            while True:
                following = reader.read() if len(chunk) == self.chunk_size else b""
                last = not following
                first = self.acknowledged
                if first + len(chunk) > self.max_size:
                    raise BlobTooLarge(f"the blob grew past the platform's {self.max_size}-byte limit")
                self._send_chunk(first, chunk, last)
                self._hasher.update(chunk)
                self.acknowledged += len(chunk)
                if self.progress is not None:
                    self.progress(self.acknowledged, self.total)
                if last:
                    break
                chunk = following
        finally:
            reader.close()
        self.hash = self._hasher.b64digest()
        return self.payload_item()

    def _send_chunk(self, first: int, chunk: bytes, last: bool) -> None:
        headers: dict[str, str] = {"Content-Type": "application/octet-stream"}
        if chunk:
            total = "*" if self.total is None else str(self.total)
            headers["Content-Range"] = f"bytes {first}-{first + len(chunk) - 1}/{total}"
        if last:
            headers[COMPLETE_HEADER] = "1"
        self._request("POST", chunk, headers)

    def _request(self, method: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                response = self.client.http.request(method, self.url, content=body, headers=headers)
            except httpx.TransportError as exc:
                problem = f"cannot reach the platform: {exc}"
            else:
                if response.status_code < 400:
                    return response
                if response.status_code < 500:
                    raise _platform_error(response)
                problem = f"HTTP {response.status_code}"
            if attempt < self.retries:
                time.sleep(delay)
                delay *= 2
        raise BlobUploadInterrupted(
            f"upload of blob {self.name!r} stopped at byte {self.acknowledged}: {problem}",
            self,
        )

    def payload_item(self) -> BlobPayloadItem:
        """The blob-payload entry that makes a thing refer to this blob."""
        if self.hash is None:
            raise HealthVaultBlobError("the upload is not finished")
        return BlobPayloadItem(
            blob_info=BlobInfo(
                name=self.name,
                content_type=self.content_type,
                hash_info=BlobHashInfo(
                    algorithm=blobhash.ALGORITHM,
                    params=BlobHashAlgorithmParameters(block_size=self.block_size),
                    hash=self.hash,
                ),
            ),
            content_length=self.acknowledged,
            blob_ref_url=self.url,
        )


def inline_item(
    name: str,
    content_type: str,
    data: bytes,
    block_size: int = blobhash.DEFAULT_BLOCK_SIZE,
) -> BlobPayloadItem:
    """A blob-payload entry carrying ``data`` inline, as base64."""
    return BlobPayloadItem(
        blob_info=BlobInfo(
            name=name,
            content_type=content_type,
            hash_info=BlobHashInfo(
                algorithm=blobhash.ALGORITHM,
                params=BlobHashAlgorithmParameters(block_size=block_size),
                hash=blobhash.hash_bytes(data, block_size),
            ),
        ),
        content_length=len(data),
        base64data=crypto.b64encode(data) if data else None,
    )


# -- download -------------------------------------------------------------------------------------


def _range_header(byte_range: tuple[int, int | None] | None) -> dict[str, str]:
    if byte_range is None:
        return {}
    first, last = byte_range
    return {"Range": f"bytes={first}-{'' if last is None else last}"}


def open_blob(http: httpx.Client, url: str, byte_range: tuple[int, int | None] | None = None) -> Iterator[bytes]:
    """The blob's bytes (or a range: first and last byte, inclusive), streamed."""
    with http.stream("GET", url, headers=_range_header(byte_range)) as response:
        if response.status_code >= 400:
            response.read()
            raise _platform_error(response)
        yield from response.iter_bytes(_READ)


@contextmanager
def replacing(dest: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A new file next to ``dest`` that becomes ``dest`` only when the block
    ends without an error; otherwise it is removed and ``dest`` is left as
    it was (absent, or with its old content)."""
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        with open(tmp, "xb") as f:
            yield f
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def download(
    http: httpx.Client,
    url: str,
    dest: str | os.PathLike[str] | BinaryIO,
    *,
    byte_range: tuple[int, int | None] | None = None,
    expected_hash: str | None = None,
    block_size: int = blobhash.DEFAULT_BLOCK_SIZE,
    progress: Progress | None = None,
) -> int:
    """Stream a blob (or a byte range) to a path or binary file; returns the byte count.

    A full download is hashed on the way and checked against
    ``expected_hash`` (the blob's hash-info); on a mismatch
    :class:`BlobHashMismatch` is raised. A path is written only when the
    download succeeds (see :func:`replacing`).
    """
    if isinstance(dest, (str, os.PathLike)):
        with replacing(dest) as f:
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
    with http.stream("GET", url, headers=_range_header(byte_range)) as response:
        if response.status_code >= 400:
            response.read()
            raise _platform_error(response)
        length = response.headers.get("content-length")
        total = int(length) if length and length.isdigit() else None
        for piece in response.iter_bytes(_READ):
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


# -- the blob store of a thing -----------------------------------------------------------------------


class BlobWriter(io.RawIOBase):
    """A writable stream that uploads as it is written (see :meth:`ThingBlobs.new_blob`)."""

    def __init__(self, store: ThingBlobs, name: str, content_type: str) -> None:
        super().__init__()
        self._store = store
        self._upload = BlobUpload(
            store.client,
            name,
            content_type,
            record_id=store.record_id,
            progress=store.progress,
        )
        self._upload.begin()
        self._upload.total = None
        self._buffer = bytearray()
        self._first = True

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._buffer += view
        size = self._upload.chunk_size
        # Keep at least one byte back: the last chunk must carry the complete flag.
        while len(self._buffer) > size:
            self._push(bytes(self._buffer[:size]), last=False)
            del self._buffer[:size]
        return len(view)

    def _push(self, chunk: bytes, last: bool) -> None:
        upload = self._upload
        assert upload._hasher is not None
        if upload.acknowledged + len(chunk) > upload.max_size:
            raise BlobTooLarge(f"the blob grew past the platform's {upload.max_size}-byte limit")
        upload._send_chunk(upload.acknowledged, chunk, last)
        upload._hasher.update(chunk)
        upload.acknowledged += len(chunk)
        if upload.progress is not None:
            upload.progress(upload.acknowledged, None)

    def close(self) -> None:
        if not self.closed:
            self._push(bytes(self._buffer), last=True)
            self._buffer.clear()
            assert self._upload._hasher is not None
            self._upload.hash = self._upload._hasher.b64digest()
            self._store._set(self._upload.payload_item())
        super().close()


@dataclass
class ThingBlobs:
    """The named blobs of one thing, read and changed through the platform.

    Changes (new, replaced or removed blobs) go into the thing's
    ``blob_payload`` and take effect with :meth:`commit`, which writes the
    thing with PutThings. Replacing a blob streams new bytes under the same
    name; the platform drops the old bytes once no current thing refers to them.

    Blobs smaller than the platform's announced inline limit
    (``maxInlineBlobSizeBytes``) are sent inline; larger ones are streamed.
    """

    client: BlobClient
    thing: Thing2
    record_id: str | None = None
    progress: Progress | None = None

    def _payload(self) -> BlobPayload:
        if self.thing.blob_payload is None:
            self.thing.blob_payload = BlobPayload(blob=[])
        return self.thing.blob_payload

    def _set(self, item: BlobPayloadItem) -> None:
        payload = self._payload()
        payload.blob = [b for b in payload.blob if b.blob_info.name != item.blob_info.name] + [item]

    def inline_limit(self) -> int:
        return self.client.config_int("maxInlineBlobSizeBytes", 0)

    def list(self) -> list[BlobInfo]:
        """The blobs the thing has (as last read or changed here)."""
        payload = self.thing.blob_payload
        return (
            [b.blob_info for b in payload.blob if b.content_length != 0 or b.base64data or b.blob_ref_url]
            if payload
            else []
        )

    def item(self, name: str) -> BlobPayloadItem:
        for b in self.thing.blob_payload.blob if self.thing.blob_payload else []:
            if b.blob_info.name == name:
                return b
        raise KeyError(f"the thing has no blob named {name!r}")

    def new_blob(self, name: str, content_type: str = "application/octet-stream") -> BlobWriter:
        """A writable stream; the blob is uploaded as it is written and
        joins the thing when the stream is closed."""
        return BlobWriter(self, name, content_type)

    def write(
        self,
        name: str,
        source: Source | bytes,
        content_type: str = "application/octet-stream",
    ) -> BlobPayloadItem:
        """Add or replace blob ``name`` with the bytes of ``source``."""
        size = len(source) if isinstance(source, (bytes, bytearray)) else _source_length(source)
        if size is not None and size <= self.inline_limit():
            if isinstance(source, (bytes, bytearray)):
                data = bytes(source)
            else:
                reader = _ChunkReader(source, size + 1)
                try:
                    data = reader.read()
                finally:
                    reader.close()
            item = inline_item(name, content_type, data)
        else:
            if isinstance(source, (bytes, bytearray)):
                source = io.BytesIO(source)
            upload = BlobUpload(
                self.client,
                name,
                content_type,
                record_id=self.record_id,
                progress=self.progress,
            )
            item = upload.send(source)
        self._set(item)
        return item

    def remove(self, name: str) -> None:
        """Remove blob ``name`` (takes effect at commit)."""
        info = self.item(name).blob_info
        self._set(
            BlobPayloadItem(
                blob_info=BlobInfo(name=name, content_type=info.content_type),
                content_length=0,
            )
        )

    def clear(self) -> None:
        """Remove every blob (takes effect at commit)."""
        for info in self.list():
            self.remove(info.name)

    def commit(self) -> ThingKey:
        """Write the thing with its blob changes; reload its blob payload."""
        key = self.client.put_thing(self.thing, record_id=self.record_id)
        self.refresh(key.value)
        return key

    def refresh(self, thing_id: str | None = None) -> Thing2:
        """Read the thing again (fresh blob URLs)."""
        thing_id = thing_id or (self.thing.thing_id.value if self.thing.thing_id else None)
        if thing_id is None:
            raise HealthVaultBlobError("the thing has not been written yet")
        fresh = self.client.get_thing(thing_id, record_id=self.record_id, sections=("core",), blob_payload=True)
        if fresh is None:
            raise HealthVaultBlobError(f"thing {thing_id} is gone")
        self.thing = fresh
        return fresh

    def url(self, name: str) -> str:
        """A download URL for blob ``name`` (usable as ``<img src>``; it expires)."""
        item = self.item(name)
        if item.blob_ref_url is None:
            self.refresh()
            item = self.item(name)
        if item.blob_ref_url is None:
            raise HealthVaultBlobError(f"blob {name!r} has no download URL (inline?)")
        return str(item.blob_ref_url)

    def open(self, name: str, byte_range: tuple[int, int | None] | None = None) -> Iterator[bytes]:
        """The bytes of blob ``name``, streamed (optionally a byte range)."""
        item = self.item(name)
        if item.base64data is not None and item.blob_ref_url is None:
            data = crypto.b64decode(item.base64data)
            if byte_range is not None:
                first, last = byte_range
                data = data[first : None if last is None else last + 1]
            return iter([data])
        return open_blob(self.client.http, self.url(name), byte_range)

    def read(self, name: str, byte_range: tuple[int, int | None] | None = None) -> bytes:
        """All bytes of blob ``name`` (or a range) in memory: for small blobs and headers."""
        return b"".join(self.open(name, byte_range))

    def save(self, name: str, path: str | os.PathLike[str], progress: Progress | None = None) -> int:
        """Download blob ``name`` to ``path``, checking its hash."""
        item = self.item(name)
        info = item.blob_info.hash_info
        block = (
            int(info.params.block_size)
            if info and info.params and info.params.block_size
            else blobhash.DEFAULT_BLOCK_SIZE
        )
        if item.base64data is not None and item.blob_ref_url is None:
            data = self.read(name)
            if info is not None and blobhash.hash_bytes(data, block) != info.hash:
                raise BlobHashMismatch(f"inline blob {name!r} does not match its hash")
            with replacing(path) as f:
                f.write(data)
            return len(data)
        return download(
            self.client.http,
            self.url(name),
            path,
            expected_hash=info.hash if info else None,
            block_size=block,
            progress=progress or self.progress,
        )
