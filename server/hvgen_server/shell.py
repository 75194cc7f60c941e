"""The Shell, locally: signing in, and authorizing applications for records.

Routes:
    GET  /redirect.aspx?target=AUTH|APPAUTH&targetqs=...   the platform's shell redirector
    POST /redirect.aspx                                   the authorize form
    GET  /signin?next=PATH, POST /signin                  the sign-in page (any page may send a person here)
    POST /signout                                         sign out this browser
    GET  /application/complete                            where a person lands when the application has no action URL

As the platform's shell took them: ``targetqs`` is a URL-encoded query
string with ``appid`` (required), ``actionqs`` (returned to the application
as is), ``redirect`` (another address at the origin of the application's registered
action URL; refused elsewhere, and for an application without one),
``extrecordid`` (a record to preselect), ``trm`` (the token
redirection method, ``get`` or ``post``; also taken next to ``targetqs``)
and, for AUTH, ``forceappauth``. AUTH signs the person in and asks for
authorization only if they have authorized no record for the application
yet; APPAUTH always asks. Then the browser goes to the action URL with
``target=AppAuthSuccess`` and a ``wctoken`` (the ``user-auth-token`` of the
application's later requests), or ``target=AppAuthReject``: in the query
string, or, with ``trm=post``, as the fields ``target``, ``wctoken`` and
``actionqs`` of a form the page posts to the action URL at once. A wctoken
is good only with the session of the application it was issued to.

Failed sign-ins are counted in the store, per client and login and per
client (:mod:`.signins`), so that a restart or another server process on
the same store does not reset them. Every form post must come from a page
of this server (:func:`~.websession.from_this_site`) and carry the CSRF
token of the browser's session. Pages carry a strict Content-Security-Policy
(no inline script; forms only to this server and the application's action
URL's origin) and may not be framed.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from . import pagecache, signins
from .auth import token_digest
from .context import Platform
from .headers import origin, page_headers, plain_url
from .store.rows import WCTOKEN, Application, Person, PersonToken, RecordRow
from .websession import (
    CSRF_FIELD,
    csrf_ok,
    csrf_token,
    from_this_site,
    keep_csrf,
    local_path,
    secure_cookies,
    sign_in,
    sign_in_url,
    sign_out,
    signed_in,
)

#: Path of the shell redirector (as on the platform's shell).
REDIRECT_PATH = "/redirect.aspx"
#: Where a person lands when the application has no action URL.
COMPLETE_PATH = "/application/complete"
#: Targets offered (upper case), and what each does.
TARGETS = {"AUTH": "sign in, and authorize if needed", "APPAUTH": "authorize records"}
#: The targetqs parameters the targets take.
TARGETQS_PARAMETERS = ("appid", "actionqs", "redirect", "extrecordid", "forceappauth", "trm")

templates = Jinja2Templates(directory=str(Path(__file__).parent / "pages"))
templates.env.bytecode_cache = pagecache.bytecode_cache()

#: What a form post from elsewhere is told.
ELSEWHERE = "This form was sent from another site or page, not from this server's own page; nothing was done."


def _first(values: dict[str, list[str]], key: str) -> str:
    found = values.get(key) or values.get(key.lower()) or [""]
    return found[0].strip()


class Shell:
    """The sign-in and authorization pages of one platform."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def _page(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200, app: Application | None = None
    ) -> Response:
        """A page; its forms may lead to ``app``'s action URL (the browser
        checks a form's redirects against the page's CSP too)."""
        csrf = csrf_token(self.platform, request)
        response = templates.TemplateResponse(
            request, name, {**context, "csrf": csrf.token, "csrf_field": CSRF_FIELD}, status_code=status
        )
        keep_csrf(self.platform, request, response, csrf)
        response.headers.update(page_headers([app.action_url] if app is not None and app.action_url else []))
        return response

    def _message(self, request: Request, heading: str, message: str, status: int = 400) -> Response:
        context = {"heading": heading, "message": message, "error": status >= 400}
        return self._page(request, "message.html", context, status)

    def routes(self) -> list[Route]:
        return [
            Route(REDIRECT_PATH, self.redirect, methods=["GET"]),
            Route(REDIRECT_PATH, self.authorize, methods=["POST"]),
            Route("/signin", self.sign_in_page, methods=["GET"]),
            Route("/signin", self.sign_in_form, methods=["POST"]),
            Route("/signout", self.sign_out, methods=["POST"]),
            Route(COMPLETE_PATH, self.complete, methods=["GET"]),
        ]

    # -- signing in -------------------------------------------------------------------

    def _app_of(self, next_path: str) -> Application | None:
        """The application a sign-in leads back to (``next`` is the shell redirector's), if any."""
        parts = urlsplit(next_path)
        if parts.path != REDIRECT_PATH:
            return None
        found = self._request(_one(parse_qs(parts.query), "target"), _one(parse_qs(parts.query), "targetqs"))
        return None if isinstance(found, str) else found[2]

    async def sign_in_page(self, request: Request) -> Response:
        person = signed_in(self.platform, request, time.time())
        next_path = local_path(request.query_params.get("next"), "")
        if person is not None and next_path:
            return RedirectResponse(next_path, status_code=303)
        context = {"person": person, "next": next_path, "login": "", "error": None}
        return self._page(request, "signin.html", context, app=self._app_of(next_path))

    async def sign_in_form(self, request: Request) -> Response:
        form = await request.form()
        next_path = local_path(_text(form, "next"), "")
        login = _text(form, "login").strip().lower()
        app = self._app_of(next_path)
        if not from_this_site(self.platform, request):
            return self._page(request, "signin.html", _retry(next_path, login, ELSEWHERE), 403, app)
        if not csrf_ok(self.platform, request, form.get(CSRF_FIELD)):
            return self._page(
                request, "signin.html", _retry(next_path, login, "The form expired; sign in again."), 400, app
            )
        # The store and the password's key derivation (tens of milliseconds by design) run
        # in a worker thread: a sign-in must not hold up every other request of the server.
        return await run_in_threadpool(self._check_sign_in, request, form, next_path, login, app)

    def _check_sign_in(
        self, request: Request, form: FormData, next_path: str, login: str, app: Application | None
    ) -> Response:
        now = time.time()
        attempt = signins.begin(self.platform, login, signins.client_of(self.platform, request, login), now)
        if isinstance(attempt, str):
            return self._page(request, "signin.html", _retry(next_path, login, attempt), 429, app)
        person = self.platform.store.person_by_login(login) if login else None
        if not signins.check_password(person, _text(form, "password")) or person is None:
            return self._page(
                request, "signin.html", _retry(next_path, login, "Unknown login or wrong password."), 401, app
            )
        response = RedirectResponse(next_path or "/signin", status_code=303)
        signins.succeeded(self.platform, attempt, response, secure_cookies(self.platform, request))
        sign_in(self.platform, request, response, person, now)
        return response

    async def sign_out(self, request: Request) -> Response:
        form = await request.form()
        if not from_this_site(self.platform, request):
            return self._message(request, "Sign out", ELSEWHERE, 403)
        if not csrf_ok(self.platform, request, form.get(CSRF_FIELD)):
            return self._message(request, "Sign out", "The form expired; reload the page and try again.")
        response = RedirectResponse("/signin", status_code=303)
        sign_out(self.platform, request, response)
        return response

    async def complete(self, request: Request) -> Response:
        outcome = request.query_params.get("target", "")
        message = (
            "The application was not authorized."
            if outcome.lower() == "appauthreject"
            else "Done. You can close this window and return to the application."
        )
        return self._message(request, "Local platform", message, 200)

    # -- the shell redirector ---------------------------------------------------------------

    def _request(self, target: str, targetqs: str) -> tuple[str, dict[str, list[str]], Application] | str:
        """(TARGET, targetqs values, application), or what is wrong with the request."""
        target = target.strip().upper()
        if target not in TARGETS:
            offered = ", ".join(sorted(TARGETS))
            return f"The target {target or '(none)'!r} is not offered by the local platform (offered: {offered})."
        values = parse_qs(targetqs, keep_blank_values=True)
        values = {k.lower(): v for k, v in values.items()}
        app_id = _first(values, "appid").split(",")[0].strip().lower()
        if not app_id:
            return "targetqs names no appid."
        app = self.platform.store.application(app_id)
        if app is None:
            return f"No application {app_id!r} is registered here (hvgen app add registers one)."
        redirect = _first(values, "redirect")
        if redirect:
            registered = origin(app.action_url or "")
            if registered is None:
                return (
                    f"targetqs asks to go back to {redirect!r}, but the application has no action URL registered "
                    "here: a redirect must stay at the origin of that URL (hvgen app add --action-url)."
                )
            if origin(redirect) != registered:
                return (
                    f"targetqs asks to go back to {redirect!r}, which is not at the origin of the application's "
                    f"action URL ({registered}); the redirect is refused."
                )
            if plain_url(redirect) is None:
                return (
                    f"targetqs asks to go back to {redirect!r}, which is not a plain http(s) address "
                    "(no user name, backslash, space or control character in it); the redirect is refused."
                )
        return target, values, app

    async def redirect(self, request: Request) -> Response:
        target, targetqs = request.query_params.get("target", ""), request.query_params.get("targetqs", "")
        trm = request.query_params.get("trm", "").strip()
        if trm and "trm" not in {k.lower() for k in parse_qs(targetqs)}:  # kept with targetqs from here on
            targetqs += ("&" if targetqs else "") + urlencode({"trm": trm})
        found = self._request(target, targetqs)
        if isinstance(found, str):
            return self._message(request, "Cannot do that", found)
        target, values, app = found
        now = time.time()
        person = signed_in(self.platform, request, now)
        if person is None:
            here = f"{REDIRECT_PATH}?{urlencode({'target': target, 'targetqs': targetqs})}"
            return RedirectResponse(sign_in_url(here), status_code=303)
        with self.platform.store.read() as tx:
            records = tx.records.of_person(person.person_id)
            authorized = tx.records.authorized_for(app.app_id, person.person_id)
        force = _first(values, "forceappauth").lower() in ("true", "1")
        if target == "AUTH" and authorized and not force:
            return self._back(request, app, values, person, now)
        chosen = {r.record_id for r in authorized} | {_first(values, "extrecordid").lower()}
        if not authorized and len(records) == 1:
            chosen.add(records[0].record_id)
        context = {"app": app, "person": person, "records": records, "chosen": chosen}
        return self._page(request, "authorize.html", {**context, "target": target, "targetqs": targetqs}, app=app)

    async def authorize(self, request: Request) -> Response:
        form = await request.form()
        if not from_this_site(self.platform, request):
            return self._message(request, "Authorize", ELSEWHERE, 403)
        found = self._request(_text(form, "target"), _text(form, "targetqs"))
        if isinstance(found, str):
            return self._message(request, "Cannot do that", found)
        _, values, app = found
        if not csrf_ok(self.platform, request, form.get(CSRF_FIELD)):
            return self._message(request, "Authorize", "The form expired; go back to the application and try again.")
        now = time.time()
        person = signed_in(self.platform, request, now)
        if person is None:
            return self._message(request, "Authorize", "You are not signed in any more; sign in and try again.", 401)
        if _text(form, "decision") != "authorize":
            return self._back(request, app, values, None, now)
        wanted = {str(v).strip().lower() for v in form.getlist("record")}
        with self.platform.store.write() as tx:
            mine: list[RecordRow] = [r for r in tx.records.of_person(person.person_id) if r.record_id in wanted]
            for record in mine:
                tx.records.authorize(app.app_id, record.record_id)
        if not mine:
            return self._message(request, "Authorize", "Choose at least one of your records, or reject.")
        return self._back(request, app, values, person, now)

    def _back(
        self, request: Request, app: Application, values: dict[str, list[str]], person: Person | None, now: float
    ) -> Response:
        """To the application's action URL: success with a new wctoken for
        ``person``, else reject; in the query string, or by a form post
        (``trm=post``)."""
        query: dict[str, str] = {"target": "AppAuthSuccess" if person is not None else "AppAuthReject"}
        if person is not None:
            token = secrets.token_urlsafe(32)
            ttl = self.platform.config.user_token_ttl
            row = PersonToken(token_digest(token), WCTOKEN, person.person_id, app.app_id, now, now + ttl)
            with self.platform.store.write() as tx:
                tx.person_tokens.add(row, now)
            query["wctoken"] = token
        actionqs = values.get("actionqs")
        if actionqs:
            query["actionqs"] = actionqs[0]
        where = _action_url(_first(values, "redirect")) or _action_url(app.action_url or "")
        if where is None:
            return RedirectResponse(f"{COMPLETE_PATH}?target={query['target']}", status_code=303)
        if _first(values, "trm").lower() == "post":
            return self._page(request, "handback.html", {"app": app, "action": where, "fields": query}, app=app)
        return RedirectResponse(where + ("&" if "?" in where else "?") + urlencode(query), status_code=303)


def _one(values: dict[str, list[str]], key: str) -> str:
    return (values.get(key) or [""])[0]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _retry(next_path: str, login: str, error: str) -> dict[str, Any]:
    return {"person": None, "next": next_path, "login": login, "error": error}


def _action_url(url: str) -> str | None:
    """``url`` if it is an absolute http(s) URL every reader parses alike (where a browser
    may be sent), else None."""
    return plain_url(url)
