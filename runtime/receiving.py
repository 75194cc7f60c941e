"""Receiving request envelopes: for a server, a proxy or a test.

:func:`parse_request` checks an envelope's shape and finds the exact bytes of
its ``<header>`` and ``<info>``, over which :func:`verify_info_hash` and
:func:`verify_hmac` check the request's integrity. A server calls
:func:`receive_request` instead, which reads only the header (cheap,
whatever the size of the request), so that it can authenticate the request
before :meth:`ReceivedRequest.check_envelope` parses the rest within
:class:`safexml.Limits`. Problems are raised as the status exception the
platform answers them with (:class:`status.InvalidXml`, :class:`status.BadSig`...).
:mod:`protocol` offers the same names.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from lxml import etree

from . import codec, crypto, safexml, status, wire
from .errors import HealthVaultXmlError
from .schema import Header, HMACFinalized
from .status import StatusCode

#: The classes this module takes from the schema set (see ``hvgen generate``).
SCHEMA_CLASSES = {
    "Header": "{urn:com.microsoft.wc.request}Header",
    "HMACFinalized": "{urn:com.microsoft.wc.types}HMACFinalized",
}


def _invalid_xml(message: str) -> status.HealthVaultStatusError:
    return status.error_for(StatusCode.INVALID_XML, message)


def _bad_sig(message: str) -> status.HealthVaultStatusError:
    return status.error_for(StatusCode.BAD_SIG, message)


#: Largest ``<header>`` or ``<auth>`` element read before authentication.
MAX_HEADER_BYTES = 64 * 1024


class ReceivedRequest:
    """A request envelope as received.

    ``header_bytes`` and ``info_bytes`` are the ``<header>`` and ``<info>``
    elements exactly as they arrived: what the HMAC and the info-hash cover.
    ``header`` and ``auth`` are read from those bytes alone; the rest of the
    envelope is parsed by :meth:`check_envelope` (``root`` and
    ``info_element`` call it when first used).
    """

    def __init__(
        self,
        raw: bytes,
        header: Header,
        header_element: etree._Element,
        method: Any,
        header_bytes: bytes,
        info_bytes: bytes,
        auth: HMACFinalized | None,
        limits: safexml.Limits | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self.raw = raw
        self.header = header
        self.header_element = header_element
        self.method = method
        self.header_bytes = header_bytes
        self.info_bytes = info_bytes
        self.auth = auth
        self.limits = limits
        self.max_bytes = max_bytes
        self._root: etree._Element | None = None
        self._info: etree._Element | None = None

    @property
    def root(self) -> etree._Element:
        self.check_envelope()
        assert self._root is not None
        return self._root

    @property
    def info_element(self) -> etree._Element:
        self.check_envelope()
        assert self._info is not None
        return self._info

    def check_envelope(self) -> None:
        """Parse the whole envelope (within the limits) and check its shape,
        and that the header and info bytes are its header and info elements.

        Raises:
            status.InvalidXml: The envelope is malformed, over a limit, or
                its parts are not written plainly.
            status.RequestTooLong: It is over the size limit.
        """
        if self._root is not None:
            return
        try:
            root = safexml.parse(self.raw, what="request", max_bytes=self.max_bytes, limits=self.limits)
        except safexml.OverLimit as exc:
            raise status.error_for(StatusCode.REQUEST_TOO_LONG, str(exc)) from None
        except HealthVaultXmlError as exc:
            raise _invalid_xml(str(exc)) from None
        parts = _parts(root)
        header_begin, header_end = locate(self.raw, parts["header"], parsed=(self.header_bytes, self.header_element))
        info_begin, info_end = locate(self.raw, parts["info"], header_end)
        if self.raw[header_begin:header_end] != self.header_bytes or self.raw[info_begin:info_end] != self.info_bytes:
            raise _invalid_xml(
                "the <header> and <info> elements must be written plainly (no comments, CDATA "
                "or look-alikes before them)"
            )
        self._root, self._info = root, parts["info"]

    def info(self) -> object:
        """The info section bound to the method's parameter class.

        Raises:
            status.InvalidXml: The info does not fit the class.
        """
        if self.method.params is None:
            return None
        try:
            return codec.bind(
                copy.deepcopy(self.info_element),
                self.method.params,
                what=f"{self.method.name} info",
            )
        except HealthVaultXmlError as exc:
            raise _invalid_xml(str(exc)) from None


def _parts(root: etree._Element) -> dict[str, etree._Element]:
    """The children of a request envelope by name, its shape checked."""
    if root.tag != wire.REQUEST_TAG:
        raise _invalid_xml(f"the document element must be wc-request:request, not {etree.QName(root).text}")
    children = [c for c in root if isinstance(c.tag, str)]
    names = [c.tag for c in children]
    if names not in (["auth", "header", "info"], ["header", "info"]):
        raise _invalid_xml("the request must hold [auth], header and info, in that order")
    return dict(zip(names, children, strict=False))


def _c14n(element: etree._Element) -> bytes:
    return bytes(etree.tostring(element, method="c14n", exclusive=True))


def _find_element(raw: bytes, name: bytes, start: int = 0, end: int | None = None) -> tuple[int, int] | None:
    """Byte range of the first plain ``<name>...</name>`` or ``<name/>`` in
    ``raw[start:end]`` (a plain search; the envelope check confirms it)."""
    found = [
        at for at in (raw.find(b"<" + name + b">", start, end), raw.find(b"<" + name + b"/>", start, end)) if at >= 0
    ]
    if not found:
        return None
    begin = min(found)
    if raw.startswith(b"<" + name + b"/>", begin):
        return begin, begin + len(name) + 3
    close = raw.find(b"</" + name + b">", begin, end)
    if close < 0:
        return None
    return begin, close + len(name) + 3


def locate(
    raw: bytes, element: etree._Element, start: int = 0, parsed: tuple[bytes, etree._Element] | None = None
) -> tuple[int, int]:
    """Byte range of ``element`` (unqualified, no attributes) in ``raw``.
    ``parsed``: bytes already parsed alone, and their element (used when
    they are the bytes found, instead of parsing them again).

    Raises:
        status.InvalidXml: The element is not there, or the bytes found do
            not parse to the same element as ``element`` (a comment, CDATA
            or an inherited namespace declaration would make what was hashed
            differ from what is acted on).
    """
    text = etree.QName(element).localname
    found = _find_element(raw, text.encode("ascii"), start)
    if found is None:
        raise _invalid_xml(f"cannot locate a closed <{text}> in the request")
    begin, end = found
    sliced: etree._Element | None
    if parsed is not None and raw[begin:end] == parsed[0]:
        sliced = parsed[1]
    else:
        try:
            sliced = safexml.parse(raw[begin:end], what=text, max_bytes=None)
        except HealthVaultXmlError:
            sliced = None
    if sliced is None or _c14n(sliced) != _c14n(element):
        raise _invalid_xml(
            f"the <{text}> element must be written plainly (no comments, CDATA or "
            "namespace declarations inherited from the envelope)"
        )
    return begin, end


def receive_request(
    raw: bytes,
    methods: Mapping[tuple[str, int], Any],
    *,
    max_bytes: int | None = safexml.DEFAULT_MAX_BYTES,
    limits: safexml.Limits | None = None,
) -> ReceivedRequest:
    """Read what authenticating a request needs: its header (and auth) and
    the bytes of its info, without parsing the rest; the envelope is
    checked by :meth:`ReceivedRequest.check_envelope`.

    Raises:
        status.RequestTooLong: The request is over ``max_bytes``.
        status.InvalidXml: The header or auth cannot be read.
        status.BadMethod: The header names a method not in ``methods``.
    """
    if max_bytes is not None and len(raw) > max_bytes:
        raise status.error_for(
            StatusCode.REQUEST_TOO_LONG, f"the request is {len(raw)} bytes, over the {max_bytes}-byte limit"
        )
    header_at = _find_element(raw, b"header", 0, None)
    if header_at is None:
        raise _invalid_xml("the request has no <header> element")
    header_begin, header_end = header_at
    if header_end - header_begin > MAX_HEADER_BYTES:
        raise _invalid_xml(f"the <header> is over {MAX_HEADER_BYTES} bytes")
    info_at = _find_element(raw, b"info", header_end)
    if info_at is None:
        raise _invalid_xml("the request has no <info> element after its header")
    auth_at = _find_element(raw, b"auth", 0, header_begin)
    if auth_at is not None and auth_at[1] - auth_at[0] > MAX_HEADER_BYTES:
        raise _invalid_xml(f"the <auth> is over {MAX_HEADER_BYTES} bytes")
    try:
        header_el = safexml.parse(raw[header_begin:header_end], what="request header", limits=limits)
        header = wire.from_element(copy.deepcopy(header_el), Header, what="request", strict=True)
        auth = (
            wire.from_element(
                safexml.parse(raw[auth_at[0] : auth_at[1]], what="request auth", limits=limits),
                HMACFinalized,
                what="request",
                strict=True,
            )
            if auth_at is not None
            else None
        )
    except HealthVaultXmlError as exc:
        raise _invalid_xml(str(exc)) from None
    method = methods.get((header.method, header.method_version))
    if method is None:
        raise status.error_for(
            StatusCode.BAD_METHOD,
            f"unknown method {header.method} version {header.method_version}",
        )
    return ReceivedRequest(
        raw=raw,
        header=header,
        header_element=header_el,
        method=method,
        header_bytes=raw[header_begin:header_end],
        info_bytes=raw[info_at[0] : info_at[1]],
        auth=auth,
        limits=limits,
        max_bytes=max_bytes,
    )


def parse_request(
    raw: bytes,
    methods: Mapping[tuple[str, int], Any],
    *,
    max_bytes: int | None = safexml.DEFAULT_MAX_BYTES,
    limits: safexml.Limits | None = None,
) -> ReceivedRequest:
    """Parse a received request envelope and check its shape.

    ``methods`` are the methods known, by (name, version).

    Raises:
        status.InvalidXml: Not a well-formed request envelope.
        status.BadMethod: The header names a method not in ``methods``.
    """
    try:
        _parts(safexml.parse(raw, what="request", max_bytes=max_bytes, limits=limits))
    except HealthVaultXmlError as exc:
        raise _invalid_xml(str(exc)) from None
    request = receive_request(raw, methods, max_bytes=max_bytes, limits=limits)
    request.check_envelope()
    return request


def verify_info_hash(request: ReceivedRequest, *, required: bool) -> None:
    """Check the header's info-hash against the info bytes as received.

    Raises:
        status.BadSig: The hash is missing (when ``required``), of an
            unsupported algorithm, or does not match.
    """
    info_hash = request.header.info_hash
    if info_hash is None:
        if required:
            raise _bad_sig("the header has no info-hash")
        return
    algorithm = info_hash.hash_data.alg_name or ""
    try:
        matches = crypto.info_hash_matches(request.info_bytes, info_hash.hash_data.value or "", algorithm)
    except crypto.UnsupportedAlgorithm:
        raise _bad_sig(f"unsupported info-hash algorithm {algorithm.upper()}") from None
    if not matches:
        raise _bad_sig("the info-hash does not match the info section")


def verify_hmac(request: ReceivedRequest, key: bytes, algorithm: str = crypto.HMAC_ALGORITHM) -> None:
    """Check the request's auth HMAC (keyed with the session's shared secret,
    of the session's ``algorithm``) against the header bytes as received.

    Raises:
        status.BadSig: There is no auth, it names another algorithm, or it
            does not match.
    """
    if request.auth is None:
        raise _bad_sig("an authenticated request needs an auth HMAC")
    data = request.auth.hmac_data
    named = (data.alg_name or "").strip().upper()
    if named != algorithm.upper():
        if named in crypto.HMAC_DIGESTS:
            raise _bad_sig(f"the session was opened with {algorithm.upper()}; this request's HMAC is {named}")
        raise _bad_sig(f"unsupported HMAC algorithm {data.alg_name}")
    if not crypto.hmac_matches(key, request.header_bytes, data.value or "", algorithm):
        raise _bad_sig("the auth HMAC does not match the header")
