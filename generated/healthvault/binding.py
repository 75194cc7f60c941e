"""Binding classes: typed views over XML elements.

Every generated class is a :class:`Binding`: a thin, typed view of one
``lxml`` element. The element tree is the only storage, so a document read
and written back is the same document: element order, text (``04`` stays
``04``), whitespace between elements and namespace declarations are kept as
they were read. Reading a field parses its text; setting a field writes the
value's canonical form at the place the schema's content model gives it.

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
from collections.abc import Callable, Iterable, Iterator, MutableSequence, Sequence
from typing import Any, ClassVar, Generic, TypeVar, overload

from lxml import etree

from .errors import HealthVaultXmlError
from .values import SimpleType

T = TypeVar("T")
B = TypeVar("B", bound="Binding")

XMLDSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
REQUEST_NS = "urn:com.microsoft.wc.request"
RESPONSE_NS_PREFIX = "urn:com.microsoft.wc.methods.response."
XSLT_NS = "http://www.w3.org/1999/XSL/Transform"
SIGNING_NS = "urn:com.microsoft.wc.thing.signing.2.xsl"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

#: Prefixes the platform writes for namespaces it uses (None: default namespace).
PLATFORM_PREFIXES: dict[str, str | None] = {
    REQUEST_NS: "wc-request",
    XMLDSIG_NS: None,
    XSLT_NS: "xs",
    SIGNING_NS: "hv",
}


class HealthVaultValueError(HealthVaultXmlError):
    """A field's text is missing or is not a valid value of its type."""


def _prefix_for(uri: str, taken: dict[str | None, str]) -> str | None:
    if uri in PLATFORM_PREFIXES:
        prefix = PLATFORM_PREFIXES[uri]
    elif uri.startswith(RESPONSE_NS_PREFIX):
        prefix = "wc"
    else:
        prefix = "ns0"
    if prefix in taken and taken[prefix] != uri:
        number = 0
        while f"ns{number}" in taken:
            number += 1
        prefix = f"ns{number}"
    return prefix


def new_element(tag: str, parent: etree._Element | None = None) -> etree._Element:
    """A new element named ``tag`` (``{ns}local`` or ``local``), appended to
    ``parent`` if given; a namespace not yet in scope is declared on it with
    the platform's prefix for it."""
    nsmap: dict[str | None, str] | None = None
    if tag[0] == "{":
        uri = tag[1 : tag.index("}")]
        scope = parent.nsmap if parent is not None else {}
        if uri not in scope.values():
            nsmap = {_prefix_for(uri, scope): uri}
    if parent is None:
        return etree.Element(tag, nsmap=nsmap)
    return etree.SubElement(parent, tag, nsmap=nsmap)


def _adopt(element: etree._Element, tag: str) -> etree._Element:
    """``element`` ready to be placed under a new parent as ``tag``: a
    standalone element is used as is, one that belongs to a tree is copied
    (so the tree it came from is not changed)."""
    if element.getparent() is not None:
        element = copy.deepcopy(element)
    if element.tag != tag:
        element.tag = tag
    element.tail = None
    return element


# -- documents ----------------------------------------------------------------------


class Document:
    """What the views of one tree share: the classes chosen for data-xml roots.

    A data-xml root's class depends on the thing's type-id and on whether
    its content fits that class; the reader decides once and records the
    decision here (:class:`RawElement` for content kept raw).
    """

    __slots__ = ("decisions", "__weakref__")

    def __init__(self) -> None:
        self.decisions: dict[etree._Element, type] = {}


#: Resolves the class of a data-xml root (element, thing type-id or None);
#: installed by the registry of the generated package.
DataRootResolver = Callable[[etree._Element, "str | None"], type]
_RESOLVERS: list[DataRootResolver] = []


def install_data_root_resolver(resolver: DataRootResolver) -> None:
    """Make ``resolver`` decide the class of data-xml roots read without one."""
    _RESOLVERS[:] = [resolver]


# -- how one child element maps to a value ------------------------------------------------


