"""CreateViewerLink: a one-time link to the study viewer, for the record of the request.

A method of this platform only: the application (in a session, with record
access) asks for a link that signs the record's person in to the viewer
once, within minutes (``hvgen serve --viewer-link-ttl``), and shows that
record. The browser session it opens reaches only the person's records the
application may use (:mod:`..websession`).
"""

from __future__ import annotations

import datetime as dt

from healthvault.schema import CreateViewerLinkResult

from .. import websession
from ..context import Context


def create_viewer_link(ctx: Context) -> CreateViewerLinkResult:
    url, expires = websession.issue_link(ctx.platform, ctx.person_id, ctx.app_id, ctx.record_id, ctx.now)
    return CreateViewerLinkResult(url=url, expires=dt.datetime.fromtimestamp(expires, dt.UTC))
