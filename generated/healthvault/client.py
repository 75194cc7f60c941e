"""A synchronous client for the platform's XML methods.

:class:`HealthVaultClient` opens an authenticated session on first use (the
application signs CreateAuthenticatedSessionToken with its private key),
signs every request with the session's shared secret, reuses one HTTP
connection, and:

* retries a request on connection errors and HTTP 5xx only for methods that
  change nothing (GetThings, session creation, BeginPutBlob...);
* opens a new session and resends once when the platform reports the session
  expired (status 65);
* pages through GetThings results the platform returns as keys only.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from . import codec, crypto, methods, status, wire
from .binding import Binding
from .blobs import BlobUpload, ThingBlobs
from .errors import HealthVaultError
from .methods import Method, Session
from .profile import Profile
from .protocol import METHODS_PATH
from .schema import (
    AppInfo,
    AppServerCred,
    AppServerCredInfo,
    AuthTokenInfo,
    BeginPutBlobResult,
    CreateAuthenticatedSessionToken2Params,
    Credential,
    GetThings3Params,
    GetThings3Result,
    HmacAlgorithm,
    PutThings2Params,
    RemoveThingsParams,
    Sig,
    Thing2,
    ThingKey,
    UnprocessedThingKeyInfo,
)
from .thingquery import ThingQuery as ThingQuery  # re-exported: the client takes it
from .weburl import HealthVaultTransportError as HealthVaultTransportError  # re-exported: raised here
from .weburl import Unreachable, check_url, origin, reason

try:  # a method of the local platform: schema sets without it leave it out
    from .schema import CreateDicomWebTokenParams, CreateDicomWebTokenResult
except ImportError:  # pragma: no cover - only with other schema sets
    CreateDicomWebTokenParams = CreateDicomWebTokenResult = None  # type: ignore[assignment,misc]
try:  # the local platform's own method, when the schema set has it
    from .schema import CreateViewerLinkParams, CreateViewerLinkResult
except ImportError:  # pragma: no cover - depends on the schema set
    CreateViewerLinkParams = CreateViewerLinkResult = None  # type: ignore[assignment,misc]
try:  # what an application reads of the platform on connect: schema sets without them leave them out
    from .schema import GetApplicationInfoResult, GetThingTypeParams, GetThingTypeResult, ThingTypeSectionSpec
except ImportError:  # pragma: no cover - only with other schema sets
    GetApplicationInfoResult = GetThingTypeParams = GetThingTypeResult = ThingTypeSectionSpec = None  # type: ignore[assignment,misc]

#: GetServiceDefinition version 2, whatever name the schema set's method table gives it.
SERVICE_DEFINITION = methods.METHODS[("GetServiceDefinition", 2)]

#: Methods that change nothing on the platform, so may be sent again.
SAFE_METHODS = frozenset(
    {
        methods.GET_THINGS3,
        methods.CREATE_AUTHENTICATED_SESSION_TOKEN2,
        methods.BEGIN_PUT_BLOB,
        methods.ALLOCATE_PACKAGE_ID,
        methods.BEGIN_PUT_CONNECT_PACKAGE_BLOB,
        SERVICE_DEFINITION,
        *(methods.METHODS[k] for k in (("GetApplicationInfo", 1), ("GetThingType", 1)) if k in methods.METHODS),
    }
)

#: The classes this module takes from the schema set (see ``hvgen generate``).
SCHEMA_CLASSES = {
    "AuthTokenInfo": "{urn:com.microsoft.wc.methods.CreateAuthenticatedSessionToken2}AuthTokenInfo",
    "Credential": "{urn:com.microsoft.wc.methods.CreateAuthenticatedSessionToken2}Credential",
    "AppServerCred": "{urn:com.microsoft.wc.methods.CreateAuthenticatedSessionToken2}AppServerCred",
    "AppServerCredInfo": "{urn:com.microsoft.wc.methods.CreateAuthenticatedSessionToken2}AppServerCredInfo",
    "HmacAlgorithm": "{urn:com.microsoft.wc.methods.CreateAuthenticatedSessionToken2}hmac",
    "Sig": "{urn:com.microsoft.wc.types}Sig",
    "AppInfo": "{urn:com.microsoft.wc.types}AppInfo",
    "Thing2": "{urn:com.microsoft.wc.thing}Thing2",
    "ThingKey": "{urn:com.microsoft.wc.thing}ThingKey",
    "UnprocessedThingKeyInfo": "{urn:com.microsoft.wc.thing}UnprocessedThingKeyInfo",
    "CreateAuthenticatedSessionToken2Params": "{urn:com.microsoft.wc.methods.CreateAuthenticatedSessionToken2}info",
    "GetThings3Params": "{urn:com.microsoft.wc.methods.GetThings3}info",
    "PutThings2Params": "{urn:com.microsoft.wc.methods.PutThings2}info",
    "RemoveThingsParams": "{urn:com.microsoft.wc.methods.RemoveThings}info",
    "BeginPutBlobResult": "{urn:com.microsoft.wc.methods.response.BeginPutBlob}info",
    "GetThings3Result": "{urn:com.microsoft.wc.methods.response.GetThings3}info",
}
OPTIONAL_SCHEMA_CLASSES = {
    "CreateDicomWebTokenParams": "{urn:com.microsoft.wc.methods.CreateDicomWebToken}info",
    "CreateDicomWebTokenResult": "{urn:com.microsoft.wc.methods.response.CreateDicomWebToken}info",
    "CreateViewerLinkParams": "{urn:com.microsoft.wc.methods.CreateViewerLink}info",
    "CreateViewerLinkResult": "{urn:com.microsoft.wc.methods.response.CreateViewerLink}info",
    "GetApplicationInfoResult": "{urn:com.microsoft.wc.methods.response.GetApplicationInfo}info",
    "GetThingTypeParams": "{urn:com.microsoft.wc.methods.GetThingType}info",
    "GetThingTypeResult": "{urn:com.microsoft.wc.methods.response.GetThingType}info",
    "ThingTypeSectionSpec": "{urn:com.microsoft.wc.methods.GetThingType}ThingTypeSectionSpec",
}

#: Responses larger than this are refused (bytes).
DEFAULT_MAX_RESPONSE = 256 * 1024 * 1024


class HealthVaultClient:
    """A client of one platform, acting as one application.

    Args:
        url: The platform's base URL (:data:`protocol.METHODS_PATH` is appended unless
            the URL already ends with ``.ashx``). One that cannot work (not
            http:// or https://, no host, a bad port...) raises
            :class:`weburl.InvalidURLError`, a ``ValueError``, at once.
        app_id: The application id.
        private_key: The application's RSA key, which signs session requests.
        certificate: The application's certificate (its thumbprint is sent).
        record_id: The default record of record-scoped methods.
        timeout: Seconds per HTTP request.
        retries: Extra attempts for methods that change nothing.
        http: An ``httpx.Client`` to use instead of a new one.
        max_response_bytes: Largest response read.
        defer_data: The envelope of a response (things' ids, types, dates,
            blob payloads...) is checked when it arrives; each thing's
            data-xml is checked and bound to its class when the program first
            reads it (``thing.data_xml[0].any_element``), so that things only
            listed or passed on cost no decoding. A data-xml root that does not
            fit its class is kept as raw XML with a warning at that moment.
            ``False`` checks everything on arrival.
    """

    def __init__(
        self,
        url: str,
        app_id: str,
        *,
        private_key: rsa.RSAPrivateKey | None = None,
        certificate: x509.Certificate | None = None,
        record_id: str | None = None,
        timeout: float = 30.0,
        retries: int = 2,
        http: httpx.Client | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE,
        defer_data: bool = True,
    ) -> None:
        base = check_url(url, "the platform URL").rstrip("/")
        self.url = base
        self.endpoint = base if base.endswith(".ashx") else base + METHODS_PATH
        self.app_id = app_id
        self.private_key = private_key
        self.certificate = certificate
        self.record_id = record_id
        self.retries = retries
        self.max_response_bytes = max_response_bytes
        self.defer_data = defer_data
        self._owns_http = http is None
        self.http = http or httpx.Client(timeout=timeout, headers={"User-Agent": methods.CLIENT_VERSION})
        self.session: Session | None = None
        self._service: dict[str, str] | None = None

    @classmethod
    def from_profile(cls, profile: Profile | Path | str | None = None, **kwargs: Any) -> HealthVaultClient:
        """A client for a saved profile (by default the one ``hvgen serve`` wrote)."""
        if not isinstance(profile, Profile):
            profile = Profile.load(profile)
        return cls(
            profile.url,
            profile.app_id,
            private_key=crypto.load_private_key(profile.key_path),
            certificate=crypto.load_certificate(profile.cert_path),
            record_id=profile.record_id,
            **kwargs,
        )

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> HealthVaultClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------------

    def post(self, body: bytes, *, retry: bool) -> bytes:
        """POST one request envelope and return the response body.

        A platform that cannot be reached raises :class:`weburl.Unreachable`
        (a :class:`HealthVaultTransportError`, with its address and the
        reason in words) after the retries ``retry`` allows.
        """
        attempts = 1 + (self.retries if retry else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self.http.post(
                    self.endpoint,
                    content=body,
                    headers={"Content-Type": "text/xml; charset=utf-8"},
                )
            except httpx.TransportError as exc:
                if last:
                    why = reason(exc)
                    raise Unreachable(
                        f"cannot reach the platform at {origin(self.endpoint)}: {why}", self.url, why
                    ) from None
                time.sleep(0.2 * 2**attempt)
                continue
            if response.status_code >= 500 and not last:
                time.sleep(0.2 * 2**attempt)
                continue
            content = response.content
            if not content.lstrip().startswith(b"<"):
                raise HealthVaultTransportError(
                    f"{self.endpoint} answered HTTP {response.status_code} without XML (is it a HealthVault platform?)",
                    self.url,
                    f"HTTP {response.status_code} without XML",
                )
            return content
        raise AssertionError("unreachable")

    def call(
        self,
        method: Method,
        info: Binding | None = None,
        *,
        record_id: str | None = None,
        anonymous: bool = False,
        retry: bool | None = None,
    ) -> Any:
        """Send ``method`` with ``info`` and return the response's info.

        Record-scoped methods use ``record_id`` or the client's default.
        Raises the status exception of a non-zero status code. ``retry``:
        whether a failed request is sent again (default: for the methods
        that change nothing).
        """
        for attempt in (0, 1):
            if anonymous:
                body = methods.build_request(method, info, app_id=self.app_id, record_id=record_id)
            else:
                session = self.session or self.create_session()
                body = methods.build_request(method, info, session=session, record_id=record_id or self.record_id)
            data = self.post(body, retry=method in SAFE_METHODS if retry is None else retry)
            try:
                return methods.read_result(method, data, max_bytes=self.max_response_bytes, defer_data=self.defer_data)
            except status.AuthenticatedSessionTokenExpired:
                if anonymous or attempt:
                    raise
                self.session = None
        raise AssertionError("unreachable")

    # -- methods ----------------------------------------------------------------

    def connect(self) -> Session:
        """Open a session now, trying once: a platform that cannot be reached,
        or that refuses the application, is known at once, before any other
        work (:class:`HealthVaultTransportError`, or the platform's status
        error). The requests that follow use this session."""
        return self.create_session(retry=False)

    def create_session(self, *, retry: bool = True) -> Session:
        """Open an authenticated session (CreateAuthenticatedSessionToken v2)."""
        if self.private_key is None or self.certificate is None:
            raise HealthVaultError("creating a session needs the application's private key and certificate")
        content = AppServerCredInfo(
            app_id=self.app_id,
            hmac=HmacAlgorithm.HMACSHA256,
            signing_time=methods.now_xml(),
        )
        content_text = wire.to_string(content, "content")
        sig = Sig(
            value=crypto.sign(self.private_key, content_text.encode("utf-8")),
            digest_method="SHA1",
            sig_method="RSA-SHA1",
            thumbprint=crypto.thumbprint(self.certificate),
        )
        info = CreateAuthenticatedSessionToken2Params(
            auth_info=AuthTokenInfo(
                app_id=AppInfo(value=self.app_id),
                credential=Credential(appserver2=AppServerCred(sig=sig, content=content)),
            )
        )
        if content_text not in codec.serialize_info(info):
            raise HealthVaultError("signed content does not appear verbatim in the request")
        result = self.call(methods.CREATE_AUTHENTICATED_SESSION_TOKEN2, info, anonymous=True, retry=retry)
        self.session = Session(
            token=result.token.value,
            shared_secret=crypto.b64decode(result.shared_secret),
            app_id=self.app_id,
        )
        return self.session

    def put_things(self, things: Sequence[Thing2], *, record_id: str | None = None) -> list[ThingKey]:
        """Create or update things in one transaction; returns their new keys, in order."""
        result = self.call(
            methods.PUT_THINGS,
            PutThings2Params(thing=list(things)),
            record_id=record_id,
        )
        return list(result.thing_id)

    def put_thing(self, thing: Thing2, *, record_id: str | None = None) -> ThingKey:
        """Create or update one thing; returns its new key."""
        return self.put_things([thing], record_id=record_id)[0]

    def query(self, *queries: ThingQuery, record_id: str | None = None) -> GetThings3Result:
        """Send GetThings with one group per query and return the raw result."""
        info = GetThings3Params(group=[q.to_group() for q in queries])
        result: GetThings3Result = self.call(methods.GET_THINGS3, info, record_id=record_id)
        return result

    def get_things(
        self,
        query: ThingQuery | None = None,
        *,
        record_id: str | None = None,
        page: bool = True,
        **fields: Any,
    ) -> list[Thing2]:
        """Things matching ``query`` (or a query made from keyword arguments).

        When the platform returns matches beyond its full-thing limit as keys
        only, those are fetched by id in further requests (``page=False``
        returns the full things of the first answer only).
        """
        query = query or ThingQuery(**fields)
        result = self.query(query, record_id=record_id)
        group = result.group[0]
        things = list(group.thing)
        pending: list[UnprocessedThingKeyInfo] = list(group.unprocessed_thing_key_info)
        while page and pending:
            batch, pending = (
                pending[: max(len(things), 1)],
                pending[max(len(things), 1) :],
            )
            follow = ThingQuery(
                thing_ids=[k.thing_id.value for k in batch],
                sections=query.sections,
                xml=query.xml,
                blob_payload=query.blob_payload,
                blob_format=query.blob_format,
                blob_names=query.blob_names,
                signatures=query.signatures,
                current_version_only=query.current_version_only,
            )
            more = self.query(follow, record_id=record_id).group[0]
            things.extend(more.thing)
            pending = list(more.unprocessed_thing_key_info) + pending
        return things

    def get_thing(self, thing_id: UUID | str, *, record_id: str | None = None, **fields: Any) -> Thing2 | None:
        """One thing by id, or None."""
        things = self.get_things(ThingQuery(thing_ids=[thing_id], **fields), record_id=record_id)
        return things[0] if things else None

    def remove_things(self, keys: Iterable[ThingKey], *, record_id: str | None = None) -> None:
        """Mark things deleted; each key must name the current version."""
        self.call(
            methods.REMOVE_THINGS,
            RemoveThingsParams(thing_id=list(keys)),
            record_id=record_id,
        )

    def service_definition(self, refresh: bool = False) -> dict[str, str]:
        """The service's public configuration items (GetServiceDefinition v2), cached."""
        if self._service is None or refresh:
            result = self.call(SERVICE_DEFINITION, None, anonymous=True)
            platform = result.platform
            self._service = {c.key: c.value for c in platform.configuration} if platform is not None else {}
        return self._service

    def application_info(self) -> GetApplicationInfoResult:
        """This application as the platform knows it (GetApplicationInfo): name, action URL..."""
        result: GetApplicationInfoResult = self._optional(("GetApplicationInfo", 1), GetApplicationInfoResult, None)
        return result

    def thing_types(
        self, type_ids: Sequence[UUID | str] = (), sections: Sequence[str] = ("core",)
    ) -> GetThingTypeResult:
        """Definitions of thing types the platform accepts (GetThingType): those
        of ``type_ids``, else every one, with ``sections`` (core, xsd, versions,
        effectivedatexpath...)."""
        if GetThingTypeParams is None:
            raise HealthVaultError("this package's schema set has no GetThingType method")
        params = GetThingTypeParams(id=[str(t) for t in type_ids], section=[ThingTypeSectionSpec(s) for s in sections])
        result: GetThingTypeResult = self._optional(("GetThingType", 1), GetThingTypeResult, params)
        return result

    def _optional(self, key: tuple[str, int], result: type | None, info: Binding | None) -> Any:
        if key not in methods.METHODS or result is None:
            raise HealthVaultError(f"this package's schema set has no {key[0]} method")
        return self.call(methods.METHODS[key], info)

    def config_int(self, key: str, default: int) -> int:
        """A numeric configuration item, or ``default`` when the service has none."""
        try:
            return int(self.service_definition().get(key, default))
        except (HealthVaultError, ValueError):
            return default

    def upload_blob(
        self,
        source: Any,
        *,
        name: str = "",
        content_type: str = "application/octet-stream",
        record_id: str | None = None,
        progress: Any = None,
    ) -> Any:
        """Stream a blob (path, binary file or iterable of bytes) and return
        the blob-payload item that makes a thing refer to it."""
        upload = BlobUpload(self, name, content_type, record_id=record_id, progress=progress)
        return upload.send(source)

    def blobs(self, thing: Thing2, *, record_id: str | None = None, progress: Any = None) -> Any:
        """The blob store of ``thing`` (see :class:`healthvault.blobs.ThingBlobs`)."""
        return ThingBlobs(self, thing, record_id=record_id, progress=progress)

    def dicomweb_token(self, ttl: int | None = None, *, record_id: str | None = None) -> CreateDicomWebTokenResult:
        """A bearer token for the platform's DICOMweb service, for the record
        (CreateDicomWebToken, a method of the local platform): the token,
        its expiry and the service's URL. ``ttl`` in seconds; the platform caps it."""
        method = getattr(methods, "CREATE_DICOM_WEB_TOKEN", None)
        if method is None or CreateDicomWebTokenParams is None:
            raise HealthVaultError("this package's schema set has no CreateDicomWebToken method")
        result: CreateDicomWebTokenResult = self.call(
            method, CreateDicomWebTokenParams(ttl_seconds=ttl), record_id=record_id
        )
        return result

    def create_viewer_link(self, *, record_id: str | None = None) -> CreateViewerLinkResult:
        """A one-time link to the local platform's study viewer at the record
        (CreateViewerLink, this platform's own method): it signs the record's
        person in once, within minutes. The result has ``url`` and ``expires``."""
        if CreateViewerLinkParams is None:
            raise HealthVaultError("this package's schema set has no CreateViewerLink method")
        result: CreateViewerLinkResult = self.call(
            methods.CREATE_VIEWER_LINK, CreateViewerLinkParams(), record_id=record_id
        )
        return result

    def begin_put_blob(self, *, record_id: str | None = None) -> BeginPutBlobResult:
        """Start a streamed blob upload: where to send chunks, and how."""
        result: BeginPutBlobResult = self.call(methods.BEGIN_PUT_BLOB, None, record_id=record_id)
        return result