class Item(Generic[T]):
    """How the value of one child element is read, made and checked."""

    __slots__ = ()
    kind: ClassVar[str] = ""

    def get(self, element: etree._Element, doc: Document | None) -> T:
        raise NotImplementedError

    def make(self, value: T, tag: str) -> etree._Element:
        raise NotImplementedError

    def set(self, element: etree._Element, value: T) -> None:
        """Change an existing element in place (simple values); else replaced."""
        raise NotImplementedError


class Simple(Item[T]):
    """A child element whose content is a simple value."""

    __slots__ = ("type",)
    kind = "value"

    def __init__(self, type: SimpleType) -> None:  # noqa: A002 - schema term
        self.type = type

    def get(self, element: etree._Element, doc: Document | None) -> T:
        try:
            value: T = self.type.parse(_text(element))
        except ValueError as exc:
            raise HealthVaultValueError(f"{_where(element)}: {exc}") from None
        return value

    def make(self, value: T, tag: str) -> etree._Element:
        element = new_element(tag)
        self.set(element, value)
        return element

    def set(self, element: etree._Element, value: T) -> None:
        if element.text is not None:
            try:
                if self.type.parse(element.text) == value and not isinstance(value, str):
                    return  # an equal value keeps the text it was read from
            except ValueError:
                pass
        try:
            element.text = self.type.format(value)
        except ValueError as exc:
            raise HealthVaultValueError(f"<{etree.QName(element).localname}>: {exc}") from None


class Complex(Item[B]):
    """A child element bound to a generated class."""

    __slots__ = ("_ref", "_cls")
    kind = "child"

    def __init__(self, ref: Callable[[], type[B]]) -> None:
        self._ref = ref
        self._cls: type[B] | None = None

    @property
    def cls(self) -> type[B]:
        if self._cls is None:
            self._cls = self._ref()
        return self._cls

    def get(self, element: etree._Element, doc: Document | None) -> B:
        return self.cls._of(element, doc)

    def make(self, value: B, tag: str) -> etree._Element:
        if not isinstance(value, Binding):
            raise TypeError(f"<{tag}> takes a {self.cls.__name__}, not {type(value).__name__}")
        return _adopt(value._el, tag)  # noqa: SLF001


class Wild(Item[Any]):
    """An element allowed by a wildcard (``xs:any``): kept as a view of its
    own class when one is known, else as :class:`RawElement`."""

    __slots__ = ("namespace", "target")
    kind = "any"

    def __init__(self, namespace: str = "##any", target: str = "") -> None:
        self.namespace = namespace
        self.target = target

    def accepts(self, tag: str) -> bool:
        uri = tag[1 : tag.index("}")] if tag[0] == "{" else ""
        space = self.namespace
        if space == "##any":
            return True
        if space == "##other":
            return uri not in (self.target, "")
        allowed = {self.target if n == "##targetNamespace" else "" if n == "##local" else n for n in space.split()}
        return uri in allowed

    def get(self, element: etree._Element, doc: Document | None) -> Any:
        return RawElement._of(element, doc)

    def make(self, value: Any, tag: str) -> etree._Element:
        if isinstance(value, etree._Element):
            return _adopt(value, value.tag)
        if not isinstance(value, Binding):
            raise TypeError(f"a wildcard takes a binding or an element, not {type(value).__name__}")
        return _adopt(value._el, value._el.tag)  # noqa: SLF001


class DataRoot(Wild):
    """The first child of ``data-xml``: the thing type's root, bound to the
    class its thing's type-id names (decided when the document is read)."""

    __slots__ = ()

    def get(self, element: etree._Element, doc: Document | None) -> Any:
        cls = doc.decisions.get(element) if doc is not None else None
        if cls is None:
            holder = element.getparent()
            thing = holder.getparent() if holder is not None else None
            type_id = thing.findtext("type-id") if thing is not None else None
            cls = _RESOLVERS[0](element, type_id) if _RESOLVERS else RawElement
            if doc is not None:
                doc.decisions[element] = cls
        view: Binding = cls._of(element, doc)  # type: ignore[attr-defined]
        return view


