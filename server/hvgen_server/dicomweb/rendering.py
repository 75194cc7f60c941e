"""Rendered and thumbnail resources (PS3.18 10.4.1.1.3, 8.3.5.1): images of
instances and frames as ``image/jpeg`` or ``image/png``.

Without query parameters an instance's rendering is its stored preview (a
study's or series' thumbnail: the preview of a representative instance).
With them, or for a frame, the frame is read from the file and rendered as
previews are (:func:`hvgen_imaging.preview.render`: modality LUT, the file's
VOI or, with ``window=center,width[,function]``, that window; MONOCHROME1
inverted; colour as RGB), cut to ``viewport=vw,vh[,sx,sy,sw,sh]`` (the
region ``sx,sy,sw,sh`` of the image, scaled to fit ``vw × vh``), and encoded
with ``quality=1..100``. Each rendering holds its share of the decoding
budget (503 with ``Retry-After`` when it cannot be had).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image
from starlette.datastructures import QueryParams

from hvgen_imaging import frames as imaging_frames
from hvgen_imaging import preview
from hvgen_imaging.budget import BUDGET, OverBudget
from hvgen_imaging.framebytes import pixel_source

from ..context import Platform
from ..store.rows import DicomInstance
from .index import open_blob
from .media import DicomWebError, accepted, matches, not_acceptable

OFFERED = ["image/jpeg", "image/png"]
FUNCTIONS = {"LINEAR", "LINEAR_EXACT", "SIGMOID"}
#: Largest side of a rendered image.
MAX_SIDE = 4096
#: Bytes per pixel of the image sent held while it is scaled and encoded (RGB, the scaled copy, the encoder's).
SHAPED_BYTES_PER_PIXEL = 12


@dataclass(frozen=True)
class Presentation:
    """The query parameters of a rendered resource."""

    window: tuple[float, float, str] | None = None
    viewport: tuple[int, int] | None = None
    region: tuple[int, int, int, int] | None = None
    quality: int = 90

    @property
    def plain(self) -> bool:
        return self.window is None and self.viewport is None and self.region is None


def _numbers(name: str, text: str, count: tuple[int, ...]) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts if p]
    except ValueError:
        raise DicomWebError(400, f"{name}={text!r}: numbers separated by commas are expected") from None
    if len(values) not in count:
        raise DicomWebError(400, f"{name}={text!r}: {' or '.join(map(str, count))} numbers are expected")
    return values


def presentation(query: QueryParams) -> Presentation:
    """The rendering asked for by ``window``, ``viewport`` and ``quality`` (400 when malformed)."""
    window = viewport = region = None
    if "window" in query:
        parts = [p.strip() for p in query["window"].split(",")]
        function = parts[2].upper() if len(parts) == 3 else "LINEAR"
        center, width = _numbers("window", ",".join(parts[:2]), (2,))
        if width <= 0 or function not in FUNCTIONS:
            raise DicomWebError(400, "window=center,width[,function]: a positive width, function LINEAR, SIGMOID…")
        window = (center, width, function)
    if "viewport" in query:
        values = _numbers("viewport", query["viewport"], (2, 6))
        vw, vh = int(values[0]), int(values[1])
        if not (0 < vw <= MAX_SIDE and 0 < vh <= MAX_SIDE):
            raise DicomWebError(400, f"viewport sizes are 1 to {MAX_SIDE} pixels")
        viewport = (vw, vh)
        if len(values) == 6:
            region = (int(values[2]), int(values[3]), int(values[4]), int(values[5]))
    quality = 90
    if "quality" in query:
        try:
            quality = int(query["quality"])
        except ValueError:
            quality = 0
        if not 1 <= quality <= 100:
            raise DicomWebError(400, "quality is 1 to 100")
    return Presentation(window, viewport, region, quality)


def wanted_type(accept: str | None) -> str:
    found = next((o for media in accepted(accept) for o in OFFERED if matches(media, o)), None)
    if found is None:
        raise not_acceptable(accept, OFFERED)
    return found


def encode(image: Image.Image, media_type: str, quality: int) -> bytes:
    out = io.BytesIO()
    if media_type == "image/png":
        image.save(out, "PNG")
    else:
        image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _shaped(image: Image.Image, shown: Presentation) -> Image.Image:
    if shown.region is not None:
        sx, sy, sw, sh = shown.region
        box = (max(0, sx), max(0, sy), min(image.width, sx + sw), min(image.height, sy + sh))
        if box[2] <= box[0] or box[3] <= box[1]:
            raise DicomWebError(400, "the viewport's region lies outside the image")
        image = image.crop(box)
    if shown.viewport is not None:
        vw, vh = shown.viewport
        scale = min(vw / image.width, vh / image.height)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        if size != image.size:
            image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def render(
    platform: Platform, instance: DicomInstance, index: int | None, shown: Presentation, media_type: str
) -> bytes:
    """Frame ``index`` (0-based; None: the middle one) of ``instance`` rendered as ``media_type``."""
    return render_blob(platform, instance.blob_id, f"instance {instance.sop_uid}", index, shown, media_type)


def render_blob(
    platform: Platform, blob_id: str, what: str, index: int | None, shown: Presentation, media_type: str
) -> bytes:
    """Frame ``index`` of the DICOM file in a blob (``what`` names it in errors) rendered as ``media_type``."""
    try:
        with open_blob(platform.files, blob_id) as f, pixel_source(f) as source:
            if not source.has_pixels:
                raise DicomWebError(404, f"{what} has no pixel data to render")
            geo = source.geometry
            index = geo.frames // 2 if index is None else index
            source.check_frame(index)
            wanted = shown.viewport or (geo.columns, geo.rows)
            k = imaging_frames.factor_for(geo, wanted) if shown.region is None else 1
            # the decoding, and the scaling and encoding of what is sent (a viewport may be
            # larger than the image), within the budget
            shaped = wanted[0] * wanted[1] if shown.viewport else -(-geo.columns // k) * -(-geo.rows // k)
            with BUDGET.reserve(preview.estimate(geo, k) + SHAPED_BYTES_PER_PIXEL * shaped):
                if source.encapsulated:
                    if geo.frame_bytes > imaging_frames.MAX_DECODE_BYTES:
                        raise imaging_frames.FrameError("the compressed frame is too large to render")
                    frame = imaging_frames.reduce(
                        imaging_frames.coded_frame(source.header, source.stored_frame(index)), k
                    )
                else:
                    assert source.place is not None
                    big = source.syntax == "1.2.840.10008.1.2.2"
                    frame = imaging_frames.native_frame(f, source.place, geo, index, k, big)
                pixels = preview.render(source.header, [], frame, index=index, window=shown.window)
                return encode(_shaped(Image.fromarray(pixels), shown), media_type, shown.quality)
    except OverBudget as exc:
        raise DicomWebError(503, str(exc), {"Retry-After": "30"}) from None
    except DicomWebError:
        raise
    except Exception as exc:
        if "does not exist" in str(exc):
            raise DicomWebError(404, f"{what}: {exc}") from None
        raise DicomWebError(422, f"{what} cannot be rendered: {preview.describe(exc)}") from None
