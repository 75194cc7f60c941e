"""Persons' passwords, kept as scrypt hashes.

scrypt (``hashlib.scrypt``, OpenSSL's implementation) is a memory-hard key
derivation function made for passwords: guessing costs memory as well as
time, and it comes with Python, so the server needs no further dependency
for it. A hash is written ``scrypt$N$r$p$SALT$KEY`` (salt and key in
base64), so that its parameters can be raised later without breaking the
hashes already stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from .errors import ServerError

#: CPU/memory cost (16 MiB with r=8), block size and parallelism.
N, R, P = 2**14, 8, 1
_KEY_BYTES = 32
_MAX_MEMORY = 64 * 1024 * 1024

#: Shortest password a person may be given.
MIN_LENGTH = 8


class PasswordError(ServerError, ValueError):
    """A password that may not be used (too short, too long)."""


def check_new(password: str) -> None:
    """Raise :class:`PasswordError` naming what is wrong with a new password."""
    if len(password) < MIN_LENGTH:
        raise PasswordError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > 1024:
        raise PasswordError("a password may have at most 1024 characters")


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAX_MEMORY, dklen=_KEY_BYTES)


def _stored(salt: bytes, key: bytes) -> str:
    """The stored form of a salt and key derived with today's parameters."""
    b64 = base64.b64encode
    return f"scrypt${N}${R}${P}${b64(salt).decode()}${b64(key).decode()}"


def hash_password(password: str) -> str:
    """The stored form of a new password."""
    salt = secrets.token_bytes(16)
    return _stored(salt, _derive(password, salt, N, R, P))


def stand_in() -> str:
    """A stored form that no known password matches (a random salt and a
    random key), checked at the cost of a person's: what an unknown login's
    password is checked against, so that the answer takes as long. Made
    without deriving anything, so it costs nothing to make."""
    return _stored(secrets.token_bytes(16), secrets.token_bytes(_KEY_BYTES))


def verify(password: str, stored: str | None) -> bool:
    """Whether ``password`` is the one ``stored`` was made from (False for
    no stored hash or one this module cannot read)."""
    if not stored or len(password) > 1024:
        return False
    try:
        kind, n, r, p, salt, key = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(key)
        derived = _derive(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(derived, expected)


def new_password() -> str:
    """A random password for a person created without one (printed once)."""
    return secrets.token_urlsafe(12)
