"""Blob upload and download over plain HTTP.

Upload: ``POST`` chunks to the URL BeginPutBlob returned, each with
``Content-Range: bytes FIRST-LAST/TOTAL`` (TOTAL may be ``*``), every chunk
exactly ``blob-chunk-size`` bytes but the last, in order, with no gaps. The
last chunk, or an empty POST after it, carries ``x-hv-blob-complete: 1``.
Re-sending the last acknowledged chunk with the same range and bytes is
acknowledged again without appending (so clients can retry). A GET on an
upload URL reports how many bytes were acknowledged (``x-hv-blob-received``),
so an interrupted upload can resume.

Download: ``GET`` the URL GetThings returned; ``Range: bytes=A-B`` (or the
documented ``Content-Range: bytes A-B`` request header) returns only those
bytes with 206, and a range past the end 416.

A download is sent as an attachment (``Content-Disposition: attachment``,
``nosniff``, ``Content-Security-Policy: sandbox``) with the content type its
uploader gave: a browser saves it, never shows it as a page of the
platform's origin (a ``text/html`` blob cannot script the viewer or the
sign-in pages). As an ``<img>`` source it still loads.

Errors answer with an HTTP error status and the platform's XML status body.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import re
import threading

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from healthvault.blobhash import SHA256Block
from healthvault.protocol import (
    BLOB_COMPLETE_HEADER,
    BLOB_HASH_HEADER,
    BLOB_RECEIVED_HEADER,
    BLOB_STATE_HEADER,
    BLOB_TOKEN_PARAM,
    write_status,
)
from healthvault.status import HealthVaultStatusError, StatusCode

from . import limits, tokens
from .context import Platform
from .errors import PlatformError
from .headers import ATTACHMENT
from .store.base import Conflict
from .store.rows import COMMITTED, RECORD_BLOB, UPLOADING

# Byte positions have at most 18 digits (an int64); longer numbers are refused as malformed.
_RANGE = re.compile(r"^\s*bytes\s+(\d{1,18})-(\d{1,18})/(\d{1,18}|\*)\s*$")
_GET_RANGE = re.compile(r"^\s*bytes\s*[= ]\s*(\d{0,18})-(\d{0,18})\s*$")

#: Chunks of one blob are handled one at a time in this process; blobs share
#: a fixed set of locks (striped by id) so the set does not grow with every
#: upload. Across processes the store decides: a chunk is recorded only if
#: the upload is still where this request found it.
_LOCKS = [threading.Lock() for _ in range(64)]

log = logging.getLogger("hvgen_server")


class BlobHttpError(PlatformError):
    """A platform error with the HTTP status to answer it with."""

    def __init__(self, http: int, code: StatusCode, message: str) -> None:
        super().__init__(code, message)
        self.http = http


def _lock_for(blob_id: str) -> threading.Lock:
    return _LOCKS[int(blob_id.replace("-", "")[:8], 16) % len(_LOCKS)]


def _error(exc: HealthVaultStatusError) -> Response:
    http = exc.http if isinstance(exc, BlobHttpError) else 400
    return Response(write_status(exc.code, exc.message), status_code=http, media_type="text/xml; charset=utf-8")


def _internal(exc: OSError, doing: str) -> Response:
    """An error of the server's own storage, as the platform's XML status."""
    if exc.errno == errno.ENOSPC:
        log.error("disk full while %s", doing)
        message, http = "the server's disk is full; try again later", 507
    else:
        log.error("storage error while %s: %s", doing, exc)
        message, http = "the server could not store or read the blob; see the server log", 500
    return Response(write_status(StatusCode.FAILED, message), status_code=http, media_type="text/xml; charset=utf-8")


def _token(platform: Platform, request: Request, kind: str) -> tokens.BlobToken:
    token = request.query_params.get(BLOB_TOKEN_PARAM)
    if not token:
        raise BlobHttpError(403, StatusCode.INVALID_BLOB_REF_URL, f"the URL carries no {BLOB_TOKEN_PARAM}")
    try:
        return tokens.check(platform.key, token, kind)
    except tokens.TokenError as exc:
        raise BlobHttpError(
            403, StatusCode.ACCESS_DENIED if exc.expired else StatusCode.INVALID_BLOB_REF_URL, str(exc)
        ) from None


# -- upload ------------------------------------------------------------------------------


async def upload(platform: Platform, request: Request) -> Response:
    try:
        claims = _token(platform, request, "w")
        content_range = request.headers.get("content-range")
        complete = request.headers.get(BLOB_COMPLETE_HEADER, "").strip() == "1"
        limit = platform.config.chunk_size + 64  # package chunks carry up to 32 bytes of padding
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise BlobHttpError(413, StatusCode.REQUEST_TOO_LONG, f"a chunk is at most {limit} bytes")
        body = bytearray()
        async for piece in limits.timed_stream(request, platform.config.body_timeout):
            body += piece
            if len(body) > limit:
                raise BlobHttpError(413, StatusCode.REQUEST_TOO_LONG, f"a chunk is at most {limit} bytes")
        received = await run_in_threadpool(_accept, platform, claims, content_range, bytes(body), complete)
    except HealthVaultStatusError as exc:
        return _error(exc)
    except OSError as exc:
        return _internal(exc, "storing a chunk")
    except ClientDisconnect:
        return Response(b"", status_code=400)  # nobody is listening
    return Response(b"", status_code=200, headers={BLOB_RECEIVED_HEADER: str(received)})


def _accept(
    platform: Platform, claims: tokens.BlobToken, content_range: str | None, body: bytes, complete: bool
) -> int:
    config = platform.config
    with _lock_for(claims.blob_id):
        with platform.store.read() as tx:
            row = tx.blobs.get(claims.blob_id)
        if row is None or (row.record_id or "") != claims.record_id:
            raise BlobHttpError(404, StatusCode.INVALID_BLOB_REF_URL, "no upload for this URL (it may have expired)")
        chunk_size = row.chunk_size or config.chunk_size
        hashed = row.kind == RECORD_BLOB  # package blobs arrive encrypted; their hash is of the plaintext
        if row.state != UPLOADING:
            if not body and complete:
                return row.received  # completing twice is harmless
            raise BlobHttpError(409, StatusCode.BLOB_TOKEN_COMMITTED, "this blob is already complete")
        total = row.total
        if body or content_range:
            if not content_range:
                raise BlobHttpError(400, StatusCode.BAD_HTTP, "a chunk needs a Content-Range header")
            match = _RANGE.match(content_range)
            if not match:
                raise BlobHttpError(400, StatusCode.BAD_HTTP, f"malformed Content-Range {content_range!r}")
            first, last = int(match.group(1)), int(match.group(2))
            declared_total = None if match.group(3) == "*" else int(match.group(3))
            if last < first or last - first + 1 != len(body):
                raise BlobHttpError(
                    400,
                    StatusCode.BAD_HTTP,
                    f"Content-Range {first}-{last} is {last - first + 1} bytes but the body has {len(body)}",
                )
            if declared_total is not None:
                if total is not None and declared_total != total:
                    raise BlobHttpError(400, StatusCode.BAD_HTTP, f"total changed from {total} to {declared_total}")
                if declared_total > config.max_blob_size:
                    raise BlobHttpError(
                        413,
                        StatusCode.REQUEST_TOO_LONG,
                        f"blob of {declared_total} bytes is over the {config.max_blob_size}-byte limit",
                    )
                if last >= declared_total:
                    raise BlobHttpError(
                        400, StatusCode.BAD_HTTP, f"range ends at {last}, past the total of {declared_total}"
                    )
                total = declared_total
            if row.last_range == f"{first}-{last}" and first + len(body) == row.received:
                if platform.files.same_bytes(row.blob_id, first, body, row.files_state):
                    return row.received  # a retry of the last chunk
                raise BlobHttpError(
                    409, StatusCode.BAD_HTTP, f"range {first}-{last} was already received with other bytes"
                )
            if first != row.received:
                raise BlobHttpError(
                    400,
                    StatusCode.BAD_HTTP,
                    f"expected a chunk starting at byte {row.received}, got {first} (chunks go in order, without gaps)",
                )
            if len(body) > chunk_size:
                raise BlobHttpError(413, StatusCode.REQUEST_TOO_LONG, f"a chunk is at most {chunk_size} bytes")
            if row.received % chunk_size:
                raise BlobHttpError(400, StatusCode.BAD_HTTP, "only the last chunk may be shorter than the chunk size")
            if row.received + len(body) > config.max_blob_size:
                raise BlobHttpError(
                    413, StatusCode.REQUEST_TOO_LONG, f"the blob would exceed {config.max_blob_size} bytes"
                )
            files_state = platform.files.append(row.blob_id, row.received, body, row.files_state)
            digests = _block_digests(body, row.block_size) if hashed else b""
            received = row.received + len(body)
            try:
                with platform.store.write() as tx:
                    recorded = tx.blobs.record_chunk(
                        row.blob_id,
                        row.received,
                        received,
                        total,
                        f"{first}-{last}",
                        bytes(row.block_digests) + digests,
                        files_state,
                    )
            except Conflict:
                recorded = False
            if not recorded:
                raise BlobHttpError(
                    409, StatusCode.BAD_HTTP, "another request changed this upload meanwhile; resume it"
                )
            row.received, row.total, row.files_state = received, total, files_state
            row.block_digests += digests
        if complete:
            if row.total is not None and row.received != row.total:
                raise BlobHttpError(
                    400, StatusCode.BLOB_TOKEN_NOT_COMPLETED, f"complete after {row.received} of {row.total} bytes"
                )
            with platform.store.read() as tx:
                fresh = tx.blobs.get(row.blob_id)
            if fresh is None or fresh.state != UPLOADING or fresh.received != row.received:
                raise BlobHttpError(
                    409, StatusCode.BAD_HTTP, "another request changed this upload meanwhile; resume it"
                )
            platform.files.finish(row.blob_id, fresh.received, fresh.files_state)
            digest = None
            if hashed:
                hasher = SHA256Block(row.block_size)
                for i in range(0, len(fresh.block_digests), 32):
                    hasher.add_block_digest(fresh.block_digests[i : i + 32])
                digest = hasher.b64digest()
            with platform.store.write() as tx:
                tx.blobs.complete(row.blob_id, fresh.received, digest)
        return row.received


def _block_digests(body: bytes, block_size: int) -> bytes:
    view = memoryview(body)
    return b"".join(hashlib.sha256(view[i : i + block_size]).digest() for i in range(0, len(view), block_size))


# -- download -----------------------------------------------------------------------------


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    if not header:
        return None
    match = _GET_RANGE.match(header)
    if not match or (not match.group(1) and not match.group(2)):
        raise BlobHttpError(416, StatusCode.BAD_HTTP, f"unsupported range {header!r}")
    if match.group(1):
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else size - 1
    else:
        first, last = max(size - int(match.group(2)), 0), size - 1
    last = min(last, size - 1)
    if first >= size or last < first:
        raise BlobHttpError(416, StatusCode.BAD_HTTP, f"range {header!r} is outside the blob of {size} bytes")
    return first, last


async def download(platform: Platform, request: Request) -> Response:
    try:
        token = request.query_params.get(BLOB_TOKEN_PARAM, "")
        try:
            upload_claims = tokens.check(platform.key, token, "w")
        except tokens.TokenError:
            upload_claims = None
        if upload_claims is not None:  # progress of an upload, for resuming
            with platform.store.read() as tx:
                row = tx.blobs.get(upload_claims.blob_id)
            if row is None:
                raise BlobHttpError(404, StatusCode.INVALID_BLOB_REF_URL, "no upload for this URL")
            return Response(b"", headers={BLOB_RECEIVED_HEADER: str(row.received), BLOB_STATE_HEADER: row.state})
        claims = _token(platform, request, "r")
        with platform.store.read() as tx:
            row = tx.blobs.get(claims.blob_id)
            content_type = tx.blobs.content_type(claims.blob_id)
            held = row is not None and tx.blobs.downloadable(row.blob_id, claims.record_id)
        if row is None or row.record_id != claims.record_id or row.state != COMMITTED or not held:
            raise BlobHttpError(404, StatusCode.INVALID_BLOB_REF_URL, "no such blob (or its thing was removed)")
        size = platform.files.size(row.blob_id)
        wanted = _range(request.headers.get("range") or request.headers.get("content-range"), size)
        headers = {
            "Accept-Ranges": "bytes",
            "ETag": f'"{row.hash}"',
            BLOB_HASH_HEADER: row.hash or "",
            "Cache-Control": "private, max-age=0",
            **ATTACHMENT,
        }
        media = content_type or "application/octet-stream"
        if wanted is None:
            first, length, status = 0, size, 200
        else:
            first, last = wanted
            length, status = last - first + 1, 206
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        headers["Content-Length"] = str(length)
        if request.method == "HEAD":
            return Response(b"", status_code=status, headers=headers, media_type=media)
        pieces = platform.files.read(row.blob_id, first, length)
        return StreamingResponse(pieces, status_code=status, headers=headers, media_type=media)
    except HealthVaultStatusError as exc:
        return _error(exc)
    except OSError as exc:
        return _internal(exc, "reading a blob")
