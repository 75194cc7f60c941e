"""Blob payloads of things: attaching blobs at PutThings, listing them at GetThings."""

from __future__ import annotations

import base64
import binascii
import sqlite3
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from lxml import etree

from healthvault import blobhash
from healthvault.bindings.thing import BlobPayload, BlobPayloadItem
from healthvault.status import StatusCode

from . import things as T
from . import tokens
from .protocol import PlatformError

if TYPE_CHECKING:
    from .handlers import BlobRef, Context

BLOB_TOKEN_PARAM = "blob-ref-token"


def token_of(url: str) -> str:
    """The blob token carried by a blob URL."""
    values = parse_qs(urlsplit(url.strip()).query).get(BLOB_TOKEN_PARAM)
    if not values:
        raise PlatformError(StatusCode.INVALID_BLOB_REF_URL, f"{url!r} is not a blob URL of this platform")
    return values[0]


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
    ctx: "Context", db: sqlite3.Connection, payload: BlobPayload | None, previous: dict[str, "BlobRef"]
) -> list["BlobRef"]:
    """The blobs of a new thing version: the previous version's, changed by
    the payload (added, replaced, or removed by a content-length of 0)."""
    from .handlers import BlobRef

    blobs = dict(previous)
    seen: set[str] = set()
    for item in payload.blob if payload is not None else []:
        name = item.blob_info.name or ""
        if name in seen:
            raise PlatformError(StatusCode.DUPLICATE_BLOB, f"blob {name!r} appears twice")
        seen.add(name)
        content_type = item.blob_info.content_type or ""
        if item.base64data is not None:
            try:
                data = base64.b64decode(item.base64data, validate=False)
            except (binascii.Error, ValueError):
                raise PlatformError(StatusCode.INVALID_XML, f"blob {name!r}: base64data is not base64") from None
            if len(data) > ctx.config.inline_blob_limit:
                raise PlatformError(
                    StatusCode.REQUEST_TOO_LONG,
                    f"blob {name!r}: {len(data)} bytes inline, over the {ctx.config.inline_blob_limit}-byte limit; stream it",
                )
            block = ctx.config.block_size
            info = item.blob_info.hash_info
            if info is not None and info.params is not None and info.params.block_size:
                block = int(info.params.block_size)
            blob_id, _ = ctx.blobs.store_inline(db, ctx.record_id, data)
            _check_hash(item, blobhash.hash_bytes(data, block), block)
            blobs[name] = BlobRef(name, content_type, blob_id)
        elif item.blob_ref_url is not None:
            blob_id = _streamed_blob(ctx, db, item, previous.get(name))
            blobs[name] = BlobRef(name, content_type, blob_id)
        elif item.content_length == 0:
            blobs.pop(name, None)
        elif name in blobs:
            blobs[name] = BlobRef(name, content_type, blobs[name].blob_id)
        else:
            raise PlatformError(StatusCode.INVALID_XML, f"blob {name!r} has neither data nor a blob URL")
    return list(blobs.values())


def _streamed_blob(ctx: "Context", db: sqlite3.Connection, item: BlobPayloadItem, previous: "BlobRef | None") -> str:
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
    row = ctx.blobs.row(db, claims.blob_id)
    if row is None:
        raise PlatformError(StatusCode.INVALID_BLOB_REF_URL, f"blob {name!r} no longer exists")
    if claims.kind == "r" and (previous is None or previous.blob_id != row.blob_id):
        raise PlatformError(
            StatusCode.INVALID_BLOB_REF_URL, f"blob {name!r}: a download URL can only keep a blob the thing already has"
        )
    if row.state == "uploading":
        raise PlatformError(StatusCode.BLOB_TOKEN_NOT_COMPLETED, f"blob {name!r}: the upload was never completed")
    if row.state == "committed" and (previous is None or previous.blob_id != row.blob_id):
        raise PlatformError(StatusCode.BLOB_TOKEN_COMMITTED, f"blob {name!r} is already part of another thing")
    _check_hash(item, row.hash, row.block_size)
    if item.content_length is not None and item.content_length != row.received:
        raise PlatformError(
            StatusCode.INVALID_XML, f"blob {name!r}: content-length {item.content_length} but {row.received} bytes were uploaded"
        )
    return row.blob_id


def payload_for(
    ctx: "Context", db: sqlite3.Connection, version_stamp: str, fmt: str, names: set[str] | None
) -> etree._Element:
    """The blob-payload element of a stored version, in the requested format."""
    payload = T.element("blob-payload")
    rows = db.execute(
        "SELECT vb.name, vb.content_type, b.* FROM version_blobs vb JOIN blobs b ON b.blob_id = vb.blob_id "
        "WHERE vb.version_stamp = ? ORDER BY vb.rowid",
        (version_stamp,),
    ).fetchall()
    for row in rows:
        if names is not None and row["name"] not in names:
            continue
        blob = T.element("blob")
        info = T.element("blob-info")
        info.append(T.element("name", row["name"]))
        info.append(T.element("content-type", row["content_type"]))
        hash_info = T.element("hash-info")
        hash_info.append(T.element("algorithm", blobhash.ALGORITHM))
        params = T.element("params")
        params.append(T.element("block-size", str(row["block_size"])))
        hash_info.append(params)
        hash_info.append(T.element("hash", row["hash"]))
        info.append(hash_info)
        blob.append(info)
        blob.append(T.element("content-length", str(row["received"])))
        if fmt == "streamed":
            token = tokens.issue(ctx.key, "r", ctx.record_id, row["blob_id"], ctx.config.blob_read_ttl)
            blob.append(T.element("blob-ref-url", ctx.blob_url(token)))
        elif fmt == "inline":
            if row["received"] > ctx.config.inline_blob_limit:
                raise PlatformError(
                    StatusCode.BLOB_SIZE_TOO_LARGE_FOR_INLINE,
                    f"blob {row['name']!r} is {row['received']} bytes, over the inline limit of {ctx.config.inline_blob_limit}",
                )
            if row["received"]:
                blob.append(T.element("base64data", base64.b64encode(ctx.blobs.read_all(row["blob_id"])).decode("ascii")))
        payload.append(blob)
    return payload


def collect_garbage(db: sqlite3.Connection) -> list[str]:
    """Forget committed blobs that no current thing version refers to.

    Older versions keep their blob names and hashes but lose the bytes.
    Returns the blob ids whose files the caller removes after committing.
    """
    gone = [
        r["blob_id"]
        for r in db.execute(
            "SELECT b.blob_id FROM blobs b WHERE b.state = 'committed' AND b.kind = 'record' AND NOT EXISTS ("
            " SELECT 1 FROM version_blobs vb JOIN things t ON t.version_stamp = vb.version_stamp"
            " WHERE vb.blob_id = b.blob_id)"
        )
    ]
    for blob_id in gone:
        db.execute("DELETE FROM version_blobs WHERE blob_id = ?", (blob_id,))
        db.execute("DELETE FROM blobs WHERE blob_id = ?", (blob_id,))
    return gone

