"""WADO-URI (PS3.18 9): ``GET …/wado?requestType=WADO&studyUID=…&seriesUID=…&objectUID=…``.

``contentType`` chooses the answer: ``application/dicom`` (the instance as
stored, or in ``transferSyntax`` when another uncompressed syntax is asked
for, :mod:`.transcode`), ``image/jpeg`` (the default) or ``image/png`` (the
frame ``frameNumber``, default the first, rendered as :mod:`.rendering`
renders: ``windowCenter`` and ``windowWidth``, ``rows`` and ``columns`` for
the size, ``region`` as four fractions of the image, ``imageQuality``).
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from hvgen_imaging.framebytes import pixel_source

from ..context import Platform
from ..store.rows import DicomInstance
from . import rendering, transcode, wado
from .access import Caller
from .index import open_blob, refresh
from .media import DICOM, DicomWebError

IMAGES = ("image/jpeg", "image/png")


def _int(query: dict[str, str], name: str, default: int | None = None) -> int | None:
    text = query.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = int(text)
    except ValueError:
        raise DicomWebError(400, f"{name}={text!r} is not a whole number") from None
    if value < 1:
        raise DicomWebError(400, f"{name} is at least 1")
    return value


def _float(query: dict[str, str], name: str) -> float | None:
    text = query.get(name)
    if text is None or not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        raise DicomWebError(400, f"{name}={text!r} is not a number") from None


def presentation(query: dict[str, str], size: tuple[int, int] | None) -> rendering.Presentation:
    center, width = _float(query, "windowCenter"), _float(query, "windowWidth")
    if (center is None) != (width is None) or (width is not None and width <= 0):
        raise DicomWebError(400, "windowCenter and windowWidth go together, the width positive")
    window = (center, width, "LINEAR") if center is not None and width is not None else None
    rows, columns = _int(query, "rows"), _int(query, "columns")
    viewport = None
    region = None
    if rows is not None or columns is not None:
        viewport = (
            min(columns or rendering.MAX_SIDE, rendering.MAX_SIDE),
            min(rows or rendering.MAX_SIDE, rendering.MAX_SIDE),
        )
    if "region" in query and size is not None:
        try:
            left, top, right, bottom = (float(v) for v in query["region"].split(","))
        except ValueError:
            raise DicomWebError(400, "region is four fractions: left,top,right,bottom") from None
        if not (0 <= left < right <= 1 and 0 <= top < bottom <= 1):
            raise DicomWebError(400, "region is four fractions from 0 to 1: left,top,right,bottom")
        w, h = size
        region = (round(left * w), round(top * h), round((right - left) * w), round((bottom - top) * h))
        viewport = viewport or (rendering.MAX_SIDE, rendering.MAX_SIDE)
    quality = _int(query, "imageQuality", 90) or 90
    if quality > 100:
        raise DicomWebError(400, "imageQuality is 1 to 100")
    return rendering.Presentation(window, viewport, region, quality)


async def answer(platform: Platform, request: Request, caller: Caller) -> Response:
    query = dict(request.query_params)
    if query.get("requestType") != "WADO":
        raise DicomWebError(400, "requestType=WADO is required (WADO-URI)")
    missing = [name for name in ("studyUID", "seriesUID", "objectUID") if not query.get(name)]
    if missing:
        raise DicomWebError(400, f"WADO-URI needs {', '.join(missing)}")
    content_type = (query.get("contentType") or "image/jpeg").split(";")[0].strip().lower()
    if content_type in ("*/*", "image/*"):
        content_type = "image/jpeg"
    if content_type not in (DICOM, *IMAGES):
        raise DicomWebError(406, f"contentType {content_type} is not offered: application/dicom, image/jpeg, image/png")

    def find() -> list[DicomInstance]:
        refresh(platform, caller.record_id)
        return wado.instances(platform, caller.record_id, query["studyUID"], query["seriesUID"], query["objectUID"])

    instance = (await run_in_threadpool(find))[0]
    if content_type == DICOM:
        target = query.get("transferSyntax")
        stored = instance.transfer_syntax or wado.DEFAULT_SYNTAX
        if target and target != stored:
            if not transcode.can_send(stored, target):
                raise DicomWebError(406, f"the instance is stored in {stored} and cannot be sent in {target}")
            await run_in_threadpool(wado.check_transcoding, platform, [instance], target)
            return StreamingResponse(transcode.transcoded(platform, instance, target), media_type=DICOM)
        return StreamingResponse(
            platform.files.read(instance.blob_id), media_type=DICOM, headers={"Content-Length": str(instance.size)}
        )
    frame = _int(query, "frameNumber")
    shown = presentation(query, None if "region" not in query else await run_in_threadpool(_size, platform, instance))
    index = frame - 1 if frame is not None else None
    if index is None and shown.plain and content_type == "image/jpeg" and instance.preview_blob_id:
        data, _ = await run_in_threadpool(wado.rendered, platform, instance, content_type)
    else:
        data = await run_in_threadpool(rendering.render, platform, instance, index or 0, shown, content_type)
    return Response(data, media_type=content_type)


def _size(platform: Platform, instance: DicomInstance) -> tuple[int, int]:
    with open_blob(platform.files, instance.blob_id) as f, pixel_source(f) as source:
        geo = source.geometry
        return geo.columns, geo.rows
