"""Unguessable, expiring tokens for blob URLs.

A token is ``payload.mac``: the payload (base64url JSON) names what the
token is for (``w`` to upload, ``r`` to download), the record, the blob and
the expiry time; the MAC is HMAC-SHA256 of the payload under the server's
secret key. A token cannot be forged or moved to another record or blob, and
stops working when it expires. Nothing needs to be stored to check one.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from dataclasses import dataclass

from healthvault import crypto


class TokenError(Exception):
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


def issue(key: bytes, kind: str, record_id: str, blob_id: str, ttl: float) -> str:
    payload = json.dumps(
        {"k": kind, "r": record_id, "b": blob_id, "e": round(time.time() + ttl, 3)},
        separators=(",", ":"),
        sort_keys=True,
    ).encode("utf-8")
    mac = crypto.hmac_bytes(key, payload, "HMACSHA256")
    return f"{_b64(payload)}.{_b64(mac)}"


def check(key: bytes, token: str, kind: str) -> BlobToken:
    """The token's claims, if it is genuine, of the right kind and not expired."""
    try:
        payload_text, mac_text = token.split(".")
        payload, mac = _unb64(payload_text), _unb64(mac_text)
    except (ValueError, TypeError):
        raise TokenError("malformed blob token") from None
    if not hmac.compare_digest(crypto.hmac_bytes(key, payload, "HMACSHA256"), mac):
        raise TokenError("blob token is not genuine")
    claims = json.loads(payload)
    if claims.get("k") != kind:
        raise TokenError("blob token is not valid for this operation")
    if float(claims["e"]) < time.time():
        raise TokenError("blob token has expired", expired=True)
    return BlobToken(kind=kind, record_id=claims["r"], blob_id=claims["b"], expires=float(claims["e"]))


def blob_id_of(token: str) -> str:
    """The blob a token names, without checking it ("" if it names none).

    For telling apart blobs that were checked before (a package's own blobs
    at pick-up); never a substitute for :func:`check`.
    """
    try:
        claims = json.loads(_unb64(token.split(".")[0]))
        return str(claims["b"])
    except (ValueError, KeyError, TypeError):
        return ""
