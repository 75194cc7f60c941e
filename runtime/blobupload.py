"""Streamed blob uploads, in constant memory.

:class:`BlobUpload`: BeginPutBlob, then the bytes are POSTed in chunks of
exactly ``blob-chunk-size`` (the last shorter) with
``Content-Range: bytes FIRST-LAST/TOTAL`` (``*`` when the total is not
known), the last chunk carrying ``x-hv-blob-complete: 1``. The SHA256Block
hash is computed on the way, with the block size BeginPutBlob announced. A
chunk that fails is sent again, unchanged, after a pause; an upload that
cannot go on raises :class:`BlobUploadInterrupted`, and
:meth:`BlobUpload.resume` carries on from the last chunk the platform
acknowledged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx

from . import blobhash, crypto
from .blobio import (
    COMPLETE_HEADER,
    RECEIVED_HEADER,
    BlobClient,
    BlobTooLarge,
    ChunkReader,
    HealthVaultBlobError,
    Progress,
    Source,
    platform_error,
    source_length,
)
from .protocol import BLOB_STATE_HEADER
from .schema import BlobHashAlgorithmParameters, BlobHashInfo, BlobInfo, BlobPayloadItem
from .weburl import origin, reason, url_problem

#: The classes this module takes from the schema set (see ``hvgen generate``).
SCHEMA_CLASSES = {
    "BlobPayloadItem": "{urn:com.microsoft.wc.thing}BlobPayloadItem",
    "BlobInfo": "{urn:com.microsoft.wc.thing}BlobInfo",
    "BlobHashInfo": "{urn:com.microsoft.wc.thing}BlobHashInfo",
    "BlobHashAlgorithmParameters": "{urn:com.microsoft.wc.types}BlobHashAlgorithmParameters",
}


class BlobUploadInterrupted(HealthVaultBlobError):
    """An upload stopped part way; :meth:`BlobUpload.resume` can carry on."""

    def __init__(self, message: str, upload: BlobUpload) -> None:
        super().__init__(message)
        self.upload = upload


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
        self.total = total if total is not None else source_length(source)
        if self.total is not None and self.total > self.max_size:
            raise BlobTooLarge(f"{self.total} bytes is over the platform's {self.max_size}-byte limit")
        return self._stream(ChunkReader(source, self.chunk_size, skip=0))

    def resume(self, source: Source) -> BlobPayloadItem:
        """Carry on an interrupted upload: ask the platform how much it has,
        re-hash that part of ``source`` (read from its start), and send the rest."""
        response = self._request("GET", b"", {})
        received = int(response.headers.get(RECEIVED_HEADER, "0"))
        if response.headers.get(BLOB_STATE_HEADER) not in (None, "uploading"):
            raise HealthVaultBlobError("this upload is already complete")
        self._hasher = blobhash.SHA256Block(self.block_size)
        reader = ChunkReader(source, self.chunk_size)
        done = 0
        while done < received:
            piece = reader.read()
            if len(piece) < self.chunk_size and done + len(piece) < received:
                raise HealthVaultBlobError("the source is shorter than what was already uploaded")
            self._hasher.update(piece[: received - done])
            done += min(len(piece), received - done)
        self.acknowledged = received
        return self._stream(reader)

    def _stream(self, reader: ChunkReader) -> BlobPayloadItem:
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
        wrong = url_problem(self.url)
        if wrong is not None:  # nothing to retry: the platform gave a URL that cannot work
            raise HealthVaultBlobError(f"the upload URL the platform gave, {self.url!r}, is not a usable URL: {wrong}")
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                response = self.client.http.request(method, self.url, content=body, headers=headers)
            except httpx.TransportError as exc:
                problem = f"cannot reach the platform at {origin(self.url)}: {reason(exc)}"
            else:
                if response.status_code < 400:
                    return response
                if response.status_code < 500:
                    raise platform_error(response)
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
