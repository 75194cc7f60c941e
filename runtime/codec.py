"""Read and write things, data-xml roots and method envelopes.

Reading a ``<thing>`` decodes each ``data-xml`` root into the class its
``type-id`` names (medical image study v1 and v2 share a root element name
and are told apart this way). Content with no registered class, or that a
class cannot hold completely, is kept as raw XML (:class:`AnyElement`), so a
read followed by a write loses nothing but comments.

The envelope half (requests and responses) is present when the schema set
defines the request header and the response status; a package compiled
from thing schemas alone reads and writes things and data-xml only.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, TypeVar, Union
from uuid import UUID

from lxml import etree
from xsdata.formats.dataclass.models.generics import AnyElement

from . import registry, safexml, wire
from .errors import HealthVaultDecodeWarning, HealthVaultXmlError
from .schema import REQUEST_INFO, RESPONSE_INFO, DataXml, Thing2

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

T = TypeVar("T")

XmlInput = Union[bytes, bytearray, memoryview, str, etree._Element]

__all__ = [
    "AnyElement",
    "read_thing",
    "write_thing",
    "read_data",
    "write_data",
    "decode_data",
    "RequestEnvelope",
    "ResponseEnvelope",
    "read_request",
    "write_request",
    "read_response",
    "write_response",
    "Fragment",
    "bind",
    "read_document",
    "write_document",
]


# -- data-xml roots ------------------------------------------------------------


_raw = wire.raw_element


def decode_data(element: etree._Element, type_id: UUID | str | None = None) -> object:
    """Decode a data-xml root element into its binding class.

    With a ``type_id`` the class registered for it is used; without one, the
    classes registered for the root element name are tried newest version
    first and the first that holds the content completely wins. Content no
    class holds completely is returned as :class:`AnyElement` (with a
    :class:`HealthVaultDecodeWarning` when a class was expected to fit).
    """
    name = etree.QName(element).localname
    candidates: tuple[type, ...]
    if etree.QName(element).namespace:  # thing-type roots are unqualified
        candidates = ()
    elif type_id is not None:
        cls = registry.thing_class(type_id)
        candidates = (cls,) if cls is not None and _root_name(cls) == name else ()
    else:
        candidates = registry.classes_for_root(name)
    problems = []
    for cls in candidates:
        try:
            # Binding consumes the tree it walks; keep the original for the
            # next candidate or the raw fallback.
            return wire.from_element(copy.deepcopy(element), cls, what="data-xml root")
        except HealthVaultXmlError as exc:
            problems.append(str(exc))
    if problems:
        warnings.warn(
            f"kept <{name}> as raw XML: {'; '.join(problems)}",
            HealthVaultDecodeWarning,
            stacklevel=2,
        )
    return _raw(element)


def _root_name(cls: type) -> str:
    meta = getattr(cls, "Meta", None)
    return str(getattr(meta, "name", cls.__name__))


def read_data(data: XmlInput, type_id: UUID | str | None = None) -> object:
    """Read a bare data-xml root document such as ``<medical-image-study>``."""
    return decode_data(safexml.to_element(data, what="data-xml root"), type_id)


def write_data(obj: object) -> bytes:
    """Write a data-xml root (unqualified, as on the wire)."""
    return wire.to_string(obj).encode("utf-8")


# -- things ----------------------------------------------------------------------


def _is_thing2(element: etree._Element) -> bool:
    """Thing2 unless the thing has the original format's data-other or Signature."""
    children = {etree.QName(c).localname for c in element if isinstance(c.tag, str)}
    return not children & {"data-other", "Signature"}


#: Placeholder put in place of a decoded data-xml root while the rest of the
#: document is bound; the binding then receives the decoded object.
_SLOT = "{urn:hvgen:decoded-data-xml}slot"


def _detach_data_roots(element: etree._Element) -> list[object]:
    """Decode every data-xml root below ``element`` by its thing's type-id.

    Each root is replaced in the tree by a numbered slot element.
    """
    decoded: list[object] = []
    for data_xml in list(element.iter("data-xml")):
        holder = data_xml.getparent()
        type_id = holder.findtext("type-id") if holder is not None else None
        roots = [c for c in data_xml if isinstance(c.tag, str) and c.tag != "common"]
        if not roots:
            continue
        root = roots[0]
        decoded.append(decode_data(root, type_id.strip() if type_id else None))
        slot = etree.Element(_SLOT, index=str(len(decoded) - 1))
        slot.tail = root.tail
        data_xml.replace(root, slot)
    return decoded


