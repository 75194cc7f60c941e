"""Bearer tokens for DICOMweb.

A token is issued by the platform (the CreateDicomWebToken method, which
``hvgen token`` calls in a session of an application authorized for the
record) and checked by it, with nothing stored: it is the base64url of a
nonce and the AES-256-GCM encryption of its claims (the record, the
application that asked for it, the expiry time) under a key derived from
the server's secret key, apart from the key of blob tokens. It cannot be
read, forged or moved to another record, and stops working when it expires
or when the application is no longer authorized for the record.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import ServerError

#: Lifetime of a token when none is asked for, and the longest one given.
DEFAULT_TTL = 3600
MAX_TTL = 30 * 24 * 3600


class BearerError(ServerError):
    """A token that is missing, malformed, forged or expired."""


@dataclass(frozen=True)
class Bearer:
    record_id: str
    app_id: str
    expires: float


def _aead(key: bytes) -> AESGCM:
    return AESGCM(hashlib.sha256(b"hvgen dicomweb token\0" + key).digest())


def issue(key: bytes, record_id: str, app_id: str, ttl: float, now: float | None = None) -> tuple[str, float]:
    """A new token and its expiry time (epoch seconds); ``ttl`` is capped at :data:`MAX_TTL`."""
    expires = round((now if now is not None else time.time()) + min(max(ttl, 1), MAX_TTL), 3)
    payload = json.dumps({"r": record_id, "a": app_id, "e": expires}, separators=(",", ":"), sort_keys=True)
    nonce = os.urandom(12)
    sealed = nonce + _aead(key).encrypt(nonce, payload.encode("utf-8"), b"dicomweb")
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii"), expires


def check(key: bytes, token: str, now: float | None = None) -> Bearer:
    """The claims of a genuine token that has not expired."""
    token = token.strip()
    if not token or len(token) > 1024:
        raise BearerError("malformed bearer token")
    try:
        sealed = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        raise BearerError("malformed bearer token") from None
    if len(sealed) < 12 + 16:
        raise BearerError("malformed bearer token")
    try:
        claims = json.loads(_aead(key).decrypt(sealed[:12], sealed[12:], b"dicomweb"))
    except InvalidTag:
        raise BearerError("the bearer token is not genuine (issued by another server, or altered)") from None
    expires = float(claims["e"])
    if expires < (now if now is not None else time.time()):
        raise BearerError("the bearer token has expired; get a new one with `hvgen token`")
    return Bearer(record_id=str(claims["r"]), app_id=str(claims["a"]), expires=expires)
