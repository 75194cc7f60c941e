"""Blobs of things: BeginPutBlob, attaching blobs at PutThings, listing them at GetThings."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from lxml import etree

from healthvault import blobhash, crypto
from healthvault.protocol import blob_token
from healthvault.schema import BeginPutBlobResult, BlobHashAlgorithmParameters, BlobPayload, BlobPayloadItem
from healthvault.status import StatusCode

from .. import tokens
from ..context import Actor, Context, Platform
from ..errors import PlatformError
from ..store import Transaction
from ..store.rows import COMMITTED, COMPLETE, RECORD_BLOB, UPLOADING, BlobRef, BlobRow
from ..thingxml import element


def token_of(url: str) -> str:
    """The blob token carried by a blob URL."""
    token = blob_token(url)
    if not token:
        raise PlatformError(StatusCode.INVALID_BLOB_REF_URL, f"{url!r} is not a blob URL of this platform")
    return token


def begin_upload(
    platform: Platform,
    tx: Transaction,
    record_id: str | None,
    *,
    kind: str = RECORD_BLOB,
    chunk_size: int | None = None,
) -> str:
    """Register a new upload with empty bytes; returns its blob id.

    Connect-package blobs (``kind="package"``) belong to no record and
    arrive encrypted, in chunks of ``chunk_size``.
    """
    config = platform.config
    blob_id = str(uuid.uuid4())
    files_state = platform.files.create(blob_id)
    now = time.time()
    tx.blobs.add(
        BlobRow(
            blob_id=blob_id,
            record_id=record_id,
            kind=kind,
            chunk_size=chunk_size or config.chunk_size,
            state=UPLOADING,
            received=0,
            total=None,
            last_range=None,
            block_size=config.block_size,
            block_digests=b"",
            hash=None,
            created=now,
            expires=now + config.blob_write_ttl,
            files_state=files_state,
        )
    )
    return blob_id


def complete_row(platform: Platform, record_id: str, blob_id: str, size: int, digest: str) -> BlobRow:
    """The row of a complete blob of ``record_id`` whose bytes are stored."""
    config = platform.config
    now = time.time()
    return BlobRow(
        blob_id=blob_id,
        record_id=record_id,
        kind=RECORD_BLOB,
        chunk_size=None,
        state=COMPLETE,
        received=size,
        total=size,
        last_range=None,
        block_size=config.block_size,
        block_digests=b"",
        hash=digest,
        created=now,
        expires=now + config.blob_write_ttl,
    )


def inline_row(platform: Platform, record_id: str, data: bytes) -> BlobRow:
    """Write an inline blob's bytes as a complete blob; returns its row, for
    the transaction that keeps the thing to add (bytes are written first:
    without the row, the sweeper removes them)."""
    blob_id = str(uuid.uuid4())
    platform.files.put(blob_id, [data])
    return complete_row(platform, record_id, blob_id, len(data), blobhash.hash_bytes(data, platform.config.block_size))


def begin_put_blob(ctx: Context) -> BeginPutBlobResult:
    with ctx.store.write() as tx:
        blob_id = begin_upload(ctx.platform, tx, ctx.record_id)
    token = tokens.issue(ctx.key, "w", ctx.record_id, blob_id, ctx.config.blob_write_ttl)
    return BeginPutBlobResult(
        blob_ref_url=ctx.blob_url(token),
        blob_chunk_size=ctx.config.chunk_size,
        max_blob_size=ctx.config.max_blob_size,
        blob_hash_algorithm=blobhash.ALGORITHM,
        blob_hash_parameters=BlobHashAlgorithmParameters(block_size=ctx.config.block_size),
    )


def _check_hash(item: BlobPayloadItem, stored_hash: str | None, block_size: int) -> None:
    info = item.blob_info.hash_info
    if info is None:
        return
    if (info.algorithm or "").strip() != blobhash.ALGORITHM:
        raise PlatformError(
            StatusCode.INVALID_BLOB_HASH_ALGORITHM, f"blob {item.blob_info.name!r}: hash algorithm must be SHA256Block"
        )
    claimed_block = int(info.params.block_size) if info.params and info.params.block_size else block_size
    if claimed_block != block_size:
        raise PlatformError(
            StatusCode.BLOB_HASH_BLOCK_SIZE_MISMATCH,
            f"blob {item.blob_info.name!r}: block size {claimed_block} differs from the blob's {block_size}",
        )
    if (info.hash or "").strip() != stored_hash:
        raise PlatformError(
            StatusCode.INVALID_BLOB_HASH, f"blob {item.blob_info.name!r}: hash does not match the blob's bytes"
        )


def attach_payload(
    ctx: Actor,
    tx: Transaction,
    payload: BlobPayload | None,
    previous: dict[str, BlobRef],
    inline: dict[int, BlobRow],
    *,
    add_rows: bool = True,
) -> list[BlobRef]:
    """The blobs of a new thing version: the previous version's, changed by
    the payload (added, replaced, or removed by a content-length of 0).
    ``inline`` holds the rows of the payload's inline blobs (by position),
    written beforehand with :func:`prepare_inline`; they are added to the
    store unless ``add_rows`` is False (a check ahead of the write)."""
    blobs = dict(previous)
    seen: set[str] = set()
    for index, item in enumerate(payload.blob if payload is not None else []):
        name = item.blob_info.name or ""
        if name in seen:
            raise PlatformError(StatusCode.DUPLICATE_BLOB, f"blob {name!r} appears twice")
        seen.add(name)
        if item.base64data is None and item.blob_ref_url is None and item.content_length == 0:
            blobs.pop(name, None)
            continue
        content_type = item.blob_info.content_type or ""
        if item.base64data is not None:
            row = inline[index]
            if add_rows:
                tx.blobs.add(row)
            blobs[name] = BlobRef(name, content_type, row.blob_id)
        elif item.blob_ref_url is not None:
            blob_id = _streamed_blob(ctx, tx, item, previous.get(name))
            blobs[name] = BlobRef(name, content_type, blob_id)
        elif name in blobs:
            blobs[name] = BlobRef(name, content_type, blobs[name].blob_id)
        else:
            raise PlatformError(StatusCode.INVALID_XML, f"blob {name!r} has neither data nor a blob URL")
    names_of: dict[str, str] = {}
    for ref in blobs.values():
        other = names_of.setdefault(ref.blob_id, ref.name)
        if other != ref.name:
            raise PlatformError(
                StatusCode.DUPLICATE_BLOB, f"one blob is named both {other!r} and {ref.name!r}; a blob has one name"
            )
    return list(blobs.values())


def prepare_inline(ctx: Actor, payload: BlobPayload | None) -> dict[int, BlobRow]:
    """Check and write the payload's inline blobs (outside any transaction);
    their rows by position in the payload.

    Every blob is checked before any is written; the writes (each made
    durable before the thing can be acknowledged) run side by side, since a
    study carries hundreds of inline previews and each waits on the disk."""
    checked = {
        index: _inline_bytes(ctx, item)
        for index, item in enumerate(payload.blob if payload is not None else [])
        if item.base64data is not None
    }
    platform, record_id = ctx.platform, ctx.record_id

    def write(data: bytes) -> BlobRow:
        return inline_row(platform, record_id, data)

    if len(checked) < 2:
        return {index: write(data) for index, data in checked.items()}
    return dict(zip(checked, _INLINE_WRITERS.map(write, checked.values()), strict=True))


#: Threads that write the inline blobs of one PutThings side by side.
_INLINE_WRITERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="inline-blobs")


def _inline_bytes(ctx: Actor, item: BlobPayloadItem) -> bytes:
    """An inline blob's bytes, checked against the size limit and its hash."""
    name = item.blob_info.name or ""
    try:
        data = crypto.b64decode(item.base64data or "")
    except ValueError:
        raise PlatformError(StatusCode.INVALID_XML, f"blob {name!r}: base64data is not base64") from None
    limit = ctx.config.inline_blob_limit
    if len(data) > limit:
        raise PlatformError(
            StatusCode.REQUEST_TOO_LONG,
            f"blob {name!r}: {len(data)} bytes inline, over the {limit}-byte limit; stream it",
        )
    block = ctx.config.block_size
    info = item.blob_info.hash_info
    if info is not None and info.params is not None and info.params.block_size:
        block = int(info.params.block_size)
    _check_hash(item, blobhash.hash_bytes(data, block), block)
    return data


