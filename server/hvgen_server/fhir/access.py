"""Who asks the FHIR service, and what they may see.

A request carries a bearer token of ``hvgen token`` (an application's view
of one record: it may read and write), or comes from the viewer's signed-in
browser (the person's own view: reads only). Every resource read goes
through :func:`visible`, the one place where things an application must not
see (the Personal flag) are to be hidden.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from starlette.requests import Request

from .. import appview, websession
from ..context import Platform
from ..dicomweb import bearer
from ..store.rows import ThingVersion
from .errors import FhirError


@dataclass(frozen=True)
class Caller:
    """The record a request reaches, and whose view it is: an application's
    (``app_id``, a bearer token) or the person's (``app_id`` None)."""

    record_id: str
    app_id: str | None


def visible(caller: Caller, version: ThingVersion) -> bool:
    """Whether the caller may see a thing version (every read path asks): an
    application does not see what the person marked personal."""
    return may_see(caller, version.flags)


def may_see(caller: Caller, flags: int) -> bool:
    """Whether the caller may see a thing of these flags (what :func:`visible` asks)."""
    return caller.app_id is None or appview.visible_to_applications(flags)


def hidden_flags(caller: Caller) -> int:
    """The flags of things a search leaves out for the caller (they are neither found nor counted)."""
    return 0 if caller.app_id is None else appview.HIDDEN_FROM_APPLICATIONS


def authenticate(platform: Platform, request: Request, wanted_record: str | None) -> Caller:
    """The caller of a request: its bearer token's record, or for a browser
    session (GET only) the person's record ``wanted_record`` names, or their only record."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        try:
            claims = bearer.check(platform.key, token)
        except bearer.BearerError as exc:
            raise FhirError(401, str(exc)) from None
        if not platform.store.authorized(claims.app_id, claims.record_id):
            raise FhirError(401, "the application the token was issued to may no longer use the record")
        return Caller(claims.record_id, claims.app_id)
    who = websession.visitor(platform, request, time.time()) if request.method == "GET" else None
    if who is None:
        raise FhirError(401, "send Authorization: Bearer TOKEN (a token of `hvgen token`), or sign in to the viewer")
    with platform.store.read() as tx:
        if who.app_id is None:
            records = tx.records.of_person(who.person.person_id)
        else:
            records = tx.records.authorized_for(who.app_id, who.person.person_id)
    ids = [r.record_id for r in records]
    if wanted_record is not None:
        if wanted_record not in ids:
            raise FhirError(404, f"no record {wanted_record} of the signed-in person")
        return Caller(wanted_record, who.app_id)  # (signed in by an application's link: what it sees)
    if len(ids) != 1:
        raise FhirError(400, f"the signed-in person has {len(ids)} records: name one with patient=Patient/ID")
    return Caller(ids[0], who.app_id)
