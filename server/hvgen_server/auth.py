"""Who may call what: request timing, integrity, sessions and record access.

Every method request is checked before its method runs: its ``msg-time`` and
``msg-ttl`` against the clock, its info-hash (and, in a session, its HMAC)
against the bytes as received, then what the method's :class:`Access` asks
for: an application id, a live session, or a record the session's
application may use.
"""

from __future__ import annotations

import enum
import uuid

from healthvault.receiving import verify_hmac, verify_info_hash
from healthvault.status import StatusCode

from .context import Context
from .errors import PlatformError
from .freshness import check_timing


class Access(enum.Enum):
    """What a method needs of its caller."""

    #: The request names its application (``app-id``); no session.
    ANONYMOUS = "anonymous"
    #: An authenticated session.
    SESSION = "session"
    #: A session, and a ``record-id`` its application may use.
    RECORD = "record"


def check_record(ctx: Context, app_id: str) -> str:
    """The request's record id (normalized), if the application may use it."""
    name = ctx.request.method.name
    record_id = (ctx.request.header.record_id or "").strip()
    if not record_id:
        raise PlatformError(StatusCode.INVALID_RECORD, f"{name} needs a record-id")
    try:
        record_id = str(uuid.UUID(record_id))
    except ValueError:
        raise PlatformError(StatusCode.INVALID_RECORD, "record-id is not a GUID") from None
    with ctx.store.read() as tx:  # one unit of work for both questions
        exists = tx.records.exists(record_id)
        allowed = exists and tx.records.authorized(app_id, record_id)
    if not exists:
        raise PlatformError(StatusCode.INVALID_RECORD, "unknown record")
    if not allowed:
        raise PlatformError(StatusCode.ACCESS_DENIED, "the application may not access this record")
    return record_id


def authenticate(ctx: Context, access: Access) -> None:
    """Check a request for a method of ``access``; sets ``ctx.app_id`` (and
    ``ctx.record_id`` for record methods)."""
    check_timing(ctx)
    request = ctx.request
    name = request.method.name
    if access is Access.ANONYMOUS:
        verify_info_hash(request, required=False)
        if not request.header.app_id:
            raise PlatformError(StatusCode.INVALID_APP, f"{name} needs an app-id")
        ctx.app_id = request.header.app_id
        return

    verify_info_hash(request, required=True)
    if request.header.auth_session is None:
        raise PlatformError(StatusCode.INVALID_TOKEN, f"{name} needs an authenticated session")
    session = ctx.store.session(request.header.auth_session.auth_token)
    if session is None:
        raise PlatformError(StatusCode.INVALID_TOKEN, "unknown session token")
    verify_hmac(request, session.secret)
    if session.expires < ctx.now:
        raise PlatformError(StatusCode.AUTHENTICATED_SESSION_TOKEN_EXPIRED, "the session has expired")
    ctx.app_id = session.app_id
    if access is Access.RECORD:
        ctx.record_id = check_record(ctx, session.app_id)
