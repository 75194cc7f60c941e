"""Signed-in persons in a browser: the session cookie, for any page.

A page of the local platform that needs a person calls :func:`signed_in`;
when it gets None it redirects to :func:`sign_in_url` (the sign-in page,
:mod:`.shell`), which comes back to the page once the person has signed in.
The cookie holds a random token; the store keeps its SHA-256 only, with the
person and an expiry (``person_tokens``, kind ``browser``).

Forms carry a CSRF token bound to the browser's session on the server: an
HMAC, under a key derived from the server's secret key, of the session
cookie of a signed-in browser (whose SHA-256 names the session in the
store), or, before sign-in, of a random ``hvgen_browser`` cookie. Another
page cannot compute it: it cannot read the session cookie (HttpOnly) nor
the server's key, and a cookie it sets (cookies ignore ports, so a page on
another port of the same host can set them) gives it no token for the
victim's session. Every form post is also checked for where it comes from
(:func:`from_this_site`): a browser's ``Sec-Fetch-Site`` must say
``same-origin`` and its ``Origin`` must be this server's, so a page on
another port (``same-site`` for browsers) cannot post a form here at all.

A one-time link (:func:`issue_link`, asked for by an application with
CreateViewerLink) signs a browser in without a password, once, within
minutes. The browser session it opens (kind ``viewer``) is for the study
viewer only, and reaches only the person's records that application may
use: an application cannot widen what it can see through a link. The
sign-in and authorization pages do not count such a browser as signed in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response

from . import appview
from .auth import token_digest
from .context import Platform
from .headers import origin
from .store.rows import BROWSER, VIEWER, VIEWER_LINK, Person, PersonToken

#: Cookie of a signed-in browser.
SESSION_COOKIE = "hvgen_session"
#: Form field of the CSRF token.
CSRF_FIELD = "hvgen_csrf"
#: Cookie of a browser not signed in: what its forms' CSRF tokens are bound to.
BROWSER_COOKIE = "hvgen_browser"
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

    @property
    def hidden_flags(self) -> int:
        """The flags of things this browser does not see: a browser signed in by an
        application's link sees what that application sees (no personal things;
        the application holds the link, and could open it itself)."""
        return 0 if self.app_id is None else appview.HIDDEN_FROM_APPLICATIONS


def signed_in(platform: Platform, request: Request, now: float) -> Person | None:
    """The person signed in with this browser by password, if any (and not expired)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        return None
    found = platform.store.person_token(token_digest(token))
    if found is None or found.kind != BROWSER or found.expires < now:
        return None
    return platform.store.person(found.person_id)


def secure_cookies(platform: Platform, request: Request) -> bool:
    """Whether cookies are marked Secure (the server is reached over https)."""
    return request.url.scheme == "https" or platform.config.url.startswith("https:")


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
        SESSION_COOKIE,
        token,
        max_age=int(ttl),
        httponly=True,
        samesite="lax",
        secure=secure_cookies(platform, request),
        path="/",
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


@dataclass(frozen=True)
class Csrf:
    """The CSRF token of a page's forms, and the browser cookie to set with
    the page when the browser had none to bind the token to."""

    token: str
    new_browser: str | None = None


def _csrf_for(platform: Platform, bound: str) -> str:
    key = hashlib.sha256(b"hvgen csrf key\0" + platform.key).digest()
    mac = hmac.new(key, b"hvgen csrf\0" + bound.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")


def _bound_to(platform: Platform, request: Request) -> str | None:
    """What the browser's CSRF token is bound to: its session cookie when it
    names a live session in the store, else its browser cookie (if any)."""
    session = request.cookies.get(SESSION_COOKIE, "")
    if session:
        found = platform.store.person_token(token_digest(session))
        if found is not None and found.kind in (BROWSER, VIEWER) and found.expires >= time.time():
            return "session\0" + session
    browser = request.cookies.get(BROWSER_COOKIE, "")
    return "browser\0" + browser if browser else None


def csrf_token(platform: Platform, request: Request) -> Csrf:
    """The CSRF token for the browser's forms (with a new browser cookie to
    set, see :func:`keep_csrf`, when it has nothing to bind it to)."""
    bound = _bound_to(platform, request)
    if bound is not None:
        return Csrf(_csrf_for(platform, bound))
    fresh = secrets.token_urlsafe(32)
    return Csrf(_csrf_for(platform, "browser\0" + fresh), fresh)


def keep_csrf(platform: Platform, request: Request, response: Response, csrf: Csrf) -> None:
    """Set the browser cookie the page's CSRF token is bound to, when it is new."""
    if csrf.new_browser is not None:
        response.set_cookie(
            BROWSER_COOKIE,
            csrf.new_browser,
            httponly=True,
            samesite="strict",
            secure=secure_cookies(platform, request),
            path="/",
        )


def csrf_ok(platform: Platform, request: Request, form_value: object) -> bool:
    """Whether a posted form carries the CSRF token of this browser's session."""
    bound = _bound_to(platform, request)
    if bound is None or not isinstance(form_value, str):
        return False
    return hmac.compare_digest(_csrf_for(platform, bound), form_value)


def from_this_site(platform: Platform, request: Request) -> bool:
    """Whether a form post comes from a page of this server, as far as the
    browser says: ``Sec-Fetch-Site`` (sent by current browsers) must be
    ``same-origin`` (another port of the same host is ``same-site``) or
    ``none`` (the person's own action), and ``Origin``, when sent, this
    server's origin (as the request reached it, or its public URL). A client
    that sends neither header (not a browser) is judged by the CSRF token alone."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() not in ("same-origin", "none"):
        return False
    sent = request.headers.get("origin")
    if sent is None:
        return True
    host = request.headers.get("host", "")
    own = {origin(f"{request.url.scheme}://{host}"), origin(platform.config.url)}
    return origin(sent) in own - {None}


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
