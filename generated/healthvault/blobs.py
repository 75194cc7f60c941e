"""The blobs of a thing: streamed to and from the platform in constant memory.

:class:`ThingBlobs` is the blob store of one thing: write, read, list,
remove and replace its named blobs, then commit the thing. The transfer
pieces it is built from are re-exported here: :class:`BlobUpload`
(:mod:`.blobupload`), :func:`download` and :func:`open_blob`
(:mod:`.blobio`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from . import blobhash, crypto
from .binding import element_of
from .blobio import (
    COMPLETE_HEADER,
    RECEIVED_HEADER,
    BlobClient,
    BlobHashMismatch,
    BlobTooLarge,
    ChunkReader,
    HealthVaultBlobError,
    Progress,
    Source,
    download,
    open_blob,
    replacing,
    source_length,
)
from .blobupload import BlobUpload, BlobUploadInterrupted, inline_item
from .schema import BlobInfo, BlobPayload, BlobPayloadItem, Thing2, ThingKey

#: The classes this module takes from the schema set (see ``hvgen generate``).
SCHEMA_CLASSES = {
    "BlobPayloadItem": "{urn:com.microsoft.wc.thing}BlobPayloadItem",
    "BlobPayload": "{urn:com.microsoft.wc.thing}BlobPayload",
    "BlobInfo": "{urn:com.microsoft.wc.thing}BlobInfo",
    "Thing2": "{urn:com.microsoft.wc.thing}Thing2",
    "ThingKey": "{urn:com.microsoft.wc.thing}ThingKey",
}

__all__ = [
    "COMPLETE_HEADER",
    "RECEIVED_HEADER",
    "BlobClient",
    "BlobHashMismatch",
    "BlobTooLarge",
    "BlobUpload",
    "BlobUploadInterrupted",
    "BlobWriter",
    "HealthVaultBlobError",
    "Progress",
    "Source",
    "ThingBlobs",
    "download",
    "inline_item",
    "open_blob",
    "replacing",
]


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
    _names: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

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
        payload = self.thing.blob_payload
        if payload is not None:
            # A study has hundreds of blobs: reading every name through its
            # view for each blob asked for cost more than downloading the
            # small ones. Names are indexed once; an index entry is used only
            # while the element it points at still has that name there.
            element = element_of(payload)
            blobs = element.findall("blob")
            index = self._names.get(name)
            if index is None or not _named(blobs, index, name):
                self._names = {}
                for position, blob in enumerate(blobs):
                    self._names.setdefault(blob.findtext("blob-info/name") or "", position)
                index = self._names.get(name)
            if index is not None and _named(blobs, index, name):
                return payload.blob[index]
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
        size = len(source) if isinstance(source, (bytes, bytearray)) else source_length(source)
        if size is not None and size <= self.inline_limit():
            if isinstance(source, (bytes, bytearray)):
                data = bytes(source)
            else:
                reader = ChunkReader(source, size + 1)
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

    def save(
        self, name: str, path: str | os.PathLike[str], progress: Progress | None = None, *, flush_name: bool = True
    ) -> int:
        """Download blob ``name`` to ``path``, checking its hash (on disk when it returns; its
        name in its folder unless ``flush_name`` is False, see :func:`.blobio.replacing`)."""
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
            with replacing(path, flush_name=flush_name) as f:
                f.write(data)
            return len(data)
        return download(
            self.client.http,
            self.url(name),
            path,
            expected_hash=info.hash if info else None,
            block_size=block,
            progress=progress or self.progress,
            flush_name=flush_name,
        )


def _named(blobs: list[Any], index: int, name: str) -> bool:
    """Whether blob element ``index`` of ``blobs`` is named ``name``."""
    return index < len(blobs) and blobs[index].findtext("blob-info/name") == name
