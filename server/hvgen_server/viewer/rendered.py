"""The image view's frames: any frame of an image rendered by the server at
its own resolution (or fitted to a size), with the file's window or one the
browser asks for, and what the page needs to know of the image (its frames,
its frame time for cine, its window presets).

Rendering is the DICOMweb rendered resource's
(:func:`..dicomweb.rendering.render_blob`: the decoding budget, frames read
one at a time from the blob); a rendering that cannot have its share of the
budget is refused with a message saying so, not queued without end.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset
from starlette.datastructures import QueryParams

from ..context import Platform
from ..dicomweb.index import Freshness, read_header
from ..dicomweb.media import DicomWebError
from ..dicomweb.rendering import MAX_SIDE, Presentation, render_blob
from ..store.rows import INSTANCE, DicomMatch, DicomQuery
from .studies import Image, Study

#: Longest time between cine frames (a file saying more is shown at this).
MAX_FRAME_MS = 2000.0
#: Cine without a frame time in the file: 10 frames a second.
DEFAULT_FRAME_MS = 100.0
#: Window presets taken from a file at most.
MAX_PRESETS = 8


@dataclass(frozen=True)
class Preset:
    label: str
    center: float
    width: float


@dataclass(frozen=True)
class ImageInfo:
    """What the image view needs of an image."""

    frames: int = 1
    #: Milliseconds between frames in cine (the file's FrameTime, CineRate or RecommendedDisplayFrameRate).
    frame_ms: float = DEFAULT_FRAME_MS
    #: Where the frame time came from ("" when the file says none).
    frame_time_from: str = ""
    presets: tuple[Preset, ...] = field(default_factory=tuple)
    columns: int = 0
    rows: int = 0
    #: Where dragging the window starts when the file has no preset: the stored values' range.
    range_center: float = 0.0
    range_width: float = 0.0


def _number(ds: Dataset, keyword: str) -> float | None:
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        number = float(value[0] if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue" else value)
    except (TypeError, ValueError, IndexError):
        return None
    return number if math.isfinite(number) else None


def _values(ds: Dataset, keyword: str) -> list[str]:
    value = ds.get(keyword)
    if value is None or value == "":
        return []
    items = list(value) if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue" else [value]
    return [str(v) for v in items]


def _frame_time(ds: Dataset) -> tuple[float, str]:
    for keyword in ("FrameTime", "CineRate", "RecommendedDisplayFrameRate"):
        value = _number(ds, keyword)
        if value is not None and value > 0:
            ms = value if keyword == "FrameTime" else 1000.0 / value
            return min(MAX_FRAME_MS, max(1.0, ms)), keyword
    return DEFAULT_FRAME_MS, ""


def _presets(ds: Dataset) -> tuple[Preset, ...]:
    centers, widths = _values(ds, "WindowCenter"), _values(ds, "WindowWidth")
    names = _values(ds, "WindowCenterWidthExplanation")
    found: list[Preset] = []
    for n, (center, width) in enumerate(zip(centers, widths, strict=False)):
        try:
            c, w = float(center), float(width)
        except ValueError:
            continue
        if w > 0 and math.isfinite(c) and math.isfinite(w) and len(found) < MAX_PRESETS:
            found.append(Preset(names[n].strip() if n < len(names) and names[n].strip() else f"Window {n + 1}", c, w))
    return tuple(found)


def image_info(platform: Platform, blob_id: str) -> ImageInfo:
    """What the view needs of the image in a blob (its header only is read)."""
    ds = read_header(platform.files, blob_id)
    if ds is None:
        return ImageInfo()
    frames = int(_number(ds, "NumberOfFrames") or 1)
    frame_ms, source = _frame_time(ds)
    bits = int(_number(ds, "BitsStored") or 8)
    slope, intercept = _number(ds, "RescaleSlope") or 1.0, _number(ds, "RescaleIntercept") or 0.0
    low = -(2 ** (bits - 1)) if _number(ds, "PixelRepresentation") == 1 else 0
    return ImageInfo(
        frames=max(1, frames),
        frame_ms=frame_ms,
        frame_time_from=source,
        presets=_presets(ds),
        columns=int(_number(ds, "Columns") or 0),
        rows=int(_number(ds, "Rows") or 0),
        range_center=intercept + slope * (low + 2 ** (bits - 1)),
        range_width=abs(slope) * 2**bits,
    )


#: Instances of a study whose frame counts a series page reads from the index at most.
MAX_INDEXED = 5000


@dataclass(frozen=True)
class Indexed:
    """What the DICOM index says of a study's images: frames by blob name, SeriesNumber by series UID."""

    frames: dict[str, int] = field(default_factory=dict)
    series_numbers: dict[str, int] = field(default_factory=dict)


