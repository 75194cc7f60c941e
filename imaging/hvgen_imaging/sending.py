"""Sending a study: its blobs (resumable, through the upload journal), then
the thing, signed again or with its signature dropped.

:class:`BlobSender` sends the blobs a study lacks: each finished streamed
blob is written to the journal (small previews travel inline in the thing
and are not), and the blob that was being sent when an upload
stopped carries on from what the platform acknowledged. :func:`put_study`
writes the thing and clears the journal.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from healthvault import blobs as hvblobs
from healthvault import codec, signing, status
from healthvault.bindings.thing import BlobPayloadItem, Thing2
from healthvault.client import HealthVaultClient

from .journal import Journal
from .results import StudyError
from .study import DICOM_TYPE, PREVIEW_TYPE

#: Called with (bytes done, total bytes or None) as a transfer progresses.
Progress = Callable[[int, "int | None"], None]


@dataclass
class Signer:
    """Who signs a study: an RSA key, its certificate and the algorithm tag."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate
    algorithm: str = "rsa-sha1"


@dataclass
class SentBlobs:
    """What :meth:`BlobSender.send` did."""

    items: list[BlobPayloadItem] = field(default_factory=list)
    uploaded: int = 0  # blobs sent in this run
    resumed: int = 0  # blobs an earlier run had finished (from the journal)
    size: int = 0  # bytes of all the blobs asked for


class BlobSender:
    """Sends blobs of one study, recording each streamed one in ``journal``.

    ``report`` is called with (bytes done, total bytes) over all the blobs
    of one :meth:`send`.
    """

    def __init__(self, client: HealthVaultClient, journal: Journal, report: Callable[[int, int], None]) -> None:
        self.client = client
        self.journal = journal
        self.report = report

    def send(self, missing: dict[str, tuple[str, Any]]) -> SentBlobs:
        """Send each blob of ``missing`` (name -> ("file", path) or
        ("preview", preview)), in name order; blobs the journal lists as
        finished are not sent again."""
        total = sum(source.stat().st_size if kind == "file" else len(source.data) for kind, source in missing.values())
        sent = SentBlobs()
        for name, (kind, source) in sorted(missing.items()):
            size = source.stat().st_size if kind == "file" else len(source.data)
            item = self.journal.item(name)
            if item is not None:
                sent.resumed += 1
            else:
                base = sent.size

                def progress(done: int, _total: int | None, base: int = base) -> None:
                    self.report(base + done, total)

                item = self._send_one(name, kind, source, progress)
                sent.uploaded += 1
            sent.items.append(item)
            sent.size += size
            self.report(sent.size, total)
        return sent

    def _send_one(self, name: str, kind: str, source: Any, progress: Progress) -> BlobPayloadItem:
        content_type = DICOM_TYPE if kind == "file" else PREVIEW_TYPE
        limit = self.client.config_int("maxInlineBlobSizeBytes", 0)
        if kind == "preview" and len(source.data) <= limit:
            # Not journaled: it travels in the thing itself, and is made
            # again at no cost by an upload that resumes.
            return hvblobs.inline_item(name, content_type, source.data)
        item: BlobPayloadItem | None = None
        pending = self.journal.pending
        if kind == "file" and pending and pending.get("name") == name:
            item = self._resume(name, content_type, source, pending, progress)
        if item is None:
            upload = hvblobs.BlobUpload(self.client, name, content_type, progress=progress)
            upload.begin()
            self.journal.start(
                {
                    "name": name,
                    "url": upload.url,
                    "chunk": upload.chunk_size,
                    "max": upload.max_size,
                    "block": upload.block_size,
                }
            )
            item = upload.send(source if kind == "file" else io.BytesIO(source.data))
        self.journal.finished(name, item)
        return item

    def _resume(
        self, name: str, content_type: str, source: Path, pending: dict[str, Any], progress: Progress
    ) -> BlobPayloadItem | None:
        """Carry on the blob the journal says was being sent; None when its
        upload URL is no longer usable (the blob is then sent afresh)."""
        upload = hvblobs.BlobUpload(self.client, name, content_type, progress=progress)
        upload.url, upload.chunk_size, upload.max_size, upload.block_size = (
            pending["url"],
            pending["chunk"],
            pending["max"],
            pending["block"],
        )
        upload.total = source.stat().st_size
        try:
            return upload.resume(source)
        except hvblobs.BlobUploadInterrupted:
            raise
        except hvblobs.HealthVaultBlobError:
            return None


def put_study(
    client: HealthVaultClient,
    thing: Thing2,
    signer: Signer | None,
    files: dict[str, Any],
    journal: Journal | None,
    new: frozenset[str] = frozenset(),
) -> Thing2:
    """Sign ``thing`` (or drop its signature) and write it; blobs it already
    had (all but ``new``) are named, not sent again. ``files`` holds the
    bytes of the blobs (path or bytes by name) for the signature."""
    for b in thing.blob_payload.blob if thing.blob_payload else []:
        if b.content_length != 0 and b.blob_info.name not in new:
            b.blob_ref_url = None
            b.base64data = None
    thing.signature_info = None
    if signer is not None:
        thing = codec.read_thing(signing.sign(thing, signer.key, signer.cert, blobs=files, algorithm=signer.algorithm))
    try:
        key = client.put_thing(thing)
    except (status.InvalidBlobRefUrl, status.BlobTokenNotCompleted) as exc:
        if journal is None:
            raise
        journal.clear()
        raise StudyError(f"{exc.message}; the upload journal was reset, run the upload again") from None
    if journal is not None:
        journal.clear()
    thing.thing_id = key
    return thing
