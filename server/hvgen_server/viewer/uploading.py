"""Uploading DICOM files from the browser into the signed-in person's record.

Routes:
    GET  /viewer/upload/RECORD     the upload page: files or a folder chosen or dropped (static/upload.js)
    POST /viewer/upload/RECORD     one batch of files, as a STOW-RS body (``multipart/related;
                                   type="application/dicom"``, one part a file); the answer is JSON,
                                   one result a part

The page sends the files in batches (:data:`BATCH_FILES` files or
:data:`BATCH_BYTES` bytes, a larger file alone), each with upload progress;
the batch is parsed by STOW-RS's own parser (:class:`..dicomweb.stow.Parts`:
parts without the ``DICM`` prefix are never written) and stored by
STOW-RS's own in-process ingest (:func:`..dicomweb.stow.store`: the same
checks, decoding budget, de-duplication and one transaction a study). A
file that is not DICOM, or whose study could not be stored, is reported
for itself; the others are stored.

A post must come from the upload page of this server: ``Sec-Fetch-Site``
and ``Origin`` (:func:`..websession.from_this_site`, and an ``Origin`` is
required) and the page's CSRF token in the ``X-HVGen-CSRF`` header. A
browser signed in by a one-time link (read-only) cannot upload. A body
over :data:`MAX_UPLOAD_BYTES` is refused (413) as its ``Content-Length``
says, or as soon as it grows past it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hvgen_imaging import dicom

from .. import websession
from ..context import Platform
from ..dicomweb import stow
from ..dicomweb.access import RECORDS
from ..dicomweb.gateway import Gateway, ensure_gateway
from ..dicomweb.media import DicomWebError, Urls
from ..headers import page_csp
from ..ingest import Ingest
from ..store.rows import RecordRow
from ..websession import Visitor

#: Where uploads go (a path prefix of its own: its bodies are streamed, not read as a form).
UPLOAD_PATH = "/viewer/upload/"
#: The header that carries the page's CSRF token.
CSRF_HEADER = "X-HVGen-CSRF"
#: Largest body of one post (the page sends batches well under it; a larger single file is refused).
MAX_UPLOAD_BYTES = 1024 * 1024 * 1024
#: Files of one post at most.
MAX_UPLOAD_FILES = 500
#: What the page puts in one batch.
BATCH_FILES, BATCH_BYTES = 50, 32 * 1024 * 1024
#: Uploads stored at once.
SLOTS = 1


class Pages(Protocol):
    """What the upload needs of the viewer (:class:`.pages.Viewer`)."""

    platform: Platform

    def _page(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]: ...

    def _record(self, request: Request) -> tuple[Visitor, RecordRow]: ...

    def _render(self, request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response: ...


class _Parts(stow.Parts):
    """STOW-RS's parts, remembering which part each rejection is about."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rejected_parts: dict[int, str] = {}

    def _reject(self, why: str) -> None:
        super()._reject(why)
        self.rejected_parts[self.count] = "This file " + why.removeprefix(f"part {self.count} ")


@dataclass
class _Answer:
    files: list[dict[str, Any]] = field(default_factory=list)
    studies: dict[str, dict[str, str]] = field(default_factory=dict)


def _json(status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":")).encode("utf-8")
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _refused(status: int, message: str) -> Response:
    return _json(status, {"error": message})


