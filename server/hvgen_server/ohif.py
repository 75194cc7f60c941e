"""The OHIF Viewer served by the platform at ``/ohif/`` (``hvgen serve --ohif DIST``).

``DIST`` is the built OHIF app (the ``dist/`` folder of the npm package
``@ohif/app``, which ``hvgen ohif fetch`` unpacks). It is built to live at
the root of a site; its files that say so (``index.html``, the stylesheet,
the scripts that set webpack's public path) are sent with ``/ohif/`` in
place of ``/`` (read once, kept in memory); every other file is sent as it
is. Nothing of OHIF is changed on disk.

``/ohif/app-config.js`` is written by the server for the person signed in
with the browser: one DICOMweb data source per record the person may see
(``record-RECORD``), at ``/dicomweb/records/RECORD`` of the origin the
browser reached: OHIF reads it with the browser's session cookie, same
origin, with no token in the page or its URL (:mod:`.dicomweb.access`). A
browser not signed in is sent to the sign-in page and back. OHIF's pages
get a Content-Security-Policy of their own: everything from this origin
only, with the inline script and WebAssembly the app needs (no ``eval``).

``/ohif/viewer/record-RECORD?StudyInstanceUIDs=UID`` opens a study (the
study viewer's "Open in OHIF" link).
"""

from __future__ import annotations

import json
import mimetypes
import threading
import time
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from . import websession
from .context import Platform
from .errors import ServerError
from .store.rows import RecordRow

PREFIX = "/ohif"
#: Content-Security-Policy of OHIF's pages: this origin only (OHIF runs inline script and WebAssembly).
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "worker-src 'self' blob:; connect-src 'self' data: blob:; media-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",  # (no page of another site or port loads these)
}
#: What a file built for the site's root says of it, and what it says at /ohif/ (by file suffix).
_ROOTED = {
    ".js": (('__webpack_require__.p = "/"', f'__webpack_require__.p = "{PREFIX}/"'),),
    ".html": (
        ('window.PUBLIC_URL="/"', f'window.PUBLIC_URL="{PREFIX}/"'),
        ('src="/', f'src="{PREFIX}/'),
        ('href="/', f'href="{PREFIX}/'),
    ),
    ".css": (("url(/", f"url({PREFIX}/"),),
}
_TYPES = {".wasm": "application/wasm", ".js": "text/javascript", ".mjs": "text/javascript", ".jsonc": "text/plain"}


class OhifError(ServerError):
    """A folder that is not a built OHIF app."""


def source_name(record_id: str) -> str:
    return f"record-{record_id}"


def study_link(record_id: str, study_uid: str) -> str:
    """Where OHIF opens a study of a record."""
    return f"{PREFIX}/viewer/{source_name(record_id)}?StudyInstanceUIDs={study_uid}"


def check_dist(dist: Path) -> Path:
    """``dist`` resolved, if it holds a built OHIF app (index.html and app-config.js)."""
    dist = dist.expanduser().resolve()
    if not (dist / "index.html").is_file() or not (dist / "app-config.js").is_file():
        raise OhifError(
            f"{dist} is not a built OHIF Viewer (no index.html and app-config.js): give the dist/ folder of "
            "the npm package @ohif/app (`hvgen ohif fetch DIR` puts it in DIR/dist)"
        )
    return dist


