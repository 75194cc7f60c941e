"""Checking a document against its binding classes as it is read.

:class:`Checker` walks an element tree with the content model of each
binding class (a deterministic automaton per class, see
:class:`binding.Model`) and reports every place the schema has no room for:
an unexpected or misplaced element, text in element-only content, an
unknown attribute (structural problems), a missing required element or
attribute, a value that does not parse, an ``xsi:nil`` on an element its
schema does not declare nillable or content in a nilled one (value
problems). Each problem carries the element's path and line. Nothing is
changed in the tree. Values are valid as libxml2's schema validation finds
them (see :mod:`lexical`).

The first child of each ``data-xml`` is decided on the way: the reader's
``decide`` callback names the class (or :class:`binding.RawElement`) and the
decision is recorded in the :class:`binding.Document`; a ``data-xml``
without that root (empty, or holding only ``<common>``) is a value problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from .binding import XSI_NS, Binding, DataRoot, Document, Model, RawElement
from .xmltree import _text

_XSI = "{" + XSI_NS + "}"
_WS = " \t\n\r"
_NIL = _XSI + "nil"
_XSI_ALLOWED = frozenset({_XSI + "schemaLocation", _XSI + "noNamespaceSchemaLocation"})
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


@dataclass(frozen=True)
class Problem:
    """Something in a document its classes have no place for."""

    path: str
    line: int | None
    message: str
    structural: bool

    def __str__(self) -> str:
        where = f"{self.path} (line {self.line})" if self.line else self.path
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class RawRoot:
    """A data-xml root kept as raw XML, and why."""

    element: etree._Element
    problems: tuple[Problem, ...]
    expected: bool  # a class was expected to fit (its problems are worth a warning)


#: decide(root element, thing type-id or None) -> (class, problems of the
#: classes tried when it is RawElement, whether a class was expected)
Decide = Callable[[etree._Element, "str | None"], tuple[type, tuple[Problem, ...], bool]]


def _path(element: etree._Element) -> str:
    try:
        return str(element.getroottree().getpath(element))
    except (ValueError, TypeError):
        return "/" + str(etree.QName(element).localname)


def _name(tag: str) -> str:
    local = tag.rpartition("}")[2]
    return f"<{local}>" if tag[0] != "{" else f"<{local}> in namespace {tag[1 : tag.index('}')]}"


class Checker:
    """Checks one tree; ``problems`` and ``raw_roots`` hold what it found.

    With ``defer_data``, data-xml roots are left undecided: their class is
    chosen (and their content checked) when a program first reads them.
    """

    def __init__(self, doc: Document, decide: Decide | None = None, *, defer_data: bool = False) -> None:
        self.doc = doc
        self.decide = decide
        self.defer_data = defer_data
        self.problems: list[Problem] = []
        self.raw_roots: list[RawRoot] = []

    def _report(self, element: etree._Element, message: str, structural: bool) -> None:
        self.problems.append(Problem(_path(element), element.sourceline, message, structural))

    def check(self, element: etree._Element, cls: type[Binding]) -> list[Problem]:
        """Check ``element`` (and everything below it) against ``cls``."""
        self._walk(element, cls)
        return self.problems

    def _attributes(self, element: etree._Element, cls: type[Binding], nillable: bool) -> bool:
        """Check the attributes; True when the element is nilled (``xsi:nil="true"``)."""
        allowed = cls._ATTRIBUTES  # noqa: SLF001
        nilled = False
        for name, value in element.items():
            if name == _NIL:
                nilled = self._nil(element, value, nillable)
                continue
            field = allowed.get(name)
            if field is None:
                if name not in _XSI_ALLOWED and not cls._ANY_ATTRIBUTES:  # noqa: SLF001
                    self._report(element, f"unexpected attribute {_attribute(name)}", True)
                continue
            kind = field.type
            if kind.trivial or kind.valid(value):
                continue
            problem = kind.check(value)
            if problem is not None:
                self._report(element, f"attribute {name}: {problem}", False)
        for name in cls._REQUIRED_ATTRIBUTES:  # noqa: SLF001
            if element.get(name) is None:
                self._report(element, f"the required attribute {name} is missing", False)
        return nilled

    def _nil(self, element: etree._Element, value: str, nillable: bool) -> bool:
        """An ``xsi:nil``: allowed on a nillable element only (XML Schema 1.0:
        whatever its value), and a boolean; True when it is true."""
        if not nillable:
            self._report(element, f"xsi:nil on {_name(element.tag)}, which is not nillable", False)
            return False
        nil = _BOOLEANS.get(value.strip(_WS))
        if nil is None:
            self._report(element, f"xsi:nil {_snippet(value)} is not a boolean (true, false, 1 or 0)", False)
            return False
        return nil

    def _nilled(self, element: etree._Element) -> None:
        """A nilled element holds nothing: no text, no elements."""
        text = element.text or ""
        if len(element):
            text += "".join(c.tail or "" for c in element)
            first = next((c for c in element if isinstance(c.tag, str)), None)
            if first is not None:
                self._report(first, f"element {_name(first.tag)} where {_name(element.tag)} is nil", False)
                return
        if text:
            what = f"text {_snippet(text)}" if text.strip(_WS) else "white space"
            self._report(element, f"{what} where {_name(element.tag)} is nil", False)

    def _walk(self, element: etree._Element, cls: type[Binding], nillable: bool = False) -> None:
        plan = _PLANS.get(cls) or _plan(cls)
        required, text_field, mixed, steps, model = plan
        if (required or element.keys()) and self._attributes(element, cls, nillable):
            self._nilled(element)
            return
        if text_field is not None:
            if len(element):
                self._elements_in_text(element)
                value = _text(element) or ""
            else:
                value = element.text or ""
            kind = text_field.type
            if not kind.trivial and not kind.valid(value):
                problem = kind.check(value)
                if problem is not None:
                    self._report(element, problem, False)
            return
        if model is None:  # RawElement: anything goes
            return
        text = element.text
        if text is not None and not mixed and text.strip(_WS):
            self._text(element, text, f"where {_name(element.tag)} holds only elements")
        walk = self._walk
        state = 0
        for child in element[:]:  # a slice: much quicker than lxml's iterator
            tag = child.tag
            if tag.__class__ is not str:
                continue
            step = steps[state].get(tag)
            if step is None:
                state = self._unexpected(element, child, cls, model, state)
            else:
                state, child_cls, simple, nillable = step
                if child_cls is not None:
                    walk(child, child_cls, nillable)
                else:
                    checked = True  # False when nilled: no value to check
                    if len(child) or child.keys():
                        checked = not self._value_shape(child, nillable)
                        text = _text(child)
                    else:
                        text = child.text
                    if checked and not simple.trivial and not simple.valid(text or ""):
                        problem = simple.check(text)
                        if problem is not None:
                            self._report(child, problem, False)
            tail = child.tail
            if tail is not None and not mixed and tail.strip(_WS):
                self._text(child, tail, f"after {_name(tag)} where {_name(element.tag)} holds only elements")
        if state not in model.accept:
            expected = _expected(model, state, cls)
            self._report(element, f"{_name(element.tag)} ends too early: expected {', '.join(expected)}", False)

    def _text(self, element: etree._Element, text: str, where: str) -> None:
        if text.isspace():  # layout, but with white space XML does not count as such
            odd = sorted({f"U+{ord(c):04X}" for c in text if c not in _WS})
            self._report(element, f"white space {', '.join(odd)} (not XML white space) {where}", False)
        else:
            self._report(element, f"text {_snippet(text)} {where}", True)

    def _unexpected(
        self, element: etree._Element, child: etree._Element, cls: type[Binding], model: Model, state: int
    ) -> int:
        """A child the automaton has no transition for: a wildcard's, or a problem."""
        tag = child.tag
        for candidate, target in model.wild.get(state, ()):
            if candidate.accepts(tag):
                if isinstance(candidate, DataRoot):
                    if tag in cls._CHILDREN:  # noqa: SLF001 - <common> where the thing's root should be
                        return self._no_data_root(element, child, cls, int(target))
                    self._data_root(child, element)
                return int(target)
        if tag in cls._CHILDREN:  # noqa: SLF001
            expected = _expected(model, state, cls)
            hint = f" (expected {', '.join(expected)})" if expected else " (nothing more is expected here)"
            self._report(child, f"element {_name(tag)} is out of place{hint}", True)
        else:
            self._report(child, f"unexpected element {_name(tag)} in {_name(element.tag)}", True)
        return state

    def _elements_in_text(self, element: etree._Element) -> None:
        first = next((c for c in element if isinstance(c.tag, str)), None)
        if first is not None:
            self._report(first, f"element {_name(first.tag)} where {_name(element.tag)} holds only text", True)

    def _value_shape(self, element: etree._Element, nillable: bool) -> bool:
        """An element with simple content must hold no elements or
        attributes; True when it is nilled (``xsi:nil="true"``)."""
        nilled = False
        for name, value in element.items():
            if name == _NIL:
                nilled = self._nil(element, value, nillable)
            elif name not in _XSI_ALLOWED:
                self._report(element, f"unexpected attribute {_attribute(name)}", True)
        if nilled:
            self._nilled(element)
        elif len(element):
            self._elements_in_text(element)
        return nilled

    def _no_data_root(self, data_xml: etree._Element, child: etree._Element, cls: type[Binding], after: int) -> int:
        """``child`` (``<common>``) where the root of the thing's type should
        be: the root is missing, and ``child`` is what it is."""
        self._report(
            data_xml,
            f"{_name(data_xml.tag)} holds no root element of the thing's type before {_name(child.tag)}",
            False,
        )
        steps = (_PLANS.get(cls) or _plan(cls))[3]
        step = steps[after].get(child.tag)
        if step is None:
            return after
        state, child_cls, _simple, nillable = step
        if child_cls is not None:
            self._walk(child, child_cls, nillable)
        return int(state)

    def _data_root(self, root: etree._Element, data_xml: etree._Element) -> None:
        if self.defer_data:
            return
        if self.decide is None:
            self.doc.decisions[root] = RawElement
            return
        thing = data_xml.getparent()
        type_id = thing.findtext("type-id") if thing is not None else None
        cls, problems, expected = self.decide(root, type_id)
        self.doc.decisions[root] = cls
        if cls is RawElement:
            self.raw_roots.append(RawRoot(root, problems, expected))


