"""The HTTP routes of the FHIR service under ``/fhir`` (Starlette).

Answers are ``application/fhir+json``; errors are an OperationOutcome with
their HTTP status. Blocking work (the store, mapping) runs in worker threads.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Match, Route

from ..context import Platform
from ..errors import PlatformError
from ..headers import ATTACHMENT
from ..limits import timed_stream
from ..store.rows import ThingSelection
from . import bulk, importing, reading, search
from .access import Caller, authenticate, hidden_flags
from .capability import capability_statement
from .documents import XML
from .errors import FhirError, outcome

PREFIX = "/fhir"
FHIR_JSON = "application/fhir+json"
NDJSON = "application/fhir+ndjson"
#: Largest body of a create or a transaction.
MAX_BODY = 32 * 1024 * 1024
NO_HISTORY = "history is not supported: each resource's current version is served (and read by its _history/VERSION)"
#: Largest form of a search by POST.
MAX_FORM = 64 * 1024
#: Deepest nesting of a JSON body (FHIR resources nest a dozen levels or so).
MAX_DEPTH = 64
#: Media ranges of an Accept header this service's JSON answers.
_JSON_RANGES = frozenset({"*/*", "application/*", "application/json", "application/fhir+json", "application/json+fhir"})
#: _format values of JSON.
_JSON_FORMATS = frozenset({"json", "application/json", "application/fhir+json", "application/json+fhir"})
#: Media types of a body this service reads ("" is a body with no Content-Type).
_BODY_TYPES = frozenset({"", "application/json", "application/fhir+json", "application/json+fhir", NDJSON})


def _negotiate(request: Request) -> None:
    """Refuse (406) a request for an answer other than JSON."""
    fmt = request.query_params.get("_format")
    if fmt is not None and fmt.strip().lower() not in _JSON_FORMATS:
        raise FhirError(406, f"_format {fmt!r}: this server answers JSON only (_format=json, {FHIR_JSON})")
    accept = request.headers.get("accept", "").strip()
    ranges = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    if accept and not ranges & _JSON_RANGES:
        raise FhirError(406, f"Accept {accept!r}: this server answers JSON only ({FHIR_JSON})")


def _too_deep(data: Any) -> bool:
    """Whether JSON data nests deeper than :data:`MAX_DEPTH` (looked at without recursion)."""
    level: list[Any] = [data]
    for _ in range(MAX_DEPTH + 1):
        level = [
            item
            for value in level
            for item in (value.values() if isinstance(value, dict) else value if isinstance(value, list) else ())
            if isinstance(item, dict | list)
        ]
        if not level:
            return False
    return True


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def routes(platform: Platform) -> list[Route]:
    """The FHIR routes of the platform."""
    jobs = bulk.ExportJobs(platform)

    def base() -> str:
        return platform.config.url + PREFIX

    def endpoint(
        handler: Callable[[Request], Awaitable[Response]], negotiate: bool = True
    ) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            try:
                if negotiate:
                    _negotiate(request)
                return await handler(request)
            except FhirError as exc:
                headers = {"Allow": exc.allow} if exc.allow else None
                return _json(exc.outcome(), exc.status, headers)

        return serve

    async def caller_of(request: Request) -> Caller:
        wanted = request.query_params.get("patient") or request.query_params.get("subject")
        if request.path_params.get("type") == "Patient" and request.path_params.get("id"):
            wanted = request.path_params["id"]
        record = wanted.removeprefix("Patient/") if wanted else None
        return await run_in_threadpool(authenticate, platform, request, record)

    def resource_type(request: Request) -> str:
        kind = request.path_params["type"]
        if kind not in platform.fhir.resource_types():
            raise FhirError(404, f"{kind} is not a resource type this server serves (see {base()}/metadata)")
        return str(kind)

    async def metadata(request: Request) -> Response:
        try:
            version = package_version("hvgen")
        except PackageNotFoundError:
            version = "unknown"
        return _json(capability_statement(platform.fhir, base(), version))

    async def read(request: Request) -> Response:
        kind = resource_type(request)
        if request.path_params["id"] == "_history":
            raise FhirError(501, NO_HISTORY)
        caller = await caller_of(request)
        wanted = str(request.path_params["id"]).lower()
        resource = await run_in_threadpool(reading.read, platform, caller, kind, wanted)
        return _json(
            resource,
            headers={"ETag": f'W/"{resource.get("meta", {}).get("versionId", "")}"'} if kind != "Patient" else None,
        )

    async def find(request: Request) -> Response:
        kind = resource_type(request)
        caller = await caller_of(request)
        parsed = search.parse(kind, request.query_params.multi_items(), caller.record_id)

        return _json(await run_in_threadpool(reading.find, platform, caller, kind, parsed, base()))

    async def raw_body(request: Request, most: int = MAX_BODY) -> bytes:
        chunks, size = [], 0
        try:
            async for chunk in timed_stream(request, platform.config.body_timeout):
                size += len(chunk)
                if size > most:
                    raise FhirError(413, f"a FHIR body here is at most {most} bytes")
                chunks.append(chunk)
        except ClientDisconnect:
            raise FhirError(400, "the client went away before the body ended") from None
        except PlatformError as exc:
            raise FhirError(408, exc.message) from None
        return b"".join(chunks)

    async def body_of(request: Request) -> Any:
        data = await raw_body(request)
        if request.headers.get("content-type", "").split(";")[0].strip().lower() == NDJSON:
            found: Any = list(importing.ndjson(data.splitlines()))
        else:
            try:
                found = json.loads(data)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise FhirError(400, "the body is not JSON") from None
            except RecursionError:
                found = None
        if found is None and data.strip() != b"null" or _too_deep(found):
            raise FhirError(400, f"the body nests deeper than {MAX_DEPTH} levels: it is no FHIR resource")
        return found

    def body_type(request: Request) -> None:
        """Refuse (415) a body of another media type than JSON (or NDJSON)."""
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in _BODY_TYPES:
            raise FhirError(415, f"a body of Content-Type {media!r} is not read: send {FHIR_JSON} (JSON only)")

    async def write_caller(request: Request) -> Caller:
        caller = await caller_of(request)
        if caller.app_id is None:
            raise FhirError(403, "writes need a bearer token (`hvgen token`); the browser session reads only")
        return caller

    async def create(request: Request) -> Response:
        kind = resource_type(request)
        caller = await write_caller(request)
        body_type(request)
        if request.headers.get("if-none-exist"):
            raise FhirError(
                400,
                "If-None-Exist (a conditional create) is not supported: give the resource an identifier "
                "(one imported already updates its thing instead of adding another)",
                "not-supported",
            )
        data = await body_of(request)
        if not isinstance(data, dict) or data.get("resourceType") != kind:
            raise FhirError(400, f"POST {PREFIX}/{kind} needs a {kind} resource")

        def run() -> tuple[list[tuple[str, str | None, str | None, bool]], dict[str, Any]]:
            planned = importing.plan(platform, caller.record_id, [data], hidden_flags(caller))
            stored = importing.store(platform, caller.record_id, str(caller.app_id), planned)
            _kind, thing_id, _stamp, _created = stored[0]
            with platform.store.read() as tx:
                found = [
                    m.version
                    for m in tx.things.select(
                        caller.record_id, ThingSelection(thing_ids=(str(thing_id),)), with_xml=True
                    )
                ]
            return stored, platform.fhir.resource(caller.record_id, found[0])

        if kind == "Patient":
            raise FhirError(405, "the Patient is the record itself: it cannot be created")
        stored, resource = await run_in_threadpool(run)
        created = stored[0][3]
        location = f"{base()}/{kind}/{resource['id']}/_history/{resource['meta']['versionId']}"
        return _json(resource, 201 if created else 200, headers={"Location": location})

    async def transaction(request: Request) -> Response:
        caller = await write_caller(request)
        body_type(request)
        data = await body_of(request)
        if (
            not isinstance(data, dict)
            or data.get("resourceType") != "Bundle"
            or data.get("type") not in ("transaction", "batch")
        ):
            raise FhirError(400, f"POST {PREFIX} needs a Bundle of type transaction or batch")
        record, app_id, hidden = caller.record_id, str(caller.app_id), hidden_flags(caller)

        def run() -> list[dict[str, Any]]:  # all or nothing
            planned = importing.plan(platform, record, importing.resources_of(data), hidden)
            return [{"response": _response(*done)} for done in importing.store(platform, record, app_id, planned)]

        def run_batch() -> list[dict[str, Any]]:  # each entry on its own (R4 http.html#transaction)
            entries = data.get("entry") or []
            if not isinstance(entries, list) or len(entries) > importing.MAX_RESOURCES:
                raise FhirError(400, f"a batch's entry is a list of at most {importing.MAX_RESOURCES} entries")
            out = []
            for i, entry in enumerate(entries):
                try:
                    resource = importing.entry_resource(entry, i, "batch")
                    planned = importing.plan(platform, record, [resource], hidden, first=i)
                    out.append({"response": _response(*importing.store(platform, record, app_id, planned)[0])})
                except FhirError as exc:
                    status = f"{exc.status} {HTTPStatus(exc.status).phrase}"
                    out.append({"response": {"status": status, "outcome": exc.outcome()}})
            return out

        entries = await run_in_threadpool(run if data["type"] == "transaction" else run_batch)
        return _json({"resourceType": "Bundle", "type": f"{data['type']}-response", "entry": entries})

    async def kick_off(request: Request) -> Response:
        caller = await caller_of(request)
        if "respond-async" not in request.headers.get("prefer", ""):
            raise FhirError(400, "$export needs the header Prefer: respond-async")
        wanted = request.query_params.get("_type")
        types = platform.fhir.resource_types()
        if wanted:
            asked = [t.strip() for t in wanted.split(",") if t.strip()]
            unknown = [t for t in asked if t not in types]
            if unknown:
                raise FhirError(400, f"_type names resource types this server does not serve: {', '.join(unknown)}")
            types = asked
        for name in request.query_params:
            if name not in ("_type", "_outputFormat", "_since"):
                raise FhirError(
                    400, f"$export does not support the parameter {name!r} (only _type, _since, _outputFormat)"
                )
        since = request.query_params.get("_since")
        fmt = request.query_params.get("_outputFormat", "application/fhir+ndjson")
        if fmt not in ("application/fhir+ndjson", "application/ndjson", "ndjson"):
            raise FhirError(400, f"_outputFormat {fmt!r} is not supported (application/fhir+ndjson)")
        job = await run_in_threadpool(
            jobs.start, caller, types, bulk.instant(since) if since else None, str(request.url)
        )
        if job is None:
            raise FhirError(
                429, f"{bulk.MAX_JOBS} exports are kept already; delete one (DELETE its status URL)", "throttled"
            )
        return Response(status_code=202, headers={"Content-Location": f"{base()}/$export-status/{job.job_id}"})

    async def status(request: Request) -> Response:
        caller = await caller_of(request)
        job = await run_in_threadpool(jobs.get, request.path_params["job"], caller)
        if job is None:
            raise FhirError(404, "no such export job")
        if request.method == "DELETE":
            await run_in_threadpool(jobs.remove, job.job_id, caller)
            return Response(status_code=202)
        if job.state == "running":
            return Response(status_code=202, headers={"X-Progress": "running", "Retry-After": "1"})
        if job.error:
            return _json(outcome("error", "exception", job.error), 500)
        return Response(json.dumps(bulk.manifest(job, base())).encode(), media_type="application/json")

    async def output(request: Request) -> Response:
        caller = await caller_of(request)
        job = await run_in_threadpool(jobs.get, request.path_params["job"], caller)
        name = str(request.path_params["name"])
        if job is None or job.state != "done" or name.removesuffix(".ndjson") not in bulk.counts(job):
            raise FhirError(404, "no such export file")
        blob_id = bulk.blob_of(job, name.removesuffix(".ndjson"))
        if blob_id is None:
            raise FhirError(404, "no such export file")
        size = await run_in_threadpool(platform.files.size, blob_id)
        headers = {"Content-Length": str(size)}
        return StreamingResponse(platform.files.read(blob_id), headers=headers, media_type="application/fhir+ndjson")

    async def attachment(request: Request) -> Response:
        caller = await caller_of(request)
        wanted = str(request.path_params["id"]).lower()
        found = await run_in_threadpool(reading.attachment, platform, caller, wanted)
        headers = {**ATTACHMENT, "Cache-Control": "private, max-age=0"}
        if isinstance(found, bytes):  # a CCR or CDA: the document's bytes as stored
            return Response(found, headers=headers, media_type=XML)
        blob_id, media, size = found
        headers["Content-Length"] = str(size)
        return StreamingResponse(platform.files.read(blob_id), headers=headers, media_type=media)

    async def vread(request: Request) -> Response:
        kind = resource_type(request)
        caller = await caller_of(request)
        wanted, version = str(request.path_params["id"]).lower(), str(request.path_params["vid"])
        resource = await run_in_threadpool(reading.read, platform, caller, kind, wanted)
        current = resource.get("meta", {}).get("versionId")
        if current != version:
            raise FhirError(
                404,
                f"{kind}/{wanted} has no version {version} here: only its current version "
                f"({current or 'none'}) is served (no history)",
            )
        return _json(resource, headers={"ETag": f'W/"{current}"'})

    async def post_search(request: Request) -> Response:
        kind = resource_type(request)
        caller = await caller_of(request)
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/x-www-form-urlencoded":
            raise FhirError(415, "POST _search takes its parameters as application/x-www-form-urlencoded")
        try:
            form = parse_qsl((await raw_body(request, MAX_FORM)).decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise FhirError(400, "the search's form is not UTF-8") from None
        params = [*request.query_params.multi_items(), *form]
        parsed = search.parse(kind, params, caller.record_id)
        return _json(await run_in_threadpool(reading.find, platform, caller, kind, parsed, base()))

    fhir_routes: list[Route] = []

    async def elsewhere(request: Request) -> Response:
        allowed = sorted(
            {m for r in fhir_routes for m in r.methods or () if r.matches(request.scope)[0] == Match.PARTIAL}
        )
        path = request.url.path
        if allowed:
            methods = ", ".join(allowed)
            raise FhirError(
                405, f"{request.method} {path} is not supported (this server allows {methods})", allow=methods
            )
        if "/_history" in path:
            raise FhirError(501, NO_HISTORY)
        if "$" in path:
            raise FhirError(501, f"{path}: this operation is not supported (see {base()}/metadata)")
        raise FhirError(404, f"{path}: no such FHIR endpoint here (see {base()}/metadata)")

    fhir_routes += [
        Route(PREFIX + "/metadata", endpoint(metadata), methods=["GET"]),
        Route(PREFIX + "/DocumentReference/{id}/attachment", endpoint(attachment, False), methods=["GET"]),
        Route(PREFIX + "/$export", endpoint(kick_off), methods=["GET"]),
        Route(PREFIX + "/$export-status/{job}", endpoint(status), methods=["GET", "DELETE"]),
        Route(PREFIX + "/$export-files/{job}/{name}", endpoint(output, False), methods=["GET"]),
        Route(PREFIX, endpoint(transaction), methods=["POST"]),
        Route(PREFIX + "/{type}", endpoint(find), methods=["GET"]),
        Route(PREFIX + "/{type}", endpoint(create), methods=["POST"]),
        Route(PREFIX + "/{type}/_search", endpoint(post_search), methods=["POST"]),
        Route(PREFIX + "/{type}/{id}", endpoint(read), methods=["GET"]),
        Route(PREFIX + "/{type}/{id}/_history/{vid}", endpoint(vread), methods=["GET"]),
    ]
    every = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
    return [*fhir_routes, Route(PREFIX + "/{rest:path}", endpoint(elsewhere, False), methods=every)]


def _response(kind: str, thing_id: str | None, stamp: str | None, created: bool) -> dict[str, Any]:
    """A transaction or batch response entry of one stored resource."""
    response: dict[str, Any] = {"status": "201 Created" if created else "200 OK", "location": f"{kind}/{thing_id}"}
    if stamp:
        response["etag"] = f'W/"{stamp}"'
    return response
