"""Field descriptors of the binding classes.

Generated classes declare each field as a descriptor:

* :class:`One`, :class:`Maybe` and :class:`Many` for child elements (one
  required, one optional, a list: :class:`BindingList`, live), holding
  either a simple value (:class:`Simple`), a binding class
  (:class:`Complex`) or any element (:class:`Wild`, and :class:`DataRoot`
  for the thing type's root inside ``data-xml``);
* (in :mod:`attributes`) :class:`Attr` and :class:`ReqAttr` for
  attributes, :class:`Text` for the text of simple content.

Reading a field parses its text; setting one writes the value's canonical
form at the place the content model gives it (``order``). A set writes
exactly the value set: the element's whole text is replaced, and comments
or processing instructions inside it are kept, moved after the new text
(``<d>CT<!-- seen --> HEAD</d>`` set to ``MR`` is ``<d>MR<!-- seen --></d>``).
Setting the value a field already holds changes nothing, so the document
stays byte for byte as read (``0123`` stays ``0123`` when set to 123). An
element with ``xsi:nil="true"`` reads as ``None`` and loses the ``xsi:nil``
when a value is set. A descriptor works on any view with an ``_el``
element and a ``_doc`` (see :mod:`binding`, which also tells :class:`Wild`
its raw-element class).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, MutableSequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar, overload

from lxml import etree

from .values import SimpleType
from .xmltree import (
    _RESOLVERS,
    Document,
    HealthVaultValueError,
    _adopt,
    _local,
    _nilled,
    _remove,
    _set_text,
    _text,
    _where,
    new_element,
)


class View(Protocol):
    """What a field descriptor needs of the object it belongs to."""

    _el: etree._Element
    _doc: Document | None
    _CHILDREN: ClassVar[dict[str, Any]]

    @classmethod
    def _of(cls, element: etree._Element, doc: Document | None = None) -> Any: ...


T = TypeVar("T")
B = TypeVar("B", bound=View)


def _is_view(value: object) -> bool:
    return isinstance(getattr(value, "_el", None), etree._Element)


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
        if _nilled(element):
            return None  # type: ignore[return-value]  # xsi:nil="true": no value
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
        """Write ``value``: the element then holds exactly its text (see
        :func:`xmltree._set_text`), unless it already holds that value."""
        try:
            text = self.type.format(value)
        except ValueError as exc:
            raise HealthVaultValueError(f"<{etree.QName(element).localname}>: {exc}") from None
        current = _text(element) if len(element) else element.text
        if self.type.unchanged(current, text, value) and not _nilled(element):
            return  # the value it holds: its text (and lexical form) stays as read
        _set_text(element, text)


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
        view: B = self.cls._of(element, doc)
        return view

    def make(self, value: B, tag: str) -> etree._Element:
        if not _is_view(value):
            raise TypeError(f"<{tag}> takes a {self.cls.__name__}, not {type(value).__name__}")
        return _adopt(value._el, tag)  # noqa: SLF001


class Wild(Item[Any]):
    """An element allowed by a wildcard (``xs:any``): kept as a view of its
    own class when one is known, else as a raw element (:attr:`raw`, the
    :class:`binding.RawElement` class)."""

    __slots__ = ("namespace", "target")
    raw: ClassVar[Any] = None
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
        return self.raw._of(element, doc)

    def make(self, value: Any, tag: str) -> etree._Element:
        if isinstance(value, etree._Element):
            return _adopt(value, value.tag)
        if not _is_view(value):
            raise TypeError(f"a wildcard takes a binding or an element, not {type(value).__name__}")
        return _adopt(value._el, value._el.tag)  # noqa: SLF001


class DataRoot(Wild):
    """The first child of ``data-xml``: the thing type's root, bound to the
    class its thing's type-id names (decided when the document is read)."""

    __slots__ = ()

    def get(self, element: etree._Element, doc: Document | None) -> Any:
        cls: Any = doc.decisions.get(element) if doc is not None else None
        if cls is None:
            holder = element.getparent()
            thing = holder.getparent() if holder is not None else None
            type_id = thing.findtext("type-id") if thing is not None else None
            cls = _RESOLVERS[0](element, type_id) if _RESOLVERS else self.raw
            if doc is not None:
                doc.decisions[element] = cls
        view: Any = cls._of(element, doc)
        return view


class Field(Generic[T]):
    """A field of a binding class; ``order`` is its place in the content
    model; ``nillable``: its element may say ``xsi:nil="true"`` (no value)."""

    __slots__ = ("name", "tag", "item", "order", "min", "max", "nillable")
    cardinality: ClassVar[str] = ""

    def __init__(
        self,
        tag: str,
        item: Item[Any],
        order: int,
        min: int = 0,  # noqa: A002
        max: int | None = 1,  # noqa: A002
        *,
        nillable: bool = False,
    ) -> None:
        self.name = ""
        self.tag = tag
        self.item = item
        self.order = order
        self.min = min
        self.max = max
        self.nillable = nillable

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def _children(self, owner: View) -> list[etree._Element]:
        if isinstance(self.item, Wild):
            named = type(owner)._CHILDREN  # noqa: SLF001
            return [c for c in owner._el[:] if isinstance(c.tag, str) and c.tag not in named]  # noqa: SLF001
        return list(owner._el.findall(self.tag))  # noqa: SLF001

    def _first(self, owner: View) -> etree._Element | None:
        if isinstance(self.item, Wild):
            found = self._children(owner)
            return found[0] if found else None
        return owner._el.find(self.tag)  # noqa: SLF001

    def _insert(self, owner: View, child: etree._Element, before: etree._Element | None = None) -> None:
        element = owner._el  # noqa: SLF001
        if before is not None:
            before.addprevious(child)
            return
        position = _position(type(owner), element, self.order)
        element.insert(position, child)