def _streamed_blob(ctx: Actor, tx: Transaction, item: BlobPayloadItem, previous: BlobRef | None) -> str:
    name = item.blob_info.name or ""
    token = token_of(item.blob_ref_url or "")
    claims = None
    for kind in ("w", "r"):
        try:
            claims = tokens.check(ctx.key, token, kind)
            break
        except tokens.TokenError as exc:
            if exc.expired:
                raise PlatformError(StatusCode.INVALID_BLOB_REF_URL, f"blob {name!r}: {exc}") from None
    if claims is None:
        raise PlatformError(StatusCode.INVALID_BLOB_REF_URL, f"blob {name!r}: the blob URL is not valid here")
    if claims.record_id != ctx.record_id:
        raise PlatformError(StatusCode.ACCESS_DENIED, f"blob {name!r} belongs to another record")
    row = tx.blobs.get(claims.blob_id)
    if row is None:
        raise PlatformError(StatusCode.INVALID_BLOB_REF_URL, f"blob {name!r} no longer exists")
    kept = previous is not None and previous.blob_id == row.blob_id
    if claims.kind == "r" and not kept:
        raise PlatformError(
            StatusCode.INVALID_BLOB_REF_URL, f"blob {name!r}: a download URL can only keep a blob the thing already has"
        )
    if row.state == UPLOADING:
        raise PlatformError(StatusCode.BLOB_TOKEN_NOT_COMPLETED, f"blob {name!r}: the upload was never completed")
    if row.state == COMMITTED and not kept:
        raise PlatformError(StatusCode.BLOB_TOKEN_COMMITTED, f"blob {name!r} is already part of another thing")
    _check_hash(item, row.hash, row.block_size)
    if item.content_length is not None and item.content_length != row.received:
        raise PlatformError(
            StatusCode.INVALID_XML,
            f"blob {name!r}: content-length {item.content_length} but {row.received} bytes were uploaded",
        )
    return row.blob_id


