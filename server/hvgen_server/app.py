"""The HTTP side of the local platform (Starlette): routes, bodies, lifespan.

Routes:
    POST /wildcat.ashx                 platform methods (XML envelopes)
    POST /streaming/wildcatblob.ashx   blob chunk upload (?blob-ref-token=...)
    GET  /streaming/wildcatblob.ashx   blob download (?blob-ref-token=...)
    GET  /health                       liveness

Method requests go to :func:`dispatch.handle`, blob transfers to
:mod:`streaming`; nothing of the protocol is decided here.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import zlib
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from healthvault.protocol import BLOB_PATH, METHODS_PATH, write_status
from healthvault.status import StatusCode

from . import dispatch, streaming
from .config import ServerConfig
from .context import Platform
from .errors import PlatformError
from .sweeper import sweep, sweeper

log = logging.getLogger("hvgen_server")

XML = "text/xml; charset=utf-8"

#: Seconds between sweeps of abandoned uploads.
SWEEP_INTERVAL = 600.0


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, refused before it grows past ``limit`` bytes
    (compressed or, with Content-Encoding gzip/deflate, decompressed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PlatformError(StatusCode.REQUEST_TOO_LONG, f"the request is {declared} bytes, over the {limit}-byte limit")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PlatformError(StatusCode.REQUEST_TOO_LONG, f"the request is over the {limit}-byte limit")
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding in ("gzip", "deflate"):
        decoder = zlib.decompressobj(zlib.MAX_WBITS | 32 if encoding == "gzip" else zlib.MAX_WBITS)
        try:
            out = decoder.decompress(bytes(body), limit + 1)
        except zlib.error as exc:
            raise PlatformError(StatusCode.BAD_HTTP, f"the {encoding} body is corrupt: {exc}") from None
        if len(out) > limit or decoder.unconsumed_tail:
            raise PlatformError(StatusCode.REQUEST_TOO_LONG, f"the request decompresses to over {limit} bytes")
        return out
    if encoding != "identity":
        raise PlatformError(StatusCode.BAD_HTTP, f"unsupported Content-Encoding {encoding}")
    return bytes(body)


def create_app(config: ServerConfig) -> Starlette:
    platform = Platform.open(config)

    async def wildcat(request: Request) -> Response:
        started = time.perf_counter()
        try:
            raw = await read_limited(request, config.max_request_bytes)
        except PlatformError as exc:
            return Response(write_status(exc.code, exc.message), media_type=XML)
        body = await run_in_threadpool(dispatch.handle, platform, raw)
        log.debug("request served in %.1f ms", (time.perf_counter() - started) * 1000)
        return Response(body, media_type=XML)

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def blob_upload(request: Request) -> Response:
        return await streaming.upload(platform, request)

    async def blob_download(request: Request) -> Response:
        return await streaming.download(platform, request)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = threading.Event()
        sweep(platform)
        threading.Thread(
            target=sweeper, args=(platform, SWEEP_INTERVAL, stop), name="blob-sweeper", daemon=True
        ).start()
        try:
            yield
        finally:
            stop.set()
            platform.close()

    app = Starlette(
        routes=[
            Route(METHODS_PATH, wildcat, methods=["POST"]),
            Route(BLOB_PATH, blob_upload, methods=["POST", "PUT"]),
            Route(BLOB_PATH, blob_download, methods=["GET", "HEAD"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.platform = platform
    return app


def serve(config: ServerConfig, log_level: str = "info") -> None:
    """Run the server in the foreground until interrupted."""
    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO), format="%(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        log_level=log_level,
        access_log=log_level == "debug",
        timeout_graceful_shutdown=5,
    )
