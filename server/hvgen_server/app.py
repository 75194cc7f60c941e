"""The HTTP side of the local platform (Starlette): routes, bodies, lifespan.

Routes:
    POST /wildcat.ashx                 platform methods (XML envelopes)
    POST /platform/wildcat.ashx        the same, at the platform's own path
    POST /streaming/wildcatblob.ashx   blob chunk upload (?blob-ref-token=...)
    GET  /streaming/wildcatblob.ashx   blob download (?blob-ref-token=...)
    GET  /redirect.aspx ...            the shell: sign-in and authorization pages (:mod:`shell`)
    GET  /                             leads to the viewer
    GET  /viewer ...                   the study viewer (:mod:`viewer`), /static its stylesheet and script
    GET  /health                       liveness
    /dicomweb/...                      DICOMweb (QIDO-RS, WADO-RS, STOW-RS, WADO-URI): :mod:`.dicomweb`
    GET  /ohif/...                     the OHIF Viewer with --ohif DIST (:mod:`.ohif`)
    /fhir/...                          FHIR R4 (read, search, create, transaction, $export): :mod:`.fhir`

Method requests go to :func:`dispatch.handle`, blob transfers to
:mod:`streaming`, pages to :mod:`shell` and :mod:`viewer`; nothing of the protocol is decided
here.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from healthvault.protocol import BLOB_PATH, METHODS_PATH, PLATFORM_METHODS_PATH, write_status
from healthvault.status import HealthVaultStatusError, StatusCode

from . import dispatch, streaming
from .config import DicomListening, ServerConfig, settle_collector
from .connections import guarded_protocol, raise_file_limit
from .context import Platform
from .errors import ServerError
from .fhir.routes import PREFIX as _FHIR
from .fhir.routes import routes as fhir_routes
from .headers import SecurityHeaders
from .limits import BodyBudget, Busy, FormBodies, Inflating, LargeRequests, read_body
from .ohif import Ohif
from .shell import Shell
from .store.base import Conflict, Transaction
from .sweeper import sweep, sweeper
from .viewer import Viewer

log = logging.getLogger("hvgen_server")

#: Modules DICOMweb needs beyond the server extra (the imaging extra's, and python-multipart).
_DICOMWEB_NEEDS = ("pydicom", "PIL", "numpy", "pynetdicom", "dicomanonymizer", "python_multipart", "hvgen_imaging")
_dicomweb_routes: Callable[[Platform], list[Route]] | None
_start_listener: Callable[[Platform, DicomListening], Any] | None
_recover_previews: Callable[[Platform], int] | None
_stop_previews: Callable[[Platform], None] | None
_index_after_put: Callable[[Platform, str, set[str]], None] | None
_warm_reads: Callable[[Transaction], None] | None
try:
    from .dicomweb.index import after_put as _after_put
    from .dicomweb.index import warm_reads as _warm
    from .dicomweb.routes import routes as _routes
    from .ingest.listening import start_listener as _start
    from .ingest.previews import recover_previews as _recover
    from .ingest.previews import stop_previews as _stop

    _dicomweb_routes, _start_listener, _dicomweb_missing = _routes, _start, ""
    _recover_previews, _stop_previews, _index_after_put, _warm_reads = _recover, _stop, _after_put, _warm
except ImportError as _missing:  # without the imaging extra the server runs, and /dicomweb says so
    if not _missing.name or _missing.name.split(".")[0] not in _DICOMWEB_NEEDS:
        raise
    _dicomweb_routes = _start_listener = _recover_previews = _stop_previews = _index_after_put = _warm_reads = None
    _dicomweb_missing = _missing.name

XML = "text/xml; charset=utf-8"
#: Where DICOMweb is served (its errors are plain text, not XML envelopes).
DICOMWEB_PREFIX = "/dicomweb/"
#: Where the viewer's uploads go (bodies streamed to the ingest, not read as forms).
UPLOAD_PATH = "/viewer/upload/"
FHIR_PREFIX = _FHIR

#: Seconds between sweeps of abandoned uploads.
SWEEP_INTERVAL = 600.0


def create_app(config: ServerConfig) -> Starlette:
    platform = Platform.open(config, warm=_warm_reads)  # a shared store's new connections prepare DICOMweb's reads
    if _index_after_put is not None:  # studies written through the protocol are indexed before PutThings answers
        platform.after_put.append(_index_after_put)

    large = LargeRequests(config.large_request_bytes, config.large_request_slots)
    budget = BodyBudget(config.max_buffered_bytes)
    inflating = Inflating(config.max_compressed_requests)

    async def admit(head: bytes) -> None:
        await run_in_threadpool(dispatch.admit, platform, head)

    async def wildcat(request: Request) -> Response:
        started = time.perf_counter()
        held = budget.hold()  # the body's bytes count until the request is answered
        try:
            try:
                raw = await read_body(request, config, held, inflating, admit)
            except Busy as exc:
                log.info("refused a request: %s", exc.message)
                return Response(
                    write_status(exc.code, exc.message), status_code=503, media_type=XML, headers={"Retry-After": "1"}
                )
            except HealthVaultStatusError as exc:
                return Response(write_status(exc.code, exc.message), media_type=XML)
            except ClientDisconnect:
                return Response(b"", status_code=400)  # nobody is listening
            if large.is_large(len(raw)):
                async with large.slots:
                    body = await run_in_threadpool(dispatch.handle, platform, raw)
            else:
                body = await run_in_threadpool(dispatch.handle, platform, raw)
        finally:
            held.release()
        log.debug("request served in %.1f ms", (time.perf_counter() - started) * 1000)
        return Response(body, media_type=XML)

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def failed(request: Request, exc: Exception) -> Response:
        """Anything unforeseen: the platform's XML status (DICOMweb: plain text, as
        its errors are), never a traceback on the wire."""
        log.error("internal error serving %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        if request.url.path.startswith(DICOMWEB_PREFIX):
            return PlainTextResponse("internal error; see the server log\n", status_code=500)
        return Response(
            write_status(StatusCode.FAILED, "internal error; see the server log"), status_code=500, media_type=XML
        )

    async def conflicted(request: Request, exc: Exception) -> Response:
        """A write that lost to another server process's (a shared store), past its retries."""
        log.info("conflict serving %s %s: %s", request.method, request.url.path, exc)
        if request.url.path.startswith(DICOMWEB_PREFIX):
            return PlainTextResponse("the request conflicted with another; send it again\n", 503, {"Retry-After": "1"})
        return Response(
            write_status(StatusCode.CONCURRENCY_VIOLATION, "the request conflicted with another; send it again"),
            status_code=503,
            media_type=XML,
            headers={"Retry-After": "1"},
        )

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
        settle_collector()
        listener = None
        if _recover_previews is not None:  # previews a stop interrupted (ingest/previews.py)
            await run_in_threadpool(_recover_previews, platform)
        if config.dicom is not None:  # `hvgen serve --dicom-port`: checked by the command before
            if _start_listener is None:
                raise ServerError(f"--dicom-port needs the imaging extra ({_dicomweb_missing} is missing)")
            listener = await run_in_threadpool(_start_listener, platform, config.dicom)
        try:
            yield
        finally:
            stop.set()
            if listener is not None:  # the study being stored is finished, the rest waits in the spool
                await run_in_threadpool(listener.stop)
            if _stop_previews is not None:  # the study being previewed is finished, the rest at the next start
                await run_in_threadpool(_stop_previews, platform)
            platform.close()

    app = Starlette(
        routes=[
            Route(METHODS_PATH, wildcat, methods=["POST"]),
            Route(PLATFORM_METHODS_PATH, wildcat, methods=["POST"]),
            *Shell(platform).routes(),
            *Viewer(platform).routes(),
            Route(BLOB_PATH, blob_upload, methods=["POST", "PUT"]),
            Route(BLOB_PATH, blob_download, methods=["GET", "HEAD"]),
            Route("/health", health, methods=["GET"]),
            *dicomweb_routes(platform),
            *(Ohif(platform, config.ohif_dist).routes() if config.ohif_dist is not None else []),
            *fhir_routes(platform),
        ],
        lifespan=lifespan,
        exception_handlers={Conflict: conflicted, Exception: failed},
        middleware=[
            Middleware(SecurityHeaders),  # outermost: its headers go on every answer, a refused form's too
            Middleware(
                FormBodies,
                streamed=(METHODS_PATH, PLATFORM_METHODS_PATH, BLOB_PATH, DICOMWEB_PREFIX, FHIR_PREFIX, UPLOAD_PATH),
            ),
        ],
    )
    app.state.platform = platform
    return app