def _fill_slots(obj: object, decoded: list[object]) -> None:
    """Put decoded data-xml roots back into the bound objects."""
    if not decoded:
        return
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, DataXml):
            slot = item.any_element
            if isinstance(slot, AnyElement) and slot.qname == _SLOT:
                item.any_element = decoded[int(slot.attributes["index"])]
        elif is_dataclass(item) and not isinstance(item, (type, AnyElement)):
            stack.extend(getattr(item, f.name) for f in fields(item))


def bind(
    element: etree._Element, cls: type[T], *, what: str, strict: bool = False
) -> T:
    """Bind ``element`` to ``cls``, decoding any data-xml roots by type-id."""
    decoded = _detach_data_roots(element)
    obj = wire.from_element(element, cls, what=what, strict=strict)
    _fill_slots(obj, decoded)
    return obj


def read_thing(data: XmlInput, *, strict: bool = False) -> Thing2 | Thing:
    """Read a ``<thing>`` and decode its data-xml by type-id.

    A thing in the original format (``data-other`` or a signature directly
    under ``thing``) is read as :class:`Thing`; anything else as
    :class:`Thing2`. With ``strict=True``, missing required content and
    values that do not convert to their schema type are errors too.

    Raises:
        HealthVaultXmlError: Malformed or hostile XML, or content that fits
            neither thing format.
    """
    element = safexml.to_element(data, what="thing")
    if element.tag != "thing":
        raise HealthVaultXmlError(
            f"expected a <thing> element, found <{etree.QName(element).text}>"
        )
    cls: type = Thing2
    if Thing is not None and not _is_thing2(element):
        cls = Thing
    thing: Thing2 | Thing = bind(element, cls, what="thing", strict=strict)
    return thing


#: Classes of the sections of a thing, by element name (``blob-payload``...).
THING_SECTIONS: dict[str, type] = {
    var.local_name: var.clazz
    for var in wire.CONTEXT.build(Thing2).get_element_vars()
    if var.clazz is not None
}


def write_thing(
    thing: Thing2 | Thing, preferred: dict[str, str | None] | None = None
) -> bytes:
    """Write a thing as an unqualified ``<thing>`` element."""
    return wire.to_string(thing, "thing", preferred).encode("utf-8")


# -- method envelopes --------------------------------------------------------------

def request_info_class(method: str, version: int | None) -> type | None:
    """The info class of a method: NAME + version first, then NAME alone."""
    base = wire.METHOD_NS_PREFIX + method
    if version is not None and f"{base}{version}" in REQUEST_INFO:
        return REQUEST_INFO[f"{base}{version}"]
    return REQUEST_INFO.get(base)


@dataclass
class RequestEnvelope:
    """A method request: ``auth`` (authenticated calls), ``header`` and ``info``.

    ``info`` is the method's parameter class, or :class:`AnyElement` for a
    method with no schema (BeginPutBlob sends an empty ``<info/>``).
    """

    header: Header
    info: object = None
    auth: HMACFinalized | None = None


@dataclass
class ResponseEnvelope:
    """A method response: ``status`` and, on success, the method's ``wc:info``."""

    status: Status
    info: object = None


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
            f'<wc-request:request xmlns:wc-request="{wire.REQUEST_NS}">'
            f"{self.auth}{self.header}{self.info}</wc-request:request>"
        ).encode("utf-8")


def serialize_info(info: object) -> str:
    """The ``<info>`` element of a request, unqualified."""
    if info is None:
        return "<info/>"
    return wire.to_string(info, "info")


def request_parts(envelope: RequestEnvelope) -> RequestParts:
    """Serialize the three parts of a request separately."""
    return RequestParts(
        header=wire.to_string(envelope.header, "header"),
        info=serialize_info(envelope.info),
        auth=wire.to_string(envelope.auth, "auth") if envelope.auth is not None else "",
    )


def write_request(envelope: RequestEnvelope) -> bytes:
    """Write a request envelope (the header and auth are written as given)."""
    return request_parts(envelope).join()


def _require_envelopes() -> None:
    if Header is None or Status is None:
        raise HealthVaultXmlError(
            "this package was generated without the request and response schemas"
        )


