"""Who may use DICOMweb, and which record a request reaches.

Two ways in:

* ``/dicomweb/…`` with ``Authorization: Bearer TOKEN`` (a token of ``hvgen
  token``): the record the token names;
* ``/dicomweb/records/RECORD/…`` with the session cookie of a browser signed
  in to the platform (a web viewer served by this server, such as OHIF at
  ``/ohif/``): the record, if the person signed in owns it (a browser
  signed in by a one-time link: if the link's application may use it). A
  bearer token for that record is accepted there too.

A browser's cookie goes with any request to this server, also one another
site makes it send, so cookie requests are checked for where they come from
(:func:`hvgen_server.websession.from_this_site`: ``Sec-Fetch-Site`` and
``Origin``), and a request that changes something (STOW-RS) must carry an
``Origin`` header naming this server: a form or script of another site
cannot store into the record.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from starlette.requests import Request

from .. import websession
from ..context import Platform
from . import bearer
from .media import DicomWebError, Urls

#: The path parameter of the record in cookie-authorized URLs.
RECORD = "record_id"
RECORDS = "/records"


@dataclass(frozen=True)
class Caller:
    """Who is asking, for which record, and the URLs of the resources as this caller reaches them."""

    record_id: str
    urls: Urls
    browser: bool = False


def _challenge(error: str | None = None) -> dict[str, str]:
    value = 'Bearer realm="dicomweb"' + (f', error="{error}"' if error else "")
    return {"WWW-Authenticate": value}


def by_token(platform: Platform, request: Request, base: str) -> Caller:
    """The caller of a bearer token (401 when there is none or it is not valid)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise DicomWebError(401, "send Authorization: Bearer TOKEN (a token of `hvgen token`)", _challenge())
    try:
        caller = bearer.check(platform.key, token)
    except bearer.BearerError as exc:
        raise DicomWebError(401, str(exc), _challenge("invalid_token")) from None
    if not platform.store.authorized(caller.app_id, caller.record_id):
        raise DicomWebError(401, "the application the token was issued to may no longer use the record", _challenge())
    return Caller(caller.record_id, Urls(base))


def by_session(platform: Platform, request: Request, base: str) -> Caller:
    """The caller of ``/dicomweb/records/RECORD/…``: a signed-in browser (or a bearer token) for that record."""
    try:
        record_id = str(uuid.UUID(request.path_params[RECORD]))
    except ValueError:
        raise DicomWebError(404, "no such record") from None
    urls = Urls(f"{base}{RECORDS}/{record_id}")
    if request.headers.get("authorization"):
        found = by_token(platform, request, base)
        if found.record_id != record_id:
            raise DicomWebError(403, "the bearer token is for another record")
        return Caller(record_id, urls)
    if not websession.from_this_site(platform, request):
        raise DicomWebError(403, "requests with the browser's session must come from a page of this server")
    if request.method not in ("GET", "HEAD") and not request.headers.get("origin"):
        raise DicomWebError(403, "a browser's request that stores must say where it comes from (Origin)")
    visitor = websession.visitor(platform, request, time.time())
    if visitor is None:
        raise DicomWebError(401, "sign in to the platform first (/signin), or send a bearer token", _challenge())
    record = platform.store.record(record_id)
    if record is None or record.person_id != visitor.person.person_id:
        raise DicomWebError(404, "no such record among the signed-in person's records")
    if visitor.app_id is not None and not platform.store.authorized(visitor.app_id, record_id):
        raise DicomWebError(403, "the link this browser signed in with does not reach this record")
    return Caller(record_id, urls, browser=True)
