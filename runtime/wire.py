"""Reading and writing bindings in the platform's exact wire form.

xsdata does the data binding. This module adds what the wire needs on top:

* elements can be written under any name (``thing``, ``header``, ``info``)
  without an ``xsi:type``;
* namespace declarations are made on the element that first needs them, with
  the prefixes the platform uses (``wc-request``, ``wc``, the xmldsig default
  namespace, ``xs`` and ``hv`` in the signing stylesheet) or, for other
  namespaces, the prefixes the input document used. This keeps signed content
  byte-stable through a read and write;
* parsing is strict: unknown elements or attributes are errors, so that a
  class is never chosen for content it would silently drop.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from io import StringIO
from typing import Any, TypeVar

from lxml import etree
from xsdata.exceptions import ConverterWarning, ParserError
from xsdata.formats.dataclass.context import XmlContext
from xsdata.formats.dataclass.models.generics import AnyElement
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.parsers.config import ParserConfig
from xsdata.formats.dataclass.serializers import XmlSerializer
from xsdata.formats.dataclass.serializers.config import SerializerConfig
from xsdata.formats.dataclass.serializers.writers import LxmlEventWriter
from xsdata.logger import logger as xsdata_logger
from xsdata.utils.namespaces import prefix_exists

from .errors import HealthVaultXmlError
from .safexml import SEEN_PREFIXES

T = TypeVar("T")

REQUEST_NS = "urn:com.microsoft.wc.request"
REQUEST_TAG = "{" + REQUEST_NS + "}request"
RESPONSE_NS_PREFIX = "urn:com.microsoft.wc.methods.response."
METHOD_NS_PREFIX = "urn:com.microsoft.wc.methods."
XMLDSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
XSLT_NS = "http://www.w3.org/1999/XSL/Transform"
SIGNING_NS = "urn:com.microsoft.wc.thing.signing.2.xsl"

#: Prefixes the platform writes for namespaces it uses (None: default namespace).
PLATFORM_PREFIXES: Mapping[str, str | None] = {
    REQUEST_NS: "wc-request",
    XMLDSIG_NS: None,
    XSLT_NS: "xs",
    SIGNING_NS: "hv",
}

CONTEXT = XmlContext()


def platform_prefix(uri: str) -> tuple[bool, str | None]:
    """The platform's prefix for ``uri``: (known, prefix)."""
    if uri in PLATFORM_PREFIXES:
        return True, PLATFORM_PREFIXES[uri]
    if uri.startswith(RESPONSE_NS_PREFIX):
        return True, "wc"
    return False, None


class _WireWriter(LxmlEventWriter):
    """Declares each namespace where it is first used, with a chosen prefix."""

    preferred: Mapping[str, str | None] = {}

    def add_namespace(self, uri: str | None) -> None:
        if not uri or prefix_exists(uri, self.ns_map):
            return
        known, prefix = platform_prefix(uri)
        if not known and uri in self.preferred:
            known, prefix = True, self.preferred[uri]
        if not known and uri in SEEN_PREFIXES:
            known, prefix = True, SEEN_PREFIXES[uri]
        if known and (prefix is None or prefix not in self.ns_map):
            self.ns_map[prefix] = uri
            return
        number = len(self.ns_map)
        while f"ns{number}" in self.ns_map:
            number += 1
        self.ns_map[f"ns{number}"] = uri


@dataclass(frozen=True)
class Named:
    """A binding to be written under an explicit element name."""

    qname: str
    value: Any


@dataclass
class _Holder:
    """Carrier for writing a raw element at the top level."""

    class Meta:
        name = "holder"

    content: object = field(
        default=None, metadata={"type": "Wildcard", "namespace": "##any"}
    )


class _Serializer(XmlSerializer):
    def generate(self, obj: Any) -> Iterator[Any]:
        if isinstance(obj, Named) and isinstance(obj.value, AnyElement):
            obj = AnyElement(
                qname=obj.qname,
                text=obj.value.text,
                children=obj.value.children,
                attributes=obj.value.attributes,
            )
        if isinstance(obj, AnyElement):
            # Events of the holder minus its own start and end.
            events = list(self.convert_dataclass(_Holder(content=obj)))
            yield from events[1:-1]
        elif isinstance(obj, Named):
            yield from self.convert_dataclass(obj.value, qname=obj.qname)
        else:
            yield from super().generate(obj)

    def render_wire(self, obj: Any, preferred: Mapping[str, str | None]) -> str:
        writer_cls = type("_Writer", (_WireWriter,), {"preferred": dict(preferred)})
        output = StringIO()
        handler = writer_cls(config=self.config, output=output, ns_map={})
        handler.write(self.generate(obj))
        return output.getvalue()


_SERIALIZER = _Serializer(
    context=CONTEXT,
    config=SerializerConfig(xml_declaration=False, encoding="utf-8"),
)


def to_string(
    obj: Any,
    qname: str | None = None,
    preferred: Mapping[str, str | None] | None = None,
) -> str:
    """Serialize a binding to wire text (no XML declaration, no indentation).

    Args:
        obj: A generated dataclass instance.
        qname: Element name to write it under (``{ns}local`` or ``local``);
            by default the class's own element name.
        preferred: Namespace URI -> prefix to use for namespaces the platform
            has no fixed prefix for (usually the prefixes the input used).
    """
    target = Named(qname, obj) if qname is not None else obj
    return _SERIALIZER.render_wire(target, preferred or {})


