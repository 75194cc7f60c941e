"""Sign-in attempts: counted per client and login, and per client.

An attempt is counted before its password is checked (so parallel guesses
count too), under two keys of the store's ``sign_in_failures``:

* the login and the client: :data:`MAX_FAILURES` within
  :data:`FAILURE_WINDOW` and that client may not try that login again until
  the window has passed; a sign-in forgets them;
* the client alone: :data:`MAX_CLIENT_FAILURES` failures within the window,
  for any logins, and the client may not sign in at all until it has passed
  (password spraying: one password tried on many logins). A sign-in
  forgets only its own attempt.

The client is the browser when it holds a device cookie (``hvgen_device``)
that this server gave it when it last signed in with that login (an HMAC
under the server's key: it cannot be forged), else its network address.
So whoever fails ten times with a person's login locks out their own
address for that login, not the person's browser, which signs in as
before.

The password check costs the same whether the login exists or not: an
unknown login (or a person without a password) is checked against a
stand-in scrypt hash of the same cost, so the time of an answer does not
tell which logins exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from . import passwords
from .context import Platform
from .errors import ServerError
from .store.rows import Person

#: Failed sign-ins of one login from one client within FAILURE_WINDOW seconds
#: before that client is refused for that login.
MAX_FAILURES, FAILURE_WINDOW = 10, 600.0
#: Failed sign-ins from one client, any logins, within FAILURE_WINDOW seconds
#: before that client is refused altogether.
MAX_CLIENT_FAILURES = 30
#: Cookie of a browser that signed in with a login before, and its lifetime.
DEVICE_COOKIE = "hvgen_device"
DEVICE_TTL = 180 * 24 * 3600


class _Refused(ServerError):
    """A limit is reached: nothing of the attempt is kept."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt counted in the store."""

    login: str
    client: str
    at: float

    @property
    def login_key(self) -> str:
        return f"login {len(self.login)}:{self.login} {self.client}"

    @property
    def client_key(self) -> str:
        return f"client {self.client}"


def _device_mac(platform: Platform, login: str, nonce: str) -> str:
    key = hashlib.sha256(b"hvgen device key\0" + platform.key).digest()
    mac = hmac.new(key, f"{login}\0{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def client_of(platform: Platform, request: Request, login: str) -> str:
    """Who is signing in: the browser, by its device cookie for ``login``,
    else its network address."""
    cookie = request.cookies.get(DEVICE_COOKIE, "")
    nonce, _, mac = cookie.partition(".")
    if nonce and mac and hmac.compare_digest(_device_mac(platform, login, nonce), mac):
        return f"device {nonce}"
    return f"address {request.client.host if request.client else 'unknown'}"


def begin(platform: Platform, login: str, client: str, now: float) -> Attempt | str:
    """Count an attempt, or say why the client may not try now."""
    attempt = Attempt(login, client, now)
    minutes = int(FAILURE_WINDOW // 60)
    try:
        with platform.store.write() as tx:
            if not tx.sign_in_failures.reserve(attempt.login_key, now, FAILURE_WINDOW, MAX_FAILURES):
                raise _Refused(f"Too many failed sign-ins for this login; try again in {minutes} minutes.")
            if not tx.sign_in_failures.reserve(attempt.client_key, now, FAILURE_WINDOW, MAX_CLIENT_FAILURES):
                raise _Refused(f"Too many failed sign-ins from here; try again in {minutes} minutes.")
    except _Refused as refused:
        return refused.message
    return attempt


def succeeded(platform: Platform, attempt: Attempt, response: Response, secure: bool) -> None:
    """The attempt signed in: forget the login's failures from this client
    and this attempt; the browser gets a device cookie for the login."""
    with platform.store.write() as tx:
        tx.sign_in_failures.clear(attempt.login_key)
        tx.sign_in_failures.release(attempt.client_key, attempt.at)
    nonce = secrets.token_urlsafe(18)
    response.set_cookie(
        DEVICE_COOKIE,
        f"{nonce}.{_device_mac(platform, attempt.login, nonce)}",
        max_age=DEVICE_TTL,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/signin",
    )


#: What an unknown login's password is checked against (as costly as a person's).
_STAND_IN = passwords.stand_in()


def check_password(person: Person | None, password: str) -> bool:
    """Whether ``person`` exists, can sign in and ``password`` is theirs;
    as costly when they do not exist."""
    stored = person.password_hash if person is not None else None
    right = passwords.verify(password, stored or _STAND_IN)
    return right and stored is not None
