"""Local files to the platform and back.

:func:`put_file` stores a file as a ``file`` thing whose default blob holds
its bytes (streamed, constant memory) and returns the new thing's key and a
download URL. :func:`find_blob` resolves what a user names, a blob URL or a
thing id, to a blob; :func:`fetch_blob` downloads it to a file (or a byte
range of it), checking a full download against the blob's hash.
"""

from __future__ import annotations

import mimetypes
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import blobs
from .blobnames import blob_names
from .blobs import HealthVaultBlobError, Progress, ThingBlobs
from .schema import BlobPayload, DataXml, Thing2, ThingType
from .weburl import InvalidURLError, url_problem

try:  # the file thing type, when the schema set has it
    from .schema import CodableValue, File
except ImportError:  # pragma: no cover - depends on the schema set
    CodableValue = File = None  # type: ignore[assignment,misc]

if TYPE_CHECKING:
    from .client import HealthVaultClient

#: The classes this module takes from the schema set (see ``hvgen generate``).
SCHEMA_CLASSES = {
    "BlobPayload": "{urn:com.microsoft.wc.thing}BlobPayload",
    "Thing2": "{urn:com.microsoft.wc.thing}Thing2",
    "DataXml": "{urn:com.microsoft.wc.thing}DataXml",
    "ThingType": "{urn:com.microsoft.wc.thing}ThingType",
}
OPTIONAL_SCHEMA_CLASSES = {
    "File": "{urn:com.microsoft.wc.thing.file}file",
    "CodableValue": "{urn:com.microsoft.wc.thing.types}codable-value",
}

ByteRange = tuple[int, int | None]


class NoSuchThing(HealthVaultBlobError):
    """A thing id names no thing the application may read."""


@dataclass(frozen=True)
class StoredFile:
    """A file stored as a ``file`` thing (see :func:`put_file`)."""

    thing_id: str
    version_stamp: str
    #: Download URL of the default blob; it expires (the thing id does not).
    url: str
    size: int
    name: str
    content_type: str


@dataclass
class BlobSource:
    """A blob to download: named by a blob URL, or a thing id and blob name."""

    url: str | None
    thing_id: str | None = None
    name: str = ""
    #: Size in bytes, when the thing says.
    size: int | None = None
    #: SHA256Block hash (base64) from the blob's hash-info, when known.
    hash: str | None = None
    store: ThingBlobs | None = field(default=None, repr=False)


@dataclass(frozen=True)
class BlobDownload:
    """What :func:`fetch_blob` wrote."""

    path: Path
    bytes_written: int
    #: Whether the bytes were checked against the blob's hash-info.
    hash_checked: bool
    byte_range: ByteRange | None = None


def file_thing(name: str, size: int, content_type: str) -> Thing2:
    """A new ``file`` thing describing a file of ``size`` bytes."""
    if File is None or CodableValue is None:
        raise HealthVaultBlobError("the schema set of this package has no file thing type")
    return Thing2(
        type_id=ThingType(value=str(File.TYPE_ID)),
        data_xml=[
            DataXml(
                any_element=File(
                    name=name,
                    size=max(size, 1),  # the schema wants a positive size
                    content_type=CodableValue(text=content_type),
                )
            )
        ],
    )


def put_file(
    client: HealthVaultClient,
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    content_type: str | None = None,
    record_id: str | None = None,
    progress: Progress | None = None,
) -> StoredFile:
    """Store the file at ``path`` as a ``file`` thing; its bytes become the default blob.

    ``name`` defaults to the file's name, ``content_type`` to a guess from
    the name (``application/octet-stream`` when there is none).
    """
    path = Path(path)
    name = name or path.name
    content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    size = path.stat().st_size
    store = client.blobs(file_thing(name, size, content_type), record_id=record_id, progress=progress)
    if size:
        store.write("", path, content_type)
    else:  # an inline blob of length 0 would read as removing the blob: stream it
        item = blobs.BlobUpload(client, "", content_type, record_id=record_id).send(path)
        store.thing.blob_payload = BlobPayload(blob=[item])
    key = store.commit()
    return StoredFile(key.value, key.version_stamp, store.url(""), size, name, content_type)


def is_thing_id(source: str) -> bool:
    try:
        uuid.UUID(source)
    except ValueError:
        return False
    return True


def find_blob(
    client: HealthVaultClient | None, source: str, name: str = "", *, record_id: str | None = None
) -> BlobSource:
    """The blob ``source`` names: a thing id (its blob ``name``, by default
    the default blob) or else a blob URL.

    A thing id is looked up (through ``client``), so the URL is fresh and the
    size and hash are known. Anything else must be a usable URL (no client
    needed): otherwise
    :class:`weburl.InvalidURLError` says why, before anything is sent.
    """
    if not is_thing_id(source):
        problem = url_problem(source)
        if problem is not None:
            raise InvalidURLError(
                f"{source!r} is neither a thing id (a GUID) nor a blob URL: {problem}", source, problem
            )
        return BlobSource(url=source.strip())
    if client is None:
        raise ValueError("looking up a thing id needs a client")
    thing = client.get_thing(source, record_id=record_id, sections=("core",), blob_payload=True)
    if thing is None:
        raise NoSuchThing(f"no thing {source}")
    store: ThingBlobs = client.blobs(thing, record_id=record_id)
    try:
        item = store.item(name)
    except KeyError:
        names = [b.name or "" for b in store.list()]
        what = "no default blob" if name == "" else f"no blob named {name!r}"
        raise HealthVaultBlobError(f"thing {source} has {what}; its blobs: {blob_names(names)}") from None
    info = item.blob_info.hash_info
    return BlobSource(
        url=str(item.blob_ref_url) if item.blob_ref_url else None,
        thing_id=source,
        name=name,
        size=item.content_length,
        hash=info.hash if info is not None else None,
        store=store,
    )


def fetch_blob(
    client: HealthVaultClient,
    source: BlobSource,
    dest: str | os.PathLike[str],
    *,
    byte_range: ByteRange | None = None,
    progress: Progress | None = None,
) -> BlobDownload:
    """Download ``source`` (or bytes FIRST-LAST of it, inclusive) to ``dest``.

    A full download of a thing's blob is checked against its hash-info (on a
    mismatch :class:`healthvault.blobs.BlobHashMismatch` is raised); a bare
    URL carries no hash to check against. ``dest`` is written only when the
    download succeeds: a failed one leaves no file (or the old one) behind.
    """
    dest = Path(dest)
    if source.store is not None:
        if byte_range is None:
            count = source.store.save(source.name, dest, progress=progress)
            return BlobDownload(dest, count, source.hash is not None)
        with blobs.replacing(dest) as f:
            count = sum(f.write(piece) for piece in source.store.open(source.name, byte_range))
        return BlobDownload(dest, count, False, byte_range)
    if source.url is None:
        raise HealthVaultBlobError("the blob has neither a URL nor a thing to read it from")
    count = blobs.download(client.http, source.url, dest, byte_range=byte_range, progress=progress)
    return BlobDownload(dest, count, False, byte_range)


def get_blob(
    client: HealthVaultClient,
    source: str,
    dest: str | os.PathLike[str],
    *,
    name: str = "",
    byte_range: ByteRange | None = None,
    progress: Progress | None = None,
) -> BlobDownload:
    """:func:`find_blob` then :func:`fetch_blob`."""
    found = find_blob(client, source, name)
    return fetch_blob(client, found, dest, byte_range=byte_range, progress=progress)