class Uploads:
    """The upload page and its posts, for the viewer ``pages``."""

    def __init__(self, pages: Pages) -> None:
        self.pages = pages
        self.platform = pages.platform
        self._gateway: Gateway | None = None
        self._slots = asyncio.Semaphore(SLOTS)

    def routes(self) -> list[BaseRoute]:
        path = UPLOAD_PATH + "{record_id}"
        return [Route(path, self.pages._page(self.page)), Route(path, self.post, methods=["POST"])]

    @property
    def gateway(self) -> Gateway:
        if self._gateway is None:
            self._gateway = ensure_gateway(self.platform)
        return self._gateway

    def page(self, request: Request) -> Response:
        visitor, record = self.pages._record(request)
        context = {
            "visitor": visitor,
            "record": record,
            "read_only": visitor.app_id is not None,
            "limits": {"max": MAX_UPLOAD_BYTES, "files": BATCH_FILES, "bytes": BATCH_BYTES},
        }
        response = self.pages._render(request, "viewer/upload.html", context)
        response.headers["Content-Security-Policy"] = page_csp(connect=True)
        return response

    def _allowed(self, request: Request) -> tuple[int, str] | RecordRow:
        """The record posted to, or why the post is refused."""
        platform = self.platform
        if not websession.from_this_site(platform, request) or not request.headers.get("origin"):
            return 403, "Uploads must come from the upload page of this server."
        if not websession.csrf_ok(platform, request, request.headers.get(CSRF_HEADER)):
            return 403, "The upload page expired; reload it and try again."
        visitor = websession.visitor(platform, request, time.time())
        if visitor is None:
            return 401, "Sign in first."
        try:
            record_id = str(uuid.UUID(request.path_params["record_id"]))
        except ValueError:
            return 404, "There is no record at this address."
        record = platform.store.record(record_id)
        if record is None or record.person_id != visitor.person.person_id:
            return 404, "There is no record of yours at this address."
        if visitor.app_id is not None:
            return 403, "A link an application gave you only shows studies; uploading needs your own sign-in."
        return record

    async def post(self, request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and (len(declared) > 18 or int(declared) > MAX_UPLOAD_BYTES):
            return _refused(413, f"An upload is at most {MAX_UPLOAD_BYTES // 2**20} MiB a request; this one is larger.")
        allowed = await run_in_threadpool(self._allowed, request)
        if not isinstance(allowed, RecordRow):
            return _refused(*allowed)
        try:
            return await self._store(request, allowed.record_id)
        except DicomWebError as exc:
            return _refused(exc.status, exc.message[:1].upper() + exc.message[1:] + ".")

    async def _store(self, request: Request, record_id: str) -> Response:
        boundary = stow.boundary_of(request.headers.get("content-type"))
        gateway = await run_in_threadpool(lambda: self.gateway)
        folder = self.platform.config.data_dir / "gateway" / "incoming" / uuid.uuid4().hex
        parts: _Parts | None = None
        try:
            parts = await run_in_threadpool(_Parts, folder, boundary, MAX_UPLOAD_BYTES, MAX_UPLOAD_FILES)
            await stow.receive(
                request, parts, self.platform.config.body_timeout, "the browser went away before the upload ended"
            )
            await run_in_threadpool(parts.finish)
            async with self._slots:
                answer = await run_in_threadpool(self._ingest, gateway, record_id, parts)
        finally:
            if parts is not None:
                parts.close()
            await run_in_threadpool(stow.cleanup, folder)
        return _json(200, {"files": answer.files, "studies": list(answer.studies.values())})

    def _ingest(self, gateway: Gateway, record_id: str, parts: _Parts) -> _Answer:
        """Store the parts as STOW-RS does; one result a part, in order."""
        scanned = dicom.scan(parts.folder)
        urls = Urls(f"{self.platform.config.url}/dicomweb{RECORDS}/{record_id}")
        outcome = stow.store(self.platform, gateway, record_id, parts, None, urls, scanned=scanned, hidden_flags=0)
        stored = {sop for _, sop, _ in outcome.stored}
        by_part: dict[int, dict[str, Any]] = {}
        for number, why in parts.rejected_parts.items():
            by_part[number] = {"status": "not-dicom", "message": why}
        for path, why in scanned.skipped:
            by_part[_part_number(path.stem)] = {
                "status": "not-dicom",
                "message": f"This file cannot be read as DICOM: {why}",
            }
        answer = _Answer()
        ingest = Ingest(self.platform, gateway.app_id, record_id, hidden_flags=0)  # (the person's own view)
        for found in scanned.studies:
            link = ""
            if found.uid in outcome.studies:
                versions = ingest.find(found.uid)
                link = f"/viewer/{record_id}/{versions[0].thing_id}" if versions else ""
                patient = dicom.text(found.first, "PatientName") or ""
                answer.studies[found.uid] = {"uid": found.uid, "link": link, "patient": patient}
            problem = next((n for n in outcome.notes if n.startswith(f"study {found.uid} ")), "it was not stored")
            for image in found.images:
                number = _part_number(image.path.stem)
                if image.sop_instance_uid in stored and link:
                    by_part[number] = {"status": "stored", "study": found.uid, "link": link}
                else:
                    by_part[number] = {"status": "failed", "study": found.uid, "message": problem}
        for number in range(1, parts.count + 1):
            result = by_part.get(number, {"status": "failed", "message": "not stored"})
            answer.files.append({"part": number, **result})
        return answer


def _part_number(stem: str) -> int:
    """The part number of ``part-000012`` (0 for another name)."""
    head, _, number = stem.partition("-")
    return int(number) if head == "part" and number.isdigit() else 0


__all__ = ["CSRF_HEADER", "MAX_UPLOAD_BYTES", "UPLOAD_PATH", "Uploads"]
