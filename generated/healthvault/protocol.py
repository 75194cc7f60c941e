"""The protocol core: methods, request envelopes and results.

A :class:`Method` names a platform method, its version and the classes of
its ``info`` sections (the generated :mod:`methods` module lists every method
the schema set defines). :func:`build_request` writes the request envelope
with its header in schema order, the ``info-hash`` over the info bytes and,
in a session, the ``auth`` HMAC over the header bytes. :func:`read_result`
reads a response and raises the status exception for a non-zero code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

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
}

#: Client identification sent in every header's ``version`` element.
CLIENT_VERSION = f"hvgen/{__package__}"

#: Seconds a request stays valid after its msg-time (the SDKs' default).
DEFAULT_TTL = 1800


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


def now_xml() -> dt.datetime:
    """The current UTC time as an xs:dateTime with a Z suffix, to the millisecond."""
    now = dt.datetime.now(dt.timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


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
    if (
        method.params is not None
        and info is not None
        and not isinstance(info, method.params)
    ):
        raise TypeError(
            f"{method} takes {method.params.__name__}, not {type(info).__name__}"
        )
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
                    OfflinePersonInfo(offline_person_id=offline_person_id)
                    if offline_person_id
                    else None
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
                value=crypto.hmac_sha256(
                    session.shared_secret, header_text.encode("utf-8")
                ),
                alg_name=crypto.HMAC_ALGORITHM,
            )
        )
        auth_text = wire.to_string(auth, "auth")
    return codec.RequestParts(header=header_text, info=info_text, auth=auth_text).join()


def read_result(method: Method, data: bytes, *, max_bytes: int | None = None) -> Any:
    """Read a response to ``method``: its ``info``, or the status exception.

    Raises:
        HealthVaultStatusError: The status code is not 0 (the subclass named
            after the code, e.g. :class:`status.VersionStampMismatch`).
        HealthVaultXmlError: The response is not a valid response to ``method``.
    """
    envelope = codec.read_response(data, max_bytes=max_bytes)
    code = envelope.status.code
    if code != 0:
        error = envelope.status.error
        message = (
            error.message if error is not None and error.message else "(no message)"
        )
        raise status.error_for(code, message)
    if method.result is None:
        return None
    if not isinstance(envelope.info, method.result):
        raise HealthVaultXmlError(
            f"{method} response has no {method.result.__name__} info"
        )
    return envelope.info
