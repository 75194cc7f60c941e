"""Safe XML parsing for everything this package reads.

Every document is parsed with DTD processing, entity expansion and network
access disabled. A document that declares a DOCTYPE is refused outright: that
is where entity bombs (billion laughs, quadratic blowup) and external entity
references (XXE) live, and no platform message needs one. Comments,
processing instructions and CDATA sections are kept, so that a document read
and written back is the same document.
"""

from __future__ import annotations

import copy
import re
import threading
from dataclasses import dataclass

from lxml import etree

from .errors import HealthVaultXmlError

#: Largest document accepted by default (bytes). Callers that read large
#: responses pass their own limit.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024

_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_DECLARATION = re.compile(rb"""xmlns(?::([A-Za-z_][\w.-]*))?\s*=\s*["']([^"']*)["']""")

#: Namespace URI -> prefix, as declared by documents read so far (first wins).
#: Writers use it for namespaces the platform has no fixed prefix for, so that
#: content such as thing extensions keeps its prefixes through a round trip.
SEEN_PREFIXES: dict[str, str | None] = {}
_SEEN_LIMIT = 4096


def _remember_prefixes(raw: bytes) -> None:
    if b"xmlns" not in raw:
        return
    for match in _DECLARATION.finditer(raw):
        if len(SEEN_PREFIXES) >= _SEEN_LIMIT:
            return
        prefix = match.group(1).decode("utf-8") if match.group(1) else None
        uri = match.group(2).decode("utf-8", "replace")
        if uri:
            SEEN_PREFIXES.setdefault(uri, prefix)


class OverLimit(HealthVaultXmlError):
    """A document over one of its :class:`Limits`."""


@dataclass(frozen=True)
class Limits:
    """How much structure a document may have (for documents from strangers).

    Checked before and right after libxml2 builds the tree: the number of
    ``<`` bounds the elements before any parsing (so a body of millions of
    empty elements costs a byte count, not a tree), then elements,
    attributes per element and depth are counted in the tree.
    """

    max_elements: int = 250_000
    max_attributes: int = 64
    max_depth: int = 64

    def check_markup(self, raw: bytes, what: str) -> None:
        tags = raw.count(b"<")
        if tags > 2 * self.max_elements + 8:
            raise OverLimit(f"{what} has over {self.max_elements} elements ({tags} tags)")

    def check_tree(self, root: etree._Element, what: str) -> None:
        count, crowded, deep = _tree_tests(self.max_attributes, self.max_depth)
        elements = int(count(root))
        if elements > self.max_elements:
            raise OverLimit(f"{what} has {elements} elements, over the limit of {self.max_elements}")
        if crowded(root):
            raise OverLimit(f"{what} has an element with over {self.max_attributes} attributes")
        if deep(root):
            raise OverLimit(f"{what} nests elements over {self.max_depth} deep")


_COMPILED = threading.local()


def _tree_tests(max_attributes: int, max_depth: int) -> tuple[etree.XPath, etree.XPath, etree.XPath]:
    """The XPath tests of :meth:`Limits.check_tree`, compiled once per thread
    and limits (compiling cost more than running them on a request)."""
    tests: dict[tuple[int, int], tuple[etree.XPath, etree.XPath, etree.XPath]] | None = getattr(
        _COMPILED, "tests", None
    )
    if tests is None:
        tests = _COMPILED.tests = {}
    key = (int(max_attributes), int(max_depth))
    found = tests.get(key)
    if found is None:
        found = tests[key] = (
            etree.XPath("count(//*)"),
            etree.XPath(f"boolean(//*[count(@*) > {key[0]}])"),
            etree.XPath("boolean(/" + "/*" * (key[1] + 1) + ")"),
        )
    return found


_PARSERS = threading.local()


def _parser() -> etree.XMLParser:
    """The safe parser, one per thread (lxml parsers are reused between
    documents, not shared between threads)."""
    parser: etree.XMLParser | None = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = etree.XMLParser(
            resolve_entities=False,
            load_dtd=False,
            dtd_validation=False,
            no_network=True,
            huge_tree=False,
            remove_comments=False,
            remove_pis=False,
            strip_cdata=False,  # CDATA sections are written back as they were read
            collect_ids=False,
        )
    return parser


def _as_bytes(data: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(data, str):
        return data.encode("utf-8")
    return bytes(data)


def _prolog_of(raw: bytes) -> bytes:
    """The bytes before the first element (where a DOCTYPE can be), decoded
    enough to look for one; all of ``raw`` when in doubt."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError:
            return raw
        return text.encode("utf-8", "replace")
    at = 0
    while True:
        at = raw.find(b"<", at)
        if at < 0:
            return raw
        if raw.startswith(b"<?", at):
            end = raw.find(b"?>", at)
        elif raw.startswith(b"<!--", at):
            end = raw.find(b"-->", at)
        elif raw.startswith(b"<!", at):
            return raw  # a DOCTYPE or something odd: look everywhere
        else:
            return raw[:at]  # the document element starts here
        if end < 0:
            return raw
        at = end + 2


def parse(
    data: bytes | bytearray | memoryview | str,
    *,
    what: str = "document",
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    limits: Limits | None = None,
) -> etree._Element:
    """Parse ``data`` into an element tree, refusing anything unsafe.

    Args:
        data: The XML document.
        what: What the document is, for error messages ("thing", "request"...).
        max_bytes: Largest accepted size; ``None`` for no limit.
        limits: Elements, attributes and depth allowed (None: libxml2's own).

    Raises:
        OverLimit: The document is over one of ``limits``.
        HealthVaultXmlError: The document is too large, declares a DOCTYPE or
            entities, or is not well-formed XML.
    """
    raw = _as_bytes(data)
    if max_bytes is not None and len(raw) > max_bytes:
        raise HealthVaultXmlError(f"{what} is {len(raw)} bytes, over the {max_bytes}-byte limit")
    if not raw.strip():
        raise HealthVaultXmlError(f"{what} is empty")
    if _DOCTYPE.search(_prolog_of(raw)):
        raise HealthVaultXmlError(
            f"{what} declares a DOCTYPE or ENTITY: DTDs, entities and external references are not accepted"
        )
    if limits is not None:
        limits.check_markup(raw, what)
    try:
        root = etree.fromstring(raw, _parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (exc.lineno, 0)
        raise HealthVaultXmlError(f"{what} is not well-formed XML (line {line}, column {column}): {exc.msg}") from None
    _remember_prefixes(raw)
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise HealthVaultXmlError(f"{what} declares a DTD, which is not accepted")
    for _entity in root.iter(etree.Entity):
        raise HealthVaultXmlError(f"{what} contains an entity reference, which is not accepted")
    if limits is not None:
        limits.check_tree(root, what)
    return root


def to_element(
    data: bytes | bytearray | memoryview | str | etree._Element,
    *,
    what: str = "document",
) -> etree._Element:
    """Parse ``data``, or copy it if it is already a parsed element."""
    if isinstance(data, etree._Element):
        return copy.deepcopy(data)  # keeps source lines for error messages
    return parse(data, what=what)
