"""Metadata with bulk data URIs, and the ``/bulkdata/…`` resources they name (PS3.18 8.3.5, 10.4.1.1.5).

An instance's metadata is its DICOM JSON (PS3.18 F.2) read from the file's
header; binary values (OB, OW, OD, OF, OL, OV, UN) longer than
:data:`INLINE_LIMIT` bytes are not inlined but given as a ``BulkDataURI``:
``…/instances/SOP/bulkdata/TAG`` for an element of the data set,
``…/bulkdata/TAG/ITEM/TAG…`` for one inside a sequence (items counted from
0). The pixel data is always a bulk data URI (``…/bulkdata/7FE00010``).

A bulk data resource is the element's value, as ``multipart/related;
type="application/octet-stream"`` (one part) or, when asked for,
``application/octet-stream`` alone. The pixel data is sent as the file holds
it: uncompressed pixel data in one part (read in pieces from the file),
encapsulated pixel data as its frames (:mod:`.frames`, as stored or decoded
as the Accept header asks).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from hvgen_imaging.framebytes import PixelSource, pixel_source
from hvgen_imaging.frames import FrameError

from ..context import Platform
from ..store.rows import METADATA_URL, DicomInstance
from . import frames
from .index import open_blob
from .media import MULTIPART, DicomWebError, Urls, accepted, matches, parse_json

#: Binary values longer than this are bulk data URIs in metadata, shorter ones InlineBinary.
INLINE_LIMIT = 1024
BINARY_VRS = frozenset({"OB", "OW", "OD", "OF", "OL", "OV", "UN"})
PIXEL_DATA = "7FE00010"
#: How a bulk data URI begins in stored metadata.
_STORED_URI = f'"BulkDataURI":"{METADATA_URL}'


def _paths(ds: Dataset, prefix: str, out: dict[int, str]) -> None:
    """The bulk data path of every binary element of ``ds`` (by the element's id)."""
    for element in ds:  # iterating converts raw elements: the ids stay those to_json_dict sees
        path = f"{prefix}{element.tag:08X}"
        if element.VR == "SQ":
            for number, item in enumerate(element.value or []):
                _paths(item, f"{path}/{number}/", out)
        elif element.VR in BINARY_VRS:
            out[id(element)] = path


def instance_json(source: PixelSource, url: str) -> dict[str, Any]:
    """The DICOM JSON of an instance (its header), with bulk data URIs under ``url`` (the instance's)."""
    paths: dict[int, str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _paths(source.header, "", paths)

        def handler(element: DataElement) -> str:
            return f"{url}/bulkdata/{paths.get(id(element), f'{element.tag:08X}')}"

        data: dict[str, Any] = source.header.to_json_dict(
            bulk_data_threshold=INLINE_LIMIT, bulk_data_element_handler=handler
        )
    if source.has_pixels:
        geo = source.geometry
        vr = "OB" if source.encapsulated or geo.bits_allocated <= 8 else "OW"
        data[PIXEL_DATA] = {"vr": vr, "BulkDataURI": f"{url}/bulkdata/{PIXEL_DATA}"}
    return data


def stored_metadata(path: Path) -> str | None:
    """The metadata of the DICOM file at ``path`` as the index stores it (bulk
    data URIs under :data:`METADATA_URL`); None when it cannot be read."""
    try:
        with open(path, "rb") as f, pixel_source(f) as source:
            return json.dumps(instance_json(source, METADATA_URL), separators=(",", ":"))
    except (FrameError, OSError):
        return None


def _at(data: Any, url: str) -> Any:
    """Stored metadata with its bulk data URIs under ``url``."""
    if isinstance(data, dict):
        return {
            k: url + v[len(METADATA_URL) :]
            if k == "BulkDataURI" and isinstance(v, str) and v.startswith(METADATA_URL)
            else _at(v, url)
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [_at(v, url) for v in data]
    return data


def _stored(text: str, url: str) -> Any:
    """Stored metadata, parsed, with its bulk data URIs under ``url``: put in the text as
    :func:`stored_metadata` wrote it (a JSON string cannot hold that unescaped quote),
    else in the parsed data."""
    placed = text.replace(_STORED_URI, f'"BulkDataURI":{json.dumps(url)[:-1]}')
    data = parse_json(placed)
    return data if METADATA_URL not in placed else _at(data, url)


def metadata(platform: Platform, found: list[DicomInstance], urls: Urls) -> list[dict[str, Any]]:
    """The DICOM JSON of each instance, with bulk data URIs: as the index
    stored it (:attr:`DicomInstance.metadata_json`), else read from the file."""
    out = []
    for instance in found:
        url = urls.instance(instance.study_uid, instance.series_uid, instance.sop_uid)
        if instance.metadata_json:
            data = _stored(instance.metadata_json, url)
            data["00081190"] = {"vr": "UR", "Value": [url]}
            out.append(dict(sorted(data.items())))
            continue
        try:
            with open_blob(platform.files, instance.blob_id) as f, pixel_source(f) as source:
                data = instance_json(source, url)
        except FrameError:
            continue  # not DICOM (any more): not in the metadata
        data["00081190"] = {"vr": "UR", "Value": [url]}
        out.append(dict(sorted(data.items())))
    return out


def _element(ds: Dataset, path: str) -> DataElement:
    """The element a bulk data path names; 404 when there is none."""
    steps = path.strip("/").split("/")
    current: Any = ds
    try:
        for position, step in enumerate(steps):
            if position % 2 == 1:
                current = current[int(step)]
                continue
            element = current[int(step, 16)]
            if position == len(steps) - 1:
                if element.VR not in BINARY_VRS or not isinstance(element.value, bytes):
                    break
                return element  # type: ignore[no-any-return]
            current = element.value
    except (KeyError, IndexError, ValueError, TypeError):
        pass
    raise DicomWebError(404, f"no bulk data at {path!r} in this instance")


def _one_part(accept: str | None, boundary: str) -> tuple[bool, str]:
    """Whether the value is sent as a multipart part (else alone), and the answer's content type."""
    for media in accepted(accept):
        inner = media.params.get("type", frames.OCTETS).lower()
        if media.media_type == MULTIPART and inner in (frames.OCTETS, "*/*", "application/*"):
            return True, f'{MULTIPART}; type="{frames.OCTETS}"; boundary={boundary}'
        if media.media_type != MULTIPART and matches(media, frames.OCTETS):
            if media.media_type == "*/*":
                return True, f'{MULTIPART}; type="{frames.OCTETS}"; boundary={boundary}'
            return False, frames.OCTETS
    raise DicomWebError(
        406, f'bulk data is sent as {MULTIPART}; type="{frames.OCTETS}" or {frames.OCTETS}, not as {accept}'
    )


def _wrapped(pieces: Iterator[bytes], multipart: bool, boundary: str, part_type: str) -> Iterator[bytes]:
    if multipart:
        yield f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode("ascii")
    yield from pieces
    if multipart:
        yield f"\r\n--{boundary}--\r\n".encode("ascii")


def answer(
    platform: Platform, instance: DicomInstance, path: str, accept: str | None, boundary: str, location: str
) -> tuple[str, Iterator[bytes]]:
    """The content type and body of a bulk data resource of ``instance``."""
    if path.strip("/").upper() == PIXEL_DATA:
        return _pixel_data(platform, instance, accept, boundary, location)
    with open_blob(platform.files, instance.blob_id) as f:
        try:
            with pixel_source(f) as source:
                value = bytes(_element(source.header, path).value)
        except FrameError as exc:
            raise DicomWebError(422, f"instance {instance.sop_uid} cannot be read: {exc}") from None
    multipart, content_type = _one_part(accept, boundary)
    return content_type, _wrapped(iter([value]), multipart, boundary, frames.OCTETS)


def _pixel_data(
    platform: Platform, instance: DicomInstance, accept: str | None, boundary: str, location: str
) -> tuple[str, Iterator[bytes]]:
    with open_blob(platform.files, instance.blob_id) as f:
        try:
            with pixel_source(f) as source:
                if not source.has_pixels:
                    raise DicomWebError(404, f"instance {instance.sop_uid} has no pixel data")
                encapsulated, count, syntax = source.encapsulated, source.frame_count, source.syntax
        except FrameError as exc:
            raise DicomWebError(422, f"instance {instance.sop_uid} cannot be read: {exc}") from None
    if encapsulated:
        sent = frames.answer(platform, instance, None, accept, boundary, location)
        return sent.content_type, sent.body
    multipart, content_type = _one_part(accept, boundary)

    def whole() -> Iterator[bytes]:
        with open_blob(platform.files, instance.blob_id) as f, pixel_source(f) as source:
            if source.geometry.bits_allocated == 1 and count > 1:
                assert source.place is not None and source.place.length is not None
                f.seek(source.place.start)
                yield f.read(source.place.length)
                return
            for index in range(count):
                yield from source.native_pieces(index, frames.PIECE)

    return content_type, _wrapped(whole(), multipart, boundary, f"{frames.OCTETS}; transfer-syntax={syntax}")
