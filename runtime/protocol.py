"""The protocol core: methods, request envelopes, responses and blob URLs.

A :class:`Method` names a platform method, its version and the classes of
its ``info`` sections (the generated :mod:`methods` module lists every method
the schema set defines). :func:`build_request` writes the request envelope
with its header in schema order, the ``info-hash`` over the info bytes and,
in a session, the ``auth`` HMAC over the header bytes. :func:`read_result`
reads a response and raises the status exception for a non-zero code.

The receiving side is here too, for a server, a proxy or a test:
:func:`parse_request` checks an envelope's shape and finds the exact bytes of
its ``<header>`` and ``<info>``, over which :func:`verify_info_hash` and
:func:`verify_hmac` check the request's integrity; :func:`write_status` and
:func:`write_ok` write responses. A server calls :func:`receive_request`
instead, which reads only the header (cheap, whatever the size of the
request), so that it can authenticate the request before
:meth:`ReceivedRequest.check_envelope` parses the rest within
:class:`safexml.Limits`. Problems are raised as the status
exception the platform answers them with (:class:`status.InvalidXml`,
:class:`status.BadSig`...).

Blob transfers use plain HTTP on the blob URL; the names of its headers and
of its token parameter are the ``BLOB_*`` constants.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from lxml import etree

from . import codec, crypto, status, wire
from .binding import Binding
from .errors import HealthVaultXmlError
from .schema import (
    AuthenticatedSessionInfo,
    HashFinalized,
    HashFinalizedData,
    Header,
    HMACFinalized,
    HMACFinalizedData,
    OfflinePersonInfo,
    Status,
    StatusError,
)

#: The classes this module takes from the schema set (see ``hvgen generate``).
SCHEMA_CLASSES = {
    "Header": "{urn:com.microsoft.wc.request}Header",
    "AuthenticatedSessionInfo": "{urn:com.microsoft.wc.request}AuthenticatedSessionInfo",
    "OfflinePersonInfo": "{urn:com.microsoft.wc.request}OfflinePersonInfo",
    "HashFinalized": "{urn:com.microsoft.wc.types}HashFinalized",
    "HashFinalizedData": "{urn:com.microsoft.wc.types}HashFinalizedData",
    "HMACFinalized": "{urn:com.microsoft.wc.types}HMACFinalized",
    "HMACFinalizedData": "{urn:com.microsoft.wc.types}HMACFinalizedData",
    "Status": "Status",
    "StatusError": "Error",
}

#: Client identification sent in every header's ``version`` element.
CLIENT_VERSION = f"hvgen/{__package__}"

#: Seconds a request stays valid after its msg-time (the SDKs' default).
DEFAULT_TTL = 1800

#: Path of the method endpoint on this project's servers.
METHODS_PATH = "/wildcat.ashx"
#: Path of the method endpoint on the retired platform.
PLATFORM_METHODS_PATH = "/platform/wildcat.ashx"
#: Path of blob uploads and downloads (the platform's and this project's).
BLOB_PATH = "/streaming/wildcatblob.ashx"

#: Query parameter of a blob URL that carries its token.
BLOB_TOKEN_PARAM = "blob-ref-token"
#: Request header on the last chunk (or an empty POST after it): ``1``.
BLOB_COMPLETE_HEADER = "x-hv-blob-complete"
#: Response header: bytes of an upload acknowledged so far.
BLOB_RECEIVED_HEADER = "x-hv-blob-received"
#: Response header of a GET on an upload URL: ``uploading``, ``complete``...
BLOB_STATE_HEADER = "x-hv-blob-state"
#: Response header of a download: the blob's SHA256Block hash.
BLOB_HASH_HEADER = "x-hv-blob-hash"


@dataclass(frozen=True)
class Method:
    """A platform method and the classes of its ``info`` sections.

    ``params`` is None for methods whose request info is empty; ``result``
    is None for methods whose response carries only a status.
    """

    name: str
    version: int
    params: type | None
    result: type | None

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


@dataclass
class Session:
    """An authenticated session: the token and the key of its request HMACs."""

    token: str
    shared_secret: bytes
    app_id: str
    expires_at: float | None = None


_last_time = dt.datetime.min.replace(tzinfo=dt.UTC)
_time_lock = threading.Lock()


def now_xml() -> dt.datetime:
    """The current UTC time as an xs:dateTime with a Z suffix, to the
    millisecond, and later than any this process gave before: two threads
    sending the same request in the same millisecond would otherwise send
    the same bytes, which the platform refuses as a replay."""
    global _last_time
    now = dt.datetime.now(dt.UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    with _time_lock:
        if now <= _last_time:
            now = _last_time + dt.timedelta(milliseconds=1)
        _last_time = now
    return now


def build_request(
    method: Method,
    info: Binding | None = None,
    *,
    session: Session | None = None,
    app_id: str | None = None,
    record_id: str | None = None,
    offline_person_id: str | None = None,
    language: str | None = None,
    country: str | None = None,
    msg_time: dt.datetime | None = None,
    msg_ttl: int = DEFAULT_TTL,
    version: str = CLIENT_VERSION,
) -> bytes:
    """Write a complete request envelope, ready to POST.

    Exactly one of ``session`` (authenticated call: header carries
    auth-session, request carries auth) and ``app_id`` (anonymous call) is
    given.
    """
    if (session is None) == (app_id is None):
        raise ValueError("give either a session or an app_id")
    if method.params is not None and info is not None and not isinstance(info, method.params):
        raise TypeError(f"{method} takes {method.params.__name__}, not {type(info).__name__}")
    info_text = codec.serialize_info(info)
    header = Header(
        method=method.name,
        method_version=method.version,
        record_id=record_id,
        app_id=app_id,
        auth_session=(
            AuthenticatedSessionInfo(
                auth_token=session.token,
                offline_person_info=(
                    OfflinePersonInfo(offline_person_id=offline_person_id) if offline_person_id else None
                ),
            )
            if session is not None
            else None
        ),
        language=language,
        country=country,
        msg_time=msg_time or now_xml(),
        msg_ttl=msg_ttl,
        version=version,
        info_hash=HashFinalized(
            hash_data=HashFinalizedData(
                value=crypto.info_hash(info_text.encode("utf-8")),
                alg_name=crypto.INFO_HASH_ALGORITHM,
            )
        ),
    )
    header_text = wire.to_string(header, "header")
    auth_text = ""
    if session is not None:
        auth = HMACFinalized(
            hmac_data=HMACFinalizedData(
                value=crypto.hmac_digest(session.shared_secret, header_text.encode("utf-8")),
                alg_name=crypto.HMAC_ALGORITHM,
            )
        )
        auth_text = wire.to_string(auth, "auth")
    return codec.RequestParts(header=header_text, info=info_text, auth=auth_text).join()


def read_result(method: Method, data: bytes, *, max_bytes: int | None = None, defer_data: bool = False) -> Any:
    """Read a response to ``method``: its ``info``, or the status exception.
    ``defer_data``: see :func:`codec.read_response`.

    Raises:
        HealthVaultStatusError: The status code is not 0 (the subclass named
            after the code, e.g. :class:`status.VersionStampMismatch`).
        HealthVaultXmlError: The response is not a valid response to ``method``.
    """
    envelope = codec.read_response(data, max_bytes=max_bytes, defer_data=defer_data)
    code = envelope.status.code
    if code != 0:
        error = envelope.status.error
        message = error.message if error is not None and error.message else "(no message)"
        raise status.error_for(code, message)
    if method.result is None:
        return None
    if not isinstance(envelope.info, method.result):
        raise HealthVaultXmlError(f"{method} response has no {method.result.__name__} info")
    return envelope.info


# -- blob URLs -------------------------------------------------------------------------


def blob_url(base_url: str, token: str) -> str:
    """The blob URL for ``token`` on the platform at ``base_url``."""
    return f"{base_url.rstrip('/')}{BLOB_PATH}?{BLOB_TOKEN_PARAM}={quote(token, safe='')}"


def blob_token(url: str) -> str | None:
    """The token a blob URL carries, or None when it carries none."""
    values = parse_qs(urlsplit(url.strip()).query).get(BLOB_TOKEN_PARAM)
    return values[0] if values else None


# -- writing responses ---------------------------------------------------------------------

#: Characters XML 1.0 cannot carry, even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def write_status(code: int, message: str) -> bytes:
    """A response carrying only a status: ``code`` and ``message`` (escaped;
    characters XML cannot carry are left out)."""
    envelope = codec.ResponseEnvelope(
        status=Status(code=int(code), error=StatusError(message=_NOT_XML.sub("", message)))
    )
    return codec.write_response(envelope)


def write_ok_info(info: bytes) -> bytes:
    """A status-0 response around ``info``: a ``wc:info`` element already
    serialized (UTF-8, no XML declaration)."""
    head = wire.to_string(Status(code=0), "status").encode("utf-8")
    return b"<response>" + head + info + b"</response>"


def write_ok(info: object = None) -> bytes:
    """A status-0 response with the method's ``wc:info``: a response info
    binding, an lxml ``wc:info`` element (written as it is), or None."""
    if isinstance(info, etree._Element):
        head = wire.to_string(Status(code=0), "status").encode("utf-8")
        body = bytes(etree.tostring(info, encoding="utf-8"))
        return b"<response>" + head + body + b"</response>"
    return codec.write_response(codec.ResponseEnvelope(status=Status(code=0), info=info))