def dicomweb_routes(platform: Platform) -> list[Route]:
    """DICOMweb, or, without the imaging extra, a 503 saying what to install."""
    if _dicomweb_routes is not None:
        return _dicomweb_routes(platform)
    reason = f"DICOMweb needs the imaging extra: pip install 'hvgen[imaging]' ({_dicomweb_missing} is missing)"
    log.warning("%s", reason)

    async def unavailable(request: Request) -> Response:
        return PlainTextResponse(reason + "\n", status_code=503)

    return [Route("/dicomweb/{path:path}", unavailable, methods=["GET", "POST"])]


def serve(config: ServerConfig, log_level: str = "info") -> None:
    """Run the server in the foreground until interrupted."""
    logging.basicConfig(
        level=getattr(logging, log_level.upper(), logging.INFO), format="%(levelname)s %(name)s: %(message)s"
    )
    raise_file_limit(config.max_connections + 256)
    sys.setswitchinterval(0.001)  # short requests get the interpreter soon when a long one runs
    settings = uvicorn.Config(
        create_app(config),
        host=config.host,
        port=config.port,
        log_level=log_level,
        access_log=log_level == "debug",
        timeout_graceful_shutdown=5,
        timeout_keep_alive=max(1, int(config.keep_alive)),
        http=guarded_protocol(
            config.header_timeout, config.body_timeout, config.max_connections, config.max_client_connections
        ),
        backlog=min(2048, config.max_connections),
        # Clients are told apart by their address (sign-in limits): a local client
        # must not name another with X-Forwarded-For. --public-url says https.
        proxy_headers=False,
    )
    redact_logs()  # after uvicorn set up its logging
    server = uvicorn.Server(settings)
    server.run()
    if not server.started:
        raise SystemExit(3)


def redact_logs() -> None:
    """Every handler of every logger shows URLs without their secrets."""
    loggers = [
        logging.getLogger(),
        *(v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger)),
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, RedactTokens) for f in handler.filters):
                handler.addFilter(RedactTokens())


class RedactTokens(logging.Filter):
    """Log lines show URLs without the values of parameters that may be
    secret (tokens, links, keys, passwords, codes), at every level."""

    _SECRET = re.compile(
        r"([?&;](?:[^=&\s\"']*?(?:token|secret|passw|key|auth|sig|link|code|session|credential)[^=&\s\"']*)=)"
        r"[^&\s\"'#;]+",
        re.IGNORECASE,
    )

    def _clean(self, value: object) -> object:
        return self._SECRET.sub(r"\1...", value) if isinstance(value, str) else value

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = self._SECRET.sub(r"\1...", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self._clean(v) for k, v in record.args.items()}
        return True