def pretty(data: bytes) -> bytes:
    """Indent serialized XML for reading (not for the wire)."""
    root = etree.fromstring(
        data, etree.XMLParser(resolve_entities=False, no_network=True)
    )
    etree.indent(root, "  ")
    return bytes(etree.tostring(root, encoding="utf-8"))


def declared_prefixes(element: etree._Element) -> dict[str, str | None]:
    """Namespace URI -> prefix as declared in a parsed document (first wins)."""
    found: dict[str, str | None] = {}
    for el in element.iter():
        for prefix, uri in el.nsmap.items():
            found.setdefault(uri, prefix)
    return found


def raw_element(element: etree._Element, *, top: bool = True) -> AnyElement:
    """Keep an element as generic XML: name, attributes, text and children."""
    return AnyElement(
        qname=element.tag,
        text=element.text,
        tail=None if top else element.tail,
        children=[raw_element(c, top=False) for c in element if isinstance(c.tag, str)],
        attributes=dict(element.attrib),
    )


def _missing_required(cls: type, params: dict[str, Any]) -> list[str]:
    return [
        f.name
        for f in fields(cls)
        if f.init
        and f.name not in params
        and f.default is MISSING
        and f.default_factory is MISSING
    ]


def _lenient_factory(cls: type[T], params: dict[str, Any]) -> T:
    """Build a binding even when the input lacks required content.

    Documents in the wild (including the platform's own examples) leave out
    required attributes or elements. What is present is kept; what is absent
    stays None and is absent again when written.
    """
    missing = _missing_required(cls, params)
    for name in missing:
        params[name] = None
    return cls(**params)


def _strict_factory(cls: type[T], params: dict[str, Any]) -> T:
    missing = _missing_required(cls, params)
    if missing:
        raise ValueError(f"{cls.__name__} lacks required {', '.join(missing)}")
    return cls(**params)


def _config(strict: bool) -> ParserConfig:
    return ParserConfig(
        fail_on_unknown_properties=True,
        fail_on_unknown_attributes=True,
        fail_on_converter_warnings=strict,
        class_factory=_strict_factory if strict else _lenient_factory,
    )


_LENIENT = _config(False)
_STRICT = _config(True)


def from_element(
    element: etree._Element,
    cls: type[T],
    *,
    what: str = "element",
    strict: bool = False,
) -> T:
    """Decode a parsed element into ``cls``, whatever the element's own name.

    The element is consumed: binding clears each element once it is read.
    Pass a copy if the tree is needed afterwards.

    Unknown elements and attributes are always errors: a class is never
    allowed to drop content. By default, missing required content is
    tolerated and values that do not convert to their schema type (a date in
    a non-standard form, say) are kept as their original text; with
    ``strict=True`` both are errors.

    Raises:
        HealthVaultXmlError: The element has content ``cls`` does not describe
            (or, when strict, lacks or mistypes content it requires).
    """
    parser = XmlParser(context=CONTEXT, config=_STRICT if strict else _LENIENT)
    dropped = _Dropped()
    xsdata_logger.addHandler(dropped)
    previous, xsdata_logger.propagate = xsdata_logger.propagate, False
    level = xsdata_logger.level
    xsdata_logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            if strict:
                warnings.simplefilter("error", ConverterWarning)
            else:
                warnings.simplefilter("ignore", ConverterWarning)
            result = parser.parse(element, cls)
        if dropped.items:
            raise ValueError(
                "it holds "
                + ", ".join(sorted(set(dropped.items)))
                + " where the schema has no place for it"
            )
        return result
    except (
        ParserError,
        ValueError,
        TypeError,
        AttributeError,
        ConverterWarning,
    ) as exc:
        raise HealthVaultXmlError(_explain(element, cls, what, str(exc))) from None
    finally:
        xsdata_logger.removeHandler(dropped)
        xsdata_logger.propagate = previous
        xsdata_logger.setLevel(level)


_UNKNOWN = re.compile(r"Unknown (property|attribute) (?:\{[^}]*\})?([\w.-]+):(.+)")


def _explain(element: etree._Element, cls: type, what: str, message: str) -> str:
    """A one-line account of why ``element`` does not bind to ``cls``."""
    line = element.sourceline
    match = _UNKNOWN.match(message)
    if match:
        kind, _owner, qname = match.groups()
        name = etree.QName(qname)
        note = (
            f" in namespace {name.namespace}" if name.namespace else " (no namespace)"
        )
        if kind == "property":
            culprit = next(iter(element.iter(qname)), None)
            if culprit is not None and culprit.sourceline:
                line = culprit.sourceline
            parent = culprit.getparent() if culprit is not None else None
            inside = (
                f" inside <{etree.QName(parent).localname}>"
                if parent is not None
                else ""
            )
            message = f"unexpected element <{name.localname}>{note}{inside}"
        else:
            message = f"unexpected attribute {name.localname}{note}"
    where = f" (line {line})" if line else ""
    return f"{what} <{etree.QName(element).localname}>{where} does not fit {cls.__name__}: {message}"


class _Dropped(logging.Handler):
    """Collects what the binder could not place (it only logs it)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.items: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "Unassigned parsed object %s":
            qname = (
                record.args[0]
                if isinstance(record.args, tuple) and record.args
                else None
            )
            self.items.append(f"element <{qname}>" if qname else "text")