def _text(element: etree._Element) -> str | None:
    """The text of a simple-content element (comments inside do not split it)."""
    if len(element):
        return "".join(str(part) for part in element.xpath("text()"))
    text: str | None = element.text
    return text


def _where(element: etree._Element) -> str:
    try:
        path = element.getroottree().getpath(element)
    except (ValueError, TypeError):
        path = "<" + etree.QName(element).localname + ">"
    line = element.sourceline
    return f"{path} (line {line})" if line else path


# -- field descriptors ---------------------------------------------------------------------


class Field(Generic[T]):
    """A field of a binding class; ``order`` is its place in the content model."""

    __slots__ = ("name", "tag", "item", "order", "min", "max")
    cardinality: ClassVar[str] = ""

    def __init__(self, tag: str, item: Item[Any], order: int, min: int = 0, max: int | None = 1) -> None:  # noqa: A002
        self.name = ""
        self.tag = tag
        self.item = item
        self.order = order
        self.min = min
        self.max = max

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def _children(self, owner: Binding) -> list[etree._Element]:
        if isinstance(self.item, Wild):
            named = type(owner)._CHILDREN  # noqa: SLF001
            return [c for c in owner._el if isinstance(c.tag, str) and c.tag not in named]  # noqa: SLF001
        return list(owner._el.findall(self.tag))  # noqa: SLF001

    def _first(self, owner: Binding) -> etree._Element | None:
        if isinstance(self.item, Wild):
            found = self._children(owner)
            return found[0] if found else None
        return owner._el.find(self.tag)  # noqa: SLF001

    def _insert(self, owner: Binding, child: etree._Element, before: etree._Element | None = None) -> None:
        element = owner._el  # noqa: SLF001
        if before is not None:
            before.addprevious(child)
            return
        position = _position(type(owner), element, self.order)
        element.insert(position, child)


def _position(cls: type[Binding], element: etree._Element, order: int) -> int:
    """Index at which a new child of field ``order`` goes: after every child
    whose field comes at or before it in the content model."""
    orders = cls._ORDERS  # noqa: SLF001
    wild_order = cls._WILD_ORDER  # noqa: SLF001
    position = 0
    for index, child in enumerate(element):
        tag = child.tag
        if not isinstance(tag, str):
            continue
        child_order = orders.get(tag, wild_order)
        if child_order is not None and child_order <= order:
            position = index + 1
    return position


class One(Field[T]):
    """Exactly one child element (required)."""

    __slots__ = ()
    cardinality = "one"

    @overload
    def __get__(self, obj: None, owner: type) -> One[T]: ...
    @overload
    def __get__(self, obj: Binding, owner: type) -> T: ...
    def __get__(self, obj: Binding | None, owner: type) -> One[T] | T:
        if obj is None:
            return self
        child = self._first(obj)
        if child is None:
            raise HealthVaultValueError(f"{_where(obj._el)}: the required <{_local(self.tag)}> is missing")  # noqa: SLF001
        value: T = self.item.get(child, obj._doc)  # noqa: SLF001
        return value

    def __set__(self, obj: Binding, value: T) -> None:
        _set_single(self, obj, value)


class Maybe(Field[T]):
    """At most one child element."""

    __slots__ = ()
    cardinality = "maybe"

    @overload
    def __get__(self, obj: None, owner: type) -> Maybe[T]: ...
    @overload
    def __get__(self, obj: Binding, owner: type) -> T | None: ...
    def __get__(self, obj: Binding | None, owner: type) -> Maybe[T] | T | None:
        if obj is None:
            return self
        child = self._first(obj)
        if child is None:
            return None
        value: T = self.item.get(child, obj._doc)  # noqa: SLF001
        return value

    def __set__(self, obj: Binding, value: T | None) -> None:
        _set_single(self, obj, value)


