"""A client of the platform written the way other SDKs wrote theirs: request
envelopes as text from the published schemas and the protocol notes
(PROTOCOL.md sections 1 and 2), hashes and HMACs with hashlib, responses read
by local name. It shares no code with this project's client or codec, so the
interop tests check the wire format, not the project against itself.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

REQUEST_NS = "urn:com.microsoft.wc.request"
RESPONSE_NS = "urn:com.microsoft.wc.methods.response."
MEDICAL_IMAGE_STUDY = "cdfc0a9b-6d3b-4d16-afa8-02b86d621a8d"


def b64(data: bytes, *, mime: bool = False) -> str:
    """Base64 on one line, or MIME style: lines of 76 characters and a trailing newline."""
    return base64.encodebytes(data).decode() if mime else base64.b64encode(data).decode()


def utc_time(offset: float = 0.0, digits: int = 3) -> str:
    """xs:dateTime of now + ``offset`` seconds in UTC with a Z, with ``digits`` fractional digits."""
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{moment.microsecond:06d}0"[:digits]
    return text + (f".{fraction}" if digits else "") + "Z"


def local_time(hours_east: float, offset: float = 0.0) -> str:
    """Wall-clock time now in a zone ``hours_east`` of UTC, written without a zone."""
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(hours=hours_east, seconds=offset)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class Answer:
    """A response as a foreign client reads it."""

    http_status: int
    code: int
    message: str
    info: etree._Element | None
    raw: bytes

    def find(self, path: str) -> etree._Element | None:
        return None if self.info is None else self.info.find(path)

    def findall(self, path: str) -> list[etree._Element]:
        return [] if self.info is None else list(self.info.findall(path))

    def text(self, path: str) -> str:
        found = self.find(path)
        if found is None or found.text is None:
            raise AssertionError(f"no {path} in {self.raw[:300]!r}")
        return found.text


def read_answer(response: httpx.Response) -> Answer:
    root = etree.fromstring(response.content)
    code = int(root.findtext("status/code") or "-1")
    message = root.findtext("status/error/message") or ""
    info = next((c for c in root if isinstance(c.tag, str) and etree.QName(c).localname == "info"), None)
    return Answer(response.status_code, code, message, info, response.content)


@dataclass
class Application:
    """An application's identity: its id, private key and certificate."""

    app_id: str
    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @classmethod
    def load(cls, app_id: str, key_path: Path, cert_path: Path) -> Application:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return cls(app_id, key, x509.load_pem_x509_certificate(cert_path.read_bytes()))

    @property
    def thumbprint(self) -> str:
        return self.cert.fingerprint(hashes.SHA1()).hex().upper()

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, padding.PKCS1v15(), hashes.SHA1())


