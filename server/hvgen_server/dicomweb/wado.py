"""WADO-RS (PS3.18 10.4): studies, series and instances as stored, their
metadata, and rendered images.

Instances are sent as ``multipart/related; type="application/dicom"``, each
part the bytes that were uploaded, streamed from the blob store. Nothing is
transcoded: a client that accepts only other transfer syntaxes is answered
406. Metadata is read from each instance's header (up to its pixel data).
A rendered instance is its stored preview (JPEG, or PNG converted from it),
or, when it has none, rendered on the spot as previews are.
"""

from __future__ import annotations

import io
import uuid
import warnings
from collections.abc import Iterator
from typing import Any

from PIL import Image

from hvgen_imaging.budget import OverBudget
from hvgen_imaging.export import ZipEntry
from hvgen_imaging.preview import describe, make_preview

from ..context import Platform
from ..store.rows import INSTANCE, DicomInstance, DicomMatch, DicomQuery
from .index import open_blob, read_header
from .media import DICOM, MULTIPART, DicomWebError, Urls, accepted, matches, not_acceptable

#: Binary values of metadata longer than this are left out of it (they are not bulk data URIs yet).
INLINE_LIMIT = 64 * 1024
#: Bytes of a multipart answer handed to the server at a time.
PIECE = 1024 * 1024
#: Transfer syntax of ``application/dicom`` when the client names none (PS3.18 8.7.3.5.2).
DEFAULT_SYNTAX = "1.2.840.10008.1.2.1"


def instances(
    platform: Platform, record_id: str, study: str, series: str | None = None, sop: str | None = None
) -> list[DicomInstance]:
    """The instances of a study (series, instance) in the record; 404 if there are none."""
    matches_: list[DicomMatch] = [DicomMatch("study_uid", "uids", (study,))]
    if series is not None:
        matches_.append(DicomMatch("series_uid", "uids", (series,)))
    if sop is not None:
        matches_.append(DicomMatch("sop_uid", "uids", (sop,)))
    with platform.store.read() as tx:
        hits = tx.dicom.search(record_id, DicomQuery(INSTANCE, tuple(matches_)))
    if not hits:
        what = f"instance {sop}" if sop else f"series {series}" if series else f"study {study}"
        raise DicomWebError(404, f"no {what} in the record" + (f" (study {study})" if series or sop else ""))
    return [h.instance for h in hits]


def dicom_media(accept: str | None, found: list[DicomInstance]) -> bool:
    """Whether the answer is multipart (else a single ``application/dicom``); 406 if
    the client accepts neither, or no transfer syntax an instance is stored in."""
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
        syntax = media.params.get("transfer-syntax", "*")
        if syntax == "*":
            return multipart
        if all((i.transfer_syntax or DEFAULT_SYNTAX) == syntax for i in found):
            return multipart
        stored = sorted({i.transfer_syntax for i in found})
        raise DicomWebError(
            406,
            f"instances are sent as stored, in transfer syntax {', '.join(stored)}; transfer-syntax={syntax} "
            "was asked for (ask with transfer-syntax=* to get them as stored)",
        )
    raise not_acceptable(accept, [f'{MULTIPART}; type="{DICOM}"', f"{DICOM} (one instance)"])


def multipart(platform: Platform, found: list[DicomInstance], boundary: str) -> Iterator[bytes]:
    """The instances as the parts of a multipart/related body, in pieces of about
    :data:`PIECE` bytes (each piece is a hop between the server's threads)."""
    buffer = bytearray()
    for instance in found:
        buffer += (
            f"--{boundary}\r\nContent-Type: {DICOM}; transfer-syntax={instance.transfer_syntax or DEFAULT_SYNTAX}\r\n"
            f"Content-Length: {instance.size}\r\nContent-Location: {instance.sop_uid}\r\n\r\n"
        ).encode("ascii")
        for piece in platform.files.read(instance.blob_id, piece=PIECE):
            if not buffer and len(piece) >= PIECE:
                yield piece
                continue
            buffer += piece
            if len(buffer) >= PIECE:
                yield bytes(buffer)
                buffer.clear()
        buffer += b"\r\n"
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


def metadata(platform: Platform, found: list[DicomInstance], urls: Urls) -> list[dict[str, Any]]:
    """The DICOM JSON of each instance's attributes (pixel data and long binary values left out)."""
    out = []
    for instance in found:
        ds = read_header(platform.files, instance.blob_id)
        if ds is None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data: dict[str, Any] = ds.to_json_dict(
                bulk_data_threshold=INLINE_LIMIT, bulk_data_element_handler=lambda _element: ""
            )
        data = {tag: value for tag, value in data.items() if value.get("BulkDataURI", None) != ""}
        data["00081190"] = {
            "vr": "UR",
            "Value": [urls.instance(instance.study_uid, instance.series_uid, instance.sop_uid)],
        }
        out.append(dict(sorted(data.items())))
    return out


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
