"""CreateAuthenticatedSessionToken: an application opens a session."""

from __future__ import annotations

import secrets

from cryptography import x509

from healthvault import crypto, methods
from healthvault.bindings.auth import Token
from healthvault.bindings.wc_types import AppRecordAuthAction
from healthvault.receiving import locate
from healthvault.schema import (
    CreateAuthenticatedSessionToken2Params,
    CreateAuthenticatedSessionToken2Result,
    HmacAlgorithm,
)
from healthvault.status import StatusCode

from ..context import Context
from ..errors import PlatformError
from ..freshness import parse_time
from ..store.rows import SessionRow

#: Digest methods a credential signature may name, as :data:`crypto.DIGESTS` calls them.
_SIGNATURE_DIGESTS = {"SHA256": "SHA256", "SHA-256": "SHA256"}


def create_session(ctx: Context) -> CreateAuthenticatedSessionToken2Result:
    info = ctx.request.info()
    assert isinstance(info, CreateAuthenticatedSessionToken2Params)
    auth = info.auth_info
    app = ctx.store.application(auth.app_id.value.strip())
    if app is None or app.app_id != ctx.app_id:
        raise PlatformError(StatusCode.INVALID_APP, "unknown application, or not the header's app-id")
    credential = auth.credential.appserver2
    if credential is None or credential.sig is None:
        raise PlatformError(StatusCode.ACCESS_DENIED, "only appserver2 credentials with a signature are accepted")
    content = credential.content
    if content.app_id.strip() != app.app_id:
        raise PlatformError(StatusCode.ACCESS_DENIED, "the signed content names another application")
    if content.hmac != HmacAlgorithm.HMACSHA256:
        raise PlatformError(StatusCode.ACCESS_DENIED, "only HMACSHA256 sessions are offered")
    if credential.sig.thumbprint.strip().upper() != app.thumbprint:
        raise PlatformError(StatusCode.BAD_CERT, "the thumbprint is not the application's certificate")
    # The signature covers the <content> element's bytes as sent.
    content_el = ctx.request.info_element.find("auth-info/credential/appserver2/content")
    assert content_el is not None
    signed_at = parse_time(content_el.findtext("signing-time"), "signing-time")
    if abs(signed_at - ctx.now) > ctx.config.clock_skew + methods.DEFAULT_TTL:
        raise PlatformError(StatusCode.CREDENTIAL_TOKEN_EXPIRED, "the credential's signing-time is too far from now")
    begin, end = locate(ctx.request.info_bytes, content_el)
    cert = x509.load_pem_x509_certificate(app.cert_pem.encode("ascii"))
    digest = _SIGNATURE_DIGESTS.get(credential.sig.digest_method.upper(), "SHA1")
    if not crypto.verify(cert, ctx.request.info_bytes[begin:end], credential.sig.value.strip(), digest):
        raise PlatformError(StatusCode.ACCESS_DENIED, "the application's signature does not verify")
    token = secrets.token_urlsafe(32)
    secret = crypto.new_shared_secret()
    ctx.store.add_session(SessionRow(token, app.app_id, secret, ctx.now + ctx.config.session_ttl), ctx.now)
    return CreateAuthenticatedSessionToken2Result(
        token=Token(
            value=token,
            app_id=app.app_id,
            app_record_auth_action=AppRecordAuthAction.NO_ACTION_REQUIRED,
        ),
        shared_secret=crypto.b64encode(secret),
    )