def _set_single(field: Field[Any], obj: Binding, value: Any) -> None:
    existing = field._first(obj)  # noqa: SLF001
    if value is None:
        if existing is not None:
            _remove(existing)
        return
    if existing is not None and isinstance(field.item, Simple):
        field.item.set(existing, value)
        return
    new = field.item.make(value, field.tag)
    if isinstance(field.item, DataRoot) and isinstance(value, Binding):
        if obj._doc is None:  # noqa: SLF001
            obj._doc = Document()  # noqa: SLF001
        obj._doc.decisions[new] = type(value)  # noqa: SLF001
    if existing is not None:
        new.tail = existing.tail
        existing.getparent().replace(existing, new)
    else:
        field._insert(obj, new)  # noqa: SLF001


def _remove(child: etree._Element) -> None:
    parent = child.getparent()
    if parent is None:
        return
    tail = child.tail
    previous = child.getprevious()
    parent.remove(child)
    if tail and not tail.isspace():  # never drop text that is not layout
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail


class Many(Field[T]):
    """A list of child elements (``min``..``max``)."""

    __slots__ = ()
    cardinality = "many"

    @overload
    def __get__(self, obj: None, owner: type) -> Many[T]: ...
    @overload
    def __get__(self, obj: Binding, owner: type) -> BindingList[T]: ...
    def __get__(self, obj: Binding | None, owner: type) -> Many[T] | BindingList[T]:
        if obj is None:
            return self
        return BindingList(obj, self)

    def __set__(self, obj: Binding, values: Iterable[T]) -> None:
        items = list(values)
        target = BindingList(obj, self)
        for child in target._elements():  # noqa: SLF001
            _remove(child)
        for item in items:
            target.append(item)


class BindingList(MutableSequence[T]):
    """The live list of a :class:`Many` field: changes go to the tree."""

    __slots__ = ("_owner", "_field")

    def __init__(self, owner: Binding, field: Many[T]) -> None:
        self._owner = owner
        self._field = field

    def _elements(self) -> list[etree._Element]:
        return self._field._children(self._owner)  # noqa: SLF001

    def _value(self, child: etree._Element) -> T:
        value: T = self._field.item.get(child, self._owner._doc)  # noqa: SLF001
        return value

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        elements = self._elements()
        if isinstance(index, slice):
            return [self._value(c) for c in elements[index]]
        return self._value(elements[index])

    def __iter__(self) -> Iterator[T]:
        doc = self._owner._doc  # noqa: SLF001
        get = self._field.item.get
        for child in self._elements():
            yield get(child, doc)

    def __len__(self) -> int:
        return len(self._elements())

    def __bool__(self) -> bool:
        return self._field._first(self._owner) is not None  # noqa: SLF001

    @overload
    def __setitem__(self, index: int, value: T) -> None: ...
    @overload
    def __setitem__(self, index: slice, value: Iterable[T]) -> None: ...
    def __setitem__(self, index: int | slice, value: Any) -> None:
        if isinstance(index, slice):
            values = list(self)
            values[index] = list(value)
            self._field.__set__(self._owner, values)
            return
        old = self._elements()[index]
        new = self._field.item.make(value, self._field.tag)
        new.tail = old.tail
        old.getparent().replace(old, new)

    def __delitem__(self, index: int | slice) -> None:
        elements = self._elements()
        targets = elements[index] if isinstance(index, slice) else [elements[index]]
        for child in targets:
            _remove(child)

    def insert(self, index: int, value: T) -> None:
        elements = self._elements()
        new = self._field.item.make(value, self._field.tag)
        if index < len(elements):
            self._field._insert(self._owner, new, before=elements[max(index, 0) if index >= 0 else index])  # noqa: SLF001
        else:
            self._field._insert(self._owner, new)  # noqa: SLF001

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, tuple, BindingList)):
            return list(self) == list(other)
        return NotImplemented

    def __repr__(self) -> str:
        return repr(list(self))


# -- attributes and text ------------------------------------------------------------------


