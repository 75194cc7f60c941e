"""CreateAuthenticatedSessionToken: an application opens a session.

Version 2 (``appserver2``): the application signs a content of its app-id,
the HMAC algorithm it wants (HMACSHA256 or HMACSHA1) and the signing time;
the platform answers with a token and a shared secret it made.

Version 1 (``appserver``): the application signs a content of its app-id
and a shared secret it chose itself, with the HMAC algorithm named; the
platform answers with a token. That content carries no time, and older
clients send a fixed msg-time: the request is not checked against the
clock. Instead a signed content opens one session: a copy of the request
(a retry after a lost response, or a replay) gets that session's token
again, for as long as the credential is remembered
(:data:`CREDENTIAL_MEMORY` after the session ends), and never a new
session.
"""

from __future__ import annotations

import hashlib
import secrets

from cryptography import x509

from healthvault import crypto, methods
from healthvault.bindings.auth import Token
from healthvault.bindings.methods.response_createauthenticatedsessiontoken import (
    Info as CreateAuthenticatedSessionTokenResult,
)
from healthvault.bindings.wc_types import AppRecordAuthAction, Sig
from healthvault.receiving import locate
from healthvault.schema import (
    CreateAuthenticatedSessionToken2Params,
    CreateAuthenticatedSessionToken2Result,
    CreateAuthenticatedSessionTokenParams,
)
from healthvault.status import StatusCode

from .. import sessionseal
from ..answers import as_response
from ..context import Context
from ..errors import PlatformError
from ..freshness import answered, span
from ..store.rows import Application, SessionRow

#: Digest methods a credential signature may name, as :data:`crypto.DIGESTS` calls them.
_SIGNATURE_DIGESTS = {"SHA256": "SHA256", "SHA-256": "SHA256", "SHA1": "SHA1", "SHA-1": "SHA1"}

#: Seconds a version 1 credential is remembered after its session ends.
CREDENTIAL_MEMORY = 90 * 24 * 3600


def _application(ctx: Context, app_id: str) -> Application:
    app = ctx.store.application(app_id.strip().lower())
    if app is None or app.app_id != (ctx.app_id or "").strip().lower():
        raise PlatformError(StatusCode.INVALID_APP, "unknown application, or not the header's app-id")
    return app


def _check_signature(ctx: Context, app: Application, sig: Sig, content_path: str) -> bytes:
    """The bytes of the signed ``content`` element, once its signature verifies."""
    if sig.thumbprint.strip().upper() != app.thumbprint:
        raise PlatformError(StatusCode.BAD_CERT, "the thumbprint is not the application's certificate")
    content_el = ctx.request.info_element.find(content_path)
    assert content_el is not None
    begin, end = locate(ctx.request.info_bytes, content_el)
    signed = ctx.request.info_bytes[begin:end]
    cert = x509.load_pem_x509_certificate(app.cert_pem.encode("ascii"))
    digest = _SIGNATURE_DIGESTS.get(sig.digest_method.strip().upper())
    if digest is None:
        raise PlatformError(StatusCode.ACCESS_DENIED, f"unsupported signature digest {sig.digest_method!r}")
    if not crypto.verify(cert, signed, sig.value, digest):
        raise PlatformError(StatusCode.ACCESS_DENIED, "the application's signature does not verify")
    return signed


def _algorithm(name: str) -> str:
    algorithm = name.strip().upper()
    if algorithm not in crypto.HMAC_DIGESTS:
        offered = " or ".join(sorted(crypto.HMAC_DIGESTS))
        raise PlatformError(StatusCode.ACCESS_DENIED, f"unsupported HMAC algorithm {name!r}; {offered} are offered")
    return algorithm


def _open(ctx: Context, app: Application, secret: bytes, algorithm: str) -> str:
    token = secrets.token_urlsafe(32)
    session = SessionRow(token, app.app_id, secret, ctx.now + ctx.config.session_ttl, algorithm)
    ctx.store.add_session(sessionseal.seal(ctx.key, session), ctx.now)
    return token


def create_session(ctx: Context) -> CreateAuthenticatedSessionToken2Result:
    """Version 2: the platform makes the shared secret."""
    info = ctx.request.info()
    assert isinstance(info, CreateAuthenticatedSessionToken2Params)
    auth = info.auth_info
    app = _application(ctx, auth.app_id.value)
    credential = auth.credential.appserver2
    if credential is None or credential.sig is None:
        raise PlatformError(StatusCode.ACCESS_DENIED, "only appserver2 credentials with a signature are accepted")
    content = credential.content
    if content.app_id.strip().lower() != app.app_id:
        raise PlatformError(StatusCode.ACCESS_DENIED, "the signed content names another application")
    algorithm = _algorithm(content.hmac.value)
    content_el = ctx.request.info_element.find("auth-info/credential/appserver2/content")
    assert content_el is not None
    earliest, latest = span(content_el.findtext("signing-time"), "signing-time")
    allowed = ctx.config.clock_skew + methods.DEFAULT_TTL
    if earliest > ctx.now + allowed or latest < ctx.now - allowed:
        raise PlatformError(StatusCode.CREDENTIAL_TOKEN_EXPIRED, "the credential's signing-time is too far from now")
    _check_signature(ctx, app, credential.sig, "auth-info/credential/appserver2/content")
    secret = crypto.new_shared_secret()
    token = _open(ctx, app, secret, algorithm)
    return CreateAuthenticatedSessionToken2Result(
        token=Token(value=token, app_id=app.app_id, app_record_auth_action=AppRecordAuthAction.NO_ACTION_REQUIRED),
        shared_secret=crypto.b64encode(secret),
    )


def create_session_v1(ctx: Context) -> bytes:
    """Version 1: the application made the shared secret; one session per signed content."""
    info = ctx.request.info()
    assert isinstance(info, CreateAuthenticatedSessionTokenParams)
    auth = info.auth_info
    app = _application(ctx, auth.app_id.value)
    credential = auth.credential.appserver
    if credential is None:
        raise PlatformError(StatusCode.ACCESS_DENIED, "only appserver credentials are accepted")
    content = credential.content
    if content.app_id.strip().lower() != app.app_id:
        raise PlatformError(StatusCode.ACCESS_DENIED, "the signed content names another application")
    shared = content.shared_secret.hmac_alg
    algorithm = _algorithm(shared.alg_name)
    try:
        secret = crypto.b64decode(shared.value or "")
    except ValueError:
        raise PlatformError(StatusCode.MISSING_SHARED_SECRET, "the shared secret is not base64") from None
    if not secret:
        raise PlatformError(StatusCode.MISSING_SHARED_SECRET, "the credential has an empty shared secret")
    signed = _check_signature(ctx, app, credential.sig, "auth-info/credential/appserver/content")
    key = hashlib.sha256(b"CreateAuthenticatedSessionToken1\0" + app.app_id.encode() + b"\0" + signed).hexdigest()
    until = ctx.now + ctx.config.session_ttl + CREDENTIAL_MEMORY
    return answered(ctx, as_response(lambda: _v1_result(ctx, app, secret, algorithm)), key=key, until=until)


def _v1_result(ctx: Context, app: Application, secret: bytes, algorithm: str) -> CreateAuthenticatedSessionTokenResult:
    token = _open(ctx, app, secret, algorithm)
    return CreateAuthenticatedSessionTokenResult(
        token=[Token(value=token, app_id=app.app_id, app_record_auth_action=AppRecordAuthAction.NO_ACTION_REQUIRED)]
    )
