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

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from ..context import Platform
from ..errors import PlatformError
from ..limits import timed_stream
from ..store.rows import INSTANCE, SERIES, STUDY
from . import bearer, qido, stow, wado
from .gateway import ensure_gateway
from .index import refresh
from .media import DICOM, DICOM_JSON, MULTIPART, DicomWebError, Urls, accepted, matches, not_acceptable

PREFIX = "/dicomweb"
#: STOW-RS requests stored at once (each makes previews and uploads through the gateway).
STOW_SLOTS = 2
#: Largest STOW-RS body.
MAX_STOW_BYTES = 4 * 1024 * 1024 * 1024
#: Bytes of a STOW-RS body handed to the worker thread that parses and writes it at a time.
STOW_BATCH = 1024 * 1024

Handler = Callable[[Request, bearer.Bearer], Awaitable[Response]]


def _error(exc: DicomWebError) -> Response:
    return PlainTextResponse(exc.message + "\n", status_code=exc.status, headers=exc.headers)


def _with_warnings(response: Response, warnings: list[str]) -> Response:
    for value in warnings:
        response.headers.append("Warning", value)
    return response


def routes(platform: Platform) -> list[Route]:
    """The DICOMweb routes of the platform (registers the gateway application on first use)."""
    gateway = ensure_gateway(platform)
    urls = Urls(platform.config.url + PREFIX)
    slots = asyncio.Semaphore(STOW_SLOTS)

    def authenticate(request: Request) -> bearer.Bearer:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="dicomweb"'}
        if scheme.lower() != "bearer" or not token.strip():
            raise DicomWebError(401, "send Authorization: Bearer TOKEN (a token of `hvgen token`)", challenge)
        try:
            caller = bearer.check(platform.key, token)
        except bearer.BearerError as exc:
            raise DicomWebError(
                401, str(exc), {"WWW-Authenticate": 'Bearer realm="dicomweb", error="invalid_token"'}
            ) from None
        if not platform.store.authorized(caller.app_id, caller.record_id):
            raise DicomWebError(401, "the application the token was issued to may no longer use the record", challenge)
        return caller

    def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            try:
                caller = await run_in_threadpool(authenticate, request)
                return await handler(request, caller)
            except DicomWebError as exc:
                return _error(exc)

        return serve

    def json_wanted(request: Request) -> None:
        offered = [DICOM_JSON, "application/json"]
        if not any(matches(m, o) for m in accepted(request.headers.get("accept")) for o in offered):
            raise not_acceptable(request.headers.get("accept"), offered)

    def json_response(data: Any, warnings: list[str] | None = None) -> Response:
        body = json.dumps(data, separators=(",", ":")).encode("utf-8")
        return _with_warnings(Response(body, media_type=DICOM_JSON), warnings or [])

    # -- QIDO-RS --------------------------------------------------------------------------

    def search(level: str, *path: str) -> Handler:
        keys = ["StudyInstanceUID", "SeriesInstanceUID"][: len(path)]

        async def handle(request: Request, caller: bearer.Bearer) -> Response:
            json_wanted(request)
            fixed = {k: request.path_params[p] for k, p in zip(keys, path, strict=True)}
            parsed = qido.parse(level, request.query_params.multi_items(), fixed)

            def run() -> list[Any]:
                refresh(platform, caller.record_id)
                with platform.store.read() as tx:
                    return tx.dicom.search(caller.record_id, parsed.query)

            results, warnings = qido.answer(parsed, await run_in_threadpool(run), urls)
            return json_response(results, warnings)

        return handle

    # -- WADO-RS --------------------------------------------------------------------------

    async def found(request: Request, caller: bearer.Bearer) -> list[Any]:
        p = request.path_params

        def run() -> list[Any]:
            refresh(platform, caller.record_id)
            return wado.instances(platform, caller.record_id, p["study"], p.get("series"), p.get("sop"))

        return await run_in_threadpool(run)

    async def retrieve(request: Request, caller: bearer.Bearer) -> Response:
        instances = await found(request, caller)
        as_multipart = wado.dicom_media(request.headers.get("accept"), instances)
        if not as_multipart:
            only = instances[0]
            return StreamingResponse(
                platform.files.read(only.blob_id),
                media_type=f"{DICOM}",
                headers={"Content-Length": str(only.size)},
            )
        boundary = wado.new_boundary()
        return StreamingResponse(
            wado.multipart(platform, instances, boundary),
            headers={"Content-Type": f'{MULTIPART}; type="{DICOM}"; boundary={boundary}'},
        )

    async def metadata(request: Request, caller: bearer.Bearer) -> Response:
        json_wanted(request)
        instances = await found(request, caller)
        return json_response(await run_in_threadpool(wado.metadata, platform, instances, urls))

    async def rendered(request: Request, caller: bearer.Bearer) -> Response:
        instances = await found(request, caller)
        if "sop" not in request.path_params:  # a study's or series' thumbnail: a representative image
            with_preview = [i for i in instances if i.preview_blob_id] or instances
            instances = [with_preview[len(with_preview) // 2]]
        data, media_type = await run_in_threadpool(wado.rendered, platform, instances[0], request.headers.get("accept"))
        return Response(data, media_type=media_type)

    # -- STOW-RS --------------------------------------------------------------------------

    async def store(request: Request, caller: bearer.Bearer) -> Response:
        boundary = stow.boundary_of(request.headers.get("content-type"))
        folder = platform.config.data_dir / "gateway" / "incoming" / uuid.uuid4().hex
        parts: stow.Parts | None = None
        try:
            parts = await run_in_threadpool(stow.Parts, folder, boundary, MAX_STOW_BYTES)
            try:  # parsed and written in a worker thread, a MiB at a time: the event loop serves others meanwhile
                batch: list[bytes] = []
                size = 0
                async for chunk in timed_stream(request, platform.config.body_timeout):
                    batch.append(chunk)
                    size += len(chunk)
                    if size >= STOW_BATCH:
                        await run_in_threadpool(parts.write_all, batch)
                        batch, size = [], 0
                await run_in_threadpool(parts.write_all, batch)
            except ClientDisconnect:
                raise DicomWebError(400, "the client went away before the body ended") from None
            except PlatformError as exc:  # the body stalled
                raise DicomWebError(408, exc.message) from None
            await run_in_threadpool(parts.finish)
            async with slots:
                outcome = await run_in_threadpool(
                    stow.store, platform, gateway, caller.record_id, parts, request.path_params.get("study"), urls
                )
        finally:  # every part file closed, then the folder removed, on every way out
            if parts is not None:
                parts.close()
            await run_in_threadpool(stow.cleanup, folder)
        response = Response(
            json.dumps(outcome.body(urls), separators=(",", ":")).encode("utf-8"),
            status_code=outcome.status,
            media_type=DICOM_JSON,
            headers={"Retry-After": "30"} if outcome.over_budget else None,
        )
        return _with_warnings(response, outcome.warnings())

    study = PREFIX + "/studies/{study}"
    series = study + "/series/{series}"
    instance = series + "/instances/{sop}"
    return [
        Route(PREFIX + "/studies", endpoint(search(STUDY)), methods=["GET"]),
        Route(PREFIX + "/series", endpoint(search(SERIES)), methods=["GET"]),
        Route(PREFIX + "/instances", endpoint(search(INSTANCE)), methods=["GET"]),
        Route(study + "/series", endpoint(search(SERIES, "study")), methods=["GET"]),
        Route(study + "/instances", endpoint(search(INSTANCE, "study")), methods=["GET"]),
        Route(series + "/instances", endpoint(search(INSTANCE, "study", "series")), methods=["GET"]),
        Route(study, endpoint(retrieve), methods=["GET"]),
        Route(series, endpoint(retrieve), methods=["GET"]),
        Route(instance, endpoint(retrieve), methods=["GET"]),
        Route(study + "/metadata", endpoint(metadata), methods=["GET"]),
        Route(series + "/metadata", endpoint(metadata), methods=["GET"]),
        Route(instance + "/metadata", endpoint(metadata), methods=["GET"]),
        Route(instance + "/rendered", endpoint(rendered), methods=["GET"]),
        Route(instance + "/thumbnail", endpoint(rendered), methods=["GET"]),
        Route(series + "/thumbnail", endpoint(rendered), methods=["GET"]),
        Route(study + "/thumbnail", endpoint(rendered), methods=["GET"]),
        Route(PREFIX + "/studies", endpoint(store), methods=["POST"]),
        Route(study, endpoint(store), methods=["POST"]),
    ]
