"""How long a request is good for, and refusing it a second time.

A request names when it was sent (``msg-time``) and for how long it stays
valid (``msg-ttl``, which the local platform caps at ``max_msg_ttl``). One
that is older, or dated in the future beyond ``clock_skew``, is refused with
REQUEST_TIMED_OUT. Within that window the same bytes could be sent again by
anyone who captured them: requests that change something are remembered
(a digest of their header, which covers the info through its hash) until
their window closes, and a second copy is refused. Reads (GetThings,
GetServiceDefinition) and allocations (BeginPutBlob, AllocatePackageId,
BeginPutConnectPackageBlob) are not remembered: replaying a read returns
the same data to whoever replays it, an allocation gives an unused id or
upload URL that expires.

Times are read from the header's text with a strict pattern of their own,
so that no date the platform cannot hold (year 0, negative or five-digit
years) gets further than a clear INVALID_XML.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from healthvault import methods
from healthvault.methods import Method
from healthvault.status import StatusCode

from .context import Context
from .errors import PlatformError

#: Methods a replay of which changes nothing that matters (they are not
#: remembered): reads, and allocations of a fresh id or upload, which a client
#: may resend as they are after a lost response.
REPEATABLE: frozenset[Method] = frozenset(
    {
        methods.GET_THINGS3,
        methods.GET_SERVICE_DEFINITION,
        methods.BEGIN_PUT_BLOB,
        methods.ALLOCATE_PACKAGE_ID,
        methods.BEGIN_PUT_CONNECT_PACKAGE_BLOB,
    }
)

_DATETIME = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})?\s*$")


def parse_time(text: str | None, what: str) -> float:
    """Epoch seconds of an xs:dateTime (UTC when it names no zone), years 1-9999.

    Raises:
        PlatformError: INVALID_XML naming ``what``.
    """
    match = _DATETIME.match(text or "")
    if match is None:
        raise PlatformError(
            StatusCode.INVALID_XML,
            f"{what} {str(text)[:40]!r} is not a date-time of the form YYYY-MM-DDThh:mm:ss[.fffffff][Z]",
        )
    y, mo, d, h, mi, s, fraction, zone = match.groups()
    try:
        moment = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=dt.UTC)
        if zone and zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            moment -= sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    except (ValueError, OverflowError):
        raise PlatformError(StatusCode.INVALID_XML, f"{what} {text!r} is not a date the platform can hold") from None
    return moment.timestamp() + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def window(ctx: Context) -> tuple[float, float]:
    """(sent, expires): the request's msg-time and the end of its validity,
    msg-ttl capped at ``max_msg_ttl``."""
    header = ctx.request.header_element
    sent = parse_time(header.findtext("msg-time"), "msg-time")
    ttl_text = (header.findtext("msg-ttl") or "").strip()
    if not ttl_text.isdigit() or len(ttl_text) > 18:
        raise PlatformError(StatusCode.INVALID_XML, f"msg-ttl {ttl_text[:20]!r} is not a number of seconds")
    ttl = min(int(ttl_text), ctx.config.max_msg_ttl)
    return sent, sent + ttl


def check_timing(ctx: Context) -> None:
    """The request was sent recently (msg-time + msg-ttl) and not in the future."""
    sent, expires = window(ctx)
    if sent > ctx.now + ctx.config.clock_skew:
        raise PlatformError(StatusCode.REQUEST_TIMED_OUT, "msg-time is in the future")
    if expires < ctx.now:
        raise PlatformError(StatusCode.REQUEST_TIMED_OUT, "the request has expired (msg-time + msg-ttl)")


def remember(ctx: Context) -> None:
    """Refuse a request that changes something if it was received before."""
    if ctx.request.method in REPEATABLE:
        return
    request = ctx.request
    digest = hashlib.sha256(request.header_bytes)
    if request.header.info_hash is None:  # the header does not cover the info: add it
        digest.update(request.info_bytes)
    _, expires = window(ctx)
    with ctx.store.write() as tx:
        first = tx.requests.remember(digest.hexdigest(), expires + ctx.config.clock_skew, ctx.now)
    if not first:
        raise PlatformError(
            StatusCode.REQUEST_TIMED_OUT,
            "this request was already received (a replay); send a new request to do it again",
        )
