"""Request envelopes in, response envelopes out.

The info-hash and the HMAC are checked over the request bytes exactly as they
arrived: the ``<header>`` and ``<info>`` elements are located in the raw
body, and each located slice must parse to the same element the full parse
found, so that what was hashed is what is acted on.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
from dataclasses import dataclass
from xml.sax.saxutils import escape

from lxml import etree

from healthvault import codec, methods, safexml, wire
from healthvault.bindings.methods.request import Header
from healthvault.bindings.wc_types import HMACFinalized
from healthvault.errors import HealthVaultXmlError
from healthvault.methods import Method
from healthvault.status import StatusCode


class PlatformError(Exception):
    """An error answered with a platform status code and message."""

    def __init__(self, code: StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ParsedRequest:
    """A request whose envelope has been checked for shape."""

    raw: bytes
    root: etree._Element
    header: Header
    method: Method
    info_element: etree._Element
    header_bytes: bytes
    info_bytes: bytes
    auth: HMACFinalized | None

    def info(self) -> object:
        """The info section bound to the method's parameter class."""
        if self.method.params is None:
            return None
        try:
            return codec.bind(
                copy.deepcopy(self.info_element), self.method.params, what=f"{self.method.name} info"
            )
        except HealthVaultXmlError as exc:
            raise PlatformError(StatusCode.INVALID_XML, str(exc)) from None


def _c14n(element: etree._Element) -> bytes:
    return bytes(etree.tostring(element, method="c14n", exclusive=True))


def locate(raw: bytes, element: etree._Element, start: int = 0) -> tuple[int, int]:
    """Byte range of ``element`` (unqualified, no attributes) in ``raw``.

    Raises PlatformError when the bytes found there do not parse to the same
    element as ``element``.
    """
    name = etree.QName(element).localname.encode("ascii")
    candidates = [raw.find(b"<" + name + b">", start), raw.find(b"<" + name + b"/>", start)]
    found = [c for c in candidates if c >= 0]
    if not found:
        raise PlatformError(StatusCode.INVALID_XML, f"cannot locate <{name.decode()}> in the request")
    begin = min(found)
    if raw.startswith(b"<" + name + b"/>", begin):
        end = begin + len(name) + 3
    else:
        close = raw.find(b"</" + name + b">", begin)
        if close < 0:
            raise PlatformError(StatusCode.INVALID_XML, f"<{name.decode()}> is not closed")
        end = close + len(name) + 3
    try:
        sliced = safexml.parse(raw[begin:end], what=name.decode(), max_bytes=None)
    except HealthVaultXmlError:
        sliced = None
    if sliced is None or _c14n(sliced) != _c14n(element):
        raise PlatformError(
            StatusCode.INVALID_XML,
            f"the <{name.decode()}> element must be written plainly (no comments, CDATA or "
            "namespace declarations inherited from the envelope)",
        )
    return begin, end


def parse_request(raw: bytes, max_bytes: int) -> ParsedRequest:
    """Parse and shape-check a request envelope."""
    try:
        root = safexml.parse(raw, what="request", max_bytes=max_bytes)
    except HealthVaultXmlError as exc:
        raise PlatformError(StatusCode.INVALID_XML, str(exc)) from None
    if root.tag != wire.REQUEST_TAG:
        raise PlatformError(
            StatusCode.INVALID_XML,
            f"the document element must be wc-request:request, not {etree.QName(root).text}",
        )
    children = [c for c in root if isinstance(c.tag, str)]
    names = [c.tag for c in children]
    if names not in (["auth", "header", "info"], ["header", "info"]):
        raise PlatformError(
            StatusCode.INVALID_XML, "the request must hold [auth], header and info, in that order"
        )
    parts = dict(zip(names, children))
    header_el, info_el = parts["header"], parts["info"]
    h_begin, h_end = locate(raw, header_el)
    i_begin, i_end = locate(raw, info_el, h_end)
    try:
        header = wire.from_element(
            _copy(header_el), Header, what="request", strict=True
        )
        auth = (
            wire.from_element(_copy(parts["auth"]), HMACFinalized, what="request", strict=True)
            if "auth" in parts
            else None
        )
    except HealthVaultXmlError as exc:
        raise PlatformError(StatusCode.INVALID_XML, str(exc)) from None
    method = methods.METHODS.get((header.method, header.method_version))
    if method is None:
        raise PlatformError(
            StatusCode.BAD_METHOD, f"unknown method {header.method} version {header.method_version}"
        )
    return ParsedRequest(
        raw=raw,
        root=root,
        header=header,
        method=method,
        info_element=info_el,
        header_bytes=raw[h_begin:h_end],
        info_bytes=raw[i_begin:i_end],
        auth=auth,
    )


def _copy(element: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(element))


def check_info_hash(request: ParsedRequest, required: bool) -> None:
    info_hash = request.header.info_hash
    if info_hash is None:
        if required:
            raise PlatformError(StatusCode.BAD_SIG, "the header has no info-hash")
        return
    algorithm = (info_hash.hash_data.alg_name or "").upper()
    digests = {"SHA256": hashlib.sha256, "SHA1": hashlib.sha1}
    if algorithm not in digests:
        raise PlatformError(StatusCode.BAD_SIG, f"unsupported info-hash algorithm {algorithm}")
    expected = base64.b64encode(digests[algorithm](request.info_bytes).digest()).decode()
    if not hmac.compare_digest(expected, (info_hash.hash_data.value or "").strip()):
        raise PlatformError(StatusCode.BAD_SIG, "the info-hash does not match the info section")


def check_hmac(request: ParsedRequest, secret: bytes) -> None:
    if request.auth is None:
        raise PlatformError(StatusCode.BAD_SIG, "an authenticated request needs an auth HMAC")
    data = request.auth.hmac_data
    if (data.alg_name or "").upper() != "HMACSHA256":
        raise PlatformError(StatusCode.BAD_SIG, f"unsupported HMAC algorithm {data.alg_name}")
    expected = base64.b64encode(hmac.new(secret, request.header_bytes, hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(expected, (data.value or "").strip()):
        raise PlatformError(StatusCode.BAD_SIG, "the auth HMAC does not match the header")


def error_response(code: int, message: str) -> bytes:
    return (
        f"<response><status><code>{int(code)}</code><error><message>{escape(message)}"
        "</message></error></status></response>"
    ).encode("utf-8")


def ok_response(info_xml: str = "") -> bytes:
    return f"<response><status><code>0</code></status>{info_xml}</response>".encode("utf-8")


def info_xml(result: object) -> str:
    """A response info binding as ``wc:info``."""
    return wire.to_string(result)
