"""Signed-in persons in a browser: the session cookie, for any page.

A page of the local platform that needs a person calls :func:`signed_in`;
when it gets None it redirects to :func:`sign_in_url` (the sign-in page,
:mod:`.shell`), which comes back to the page once the person has signed in.
The cookie holds a random token; the store keeps its SHA-256 only, with the
person and an expiry (``person_tokens``, kind ``browser``).

Forms carry a CSRF token that must equal the ``hvgen_csrf`` cookie
(double-submit): another site can make a browser post a form here but
cannot read or set that cookie.

A one-time link (:func:`issue_link`, asked for by an application with
CreateViewerLink) signs a browser in without a password, once, within
minutes. The browser session it opens (kind ``viewer``) is for the study
viewer only, and reaches only the person's records that application may
use: an application cannot widen what it can see through a link. The
sign-in and authorization pages do not count such a browser as signed in.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response

from .auth import token_digest
from .context import Platform
from .store.rows import BROWSER, VIEWER, VIEWER_LINK, Person, PersonToken

#: Cookie of a signed-in browser.
SESSION_COOKIE = "hvgen_session"
#: Cookie (and form field) of the CSRF token.
CSRF_COOKIE = CSRF_FIELD = "hvgen_csrf"
#: Path of the sign-in page.
SIGN_IN_PATH = "/signin"
#: Path of one-time links (``?link=TOKEN&record=ID``).
LINK_PATH = "/viewer/open"


@dataclass(frozen=True)
class Visitor:
    """A signed-in browser: its person and, for a browser signed in by a
    one-time link, the application whose records it may see (else None)."""

    person: Person
    app_id: str | None = None


def signed_in(platform: Platform, request: Request, now: float) -> Person | None:
    """The person signed in with this browser by password, if any (and not expired)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        return None
    found = platform.store.person_token(token_digest(token))
    if found is None or found.kind != BROWSER or found.expires < now:
        return None
    return platform.store.person(found.person_id)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def visitor(platform: Platform, request: Request, now: float) -> Visitor | None:
    """Who is signed in with this browser (a password or a one-time link), if anyone."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        return None
    found = platform.store.person_token(token_digest(token))
    if found is None or found.kind not in (BROWSER, VIEWER) or found.expires < now:
        return None
    person = platform.store.person(found.person_id)
    if person is None:
        return None
    return Visitor(person, found.app_id if found.kind == VIEWER else None)


def sign_in(
    platform: Platform,
    request: Request,
    response: Response,
    person: Person,
    now: float,
    *,
    link_app: str | None = None,
) -> None:
    """Sign ``person`` in on this browser (sets the session cookie); with
    ``link_app``, for the viewer only, reaching that application's records."""
    token = secrets.token_urlsafe(32)
    ttl = platform.config.browser_session_ttl
    kind, app_id = (BROWSER, None) if link_app is None else (VIEWER, link_app)
    row = PersonToken(token_digest(token), kind, person.person_id, app_id, now, now + ttl)
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


def issue_link(platform: Platform, person_id: str, app_id: str, record_id: str, now: float) -> tuple[str, float]:
    """A one-time link signing ``person_id`` in to the viewer at the record,
    for ``app_id``'s records; returns (URL, expiry as epoch seconds)."""
    token = secrets.token_urlsafe(32)
    expires = now + platform.config.viewer_link_ttl
    with platform.store.write() as tx:
        tx.person_tokens.add(PersonToken(token_digest(token), VIEWER_LINK, person_id, app_id, now, expires), now)
    return f"{platform.config.url}{LINK_PATH}?{urlencode({'link': token, 'record': record_id})}", expires


def redeem_link(platform: Platform, token: str, now: float) -> PersonToken | str:
    """Use a one-time link: its token (now forgotten), or why it cannot be used."""
    again = "Run `hvgen viewer` for a new link, or sign in with your password."
    if not token.strip():
        return f"The link has no token. {again}"
    digest = token_digest(token)
    with platform.store.write() as tx:
        found = tx.person_tokens.get(digest)
        if found is None or found.kind != VIEWER_LINK:
            return f"The link was used already (a link works once) or was never issued here. {again}"
        tx.person_tokens.remove(digest)
    if found.expires < now:
        return f"The link expired (links work for {int(platform.config.viewer_link_ttl // 60) or 1} minutes). {again}"
    return found
