"""What the image view needs of image K of a series, as JSON, for paging in place.

Route:
    GET /viewer/RECORD/THING/series/N/info?image=K

The series page's script asks for it when it pages to another image without
loading the page again (static/viewer.js): each image brings its own window
presets, frame count, frame time and value range (:func:`.rendered.image_info`,
its header only read), as a reload of the page at that image would show them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..context import Platform
from . import rendered


class Pages(Protocol):
    """What the route needs of the viewer (:class:`.pages.Viewer`)."""

    platform: Platform

    def _page(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]: ...

    def _image(self, request: Request) -> dict[str, Any]: ...


def info_json(info: rendered.ImageInfo) -> dict[str, Any]:
    """The image view's facts of an image, as the series page's script takes them."""
    return {
        "frames": info.frames,
        "frame_ms": info.frame_ms,
        "frame_time_from": info.frame_time_from,
        "presets": [{"label": p.label, "center": p.center, "width": p.width} for p in info.presets],
        "range": [info.range_center, info.range_width],
    }


def routes(pages: Pages, study_path: str) -> list[BaseRoute]:
    """The route of the image facts under ``study_path`` (``/viewer/{record_id}/{thing_id}``)."""

    def info(request: Request) -> Response:
        blob = pages._image(request)["blob"]
        found = rendered.image_info(pages.platform, blob.blob_id) if blob is not None else rendered.ImageInfo()
        body = json.dumps(info_json(found), separators=(",", ":")).encode("utf-8")
        headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
        return Response(body, media_type="application/json", headers=headers)

    return [Route(study_path + "/series/{number:int}/info", pages._page(info))]


__all__ = ["info_json", "routes"]
