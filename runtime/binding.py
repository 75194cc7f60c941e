"""Binding classes: typed views over XML elements.

Every generated class is a :class:`Binding`: a thin, typed view of one
``lxml`` element. The element tree is the only storage, so a document read
and written back is the same document: element order, text (``04`` stays
``04``), whitespace between elements and namespace declarations are kept as
they were read. Reading a field parses its text; setting a field writes the
value's canonical form at the place the schema's content model gives it.
A set writes exactly the value set: the element's whole text is replaced
and the comments and processing instructions inside it are kept, after the
new text; setting the value a field holds changes nothing at all.

Fields are descriptors generated per class from the schema:

* :class:`One`, :class:`Maybe` and :class:`Many` for child elements (one
  required, one optional, a list), holding either a simple value
  (:class:`Simple`), a binding class (:class:`Complex`) or any element
  (:class:`Wild`);
* :class:`Attr` and :class:`ReqAttr` for attributes, :class:`Text` for the
  text of simple content.

Each class also carries its content model as a deterministic automaton
(:class:`Model`), which :mod:`check` walks to report, with path and line,
anything the schema has no place for.

Views are cheap and hold no state of their own besides the element (and the
:class:`Document` it belongs to), so two views of one element see the same
data. A tree is one mutable object: share it between threads for reading
only.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

from lxml import etree

from . import fields as _fields
from .attributes import Attr, ReqAttr, Text
from .fields import (  # the descriptors generated classes use, by this module's name
    BindingList,
    Complex,
    DataRoot,
    Field,
    Item,
    Many,
    Maybe,
    One,
    Simple,
    Wild,
)
from .xmltree import (  # names of this module's API
    EMPTY,
    PLATFORM_PREFIXES,
    REQUEST_NS,
    RESPONSE_NS_PREFIX,
    SIGNING_NS,
    XMLDSIG_NS,
    XSI_NS,
    XSLT_NS,
    DataRootResolver,
    Document,
    HealthVaultValueError,
    Model,
    _adopt,
    install_data_root_resolver,
    new_element,
)

__all__ = [
    "EMPTY",
    "PLATFORM_PREFIXES",
    "REQUEST_NS",
    "RESPONSE_NS_PREFIX",
    "SIGNING_NS",
    "XMLDSIG_NS",
    "XSI_NS",
    "XSLT_NS",
    "Attr",
    "Binding",
    "BindingList",
    "Complex",
    "DataRoot",
    "DataRootResolver",
    "Document",
    "Field",
    "HealthVaultValueError",
    "Item",
    "Many",
    "Maybe",
    "Model",
    "One",
    "RawElement",
    "ReqAttr",
    "Simple",
    "Text",
    "Wild",
    "element_of",
    "install_data_root_resolver",
    "new_element",
    "to_xml",
]

B = TypeVar("B", bound="Binding")


class Binding:
    """Base of every generated binding class: a typed view of one element."""

    __slots__ = ("_el", "_doc")

    #: Element name a new instance gets (the global element's name, else the
    #: type's; a parent field renames it to the field's element name).
    ELEMENT: ClassVar[str] = "element"
    _MODEL: ClassVar[Model] = EMPTY
    #: Child element name -> field; attribute name -> field.
    _CHILDREN: ClassVar[dict[str, Field[Any]]] = {}
    _ATTRIBUTES: ClassVar[dict[str, Attr[Any]]] = {}
    _WILDCARDS: ClassVar[tuple[Field[Any], ...]] = ()
    _TEXT: ClassVar[Text[Any] | None] = None
    _MIXED: ClassVar[bool] = False
    _ANY_ATTRIBUTES: ClassVar[bool] = False
    _REQUIRED_ATTRIBUTES: ClassVar[tuple[str, ...]] = ()
    _ORDERS: ClassVar[dict[str, int]] = {}
    _WILD_ORDER: ClassVar[int | None] = None

    def __init__(self) -> None:
        self._el = new_element(self.ELEMENT)
        self._doc: Document | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        children: dict[str, Field[Any]] = {}
        attributes: dict[str, Attr[Any]] = {}
        wildcards: list[Field[Any]] = []
        text: Text[Any] | None = None
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                if isinstance(value, Field):
                    if isinstance(value.item, Wild):
                        wildcards.append(value)
                    else:
                        children[value.tag] = value
                elif isinstance(value, Attr):
                    attributes[value.attribute] = value
                elif isinstance(value, Text):
                    text = value
        by_name: dict[str, Field[Any]] = {}
        for klass in reversed(cls.__mro__):
            by_name.update({k: v for k, v in vars(klass).items() if isinstance(v, Field)})
        cls._MODEL = cls._MODEL.bind(by_name)
        cls._CHILDREN = children
        cls._ATTRIBUTES = attributes
        cls._REQUIRED_ATTRIBUTES = tuple(a.attribute for a in attributes.values() if a.required)
        cls._WILDCARDS = tuple(wildcards)
        cls._TEXT = text
        cls._ORDERS = {tag: f.order for tag, f in children.items()}
        cls._WILD_ORDER = wildcards[0].order if wildcards else None

    @classmethod
    def _of(cls: type[B], element: etree._Element, doc: Document | None = None) -> B:
        """A view of ``element`` (nothing is checked or copied)."""
        obj = cls.__new__(cls)
        obj._el = element
        obj._doc = doc
        return obj

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Binding) or type(other) is not type(self):
            return NotImplemented
        return _canonical(self._el) == _canonical(other._el)

    __hash__ = None  # type: ignore[assignment]

    def __copy__(self: B) -> B:
        return type(self)._of(copy.deepcopy(self._el))

    def __deepcopy__(self: B, memo: dict[int, Any]) -> B:
        return type(self)._of(copy.deepcopy(self._el))

    def __repr__(self) -> str:
        text = to_xml(self).decode("utf-8")
        if len(text) > 120:
            text = text[:117] + "..."
        return f"{type(self).__name__}({text})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unpickle, (type(self), to_xml(self)))


def element_of(obj: Binding) -> etree._Element:
    """The element a binding reads and writes."""
    return obj._el  # noqa: SLF001


def to_xml(obj: Binding, tag: str | None = None) -> bytes:
    """A binding's element as XML (UTF-8, no declaration), under ``tag`` if
    given. An element taken from a larger document carries only the
    namespace declarations it uses."""
    element = obj._el  # noqa: SLF001
    if element.getparent() is not None or (tag is not None and element.tag != tag):
        element = copy.deepcopy(element)
        if tag is not None:
            element.tag = tag
    return bytes(etree.tostring(element, encoding="utf-8", with_tail=False))


def _unpickle(cls: type[B], data: bytes) -> B:
    return cls._of(etree.fromstring(data))


def _canonical(element: etree._Element) -> bytes:
    dup = copy.deepcopy(element)
    dup.tail = None
    return bytes(etree.tostring(dup, method="c14n"))


class RawElement(Binding):
    """Any element, kept exactly as it is: content no generated class holds
    (an unknown thing type, a data-xml root that does not fit its class,
    extension content) is read and written as this."""

    __slots__ = ()

    def __init__(
        self,
        qname: str = "element",
        text: str | None = None,
        attributes: dict[str, str] | None = None,
        children: Iterable[RawElement | Binding] = (),
    ) -> None:
        self._el = new_element(qname)
        self._doc = None
        self._el.text = text
        for key, value in (attributes or {}).items():
            self._el.set(key, value)
        for child in children:
            self._el.append(_adopt(child._el, child._el.tag))

    @classmethod
    def parse(cls, data: bytes | str) -> RawElement:
        from .safexml import parse

        return cls._of(parse(data, what="element"))

    @property
    def qname(self) -> str:
        return str(self._el.tag)

    @property
    def text(self) -> str | None:
        text: str | None = self._el.text
        return text

    @text.setter
    def text(self, value: str | None) -> None:
        self._el.text = value

    @property
    def tail(self) -> str | None:
        tail: str | None = self._el.tail
        return tail

    @property
    def attributes(self) -> dict[str, str]:
        return dict(self._el.attrib)

    @property
    def children(self) -> list[RawElement]:
        return [RawElement._of(c, self._doc) for c in self._el if isinstance(c.tag, str)]

    def find(self, path: str) -> RawElement | None:
        found = self._el.find(path)
        return None if found is None else RawElement._of(found, self._doc)

    def findtext(self, path: str, default: str | None = None) -> str | None:
        found: str | None = self._el.findtext(path, default)
        return found


# Wildcards hold raw elements as views of this module's class.
_fields.Wild.raw = RawElement
