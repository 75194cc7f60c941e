"""Read and write things, data-xml roots and method envelopes.

Reading parses the document safely (:mod:`safexml`), checks it against its
binding classes (:mod:`check`) and returns typed views over the parsed tree
(:mod:`binding`). Writing serializes the tree: a document read and written
back unchanged is the same document, byte for byte as libxml2 writes XML
(``<a/>`` for ``<a></a>``, UTF-8). What is around the root (the XML
declaration, comments and processing instructions before and after it, the
white space between them) is written back as read by the writer of the
document read (:mod:`prolog`); a root placed inside another document (a
thing put into a request) leaves it behind, since it has no place there.

What a class has no place for is never silent:

* an unexpected or misplaced element, text in element-only content or an
  unknown attribute in a thing or an envelope is an error;
* a missing required element or a value that does not parse is a
  :class:`HealthVaultDecodeWarning` (the text is kept as read), or an error
  with ``strict=True``;
* a data-xml root that does not fit the class its type-id names is kept as
  raw XML (:class:`RawElement`) with a warning naming the first problem, or
  is an error with ``strict=True``. Without a type-id, the versions of the
  root's type are tried newest first; a root in another namespace, or of an
  unknown type, is kept raw.

The envelope half (requests and responses) is present when the schema set
defines the request header and the response status.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar
from uuid import UUID

from lxml import etree

from . import safexml
from .binder import bind, decode_data
from .binding import REQUEST_NS, Binding, Document, RawElement, to_xml
from .errors import HealthVaultXmlError
from .prolog import Outside, around, parse_document
from .schema import REQUEST_INFO, RESPONSE_INFO, Thing2

try:  # the original thing format, when the schema set has it
    from .schema import Thing
except ImportError:  # pragma: no cover - depends on the schema set
    Thing = None  # type: ignore[assignment,misc]
try:  # the method envelopes, when the schema set has them
    from .schema import Header, HMACFinalized, Status
except ImportError:  # pragma: no cover - depends on the schema set
    Header = HMACFinalized = Status = None  # type: ignore[assignment,misc]

#: The classes this module takes from the schema set (see ``hvgen generate``).
SCHEMA_CLASSES = {
    "Thing2": "{urn:com.microsoft.wc.thing}Thing2",
    "DataXml": "{urn:com.microsoft.wc.thing}DataXml",
}
OPTIONAL_SCHEMA_CLASSES = {
    "Thing": "{urn:com.microsoft.wc.thing}Thing",
    "Header": "{urn:com.microsoft.wc.request}Header",
    "HMACFinalized": "{urn:com.microsoft.wc.types}HMACFinalized",
    "Status": "Status",
}

T = TypeVar("T", bound=Binding)

XmlInput: TypeAlias = bytes | bytearray | memoryview | str | etree._Element

REQUEST_TAG = "{" + REQUEST_NS + "}request"
METHOD_NS_PREFIX = "urn:com.microsoft.wc.methods."

#: Raw XML, for content no class holds (the name older code used).
AnyElement = RawElement

__all__ = [
    "AnyElement",
    "RawElement",
    "read_thing",
    "write_thing",
    "read_data",
    "write_data",
    "decode_data",
    "RequestEnvelope",
    "ResponseEnvelope",
    "RequestParts",
    "read_request",
    "write_request",
    "request_parts",
    "read_response",
    "write_response",
    "Fragment",
    "bind",
    "read_document",
    "write_document",
]


# -- data-xml roots -----------------------------------------------------------------


def _outside(obj: Any) -> Outside | None:
    doc = getattr(obj, "_doc", None)
    return doc.outside if doc is not None else None


def _kept(view: T, outside: Outside | None) -> T:
    """``view``, with the text around its document's root to write back."""
    if outside is not None:
        if view._doc is None:  # noqa: SLF001
            view._doc = Document()  # noqa: SLF001
        view._doc.outside = outside  # noqa: SLF001
    return view


def read_data(data: XmlInput, type_id: UUID | str | None = None, *, strict: bool = False) -> Any:
    """Read a bare data-xml root document such as ``<medical-image-study>``.

    With a ``type_id`` the class registered for it is used; without one,
    the versions registered for the root's name are tried newest first and
    the first whose content model accepts it wins. A root no class accepts,
    one of an unknown type and one in another namespace are kept as
    :class:`RawElement` (with a warning when a class was expected to fit).
    """
    element, outside = parse_document(data, what="data-xml root")
    return _kept(decode_data(element, type_id, strict=strict), outside)


def write_data(obj: Binding) -> bytes:
    """Write a data-xml root (unqualified, as on the wire)."""
    return around(obj._el, to_xml(obj), _outside(obj))  # noqa: SLF001


# -- things --------------------------------------------------------------------------


def _is_thing2(element: etree._Element) -> bool:
    """Thing2 unless the thing has the original format's data-other or Signature."""
    children = {etree.QName(c).localname for c in element if isinstance(c.tag, str)}
    return not children & {"data-other", "Signature"}


