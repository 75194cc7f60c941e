"""WADO-RS (PS3.18 10.4): studies, series and instances as stored, their
metadata, and rendered images.

Instances are sent as ``multipart/related; type="application/dicom"``, each
part the bytes that were uploaded, streamed from the blob store, or, when
the client asks for another transfer syntax, transcoded (:mod:`.transcode`:
to any uncompressed syntax; 406 only for a compressed syntax the instance is
not stored in). Without a ``transfer-syntax`` parameter the syntax is
Explicit VR Little Endian, as PS3.18 has it since 2017 (instances pydicom
cannot decode then go as stored); ``transfer-syntax=*`` is "as stored". Metadata: :mod:`.bulkdata`; frames: :mod:`.frames`.
A rendered instance is its stored preview (JPEG, or PNG converted from it),
or, when it has none, rendered on the spot as previews are.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PIL import Image

from hvgen_imaging.budget import OverBudget
from hvgen_imaging.export import ZipEntry
from hvgen_imaging.frames import FrameError
from hvgen_imaging.preview import describe, make_preview

from .. import appview
from ..context import Platform
from ..store.rows import INSTANCE, DicomInstance, DicomMatch, DicomQuery
from . import transcode
from .index import open_blob
from .media import DICOM, MULTIPART, DicomWebError, accepted, matches, not_acceptable

#: Bytes of a multipart answer handed to the server at a time.
PIECE = 1024 * 1024
#: Transfer syntax of ``application/dicom`` when the client names none (PS3.18 8.7.3.5.2).
DEFAULT_SYNTAX = "1.2.840.10008.1.2.1"
#: Largest instance fetched ahead whole from a blob store that reads ahead
#: (:attr:`~..store.files.BlobFiles.read_ahead`); larger ones are read in turn,
#: piece by piece. An answer holds at most ``read_ahead + 1`` such instances.
AHEAD_BYTES = 4 * 1024 * 1024
#: Threads fetching instances ahead, for all answers at once.
_FETCHERS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="wado-read-ahead")


def instances(
    platform: Platform,
    record_id: str,
    study: str,
    series: str | None = None,
    sop: str | None = None,
    *,
    metadata: bool = False,
) -> list[DicomInstance]:
    """The instances of a study (series, instance) in the record, with their
    stored metadata if ``metadata``; 404 if there are none."""
    matches_: list[DicomMatch] = [DicomMatch("study_uid", "uids", (study,))]
    if series is not None:
        matches_.append(DicomMatch("series_uid", "uids", (series,)))
    if sop is not None:
        matches_.append(DicomMatch("sop_uid", "uids", (sop,)))
    with platform.store.read() as tx:
        hits = tx.dicom.search(
            record_id, appview.dicom_for_applications(DicomQuery(INSTANCE, tuple(matches_), metadata=metadata))
        )
    if not hits:
        what = f"instance {sop}" if sop else f"series {series}" if series else f"study {study}"
        raise DicomWebError(404, f"no {what} in the record" + (f" (study {study})" if series or sop else ""))
    return [h.instance for h in hits]


def dicom_media(accept: str | None, found: list[DicomInstance]) -> tuple[bool, str | None]:
    """Whether the answer is multipart (else a single ``application/dicom``), and the
    transfer syntax to transcode to (None: as stored); 406 if the client accepts
    neither, or a transfer syntax the instances cannot be sent in."""
    refused: list[str] = []
    for media in accepted(accept):
        if media.media_type == MULTIPART:
            inner = media.params.get("type", DICOM).lower()
            if inner not in (DICOM, "application/*", "*/*"):
                continue
            multipart = True
        elif matches(media, DICOM) and len(found) == 1 and media.media_type != "*/*":
            multipart = False
        elif media.media_type == "*/*":
            multipart = True
        else:
            continue
        syntax = media.params.get("transfer-syntax", "")
        if not syntax:  # the default: explicit VR little endian, where the instances can be decoded
            if all(transcode.can_send(i.transfer_syntax or DEFAULT_SYNTAX, DEFAULT_SYNTAX) for i in found):
                syntax = DEFAULT_SYNTAX
            else:
                syntax = "*"
        if syntax == "*" or all((i.transfer_syntax or DEFAULT_SYNTAX) == syntax for i in found):
            return multipart, None
        if all(transcode.can_send(i.transfer_syntax or DEFAULT_SYNTAX, syntax) for i in found):
            return multipart, syntax
        refused.append(syntax)
    if refused:
        stored = sorted({i.transfer_syntax for i in found})
        raise DicomWebError(
            406,
            f"instances stored in transfer syntax {', '.join(stored)} cannot be sent in {', '.join(refused)}: "
            "they are sent as stored or in an uncompressed syntax (1.2.840.10008.1.2.1, 1.2.840.10008.1.2, "
            "1.2.840.10008.1.2.2); ask with transfer-syntax=* to get them as stored",
        )
    raise not_acceptable(accept, [f'{MULTIPART}; type="{DICOM}"', f"{DICOM} (one instance)"])


def check_transcoding(platform: Platform, found: list[DicomInstance], target: str) -> None:
    """406 (before the answer starts) when an instance cannot be transcoded to ``target``."""
    for instance in found:
        if instance.transfer_syntax == target:
            continue
        try:
            transcode.check(platform, instance, target)
        except FrameError as exc:
            raise DicomWebError(406, f"instance {instance.sop_uid} cannot be sent in {target}: {exc}") from None


def stored_bytes(platform: Platform, found: list[DicomInstance]) -> Generator[Iterable[bytes], None, None]:
    """The stored bytes of each instance in turn (as pieces). From a blob store where
    each read waits for a round trip, the next :attr:`~..store.files.BlobFiles.read_ahead`
    instances of up to :data:`AHEAD_BYTES` are fetched meanwhile, each whole."""
    files = platform.files

    def fetch(instance: DicomInstance) -> bytes:
        return b"".join(files.read(instance.blob_id, 0, instance.size, piece=PIECE))

    fetching: dict[int, Future[bytes]] = {}
    try:
        for n, instance in enumerate(found):
            for m in range(n, min(len(found), n + files.read_ahead + 1)) if files.read_ahead else ():
                if m not in fetching and found[m].size <= AHEAD_BYTES:
                    fetching[m] = _FETCHERS.submit(fetch, found[m])
            ready = fetching.pop(n, None)
            # the size is known: no need for the store to look it up before reading
            yield (ready.result(),) if ready is not None else files.read(instance.blob_id, 0, instance.size, PIECE)
    finally:  # a client gone: what was not started is not fetched
        for future in fetching.values():
            future.cancel()


def multipart(
    platform: Platform, found: list[DicomInstance], boundary: str, target: str | None = None
) -> Generator[bytes, None, None]:
    """The instances as the parts of a multipart/related body, in pieces of about
    :data:`PIECE` bytes (each piece is a hop between the server's threads);
    transcoded to ``target`` unless it is None."""
    buffer = bytearray()
    as_stored = target is None or all((i.transfer_syntax or DEFAULT_SYNTAX) == target for i in found)
    stored = stored_bytes(platform, found) if as_stored else None
    try:
        for instance in found:
            syntax = instance.transfer_syntax or DEFAULT_SYNTAX
            pieces: Iterable[bytes]
            if target is None or target == syntax:
                head = f"Content-Type: {DICOM}; transfer-syntax={syntax}\r\nContent-Length: {instance.size}\r\n"
                pieces = next(stored) if stored is not None else platform.files.read(instance.blob_id, 0, instance.size)
            else:
                head = f"Content-Type: {DICOM}; transfer-syntax={target}\r\n"
                pieces = transcode.transcoded(platform, instance, target)
            buffer += f"--{boundary}\r\n{head}Content-Location: {instance.sop_uid}\r\n\r\n".encode("ascii")
            for piece in pieces:
                if not buffer and len(piece) >= PIECE:
                    yield piece
                    continue
                buffer += piece
                if len(buffer) >= PIECE:
                    yield bytes(buffer)
                    buffer.clear()
            buffer += b"\r\n"
    finally:
        if stored is not None:
            stored.close()
    buffer += f"--{boundary}--\r\n".encode("ascii")
    yield bytes(buffer)


def zip_entries(platform: Platform, found: list[DicomInstance], *, previews: bool = False) -> list[ZipEntry]:
    """The instances as entries of :func:`hvgen_imaging.export.write_zip` (``<study>/<series>/<sop>.dcm``,
    and their previews): a study's zip download, optionally de-identified, read from the blob store."""

    def chunks(blob_id: str) -> Any:
        return lambda: platform.files.read(blob_id)

    entries = []
    for i in found:
        entries.append(ZipEntry((i.study_uid, i.series_uid, i.sop_uid), ".dcm", chunks(i.blob_id)))
        if previews and i.preview_blob_id:
            parts = (i.study_uid, i.series_uid, i.sop_uid + "_preview")
            entries.append(ZipEntry(parts, ".jpg", chunks(i.preview_blob_id), dicom=False))
    return entries


def new_boundary() -> str:
    return uuid.uuid4().hex


def rendered(platform: Platform, instance: DicomInstance, accept: str | None) -> tuple[bytes, str]:
    """The instance as an image the client accepts: its preview (JPEG), as PNG when asked."""
    offered = ["image/jpeg", "image/png"]
    wanted = next((o for media in accepted(accept) for o in offered if matches(media, o)), None)
    if wanted is None:
        raise not_acceptable(accept, offered)
    if instance.preview_blob_id is not None:
        jpeg = b"".join(platform.files.read(instance.preview_blob_id))
    else:
        jpeg = _render(platform, instance)
    if wanted == "image/jpeg":
        return jpeg, wanted
    out = io.BytesIO()
    with Image.open(io.BytesIO(jpeg)) as image:
        image.save(out, "PNG")
    return out.getvalue(), wanted


def _render(platform: Platform, instance: DicomInstance) -> bytes:
    try:
        with open_blob(platform.files, instance.blob_id) as f:
            data = make_preview(f, instance.sop_uid).data
    except OverBudget as exc:
        raise DicomWebError(503, str(exc), {"Retry-After": "30"}) from None
    except Exception as exc:
        raise DicomWebError(422, f"instance {instance.sop_uid} cannot be rendered: {describe(exc)}") from None
    return data