class Attr(Generic[T]):
    """An optional attribute (``None`` when absent)."""

    __slots__ = ("name", "attribute", "type", "default")
    required: ClassVar[bool] = False

    def __init__(self, attribute: str, type: SimpleType, default: str | None = None) -> None:  # noqa: A002
        self.name = ""
        self.attribute = attribute
        self.type = type
        self.default = default

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> Attr[T]: ...
    @overload
    def __get__(self, obj: Binding, owner: type) -> T | None: ...
    def __get__(self, obj: Binding | None, owner: type) -> Attr[T] | T | None:
        if obj is None:
            return self
        text = obj._el.get(self.attribute)  # noqa: SLF001
        if text is None:
            if self.default is None:
                return None
            text = self.default
        try:
            value: T = self.type.parse(text)
        except ValueError as exc:
            raise HealthVaultValueError(f"{_where(obj._el)}: attribute {self.attribute}: {exc}") from None  # noqa: SLF001
        return value

    def __set__(self, obj: Binding, value: T | None) -> None:
        element = obj._el  # noqa: SLF001
        if value is None:
            element.attrib.pop(self.attribute, None)
            return
        current = element.get(self.attribute)
        if current is not None and not isinstance(value, str):
            try:
                if self.type.parse(current) == value:
                    return
            except ValueError:
                pass
        try:
            element.set(self.attribute, self.type.format(value))
        except ValueError as exc:
            raise HealthVaultValueError(f"attribute {self.attribute}: {exc}") from None


class ReqAttr(Attr[T]):
    """A required attribute."""

    __slots__ = ()
    required = True

    @overload
    def __get__(self, obj: None, owner: type) -> ReqAttr[T]: ...
    @overload
    def __get__(self, obj: Binding, owner: type) -> T: ...
    def __get__(self, obj: Binding | None, owner: type) -> ReqAttr[T] | T:
        if obj is None:
            return self
        value = Attr.__get__(self, obj, owner)
        if value is None:
            raise HealthVaultValueError(f"{_where(obj._el)}: the required attribute {self.attribute} is missing")  # noqa: SLF001
        return value


class Text(Generic[T]):
    """The text of an element with simple content (``value``)."""

    __slots__ = ("name", "type", "required")

    def __init__(self, type: SimpleType, required: bool = True) -> None:  # noqa: A002
        self.name = ""
        self.type = type
        self.required = required

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> Text[T]: ...
    @overload
    def __get__(self, obj: Binding, owner: type) -> T: ...
    def __get__(self, obj: Binding | None, owner: type) -> Text[T] | T:
        if obj is None:
            return self
        try:
            value: T = self.type.parse(_text(obj._el))  # noqa: SLF001
        except ValueError as exc:
            raise HealthVaultValueError(f"{_where(obj._el)}: {exc}") from None  # noqa: SLF001
        return value

    def __set__(self, obj: Binding, value: T) -> None:
        Simple[T](self.type).set(obj._el, value)  # noqa: SLF001


# -- content models -----------------------------------------------------------------------


class Model:
    """A content model as a deterministic automaton over child element names.

    ``trans[state]`` maps an element name to the next state; ``wild[state]``
    lists wildcards (with their next state) tried when no name matches;
    ``accept`` holds the states in which the content may end. Generated
    code names a wildcard by its field; :meth:`bind` puts the field's item
    in its place.
    """

    __slots__ = ("trans", "wild", "accept")

    def __init__(
        self,
        trans: Sequence[dict[str, int]],
        accept: Iterable[int],
        wild: dict[int, Sequence[tuple[Any, int]]] | None = None,
    ) -> None:
        self.trans = tuple(trans)
        self.accept = frozenset(accept)
        self.wild: dict[int, tuple[tuple[Any, int], ...]] = {k: tuple(v) for k, v in (wild or {}).items()}

    def bind(self, fields: dict[str, Field[Any]]) -> Model:
        """This model with wildcard field names replaced by their items."""
        if not self.wild or all(not isinstance(w, str) for entries in self.wild.values() for w, _ in entries):
            return self
        bound = Model(self.trans, self.accept)
        bound.wild = {
            state: tuple((fields[w].item if isinstance(w, str) else w, to) for w, to in entries)
            for state, entries in self.wild.items()
        }
        return bound

    def expected(self, state: int) -> list[str]:
        names = [f"<{_local(n)}>" for n in self.trans[state]]
        if self.wild.get(state):
            names.append("any element")
        return names


EMPTY = Model(({},), (0,))


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


# -- the base class -----------------------------------------------------------------------


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