def _attribute(name: str) -> str:
    if name[0] == "{":
        uri, _, local = name[1:].partition("}")
        return f"{local} (namespace {uri})"
    return name


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= 30 else text[:27] + "...")


def _expected(model: Model, state: int, cls: type[Binding]) -> list[str]:
    """The elements that may come next, in schema order."""
    orders = cls._ORDERS  # noqa: SLF001
    names = sorted(model.trans[state], key=lambda tag: orders.get(tag, 0))
    found = [_name(n) for n in names]
    wild = model.wild.get(state, ())
    if any(isinstance(w, DataRoot) for w, _ in wild):
        found.append("the root element of the thing's type")
    elif wild:
        found.append("any element")
    return found


#: What :meth:`Checker._walk` reads of a class, by class: (required
#: attributes, text field, mixed, steps, content model or None for
#: RawElement), gathered once.
_Plan = tuple[Any, Any, bool, tuple[dict[str, tuple[int, Any, Any, bool]], ...], "Model | None"]
_PLANS: dict[type, _Plan] = {}


def _plan(cls: type[Binding]) -> _Plan:
    raw = cls is RawElement
    plan: _Plan = (
        cls._REQUIRED_ATTRIBUTES,  # noqa: SLF001
        cls._TEXT,  # noqa: SLF001
        bool(cls._MIXED),  # noqa: SLF001
        () if raw or cls._TEXT is not None else (cls.__dict__.get("_STEPS") or _steps(cls)),  # noqa: SLF001
        None if raw else cls._MODEL,  # noqa: SLF001
    )
    _PLANS[cls] = plan
    return plan


def _steps(cls: type[Binding]) -> tuple[dict[str, tuple[int, Any, Any, bool]], ...]:
    """The class's automaton with each step's target: (next state, child
    class or None, simple type or None, whether the element is nillable),
    built once per class."""
    children = cls._CHILDREN  # noqa: SLF001
    rows = []
    for row in cls._MODEL.trans:  # noqa: SLF001
        steps: dict[str, tuple[int, Any, Any, bool]] = {}
        for tag, target in row.items():
            field = children[tag]
            item = field.item
            if item.kind == "child":
                steps[tag] = (target, item.cls, None, field.nillable)  # type: ignore[attr-defined]
            else:
                steps[tag] = (target, None, item.type, field.nillable)  # type: ignore[attr-defined]
        rows.append(steps)
    table = tuple(rows)
    setattr(cls, "_STEPS", table)  # noqa: B010
    return table
