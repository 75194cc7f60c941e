"""Unguessable, expiring tokens for blob URLs.

A token is the base64url of a nonce and the AES-256-GCM encryption of its
claims (JSON): what the token is for (``w`` to upload, ``r`` to download),
the record, the blob and the expiry time, under a key derived from the
server's secret key. A token cannot be read, forged or moved to another
record or blob, and stops working when it expires. Nothing needs to be
stored to check one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import ServerError


class TokenError(ServerError):
    """A token that is malformed, forged or expired."""

    def __init__(self, message: str, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True)
class BlobToken:
    kind: str  # "w" upload, "r" download
    record_id: str
    blob_id: str
    expires: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _aead(key: bytes) -> AESGCM:
    return AESGCM(hashlib.sha256(b"hvgen blob token\0" + key).digest())


def issue(key: bytes, kind: str, record_id: str, blob_id: str, ttl: float) -> str:
    payload = json.dumps(
        {"k": kind, "r": record_id, "b": blob_id, "e": round(time.time() + ttl, 3)},
        separators=(",", ":"),
        sort_keys=True,
    ).encode("utf-8")
    nonce = os.urandom(12)
    return _b64(nonce + _aead(key).encrypt(nonce, payload, None))


def _claims(key: bytes, token: str) -> dict[str, Any]:
    try:
        sealed = _unb64(token)
    except (ValueError, TypeError):
        raise TokenError("malformed blob token") from None
    if len(sealed) < 12 + 16 or len(sealed) > 1024:
        raise TokenError("malformed blob token")
    try:
        payload = _aead(key).decrypt(sealed[:12], sealed[12:], None)
    except InvalidTag:
        raise TokenError("blob token is not genuine") from None
    claims = json.loads(payload)
    assert isinstance(claims, dict)
    return claims


def check(key: bytes, token: str, kind: str) -> BlobToken:
    """The token's claims, if it is genuine, of the right kind and not expired."""
    claims = _claims(key, token)
    if claims.get("k") != kind:
        raise TokenError("blob token is not valid for this operation")
    if float(claims["e"]) < time.time():
        raise TokenError("blob token has expired", expired=True)
    return BlobToken(kind=kind, record_id=claims["r"], blob_id=claims["b"], expires=float(claims["e"]))


def blob_id_of(key: bytes, token: str) -> str:
    """The blob a genuine token names, expired or not ("" if it names none).

    For telling apart blobs that were checked before (a package's own blobs
    at pick-up); never a substitute for :func:`check`.
    """
    try:
        return str(_claims(key, token)["b"])
    except (TokenError, KeyError):
        return ""
