"""CreateDicomWebToken: a bearer token for the DICOMweb service of the record."""

from __future__ import annotations

import datetime as dt

from healthvault.schema import CreateDicomWebTokenParams, CreateDicomWebTokenResult

from ..context import Context
from ..dicomweb import bearer
from ..dicomweb.gateway import GATEWAY_APP

#: Where the DICOMweb service is, under the server's URL.
DICOMWEB_PATH = "/dicomweb"


def create_dicomweb_token(ctx: Context) -> CreateDicomWebTokenResult:
    """A token for the request's record, for as long as asked (capped).

    The gateway application (STOW-RS writes through it) is authorized for
    the record here, since an application authorized for it asked.
    """
    info = ctx.request.info()
    ttl = bearer.DEFAULT_TTL
    if isinstance(info, CreateDicomWebTokenParams) and info.ttl_seconds is not None:
        ttl = int(info.ttl_seconds)
    token, expires = bearer.issue(ctx.key, ctx.record_id, ctx.app_id, ttl, now=ctx.now)
    with ctx.store.write() as tx:
        gateway = tx.meta.get(GATEWAY_APP)
        if gateway is not None:
            tx.records.authorize(gateway, ctx.record_id)
    return CreateDicomWebTokenResult(
        token=token,
        expires=dt.datetime.fromtimestamp(int(expires), dt.UTC),
        url=ctx.config.url + DICOMWEB_PATH,
    )
