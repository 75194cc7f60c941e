"""The HTTP routes of DICOMweb under ``/dicomweb`` (Starlette).

Every request must carry ``Authorization: Bearer TOKEN`` (a token of
``hvgen token``); without a valid one the answer is 401 with a
``WWW-Authenticate`` header. Errors are an HTTP status with a plain-text
body saying what was wrong (PS3.18 8.5); warnings go in ``Warning`` headers.
Blocking work (the store, blob files, DICOM parsing) runs in worker threads.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from .. import appview
from ..context import Platform
from ..ingest.activity import ACTIVITY
from ..store.rows import INSTANCE, SERIES, STUDY
from . import access, bulkdata, frames, qido, rendering, stow, transcode, wado, wadouri
from .access import Caller
from .gateway import ensure_gateway
from .index import refresh
from .media import DICOM, DICOM_JSON, MULTIPART, DicomWebError, accepted, matches, not_acceptable

PREFIX = "/dicomweb"
#: STOW-RS requests stored at once (each makes previews and uploads through the gateway).
STOW_SLOTS = 2
#: Largest STOW-RS body.
MAX_STOW_BYTES = 4 * 1024 * 1024 * 1024

Handler = Callable[[Request, Caller], Awaitable[Response]]


def _error(exc: DicomWebError) -> Response:
    return PlainTextResponse(exc.message + "\n", status_code=exc.status, headers=exc.headers)


def _with_warnings(response: Response, warnings: list[str]) -> Response:
    for value in warnings:
        response.headers.append("Warning", value)
    return response


def routes(platform: Platform) -> list[Route]:
    """The DICOMweb routes of the platform (registers the gateway application on first use):
    under ``/dicomweb`` for bearer tokens, under ``/dicomweb/records/RECORD`` for signed-in browsers."""
    gateway = ensure_gateway(platform)
    base = platform.config.url + PREFIX
    slots = asyncio.Semaphore(STOW_SLOTS)

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            try:
                how = access.by_session if access.RECORD in request.path_params else access.by_token
                caller = await run_in_threadpool(how, platform, request, base)
                return await handler(request, caller)
            except DicomWebError as exc:
                return _error(exc)

        return serve

    def json_wanted(request: Request) -> None:
        offered = [DICOM_JSON, "application/json"]
        if not any(matches(m, o) for m in accepted(request.headers.get("accept")) for o in offered):
            raise not_acceptable(request.headers.get("accept"), offered)

    def json_response(data: Any, warnings: list[str] | None = None) -> Response:
        body = orjson.dumps(data)  # as json.dumps(separators=(",", ":")) writes it, non-ASCII text as UTF-8
        return _with_warnings(Response(body, media_type=DICOM_JSON), warnings or [])

    # -- QIDO-RS --------------------------------------------------------------------------

    def search(level: str, *path: str) -> Handler:
        keys = ["StudyInstanceUID", "SeriesInstanceUID"][: len(path)]

        async def handle(request: Request, caller: Caller) -> Response:
            json_wanted(request)
            fixed = {k: request.path_params[p] for k, p in zip(keys, path, strict=True)}
            parsed = qido.parse(level, request.query_params.multi_items(), fixed)

            def run() -> tuple[list[Any], dict[str, dict[str, Any]]]:
                refresh(platform, caller.record_id)
                with platform.store.read() as tx:
                    hits = tx.dicom.search(caller.record_id, appview.dicom_for_applications(parsed.query))
                    return hits, qido.study_extras(tx, caller.record_id, parsed, hits)

            hits, more = await run_in_threadpool(run)
            results, warnings = qido.answer(parsed, hits, caller.urls, more)
            return json_response(results, warnings)

        return handle

    # -- WADO-RS --------------------------------------------------------------------------

    async def found(request: Request, caller: Caller, metadata: bool = False) -> list[Any]:
        p = request.path_params

        def run() -> list[Any]:
            refresh(platform, caller.record_id)
            return wado.instances(
                platform, caller.record_id, p["study"], p.get("series"), p.get("sop"), metadata=metadata
            )

        return await run_in_threadpool(run)

    async def retrieve(request: Request, caller: Caller) -> Response:
        instances = await found(request, caller)
        as_multipart, target = wado.dicom_media(request.headers.get("accept"), instances)
        if target is not None:
            await run_in_threadpool(wado.check_transcoding, platform, instances, target)
        if not as_multipart:
            only = instances[0]
            if target is not None:
                return StreamingResponse(
                    transcode.transcoded(platform, only, target), media_type=f"{DICOM}; transfer-syntax={target}"
                )
            return StreamingResponse(
                platform.files.read(only.blob_id),
                media_type=f"{DICOM}",
                headers={"Content-Length": str(only.size)},
            )
        boundary = wado.new_boundary()
        return StreamingResponse(
            wado.multipart(platform, instances, boundary, target),
            headers={"Content-Type": f'{MULTIPART}; type="{DICOM}"; boundary={boundary}'},
        )

    async def metadata(request: Request, caller: Caller) -> Response:
        json_wanted(request)
        instances = await found(request, caller, metadata=True)
        return json_response(await run_in_threadpool(bulkdata.metadata, platform, instances, caller.urls))

    async def frames_of(request: Request, caller: Caller) -> Response:
        numbers = frames.frame_numbers(request.path_params["frames"])
        instance = (await found(request, caller))[0]
        location = caller.urls.instance(instance.study_uid, instance.series_uid, instance.sop_uid)
        accept = request.headers.get("accept")
        sent = await run_in_threadpool(
            frames.answer, platform, instance, numbers, accept, wado.new_boundary(), location
        )
        return StreamingResponse(sent.body, headers={"Content-Type": sent.content_type})

    async def bulk(request: Request, caller: Caller) -> Response:
        instance = (await found(request, caller))[0]
        location = caller.urls.instance(instance.study_uid, instance.series_uid, instance.sop_uid)
        accept, path = request.headers.get("accept"), request.path_params["path"]
        content_type, body = await run_in_threadpool(
            bulkdata.answer, platform, instance, path, accept, wado.new_boundary(), location
        )
        return StreamingResponse(body, headers={"Content-Type": content_type})

    async def rendered(request: Request, caller: Caller) -> Response:
        shown = rendering.presentation(request.query_params)
        media_type = rendering.wanted_type(request.headers.get("accept"))
        instances = await found(request, caller)
        if "sop" not in request.path_params:  # a study's or series' rendering: a representative image
            with_preview = [i for i in instances if i.preview_blob_id] or instances
            instances = [with_preview[len(with_preview) // 2]]
        index = None
        if "frames" in request.path_params:
            numbers = frames.frame_numbers(request.path_params["frames"])
            index = numbers[0] - 1
        if index is None and shown.plain:
            data, media_type = await run_in_threadpool(
                wado.rendered, platform, instances[0], request.headers.get("accept")
            )
        else:
            data = await run_in_threadpool(rendering.render, platform, instances[0], index, shown, media_type)
        return Response(data, media_type=media_type)

    async def wado_uri(request: Request, caller: Caller) -> Response:
        return await wadouri.answer(platform, request, caller)

    # -- STOW-RS --------------------------------------------------------------------------

    async def store(request: Request, caller: Caller) -> Response:
        boundary = stow.boundary_of(request.headers.get("content-type"))
        folder = platform.config.data_dir / "gateway" / "incoming" / uuid.uuid4().hex
        parts: stow.Parts | None = None
        ACTIVITY.begin()  # (previews wait while instances arrive)
        try:
            parts = await run_in_threadpool(stow.Parts, folder, boundary, MAX_STOW_BYTES)
            await stow.receive(
                request, parts, platform.config.body_timeout, "the client went away before the body ended"
            )
            await run_in_threadpool(parts.finish)
            async with slots:
                outcome = await run_in_threadpool(
                    stow.store,
                    platform,
                    gateway,
                    caller.record_id,
                    parts,
                    request.path_params.get("study"),
                    caller.urls,
                )
        finally:  # every part file closed, then the folder removed, on every way out
            ACTIVITY.end()
            if parts is not None:
                parts.close()
            await run_in_threadpool(stow.cleanup, folder)
        response = Response(
            json.dumps(outcome.body(caller.urls), separators=(",", ":")).encode("utf-8"),
            status_code=outcome.status,
            media_type=DICOM_JSON,
            headers={"Retry-After": "30"} if outcome.over_budget else None,
        )
        return _with_warnings(response, outcome.warnings())

    out: list[Route] = []
    for prefix in (PREFIX, PREFIX + access.RECORDS + "/{" + access.RECORD + "}"):
        study = prefix + "/studies/{study}"
        series = study + "/series/{series}"
        instance = series + "/instances/{sop}"
        frame = instance + "/frames/{frames}"
        get: list[tuple[str, Handler]] = [
            (prefix + "/studies", search(STUDY)),
            (prefix + "/series", search(SERIES)),
            (prefix + "/instances", search(INSTANCE)),
            (study + "/series", search(SERIES, "study")),
            (study + "/instances", search(INSTANCE, "study")),
            (series + "/instances", search(INSTANCE, "study", "series")),
            (study, retrieve),
            (series, retrieve),
            (instance, retrieve),
            (study + "/metadata", metadata),
            (series + "/metadata", metadata),
            (instance + "/metadata", metadata),
            (frame, frames_of),
            (instance + "/bulkdata/{path:path}", bulk),
            (prefix + "/wado", wado_uri),
        ]
        for resource in (study, series, instance, frame):
            get += [(resource + "/rendered", rendered), (resource + "/thumbnail", rendered)]
        out += [Route(path, endpoint(handler), methods=["GET"]) for path, handler in get]
        out += [Route(path, endpoint(store), methods=["POST"]) for path in (prefix + "/studies", study)]
    return out