def read_thing(data: XmlInput, *, strict: bool = False) -> Any:
    """Read a ``<thing>``; each data-xml root is bound by the thing's type-id.

    A thing in the original format (``data-other`` or a signature directly
    under ``thing``) is read as :class:`Thing`; anything else as
    :class:`Thing2`.

    Raises:
        HealthVaultXmlError: Malformed or hostile XML, or content that fits
            neither thing format (and, when ``strict``, any problem).
    """
    element, outside = parse_document(data, what="thing")
    return _read_thing(element, strict, outside)


def _read_thing(element: etree._Element, strict: bool, outside: Outside | None) -> Any:
    if element.tag != "thing":
        raise HealthVaultXmlError(f"expected a <thing> element, found <{etree.QName(element).text}>")
    cls: type[Binding] = Thing2
    if Thing is not None and not _is_thing2(element):
        cls = Thing
    return _kept(bind(element, cls, what="thing", strict=strict), outside)


#: Classes of the sections of a thing, by element name (``blob-payload``...).
THING_SECTIONS: dict[str, type[Binding]] = {
    tag: f.item.cls  # type: ignore[attr-defined]
    for tag, f in Thing2._CHILDREN.items()  # noqa: SLF001
    if f.item.kind == "child"
}


def write_thing(thing: Binding) -> bytes:
    """Write a thing as an unqualified ``<thing>`` element."""
    return around(thing._el, to_xml(thing, "thing"), _outside(thing))  # noqa: SLF001


# -- method envelopes -------------------------------------------------------------------


def request_info_class(method: str, version: int | None) -> type[Binding] | None:
    """The info class of a method: NAME + version first, then NAME alone."""
    base = METHOD_NS_PREFIX + method
    if version is not None and f"{base}{version}" in REQUEST_INFO:
        return REQUEST_INFO[f"{base}{version}"]
    return REQUEST_INFO.get(base)


@dataclass
class RequestEnvelope:
    """A method request: ``auth`` (authenticated calls), ``header`` and ``info``.

    ``info`` is the method's parameter class, or :class:`RawElement` for a
    method with no schema (BeginPutBlob sends an empty ``<info/>``).
    """

    header: Any
    info: Any = None
    auth: Any = None
    _root: etree._Element | None = field(default=None, repr=False, compare=False)
    _outside: Outside | None = field(default=None, repr=False, compare=False)


@dataclass
class ResponseEnvelope:
    """A method response: ``status`` and, on success, the method's ``wc:info``."""

    status: Any
    info: Any = None
    _root: etree._Element | None = field(default=None, repr=False, compare=False)
    _outside: Outside | None = field(default=None, repr=False, compare=False)


@dataclass
class RequestParts:
    """The serialized parts of a request, exactly as they go on the wire.

    The info-hash covers ``info`` and the HMAC covers ``header``; both are
    computed over these strings, and :meth:`join` concatenates them without
    re-serializing.
    """

    header: str
    info: str
    auth: str = ""

    def join(self) -> bytes:
        return (
            f'<wc-request:request xmlns:wc-request="{REQUEST_NS}">'
            f"{self.auth}{self.header}{self.info}</wc-request:request>"
        ).encode()


def serialize_info(info: Binding | None) -> str:
    """The ``<info>`` element of a request, unqualified."""
    if info is None:
        return "<info/>"
    return to_xml(info, "info").decode("utf-8")


def request_parts(envelope: RequestEnvelope) -> RequestParts:
    """Serialize the three parts of a request separately."""
    return RequestParts(
        header=to_xml(envelope.header, "header").decode("utf-8"),
        info=serialize_info(envelope.info),
        auth=to_xml(envelope.auth, "auth").decode("utf-8") if envelope.auth is not None else "",
    )


def _unchanged(root: etree._Element | None, parts: list[Binding | None]) -> bool:
    if root is None:
        return False
    children = [c for c in root if isinstance(c.tag, str)]
    present = [p for p in parts if p is not None]
    return len(children) == len(present) and all(c is p._el for c, p in zip(children, present, strict=False))  # noqa: SLF001


def _around_envelope(envelope: RequestEnvelope | ResponseEnvelope, body: bytes) -> bytes:
    root = envelope._root  # noqa: SLF001
    return body if root is None else around(root, body, envelope._outside)  # noqa: SLF001


def write_request(envelope: RequestEnvelope) -> bytes:
    """Write a request envelope (a request read and not changed is written as read)."""
    if _unchanged(envelope._root, [envelope.auth, envelope.header, envelope.info]):  # noqa: SLF001
        return _around_envelope(envelope, bytes(etree.tostring(envelope._root, encoding="utf-8")))  # noqa: SLF001
    return _around_envelope(envelope, request_parts(envelope).join())


def _require_envelopes() -> None:
    if Header is None or Status is None:
        raise HealthVaultXmlError("this package was generated without the request and response schemas")


def read_request(data: XmlInput, *, strict: bool = False) -> RequestEnvelope:
    """Read a ``wc-request:request`` and decode its info by method and version."""
    element, outside = parse_document(data, what="request")
    return _read_request(element, strict, outside)