def indexed(platform: Platform, record_id: str, study_uid: str | None) -> Indexed:
    """The study's images as the DICOM index has them (one query; nothing without a study UID)."""
    if not study_uid:
        return Indexed()
    query = DicomQuery(INSTANCE, (DicomMatch("study_uid", "uids", (study_uid,)),), limit=MAX_INDEXED)
    with platform.store.read() as tx:
        hits = tx.dicom.search(record_id, query)
    found = Indexed()
    for hit in hits:
        row = hit.instance
        if row.series_number is not None:
            found.series_numbers.setdefault(row.series_uid, row.series_number)
        try:
            value = json.loads(row.instance_json).get("00280008", {}).get("Value", [1])[0]
            found.frames[row.blob_name] = max(1, int(value))
        except (ValueError, TypeError, AttributeError, IndexError):
            found.frames[row.blob_name] = 1
    return found


def series_context(
    platform: Platform, freshness: Freshness | None, record_id: str, study: Study, image: Image
) -> dict[str, Any]:
    """What a series page shows of its image (:class:`ImageInfo`), and the frame
    counts of the study's images (by blob name), for paging in place."""
    blob = study.blobs.get(image.name)
    if blob is None:
        return {"info": None}
    if freshness is not None:
        freshness.refresh(platform, record_id)
    found = indexed(platform, record_id, study.study_uid)
    return {
        "info": image_info(platform, blob.blob_id),
        "frame_counts": found.frames,
        "series_numbers": found.series_numbers,
    }


class BadRendering(DicomWebError):
    """A rendering the view's query cannot ask for, or the server cannot make now."""


def _window(query: QueryParams) -> tuple[float, float, str] | None:
    text = query.get("window", "")
    if not text:
        return None
    try:
        center, width = (float(p) for p in text.split(","))
    except ValueError:
        raise BadRendering(400, f"window={text!r}: center,width expected") from None
    if not (math.isfinite(center) and math.isfinite(width) and width > 0):
        raise BadRendering(400, "the window's width must be a positive number")
    return center, width, "LINEAR"


def frame_bytes(platform: Platform, blob_id: str, what: str, query: QueryParams) -> tuple[bytes, str]:
    """Frame ``?frame=F`` (from 1) of the image, rendered with ``?window=C,W`` (else the
    file's), at its own resolution or fitted into ``?fit=W,H``; PNG with ``?format=png``."""
    try:
        frame = int(query.get("frame", "1"))
    except ValueError:
        raise BadRendering(400, "frame must be a number") from None
    if frame < 1:
        raise BadRendering(404, f"there is no frame {frame}")
    viewport = None
    if "fit" in query:
        try:
            vw, vh = (int(p) for p in query["fit"].split(","))
        except ValueError:
            raise BadRendering(400, "fit=width,height in pixels expected") from None
        if not (0 < vw <= MAX_SIDE and 0 < vh <= MAX_SIDE):
            raise BadRendering(400, f"fit sizes are 1 to {MAX_SIDE} pixels")
        viewport = (vw, vh)
    media = "image/png" if query.get("format") == "png" else "image/jpeg"
    shown = Presentation(window=_window(query), viewport=viewport, quality=92)
    try:
        return render_blob(platform, blob_id, what, frame - 1, shown, media), media
    except DicomWebError as exc:
        if exc.status == 503:
            raise BadRendering(
                503,
                "The server is rendering other large images and has no memory to spare for this one now; "
                "try again in a moment.",
                exc.headers,
            ) from None
        raise


__all__ = ["BadRendering", "ImageInfo", "Preset", "Indexed", "frame_bytes", "image_info", "indexed", "series_context"]
