"""How long a request is good for, and what a second copy of it gets.

A request names when it was sent (``msg-time``) and for how long it stays
valid (``msg-ttl``, which the local platform caps at ``max_msg_ttl``). One
that is older, or dated in the future beyond ``clock_skew``, is refused with
REQUEST_TIMED_OUT.

``msg-time`` is read as xs:dateTime: ``YYYY-MM-DDThh:mm:ss``, 0 to 7
fractional digits, then ``Z``, an offset, or nothing. Nothing is the
client's local time in a zone the server cannot know (older clients write
it so): such a request is valid when some time zone of the world (UTC-12:00
to UTC+14:00) makes it valid, so its window is 26 hours wider.

Within its window the same bytes could be sent again by anyone who captured
them. What a second copy gets depends on the method (the ``replay`` of its
endpoint, :class:`Replay`): requests that change something are remembered
(a digest of their header, which covers the info through its hash) until
their window closes, and a copy is refused; for some of them the copy gets
the first copy's answer instead, so that a client resending a request after
a lost response gets what it missed and nothing is done twice. Reads and
allocations are not remembered.

Times are read from the header's text with a strict pattern of their own,
so that no date the platform cannot hold (year 0, negative or five-digit
years) gets further than a clear INVALID_XML.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
from collections.abc import Callable

from healthvault.status import StatusCode

from .context import Context
from .errors import PlatformError


class Replay(enum.Enum):
    """What a second copy of a request gets."""

    #: Refused (REQUEST_TIMED_OUT): the request changes something.
    REFUSED = "refused"
    #: The first copy's answer, without doing it again.
    ANSWERED = "answered"
    #: Served again: reads, and allocations of a fresh id or upload URL.
    SERVED = "served"


#: Seconds a zone-less msg-time may be ahead of UTC (UTC+14:00) or behind it (UTC-12:00).
ZONES_AHEAD = 14 * 3600
ZONES_BEHIND = 12 * 3600

_DATETIME = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})?\s*$")


def read_time(text: str | None, what: str) -> tuple[float, bool]:
    """Epoch seconds of an xs:dateTime (as if UTC when it names no zone),
    years 1-9999, and whether it named a zone.

    Raises:
        PlatformError: INVALID_XML naming ``what``.
    """
    match = _DATETIME.match(text or "")
    if match is None:
        raise PlatformError(
            StatusCode.INVALID_XML,
            f"{what} {str(text)[:40]!r} is not a date-time of the form YYYY-MM-DDThh:mm:ss[.fffffff][Z|+hh:mm]",
        )
    y, mo, d, h, mi, s, fraction, zone = match.groups()
    try:
        moment = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=dt.UTC)
        if zone and zone != "Z":
            sign = -1 if zone[0] == "-" else 1
            moment -= sign * dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    except (ValueError, OverflowError):
        raise PlatformError(StatusCode.INVALID_XML, f"{what} {text!r} is not a date the platform can hold") from None
    return moment.timestamp() + (int(fraction) / 10 ** len(fraction) if fraction else 0.0), zone is not None


def parse_time(text: str | None, what: str) -> float:
    """Epoch seconds of an xs:dateTime (UTC when it names no zone)."""
    return read_time(text, what)[0]


def span(text: str | None, what: str) -> tuple[float, float]:
    """(earliest, latest): the moments an xs:dateTime can mean; one moment
    when it names a zone, 26 hours of them when it does not."""
    moment, zoned = read_time(text, what)
    return (moment, moment) if zoned else (moment - ZONES_AHEAD, moment + ZONES_BEHIND)


def window(ctx: Context) -> tuple[float, float]:
    """(sent, expires): the earliest moment the request's msg-time can mean,
    and the latest end of its validity, msg-ttl capped at ``max_msg_ttl``."""
    header = ctx.request.header_element
    earliest, latest = span(header.findtext("msg-time"), "msg-time")
    ttl_text = (header.findtext("msg-ttl") or "").strip()
    if not ttl_text.isdigit() or len(ttl_text) > 18:
        raise PlatformError(StatusCode.INVALID_XML, f"msg-ttl {ttl_text[:20]!r} is not a number of seconds")
    ttl = min(int(ttl_text), ctx.config.max_msg_ttl)
    return earliest, latest + ttl


def check_timing(ctx: Context) -> None:
    """The request was sent recently (msg-time + msg-ttl) and not in the future."""
    sent, expires = window(ctx)
    if sent > ctx.now + ctx.config.clock_skew:
        raise PlatformError(StatusCode.REQUEST_TIMED_OUT, "msg-time is in the future")
    if expires < ctx.now:
        raise PlatformError(StatusCode.REQUEST_TIMED_OUT, "the request has expired (msg-time + msg-ttl)")


def _digest(ctx: Context) -> str:
    request = ctx.request
    digest = hashlib.sha256(request.header_bytes)
    if request.header.info_hash is None:  # the header does not cover the info: add it
        digest.update(request.info_bytes)
    return digest.hexdigest()


def remember(ctx: Context) -> None:
    """Refuse a request that was received before (and is still in its window)."""
    _, expires = window(ctx)
    with ctx.store.write() as tx:
        first = tx.requests.remember(_digest(ctx), expires + ctx.config.clock_skew, ctx.now)
    if not first:
        raise PlatformError(
            StatusCode.REQUEST_TIMED_OUT,
            "this request was already received (a replay); send a new request to do it again",
        )


def answered(ctx: Context, serve: Callable[[], bytes], key: str | None = None, until: float | None = None) -> bytes:
    """Serve a request once: a copy of it gets the first copy's answer.

    ``key`` names the request (default: a digest of its header) and
    ``until`` how long it is remembered (default: the end of its window).
    A copy that arrives while the first is still being served, or after the
    first failed without an answer, is refused with REQUEST_TIMED_OUT.
    """
    if key is None:
        key = _digest(ctx)
    if until is None:
        until = window(ctx)[1] + ctx.config.clock_skew
    with ctx.store.write() as tx:
        first = tx.requests.remember(key, until, ctx.now)
        kept = None if first else tx.requests.answer(key)
    if not first:
        if kept is not None:
            return kept
        raise PlatformError(
            StatusCode.REQUEST_TIMED_OUT, "this request was already received and is being served; send it later"
        )
    answer = serve()
    with ctx.store.write() as tx:
        tx.requests.keep_answer(key, answer)
    return answer