def _read_request(element: etree._Element, strict: bool, outside: Outside | None) -> RequestEnvelope:
    _require_envelopes()
    if element.tag != REQUEST_TAG:
        raise HealthVaultXmlError(f"expected <wc-request:request>, found <{etree.QName(element).text}>")
    children = [c for c in element if isinstance(c.tag, str)]
    names = [c.tag for c in children]
    if names not in (["auth", "header", "info"], ["header", "info"]):
        raise HealthVaultXmlError(
            "request must hold [auth], header and info in that order, found " + (", ".join(names) or "nothing")
        )
    parts = dict(zip(names, children, strict=False))
    header = bind(parts["header"], Header, what="request header", strict=strict)
    auth = bind(parts["auth"], HMACFinalized, what="request auth", strict=strict) if "auth" in parts else None
    cls = request_info_class(str(header.method), header.method_version)
    info: Any
    if cls is not None:
        info = bind(parts["info"], cls, what=f"{header.method} info", strict=strict)
    else:
        info = RawElement._of(parts["info"])  # noqa: SLF001
    return RequestEnvelope(header=header, info=info, auth=auth, _root=element, _outside=outside)


def write_response(envelope: ResponseEnvelope) -> bytes:
    """Write a response: unqualified ``response`` and ``status``, then ``wc:info``."""
    if _unchanged(envelope._root, [envelope.status, envelope.info]):  # noqa: SLF001
        return _around_envelope(envelope, bytes(etree.tostring(envelope._root, encoding="utf-8")))  # noqa: SLF001
    info = to_xml(envelope.info) if envelope.info is not None else b""
    return _around_envelope(envelope, b"<response>" + to_xml(envelope.status, "status") + info + b"</response>")


def read_response(
    data: XmlInput,
    *,
    max_bytes: int | None = safexml.DEFAULT_MAX_BYTES,
    strict: bool = False,
    defer_data: bool = False,
) -> ResponseEnvelope:
    """Read a response; its ``info`` is decoded by namespace. With
    ``defer_data``, the data-xml roots of things in it are checked and
    bound when first read (see :func:`bind`)."""
    element, outside = parse_document(data, what="response", max_bytes=max_bytes)
    return _read_response(element, strict, defer_data, outside)


def _read_response(
    element: etree._Element, strict: bool, defer_data: bool, outside: Outside | None
) -> ResponseEnvelope:
    _require_envelopes()
    if etree.QName(element).localname != "response":
        raise HealthVaultXmlError(f"expected <response>, found <{etree.QName(element).text}>")
    children = [c for c in element if isinstance(c.tag, str)]
    if not children or etree.QName(children[0]).localname != "status":
        raise HealthVaultXmlError("response has no <status>")
    if len(children) > 2:
        raise HealthVaultXmlError("response holds more than status and info")
    status = bind(children[0], Status, what="response status", strict=strict)
    info: Any = None
    if len(children) == 2:
        info_el = children[1]
        qname = etree.QName(info_el)
        if qname.localname != "info":
            raise HealthVaultXmlError(f"unexpected <{qname.localname}> after status")
        cls = RESPONSE_INFO.get(qname.namespace or "")
        info = (
            bind(info_el, cls, what="response info", strict=strict, defer_data=defer_data)
            if cls
            else RawElement._of(info_el)  # noqa: SLF001
        )
    return ResponseEnvelope(status=status, info=info, _root=element, _outside=outside)


# -- any document -----------------------------------------------------------------------


@dataclass
class Fragment:
    """A section of a thing read on its own, such as ``<blob-payload>``."""

    name: str
    value: Any


def read_document(data: XmlInput, *, strict: bool = False) -> Any:
    """Read a thing, a data-xml root, a request or a response, by its root element."""
    element, outside = parse_document(data)
    if element.tag == REQUEST_TAG:
        return _read_request(element, strict, outside)
    if element.tag == "response":
        return _read_response(element, strict, False, outside)
    if element.tag == "thing":
        return _read_thing(element, strict, outside)
    if element.tag in THING_SECTIONS:
        section = bind(element, THING_SECTIONS[element.tag], what=element.tag, strict=strict)
        return Fragment(element.tag, _kept(section, outside))
    return _kept(decode_data(element, strict=strict), outside)


def write_document(obj: Any, *, pretty: bool = False) -> bytes:
    """Write anything :func:`read_document` returns."""
    out: bytes
    if isinstance(obj, RequestEnvelope):
        out = write_request(obj)
    elif isinstance(obj, ResponseEnvelope):
        out = write_response(obj)
    elif isinstance(obj, Fragment):
        out = around(obj.value._el, to_xml(obj.value, obj.name), _outside(obj.value))  # noqa: SLF001
    elif isinstance(obj, Thing2) or (Thing is not None and isinstance(obj, Thing)):
        out = write_thing(obj)
    else:
        out = write_data(obj)
    return _pretty(out) if pretty else out


def _pretty(data: bytes) -> bytes:
    """Indent serialized XML for reading (not for the wire); what is around
    the root stays."""
    root, outside = parse_document(data, max_bytes=None)
    etree.indent(root, "  ")
    return around(root, bytes(etree.tostring(root, encoding="utf-8")), outside)
