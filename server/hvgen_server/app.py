"""The HTTP side of the local platform (Starlette).

Routes:
    POST /wildcat.ashx                 platform methods (XML envelopes)
    POST /streaming/wildcatblob.ashx   blob chunk upload (?blob-ref-token=...)
    GET  /streaming/wildcatblob.ashx   blob download (?blob-ref-token=...)
    GET  /health                       liveness
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import zlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from healthvault.status import StatusCode

from . import handlers, streaming
from .packages import HANDLERS as _PACKAGE_HANDLERS
from .blobstore import BlobStore
from .bootstrap import server_key
from .config import ServerConfig
from .protocol import PlatformError, error_response, ok_response, parse_request
from .store import Store

log = logging.getLogger("hvgen_server")

XML = "text/xml; charset=utf-8"


class Platform:
    """The server's state: configuration, store, blob store and token key."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.store = Store(config.database)
        self.blobs = BlobStore(config)
        self.key = server_key(config)

    def handle(self, raw: bytes) -> bytes:
        """Serve one method request; every failure becomes a status response."""
        method = "?"
        try:
            request = parse_request(raw, self.config.max_request_bytes)
            method = str(request.method)
            handler = handlers.HANDLERS.get(request.method) or _PACKAGE_HANDLERS.get(request.method.name)
            if handler is None:
                raise PlatformError(
                    StatusCode.BAD_METHOD, f"{request.method} is not offered by the local platform"
                )
            ctx = handlers.Context(self.config, self.store, self.blobs, self.key, request)
            handlers.authenticate(ctx)
            return ok_response(handler(ctx))
        except PlatformError as exc:
            log.info("%s -> %s %s", method, int(exc.code), exc.message)
            return error_response(exc.code, exc.message)
        except Exception:  # never a stack trace on the wire
            log.exception("internal error serving %s", method)
            return error_response(StatusCode.FAILED, "internal error; see the server log")


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
    platform = Platform(config)

    async def wildcat(request: Request) -> Response:
        started = time.perf_counter()
        try:
            raw = await read_limited(request, config.max_request_bytes)
        except PlatformError as exc:
            return Response(error_response(exc.code, exc.message), media_type=XML)
        body = await run_in_threadpool(platform.handle, raw)
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
        streaming.sweep(platform)
        threading.Thread(
            target=streaming.sweeper, args=(platform, 600.0, stop), name="blob-sweeper", daemon=True
        ).start()
        try:
            yield
        finally:
            stop.set()
            platform.store.close()

    app = Starlette(
        routes=[
            Route("/wildcat.ashx", wildcat, methods=["POST"]),
            Route("/streaming/wildcatblob.ashx", blob_upload, methods=["POST", "PUT"]),
            Route("/streaming/wildcatblob.ashx", blob_download, methods=["GET", "HEAD"]),
            Route("/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.platform = platform
    return app


def serve(config: ServerConfig, log_level: str = "info") -> None:
    """Run the server in the foreground until interrupted."""
    import uvicorn

    logging.basicConfig(level=getattr(logging, log_level.upper(), logging.INFO), format="%(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        log_level=log_level,
        access_log=log_level == "debug",
        timeout_graceful_shutdown=5,
    )