def _position(cls: type[Any], element: etree._Element, order: int) -> int:
    """Index at which a new child of field ``order`` goes: after every child
    whose field comes at or before it in the content model."""
    orders = cls._ORDERS  # noqa: SLF001
    wild_order = cls._WILD_ORDER  # noqa: SLF001
    count = len(element)
    if count:  # children set in schema order (as constructors do) go last: no scan
        last = element[count - 1].tag
        if isinstance(last, str):
            last_order = orders.get(last, wild_order)
            if last_order is not None and last_order <= order:
                return count
    position = 0
    for index, child in enumerate(element[:]):
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
    def __get__(self, obj: View, owner: type) -> T: ...
    def __get__(self, obj: View | None, owner: type) -> One[T] | T:
        if obj is None:
            return self
        child = self._first(obj)
        if child is None:
            raise HealthVaultValueError(f"{_where(obj._el)}: the required <{_local(self.tag)}> is missing")  # noqa: SLF001
        value: T = self.item.get(child, obj._doc)  # noqa: SLF001
        return value

    def __set__(self, obj: View, value: T) -> None:
        _set_single(self, obj, value)


class Maybe(Field[T]):
    """At most one child element."""

    __slots__ = ()
    cardinality = "maybe"

    @overload
    def __get__(self, obj: None, owner: type) -> Maybe[T]: ...
    @overload
    def __get__(self, obj: View, owner: type) -> T | None: ...
    def __get__(self, obj: View | None, owner: type) -> Maybe[T] | T | None:
        if obj is None:
            return self
        child = self._first(obj)
        if child is None:
            return None
        value: T = self.item.get(child, obj._doc)  # noqa: SLF001
        return value

    def __set__(self, obj: View, value: T | None) -> None:
        _set_single(self, obj, value)


def _set_single(field: Field[Any], obj: View, value: Any) -> None:
    existing = field._first(obj)  # noqa: SLF001
    if value is None:
        if existing is not None:
            _remove(existing)
        return
    if existing is not None and isinstance(field.item, Simple):
        field.item.set(existing, value)
        return
    if existing is not None and _is_view(value) and value._el is existing:
        return  # the view of the element already there
    new = field.item.make(value, field.tag)
    if isinstance(field.item, DataRoot) and _is_view(value):
        if obj._doc is None:  # noqa: SLF001
            obj._doc = Document()  # noqa: SLF001
        obj._doc.decisions[new] = type(value)  # noqa: SLF001
    if existing is not None:
        new.tail = existing.tail
        existing.getparent().replace(existing, new)
    else:
        field._insert(obj, new)  # noqa: SLF001


class Many(Field[T]):
    """A list of child elements (``min``..``max``)."""

    __slots__ = ()
    cardinality = "many"

    @overload
    def __get__(self, obj: None, owner: type) -> Many[T]: ...
    @overload
    def __get__(self, obj: View, owner: type) -> BindingList[T]: ...
    def __get__(self, obj: View | None, owner: type) -> Many[T] | BindingList[T]:
        if obj is None:
            return self
        return BindingList(obj, self)

    def __set__(self, obj: View, values: Iterable[T]) -> None:
        """Make the list ``values``: each element already in the list takes
        the value at its place (an equal value or the view of that very
        element changes nothing), new ones are added, extra ones removed."""
        items = list(values)
        target = BindingList(obj, self)
        existing = target._elements()  # noqa: SLF001
        for child, item in zip(existing, items, strict=False):
            target._put(child, item)  # noqa: SLF001
        for child in existing[len(items) :]:
            _remove(child)
        for item in items[len(existing) :]:
            target.append(item)


class BindingList(MutableSequence[T]):
    """The live list of a :class:`Many` field: changes go to the tree."""

    __slots__ = ("_owner", "_field")

    def __init__(self, owner: View, field: Many[T]) -> None:
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
        self._put(self._elements()[index], value)

    def _put(self, old: etree._Element, value: Any) -> None:
        """``value`` in the place of ``old``: a simple value is written into
        it (see :meth:`Simple.set`), the view of ``old`` itself changes
        nothing, anything else replaces it."""
        item = self._field.item
        if isinstance(item, Simple):
            item.set(old, value)
            return
        if _is_view(value) and value._el is old:  # noqa: SLF001
            return
        new = item.make(value, self._field.tag)
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
