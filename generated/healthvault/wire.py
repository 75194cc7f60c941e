"""The platform's namespaces, and bindings to and from wire text.

A small convenience layer over :mod:`binding` and :mod:`codec` for code that
writes one element under an explicit name (``header``, ``info``,
``content``) or binds an element it located itself.
"""

from __future__ import annotations

from typing import TypeVar

from lxml import etree

from . import codec
from .binding import (
    PLATFORM_PREFIXES,
    REQUEST_NS,
    RESPONSE_NS_PREFIX,
    SIGNING_NS,
    XMLDSIG_NS,
    XSLT_NS,
    Binding,
    RawElement,
    to_xml,
)

T = TypeVar("T", bound=Binding)

REQUEST_TAG = codec.REQUEST_TAG
METHOD_NS_PREFIX = codec.METHOD_NS_PREFIX

__all__ = [
    "METHOD_NS_PREFIX",
    "PLATFORM_PREFIXES",
    "REQUEST_NS",
    "REQUEST_TAG",
    "RESPONSE_NS_PREFIX",
    "SIGNING_NS",
    "XMLDSIG_NS",
    "XSLT_NS",
    "from_element",
    "pretty",
    "raw_element",
    "to_string",
]


def to_string(obj: Binding, qname: str | None = None) -> str:
    """A binding as wire text (no XML declaration, no indentation), under
    the element name ``qname`` (``{ns}local`` or ``local``) if given."""
    return to_xml(obj, qname).decode("utf-8")


def from_element(element: etree._Element, cls: type[T], *, what: str = "element", strict: bool = False) -> T:
    """Check ``element`` against ``cls`` and return a view of it (see :func:`codec.bind`)."""
    return codec.bind(element, cls, what=what, strict=strict)


def raw_element(element: etree._Element) -> RawElement:
    """A view of any element, kept exactly as it is."""
    return RawElement._of(element)  # noqa: SLF001


def pretty(data: bytes) -> bytes:
    """Indent serialized XML for reading (not for the wire)."""
    out: bytes = codec.write_document(codec.read_document(data), pretty=True)
    return out
