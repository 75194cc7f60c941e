"""The element level under the binding classes: names, new elements, documents.

Namespaces the platform uses and the prefixes it writes for them; creating,
adopting and removing elements without losing text; reading the text of a
simple-content element; where an element is (path and line) for messages;
the :class:`Document` the views of one tree share; and the content-model
automaton (:class:`Model`) every generated class carries.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from lxml import etree

from .errors import HealthVaultXmlError

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


def _set_text(element: etree._Element, text: str) -> None:
    """Make ``text`` the whole text of a simple-content element.

    The text before, between and after the element's comments and
    processing instructions is replaced as a whole (so the element reads
    back as ``text``, not as ``text`` plus what followed a comment); the
    comments and processing instructions stay, in their order, after the
    new text. An ``xsi:nil="true"`` the element carried goes: it now holds
    a value.
    """
    element.text = text
    if len(element):
        for child in element:
            child.tail = None
    if _nilled(element):
        del element.attrib[_NIL]


_NIL = "{" + XSI_NS + "}nil"


def _nilled(element: etree._Element) -> bool:
    """Whether the element says it has no value (``xsi:nil="true"``)."""
    nil = element.get(_NIL)
    return nil is not None and nil.strip(" \t\n\r") in ("true", "1")


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


class Document:
    """What the views of one tree share: the classes chosen for data-xml
    roots, and the text around the document's root as it was read.

    A data-xml root's class depends on the thing's type-id and on whether
    its content fits that class; the reader decides once and records the
    decision here (:class:`RawElement` for content kept raw). ``outside``
    (a :class:`prolog.Outside`) is what the writers put back around the root.
    """

    __slots__ = ("decisions", "outside", "__weakref__")

    def __init__(self) -> None:
        self.decisions: dict[etree._Element, type] = {}
        self.outside: Any = None


#: Resolves the class of a data-xml root (element, thing type-id or None);
#: installed by the registry of the generated package.
DataRootResolver = Callable[[etree._Element, "str | None"], type]


_RESOLVERS: list[DataRootResolver] = []


def install_data_root_resolver(resolver: DataRootResolver) -> None:
    """Make ``resolver`` decide the class of data-xml roots read without one."""
    _RESOLVERS[:] = [resolver]


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

    def bind(self, fields: dict[str, Any]) -> Model:
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