def read_request(data: XmlInput) -> RequestEnvelope:
    """Read a ``wc-request:request`` and decode its info by method and version."""
    _require_envelopes()
    element = safexml.to_element(data, what="request")
    if element.tag != wire.REQUEST_TAG:
        raise HealthVaultXmlError(
            f"expected <wc-request:request>, found <{etree.QName(element).text}>"
        )
    children = [c for c in element if isinstance(c.tag, str)]
    names = [c.tag for c in children]
    if names not in (["auth", "header", "info"], ["header", "info"]):
        raise HealthVaultXmlError(
            "request must hold [auth], header and info in that order, found "
            + (", ".join(names) or "nothing")
        )
    parts = dict(zip(names, children))
    header = wire.from_element(parts["header"], Header, what="request")
    auth = (
        wire.from_element(parts["auth"], HMACFinalized, what="request")
        if "auth" in parts
        else None
    )
    info_el = parts["info"]
    cls = request_info_class(header.method, header.method_version)
    info: object
    if cls is not None:
        info = bind(info_el, cls, what=f"{header.method} info")
    else:
        info = _raw(info_el)
    return RequestEnvelope(header=header, info=info, auth=auth)


def write_response(
    envelope: ResponseEnvelope, preferred: dict[str, str | None] | None = None
) -> bytes:
    """Write a response: unqualified ``response`` and ``status``, then ``wc:info``."""
    status = wire.to_string(envelope.status, "status")
    info = ""
    if envelope.info is not None:
        info = wire.to_string(envelope.info, None, preferred)
    return f"<response>{status}{info}</response>".encode("utf-8")


def read_response(
    data: XmlInput, *, max_bytes: int | None = safexml.DEFAULT_MAX_BYTES
) -> ResponseEnvelope:
    """Read a response; its ``info`` is decoded by namespace."""
    _require_envelopes()
    if isinstance(data, etree._Element):
        element = safexml.to_element(data, what="response")
    else:
        element = safexml.parse(data, what="response", max_bytes=max_bytes)
    if etree.QName(element).localname != "response":
        raise HealthVaultXmlError(
            f"expected <response>, found <{etree.QName(element).text}>"
        )
    children = [c for c in element if isinstance(c.tag, str)]
    if not children or etree.QName(children[0]).localname != "status":
        raise HealthVaultXmlError("response has no <status>")
    status = wire.from_element(children[0], Status, what="response")
    info: object = None
    if len(children) > 2:
        raise HealthVaultXmlError("response holds more than status and info")
    if len(children) == 2:
        info_el = children[1]
        qname = etree.QName(info_el)
        cls = RESPONSE_INFO.get(qname.namespace or "")
        if qname.localname != "info":
            raise HealthVaultXmlError(f"unexpected <{qname.localname}> after status")
        info = bind(info_el, cls, what="response info") if cls else _raw(info_el)
    return ResponseEnvelope(status=status, info=info)


# -- any document -------------------------------------------------------------------


@dataclass
class Fragment:
    """A section of a thing read on its own, such as ``<blob-payload>``."""

    name: str
    value: object


def read_document(data: XmlInput) -> Any:
    """Read a thing, a data-xml root, a request or a response, by its root element."""
    element = safexml.to_element(data)
    qname = etree.QName(element)
    if element.tag == wire.REQUEST_TAG:
        return read_request(element)
    if element.tag == "response":
        return read_response(element)
    if element.tag == "thing":
        return read_thing(element)
    if element.tag in THING_SECTIONS:
        return Fragment(
            element.tag, bind(element, THING_SECTIONS[element.tag], what=element.tag)
        )
    if qname.namespace:
        raise HealthVaultXmlError(f"unrecognized document element <{qname.text}>")
    return read_data(element)


def write_document(obj: Any, *, pretty: bool = False) -> bytes:
    """Write anything :func:`read_document` returns."""
    out: bytes
    if isinstance(obj, RequestEnvelope):
        out = write_request(obj)
    elif isinstance(obj, ResponseEnvelope):
        out = write_response(obj)
    elif isinstance(obj, Fragment):
        out = wire.to_string(obj.value, obj.name).encode("utf-8")
    elif isinstance(obj, Thing2) or (Thing is not None and isinstance(obj, Thing)):
        out = write_thing(obj)
    else:
        out = write_data(obj)
    return wire.pretty(out) if pretty else out
