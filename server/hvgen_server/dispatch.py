"""Method requests: the one table of methods the platform offers, and the
way from request bytes to response bytes.

:data:`ENDPOINTS` maps each offered :class:`~healthvault.protocol.Method`
to its function, the access it needs and what a second copy of a request
gets (:class:`~.freshness.Replay`). :func:`handle` parses the envelope (the
runtime's protocol core), authenticates it (:mod:`.auth`), runs the method
and writes the response; every failure becomes a status response.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from healthvault import methods
from healthvault.errors import HealthVaultXmlError
from healthvault.methods import Method
from healthvault.protocol import write_ok, write_status
from healthvault.receiving import receive_request
from healthvault.status import HealthVaultStatusError, StatusCode

from .answers import as_response
from .auth import Access, authenticate, check_session
from .context import Context, Platform
from .errors import PlatformError
from .freshness import Replay, answered, check_timing, remember
from .limits import xml_limits
from .methods.appinfo import get_application_info
from .methods.blobs import begin_put_blob
from .methods.dicomweb import create_dicomweb_token
from .methods.packages import (
    allocate_package_id,
    begin_put_connect_package_blob,
    create_connect_package,
    pick_up_connect_package,
)
from .methods.persons import (
    associate_alternate_id,
    disassociate_alternate_id,
    get_alternate_ids,
    get_authorized_records,
    get_person_info,
)
from .methods.query import get_things, get_things_v1
from .methods.service import ServiceDefinition
from .methods.sessions import create_session, create_session_v1
from .methods.things import put_things, remove_things
from .methods.thingtype import get_thing_type
from .methods.viewer import create_viewer_link
from .store.base import Conflict, retried

log = logging.getLogger("hvgen_server")

#: A method's function: the response info (a binding, a ``wc:info`` element, or
#: None), or the whole response already written.
Handler = Callable[[Context], object]


@dataclass(frozen=True)
class Endpoint:
    """How the platform serves one method: its function, the access it
    needs, what a second copy of a request gets, and whether its msg-time
    is checked against the clock (CreateAuthenticatedSessionToken v1 is
    not: older clients send a fixed msg-time, and its credential is
    remembered instead)."""

    handler: Handler
    access: Access
    replay: Replay = Replay.REFUSED
    timed: bool = True


#: GetServiceDefinition lists the methods of the table below.
_service = ServiceDefinition(lambda: ENDPOINTS)

#: Every method the local platform offers.
ENDPOINTS: dict[Method, Endpoint] = {
    methods.GET_SERVICE_DEFINITION: Endpoint(_service.version_1, Access.APPLICATION, Replay.SERVED),
    methods.GET_SERVICE_DEFINITION2: Endpoint(_service.version_2, Access.APPLICATION, Replay.SERVED),
    methods.GET_APPLICATION_INFO: Endpoint(get_application_info, Access.SESSION, Replay.SERVED),
    methods.GET_THING_TYPE: Endpoint(get_thing_type, Access.APPLICATION, Replay.SERVED),
    methods.CREATE_AUTHENTICATED_SESSION_TOKEN: Endpoint(
        create_session_v1, Access.ANONYMOUS, Replay.SERVED, timed=False
    ),
    methods.CREATE_AUTHENTICATED_SESSION_TOKEN2: Endpoint(create_session, Access.ANONYMOUS),
    methods.PUT_THINGS: Endpoint(put_things, Access.RECORD),
    methods.GET_THINGS: Endpoint(get_things_v1, Access.RECORD, Replay.SERVED),
    methods.GET_THINGS3: Endpoint(get_things, Access.RECORD, Replay.SERVED),
    methods.REMOVE_THINGS: Endpoint(remove_things, Access.RECORD),
    methods.BEGIN_PUT_BLOB: Endpoint(begin_put_blob, Access.RECORD, Replay.SERVED),
    methods.ALLOCATE_PACKAGE_ID: Endpoint(allocate_package_id, Access.SESSION, Replay.SERVED),
    methods.BEGIN_PUT_CONNECT_PACKAGE_BLOB: Endpoint(begin_put_connect_package_blob, Access.SESSION, Replay.SERVED),
    methods.CREATE_CONNECT_PACKAGE: Endpoint(create_connect_package, Access.SESSION),
    methods.PICK_UP_CONNECT_PACKAGE: Endpoint(pick_up_connect_package, Access.RECORD),
    methods.GET_PERSON_INFO: Endpoint(get_person_info, Access.PERSON, Replay.SERVED),
    methods.GET_AUTHORIZED_RECORDS: Endpoint(get_authorized_records, Access.PERSON, Replay.SERVED),
    methods.ASSOCIATE_ALTERNATE_ID: Endpoint(associate_alternate_id, Access.RECORD, Replay.ANSWERED),
    methods.DISASSOCIATE_ALTERNATE_ID: Endpoint(disassociate_alternate_id, Access.RECORD, Replay.ANSWERED),
    methods.GET_ALTERNATE_IDS: Endpoint(get_alternate_ids, Access.RECORD, Replay.SERVED),
    methods.CREATE_DICOM_WEB_TOKEN: Endpoint(create_dicomweb_token, Access.RECORD),
    methods.CREATE_VIEWER_LINK: Endpoint(create_viewer_link, Access.RECORD),
}


def _run(endpoint: Endpoint, ctx: Context) -> object:
    """Run the method; again (after a short, random pause) when its write
    transaction lost to a concurrent one and was rolled back."""
    try:
        return retried(lambda: endpoint.handler(ctx))
    except Conflict as exc:
        raise PlatformError(
            StatusCode.CONCURRENCY_VIOLATION, f"the request kept conflicting with others ({exc}); send it again"
        ) from None


#: Largest request of a method that needs no session (read before anyone is known).
MAX_ANONYMOUS_BYTES = 64 * 1024


def admit(platform: Platform, head: bytes) -> None:
    """Let a request whose body is still arriving be read past its first bytes:
    ``head`` (its bytes up to the end of its ``<header>``) must name a method
    that takes a session, a live session, and carry that session's HMAC over
    the header, sent in time. The info-hash, the record and everything else
    are checked by :func:`handle` once the whole body is in.

    Raises:
        HealthVaultStatusError: the status to answer with (the rest of the body is not read).
    """
    try:
        end = head.rindex(b"</header>") + len(b"</header>")
        stub = head[:end] + b"<info/></wc-request:request>"  # the info is still arriving
        request = receive_request(stub, methods.METHODS, max_bytes=None, limits=xml_limits(platform.config))
        endpoint = ENDPOINTS.get(request.method)
        if endpoint is None:
            raise PlatformError(StatusCode.BAD_METHOD, f"{request.method} is not offered by the local platform")
        if endpoint.access is Access.ANONYMOUS or request.header.auth_session is None:
            raise PlatformError(
                StatusCode.REQUEST_TOO_LONG,
                f"{request.method.name} requests without a session are at most {MAX_ANONYMOUS_BYTES} bytes",
            )
        ctx = Context(platform, request=request)
        if endpoint.timed:
            check_timing(ctx)
        check_session(ctx)
    except (HealthVaultXmlError, ValueError) as exc:
        raise PlatformError(StatusCode.INVALID_XML, f"the request's header cannot be read: {exc}") from None


def handle(platform: Platform, raw: bytes) -> bytes:
    """Serve one method request; every failure becomes a status response.

    Only the header is read before the request is authenticated (its
    HMAC over the header bytes, the info-hash over the info bytes); the
    envelope is parsed, within the structure limits, after that. Methods
    without a session take small requests only.
    """
    method = "?"
    config = platform.config
    try:
        request = receive_request(raw, methods.METHODS, max_bytes=config.max_request_bytes, limits=xml_limits(config))
        method = str(request.method)
        endpoint = ENDPOINTS.get(request.method)
        if endpoint is None:
            raise PlatformError(StatusCode.BAD_METHOD, f"{request.method} is not offered by the local platform")
        anonymous = endpoint.access is Access.ANONYMOUS or (
            endpoint.access is Access.APPLICATION and request.header.auth_session is None
        )
        if anonymous and len(raw) > MAX_ANONYMOUS_BYTES:
            raise PlatformError(
                StatusCode.REQUEST_TOO_LONG,
                f"{request.method.name} requests are at most {MAX_ANONYMOUS_BYTES} bytes",
            )
        ctx = Context(platform, request=request)
        authenticate(ctx, endpoint.access, timed=endpoint.timed)
        request.check_envelope()
        if endpoint.replay is Replay.ANSWERED:
            return answered(ctx, as_response(lambda: _run(endpoint, ctx)))
        if endpoint.replay is Replay.REFUSED:
            remember(ctx)
        result = _run(endpoint, ctx)
        return result if isinstance(result, bytes) else write_ok(result)
    except HealthVaultStatusError as exc:
        log.info("%s -> %s %s", method, exc.code, exc.message)
        return write_status(exc.code, exc.message)
    except HealthVaultXmlError as exc:  # a value of the request its binding cannot read, met while serving it
        log.info("%s -> %s %s", method, int(StatusCode.INVALID_XML), exc)
        return write_status(StatusCode.INVALID_XML, str(exc))
    except Conflict as exc:
        log.info("%s -> conflict: %s", method, exc)
        return write_status(
            StatusCode.CONCURRENCY_VIOLATION, f"the request conflicted with another ({exc}); send it again"
        )
    except Exception:  # never a stack trace on the wire
        log.exception("internal error serving %s", method)
        return write_status(StatusCode.FAILED, "internal error; see the server log")