@dataclass
class ForeignClient:
    """Requests as bytes on the wire.

    ``hmac_alg`` and ``hash_alg`` are the algorithms of the auth HMAC and the
    info-hash; ``culture`` is ``"culture-code"`` (as the .NET SDKs send it),
    ``"language"`` (language + country) or ``""``.
    """

    base_url: str
    app: Application
    path: str = "/platform/wildcat.ashx"
    hmac_alg: str = "HMACSHA256"
    hash_alg: str = "SHA256"
    culture: str = "culture-code"
    version: str = "HV-NET/1.0.0.0 (Windows NT; CLR 4.0)"
    token: str | None = None
    secret: bytes = b""
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    # -- the envelope ----------------------------------------------------------------

    def header(
        self,
        method: str,
        version: int,
        info: str,
        *,
        record_id: str | None = None,
        user_token: str | None = None,
        offline_person: str | None = None,
        msg_time: str | None = None,
        ttl: int = 1800,
        anonymous: bool = False,
    ) -> str:
        parts = [f"<method>{method}</method><method-version>{version}</method-version>"]
        if record_id:
            parts.append(f"<record-id>{record_id}</record-id>")
        if anonymous:
            parts.append(f"<app-id>{self.app.app_id}</app-id>")
        else:
            session = f"<auth-token>{escape(self.token or '')}</auth-token>"
            if user_token is not None:
                session += f"<user-auth-token>{escape(user_token)}</user-auth-token>"
            if offline_person is not None:
                session += f"<offline-person-info><offline-person-id>{offline_person}</offline-person-id></offline-person-info>"
            parts.append(f"<auth-session>{session}</auth-session>")
        if self.culture == "culture-code":
            parts.append("<culture-code>en-US</culture-code>")
        elif self.culture == "language":
            parts.append("<language>en</language><country>US</country>")
        parts.append(f"<msg-time>{msg_time or utc_time()}</msg-time><msg-ttl>{ttl}</msg-ttl>")
        parts.append(f"<version>{escape(self.version)}</version>")
        if not anonymous:  # as LEG: the info-hash only with a session
            digest = hashlib.new(self.hash_alg.lower(), info.encode("utf-8")).digest()
            parts.append(f'<info-hash><hash-data algName="{self.hash_alg}">{b64(digest)}</hash-data></info-hash>')
        return "<header>" + "".join(parts) + "</header>"

    def envelope(self, header: str, info: str, *, mime_hmac: bool = False) -> bytes:
        auth = ""
        if "<auth-session>" in header:
            digest_name = self.hmac_alg.upper().removeprefix("HMAC").lower()
            mac = hmac.new(self.secret, header.encode("utf-8"), digest_name).digest()
            auth = f'<auth><hmac-data algName="{self.hmac_alg}">{b64(mac, mime=mime_hmac)}</hmac-data></auth>'
        body = f'<wc-request:request xmlns:wc-request="{REQUEST_NS}">{auth}{header}{info}</wc-request:request>'
        return body.encode("utf-8")

    def post(self, body: bytes, path: str | None = None) -> Answer:
        response = self.http.post(
            self.base_url + (path or self.path), content=body, headers={"Content-Type": "text/xml"}
        )
        return read_answer(response)

    def call(self, method: str, version: int, info: str = "<info/>", **options: object) -> Answer:
        mime_hmac = bool(options.pop("mime_hmac", False))
        header = self.header(method, version, info, **options)  # type: ignore[arg-type]
        return self.post(self.envelope(header, info, mime_hmac=mime_hmac))

    # -- sessions ------------------------------------------------------------------------

    def open_v2(
        self, *, mime_sig: bool = False, signing_time: str | None = None, msg_time: str | None = None
    ) -> Answer:
        """CreateAuthenticatedSessionToken version 2 (the platform makes the secret)."""
        content = (
            f"<content><app-id>{self.app.app_id}</app-id><hmac>{self.hmac_alg}</hmac>"
            f"<signing-time>{signing_time or utc_time()}</signing-time></content>"
        )
        sig = b64(self.app.sign(content.encode("utf-8")), mime=mime_sig)
        info = (
            f"<info><auth-info><app-id>{self.app.app_id}</app-id><credential><appserver2>"
            f'<sig digestMethod="SHA1" sigMethod="RSA-SHA1" thumbprint="{self.app.thumbprint}">{sig}</sig>'
            f"{content}</appserver2></credential></auth-info></info>"
        )
        answer = self.post(
            self.envelope(
                self.header("CreateAuthenticatedSessionToken", 2, info, anonymous=True, msg_time=msg_time), info
            )
        )
        if answer.code == 0:
            self.token = answer.text("token")
            self.secret = base64.b64decode(answer.text("shared-secret"))
        return answer

    def open_v1_request(self, *, msg_time: str | None = None, mime_sig: bool = False) -> bytes:
        """CreateAuthenticatedSessionToken version 1: the client makes the shared
        secret (kept in ``self.secret``) and signs it with its key."""
        self.secret = os.urandom(32)
        content = (
            f"<content><app-id>{self.app.app_id}</app-id><shared-secret>"
            f'<hmac-alg algName="{self.hmac_alg}">{b64(self.secret)}</hmac-alg></shared-secret></content>'
        )
        sig = b64(self.app.sign(content.encode("utf-8")), mime=mime_sig)
        info = (
            f"<info><auth-info><app-id>{self.app.app_id}</app-id><credential><appserver>"
            f'<sig digestMethod="SHA1" sigMethod="RSA-SHA1" thumbprint="{self.app.thumbprint}">{sig}</sig>'
            f"{content}</appserver></credential></auth-info></info>"
        )
        return self.envelope(
            self.header("CreateAuthenticatedSessionToken", 1, info, anonymous=True, msg_time=msg_time), info
        )

    def open_v1(self, **options: object) -> Answer:
        answer = self.post(self.open_v1_request(**options))  # type: ignore[arg-type]
        if answer.code == 0:
            self.token = answer.text("token")
        return answer
