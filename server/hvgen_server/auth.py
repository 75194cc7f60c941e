"""Who may call what: request timing, integrity, sessions, persons and record access.

Every method request is checked before its method runs: its ``msg-time`` and
``msg-ttl`` against the clock, its info-hash (and, in a session, its HMAC,
of the algorithm the session was opened with) against the bytes as
received, then what the method's :class:`Access` asks for: an application
id, a live session, a person, or a record the application may use.

The person an application acts for is named in the header: a
``user-auth-token`` (the wctoken the sign-in page handed the application,
:mod:`.shell`) for a person signed in, or ``offline-person-id``. Either
must be a person who authorized that application; for a record, that
record. A session that names no person acts on the application's own
authorization for the record (the person who gave it is recorded in
audits), as this project's own client does.
"""

from __future__ import annotations

import enum
import hashlib
import uuid

from healthvault.receiving import verify_hmac, verify_info_hash
from healthvault.status import StatusCode

from . import sessionseal
from .context import Context
from .errors import PlatformError
from .freshness import check_timing
from .store.rows import WCTOKEN, SessionRow


class Access(enum.Enum):
    """What a method needs of its caller."""

    #: The request names its application (``app-id``); no session.
    ANONYMOUS = "anonymous"
    #: An application: its ``app-id`` without a session, or a session (which is checked).
    APPLICATION = "application"
    #: An authenticated session.
    SESSION = "session"
    #: A session acting for a person (``user-auth-token`` or ``offline-person-id``).
    PERSON = "person"
    #: A session, and a ``record-id`` its application may use.
    RECORD = "record"


def token_digest(token: str) -> str:
    """How the store names a person token (it never keeps the token itself)."""
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()


def _guid(text: str, what: str, code: StatusCode) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise PlatformError(code, f"{what} is not a GUID") from None


def check_person(ctx: Context, session: SessionRow) -> str | None:
    """The person the request names (and sets ``ctx.avenue``), or None."""
    info = ctx.request.header.auth_session
    if info is None:
        return None
    if info.user_auth_token is not None:
        token = info.user_auth_token.strip()
        found = ctx.store.person_token(token_digest(token)) if token else None
        if found is None or found.kind != WCTOKEN:
            raise PlatformError(StatusCode.INVALID_TOKEN, "unknown user-auth-token; the person must sign in again")
        if found.app_id != session.app_id:
            raise PlatformError(StatusCode.INVALID_TOKEN, "the user-auth-token was issued to another application")
        if found.expires < ctx.now:
            raise PlatformError(
                StatusCode.CREDENTIAL_TOKEN_EXPIRED, "the user-auth-token has expired; the person must sign in again"
            )
        ctx.avenue = "Online"
        return found.person_id
    if info.offline_person_info is not None:
        person_id = _guid(info.offline_person_info.offline_person_id, "offline-person-id", StatusCode.INVALID_PERSON)
        if ctx.store.person(person_id) is None:
            raise PlatformError(StatusCode.INVALID_PERSON, "unknown offline-person-id")
        ctx.avenue = "Offline"
        return person_id
    return None


def check_record(ctx: Context, app_id: str, person_id: str | None = None) -> str:
    """The request's record id (normalized), if the application may use it
    (and, when a person is named, that person authorized it for the record)."""
    name = ctx.request.method.name
    record_id = (ctx.request.header.record_id or "").strip()
    if not record_id:
        raise PlatformError(StatusCode.INVALID_RECORD, f"{name} needs a record-id")
    record_id = _guid(record_id, "record-id", StatusCode.INVALID_RECORD)
    with ctx.store.read() as tx:  # one unit of work for both questions
        record = tx.records.get(record_id)
        allowed = record is not None and tx.records.authorized(app_id, record_id)
    if record is None:
        raise PlatformError(StatusCode.INVALID_RECORD, "unknown record")
    if not allowed:
        raise PlatformError(StatusCode.ACCESS_DENIED, "the application may not access this record")
    if person_id is not None and record.person_id != person_id:
        raise PlatformError(StatusCode.ACCESS_DENIED, "the person has not authorized the application for this record")
    ctx.person_id = record.person_id
    return record_id


def check_session(ctx: Context) -> SessionRow:
    """The live session the request's header names, its HMAC over the header checked."""
    request = ctx.request
    if request.header.auth_session is None:
        raise PlatformError(StatusCode.INVALID_TOKEN, f"{request.method.name} needs an authenticated session")
    session = sessionseal.find(ctx.store, ctx.key, request.header.auth_session.auth_token)
    if session is None:
        raise PlatformError(StatusCode.INVALID_TOKEN, "unknown session token")
    verify_hmac(request, session.secret, session.algorithm)
    if session.expires < ctx.now:
        raise PlatformError(StatusCode.AUTHENTICATED_SESSION_TOKEN_EXPIRED, "the session has expired")
    return session


def authenticate(ctx: Context, access: Access, *, timed: bool = True) -> None:
    """Check a request for a method of ``access``; sets ``ctx.app_id`` (and
    ``ctx.person_id`` and ``ctx.record_id`` as the method needs them).
    ``timed=False`` leaves out the clock check (for a method whose
    credential is checked otherwise)."""
    if timed:
        check_timing(ctx)
    request = ctx.request
    name = request.method.name
    if access is Access.APPLICATION:
        access = Access.ANONYMOUS if request.header.auth_session is None else Access.SESSION
    if access is Access.ANONYMOUS:
        verify_info_hash(request, required=False)
        if not request.header.app_id:
            raise PlatformError(StatusCode.INVALID_APP, f"{name} needs an app-id")
        ctx.app_id = request.header.app_id
        return

    verify_info_hash(request, required=True)
    session = check_session(ctx)
    ctx.app_id = session.app_id
    person_id = check_person(ctx, session)
    if person_id is not None:
        ctx.person_id = person_id
    if access is Access.PERSON and person_id is None:
        raise PlatformError(
            StatusCode.INVALID_PERSON,
            f"{name} acts for a person: send the user-auth-token of a signed-in person or an offline-person-id",
        )
    if access is Access.RECORD:
        ctx.record_id = check_record(ctx, session.app_id, person_id)
