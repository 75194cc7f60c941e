"""Applications' sessions as the store keeps them: sealed with the server's key.

A session is a token (sent in every request) and a shared secret (the key
of every request's HMAC). The store keeps neither as it is:

* the token is kept as its HMAC under a key derived from the server's
  secret key (``s1.`` and 64 hex digits): the row can be found from a
  token, but a token cannot be found from the row;
* the secret is kept encrypted (AES-256-GCM under another derived key,
  bound to the row's name, so it cannot be moved to another row).

So a copy of the database alone (a backup, a file read by someone it was
not meant for) yields no session that can be used. The server's key is
``DATA/server.key`` for the embedded store (outside the database file);
a shared store keeps it in the database (every process needs it), where
sealing keeps secrets out of the ``sessions`` table but a copy of the
whole database holds the key too.

Sessions written before sealing (plain tokens and secrets) are sealed when
the server starts (:func:`seal_stored`).
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .store import Store
from .store.rows import SessionRow

#: How a sealed session's name starts (a plain token never has a dot).
PREFIX = "s1."
_NONCE = 12


def _derived(key: bytes, purpose: bytes) -> bytes:
    return hashlib.sha256(b"hvgen session " + purpose + b"\0" + key).digest()


def name_of(key: bytes, token: str) -> str:
    """The name the store knows a session token by."""
    mac = hmac.new(_derived(key, b"name"), token.strip().encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + mac


def seal(key: bytes, session: SessionRow) -> SessionRow:
    """The row to store for ``session`` (whose ``token`` is the token itself)."""
    name = name_of(key, session.token)
    nonce = os.urandom(_NONCE)
    sealed = nonce + AESGCM(_derived(key, b"secret")).encrypt(nonce, session.secret, name.encode("ascii"))
    return SessionRow(name, session.app_id, sealed, session.expires, session.algorithm)


def find(store: Store, key: bytes, token: str) -> SessionRow | None:
    """The session of ``token`` with its secret opened (None: unknown, or
    sealed under another key)."""
    stored = store.session(name_of(key, token))
    if stored is None:
        return None
    sealed = bytes(stored.secret)
    try:
        secret = AESGCM(_derived(key, b"secret")).decrypt(
            sealed[:_NONCE], sealed[_NONCE:], stored.token.encode("ascii")
        )
    except (InvalidTag, ValueError):
        return None
    return SessionRow(token.strip(), stored.app_id, secret, stored.expires, stored.algorithm)


def seal_stored(store: Store, key: bytes) -> int:
    """Seal the sessions stored in plain (by an older version); returns how many."""
    with store.write() as tx:
        plain = tx.sessions.unsealed(PREFIX)
        for row in plain:
            tx.sessions.replace(row.token, seal(key, row))
    return len(plain)