def app_config(records: list[RecordRow], origin: str) -> str:
    """The app-config.js of a browser whose person may see ``records``."""
    sources = []
    for record in records:
        root = f"{origin}/dicomweb/records/{record.record_id}"
        sources.append(
            {
                "namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
                "sourceName": source_name(record.record_id),
                "configuration": {
                    "friendlyName": record.name or record.record_id,
                    "name": "hvgen",
                    "qidoRoot": root,
                    "wadoRoot": root,
                    "wadoUriRoot": root + "/wado",
                    "qidoSupportsIncludeField": False,
                    "imageRendering": "wadors",
                    "thumbnailRendering": "wadors",
                    "enableStudyLazyLoad": True,
                    "supportsFuzzyMatching": False,
                    "supportsWildcard": True,
                    "staticWado": False,
                    "singlepart": "video",
                    "bulkDataURI": {"enabled": True, "relativeResolution": "studies"},
                    "omitQuotationForMultipartRequest": True,
                },
            }
        )
    config = {
        "routerBasename": PREFIX,
        "extensions": [],
        "modes": [],
        "customizationService": {},
        "showStudyList": True,
        "maxNumberOfWebWorkers": 2,
        "showWarningMessageForCrossOrigin": False,
        "showCPUFallbackMessage": True,
        "showLoadingIndicator": True,
        "strictZSpacingForVolumeViewport": True,
        "investigationalUseDialog": {"option": "never"},
        "defaultDataSourceName": sources[0]["sourceName"] if sources else "",
        "dataSources": sources,
    }
    return "window.config = " + json.dumps(config, indent=2) + ";\n"


class Ohif:
    """The OHIF app of ``dist``, served to the platform's signed-in browsers."""

    def __init__(self, platform: Platform, dist: Path) -> None:
        self.platform = platform
        self.dist = check_dist(dist)
        self._rewritten: dict[Path, bytes | None] = {}
        self._lock = threading.Lock()

    def routes(self) -> list[Route]:
        return [
            Route(PREFIX, self.redirect, methods=["GET", "HEAD"]),
            Route(PREFIX + "/app-config.js", self.config, methods=["GET", "HEAD"]),
            Route(PREFIX + "/{path:path}", self.file, methods=["GET", "HEAD"]),
        ]

    @staticmethod
    async def redirect(request: Request) -> Response:
        return RedirectResponse(PREFIX + "/", status_code=303)

    def _records(self, request: Request) -> list[RecordRow] | None:
        visitor = websession.visitor(self.platform, request, time.time())
        if visitor is None:
            return None
        with self.platform.store.read() as tx:
            if visitor.app_id is None:
                return list(tx.records.of_person(visitor.person.person_id))
            return list(tx.records.authorized_for(visitor.app_id, visitor.person.person_id))

    def config(self, request: Request) -> Response:
        # A script of the person's records: a page of another port of this host (same-site: the
        # browser sends the session cookie) must not run it and read its names
        if not websession.from_this_site(self.platform, request):
            return Response("only pages of this server load this\n", status_code=403, media_type="text/plain")
        records = self._records(request)
        if records is None:
            return Response("sign in first\n", status_code=401, media_type="text/plain")
        origin = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
        body = app_config(records, origin)
        return Response(body, media_type="text/javascript", headers={**HEADERS, "Cache-Control": "no-store"})

    def file(self, request: Request) -> Response:
        relative = request.path_params["path"]
        target = (self.dist / relative).resolve() if relative else self.dist / "index.html"
        if not target.is_relative_to(self.dist):
            return Response("not found\n", status_code=404, media_type="text/plain")
        if not target.is_file():  # a route of the app (/ohif/viewer/…): its page
            target = self.dist / "index.html"
        if target.name == "index.html":
            if self._records(request) is None:
                here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(websession.sign_in_url(here), status_code=303)
            page = self._rooted(target) or target.read_bytes()
            return Response(page, media_type="text/html", headers={**HEADERS, "Cache-Control": "no-store"})
        media = _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        rooted = self._rooted(target) if target.suffix in _ROOTED else None
        if rooted is not None:
            return Response(rooted, media_type=media, headers=HEADERS)
        return FileResponse(target, media_type=media, headers=HEADERS)

    def _rooted(self, path: Path) -> bytes | None:
        """The file with its root-relative paths moved under /ohif/, None when it has none
        (read once; only the files that change are kept)."""
        with self._lock:
            if path in self._rewritten:
                return self._rewritten[path]
        text = path.read_bytes().decode("utf-8", errors="surrogateescape")
        changes = _ROOTED[path.suffix]
        data = None
        if any(old in text for old, _ in changes):
            for old, new in changes:
                text = text.replace(old, new)
            data = text.encode("utf-8", errors="surrogateescape")
        with self._lock:
            self._rewritten[path] = data
        return data
