"""Signed-in persons in a browser: the session cookie, for any page.

A page of the local platform that needs a person calls :func:`signed_in`;
when it gets None it redirects to :func:`sign_in_url` (the sign-in page,
:mod:`.shell`), which comes back to the page once the person has signed in.
The cookie holds a random token; the store keeps its SHA-256 only, with the
person and an expiry (``person_tokens``, kind ``browser``).

Forms carry a CSRF token that must equal the ``hvgen_csrf`` cookie
(double-submit): another site can make a browser post a form here but
cannot read or set that cookie.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from .auth import token_digest
from .context import Platform
from .store.rows import BROWSER, Person, PersonToken

#: Cookie of a signed-in browser.
SESSION_COOKIE = "hvgen_session"
#: Cookie (and form field) of the CSRF token.
CSRF_COOKIE = CSRF_FIELD = "hvgen_csrf"
#: Path of the sign-in page.
SIGN_IN_PATH = "/signin"


def signed_in(platform: Platform, request: Request, now: float) -> Person | None:
    """The person signed in with this browser, if any (and not expired)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        return None
    found = platform.store.person_token(token_digest(token))
    if found is None or found.kind != BROWSER or found.expires < now:
        return None
    return platform.store.person(found.person_id)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def sign_in(platform: Platform, request: Request, response: Response, person: Person, now: float) -> None:
    """Sign ``person`` in on this browser (sets the session cookie)."""
    token = secrets.token_urlsafe(32)
    ttl = platform.config.browser_session_ttl
    row = PersonToken(token_digest(token), BROWSER, person.person_id, None, now, now + ttl)
    with platform.store.write() as tx:
        tx.person_tokens.add(row, now)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=int(ttl), httponly=True, samesite="lax", secure=_secure(request), path="/"
    )


def sign_out(platform: Platform, request: Request, response: Response) -> None:
    """Forget this browser's session (the cookie and the stored token)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        with platform.store.write() as tx:
            tx.person_tokens.remove(token_digest(token))
    response.delete_cookie(SESSION_COOKIE, path="/")


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` if it is a path on this server (not another site), else ``default``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def sign_in_url(next_path: str) -> str:
    """The sign-in page, coming back to ``next_path`` (a path on this server)."""
    return f"{SIGN_IN_PATH}?next={quote(local_path(next_path), safe='')}"


def csrf_token(request: Request) -> str:
    """The browser's CSRF token (a new one when it has none; see :func:`keep_csrf`)."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)


def keep_csrf(request: Request, response: Response, token: str) -> None:
    """Set the CSRF cookie on ``response`` when the browser does not have it yet."""
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request), path="/")


def csrf_ok(request: Request, form_value: object) -> bool:
    """Whether a posted form carries the browser's CSRF token."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie) and isinstance(form_value, str) and hmac.compare_digest(cookie, form_value)