def payload_for(
    ctx: Context,
    tx: Transaction,
    version_stamp: str,
    fmt: str,
    names: set[str] | None,
    grow: Callable[[int], None] | None = None,
) -> etree._Element:
    """The blob-payload element of a stored version, in the requested format;
    ``grow`` is told the bytes each blob adds to the response (before inline
    bytes are read)."""
    payload = element("blob-payload")
    for stored in tx.things.version_blobs(version_stamp):
        if names is not None and stored.name not in names:
            continue
        row = stored.blob
        blob = element("blob")
        info = element("blob-info")
        info.append(element("name", stored.name))
        info.append(element("content-type", stored.content_type))
        hash_info = element("hash-info")
        hash_info.append(element("algorithm", blobhash.ALGORITHM))
        params = element("params")
        params.append(element("block-size", str(row.block_size)))
        hash_info.append(params)
        hash_info.append(element("hash", row.hash))
        info.append(hash_info)
        blob.append(info)
        blob.append(element("content-length", str(row.received)))
        if grow is not None:
            grow(600)
        if fmt == "streamed":
            token = tokens.issue(ctx.key, "r", ctx.record_id, row.blob_id, ctx.config.blob_read_ttl)
            blob.append(element("blob-ref-url", ctx.blob_url(token)))
        elif fmt == "inline":
            if row.received > ctx.config.inline_blob_limit:
                raise PlatformError(
                    StatusCode.BLOB_SIZE_TOO_LARGE_FOR_INLINE,
                    f"blob {stored.name!r} is {row.received} bytes, over the inline limit of {ctx.config.inline_blob_limit}",
                )
            if grow is not None:
                grow(row.received * 4 // 3 + 4)
            if row.received:
                blob.append(element("base64data", crypto.b64encode(ctx.files.read_all(row.blob_id))))
        payload.append(blob)
    return payload


def data_other(
    ctx: Context, tx: Transaction, version_stamp: str, grow: Callable[[int], None] | None = None
) -> etree._Element | None:
    """The ``data-other`` of the original thing format: the version's default
    blob (the one named ""), inline in base64, or None when it has none.

    Raises:
        PlatformError: CANNOT_GET_STREAMED_OTHER_DATA for a default blob
            over the inline limit.
    """
    for stored in tx.things.version_blobs(version_stamp):
        if stored.name:
            continue
        row = stored.blob
        if row.received > ctx.config.inline_blob_limit:
            raise PlatformError(
                StatusCode.CANNOT_GET_STREAMED_OTHER_DATA,
                f"the default blob is {row.received} bytes, over the inline limit of {ctx.config.inline_blob_limit}: "
                "read it with GetThings version 3 (blobpayload)",
            )
        if grow is not None:
            grow(row.received * 4 // 3 + 100)
        data = ctx.files.read_all(row.blob_id) if row.received else b""
        return element(
            "data-other", crypto.b64encode(data), content_type=stored.content_type, content_encoding="base64"
        )
    return None
