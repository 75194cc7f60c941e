"""What a document holds around its root element.

Before the root a document may hold a byte order mark, the XML declaration,
white space, comments and processing instructions; after it, white space,
comments and processing instructions. libxml2 keeps the comments and
processing instructions (as siblings of the root) but not the declaration
nor the white space between them, so :func:`parse_document` records the
text around the root as it was read (:class:`Outside`) and :func:`around`
writes it back: a document read and written back is the same bytes, with
its comments and processing instructions before and after the root.

The text is kept as read when the document is UTF-8 (what the writers
write). A document in another encoding, or whose comments or processing
instructions a program changed, gets them back as libxml2 writes them, one
to a line around the root (the XML declaration, which would name the old
encoding, is then left out).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from . import safexml
from .safexml import DEFAULT_MAX_BYTES

_WS = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Outside:
    """The text around a root as read, and the nodes it held then."""

    before: bytes
    after: bytes
    nodes: tuple[bytes, ...]


def parse_document(
    data: bytes | bytearray | memoryview | str | etree._Element,
    *,
    what: str = "document",
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> tuple[etree._Element, Outside | None]:
    """Parse a document safely (see :func:`safexml.parse`) and record what
    is around its root. An element given is copied (see
    :func:`safexml.to_element`); nothing around it is recorded."""
    if isinstance(data, etree._Element):
        return safexml.to_element(data, what=what), None
    raw = safexml._as_bytes(data)  # noqa: SLF001
    root = safexml.parse(raw, what=what, max_bytes=max_bytes)
    return root, capture(raw, root)


def capture(raw: bytes, root: etree._Element) -> Outside | None:
    """The text around ``root`` in ``raw`` (the document it was parsed
    from), or None when there is none or it cannot be told exactly."""
    if raw[:1] == b"<" and raw[1:2] not in (b"?", b"!") and raw[-1:] == b">" and not _siblings(root):
        return None  # the root is the whole document: the common case, at no cost
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    encoding = root.getroottree().docinfo.encoding or "UTF-8"
    if encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        return None
    before = list(root.itersiblings(preceding=True))[::-1]
    after = list(root.itersiblings())
    start = _root_start(raw, len(before))
    end = _root_end(raw, after)
    if start is None or end is None or start >= end:
        return None
    return Outside(raw[:start], raw[end:], tuple(_text(n) for n in (*before, *after)))


def around(root: etree._Element, body: bytes, outside: Outside | None) -> bytes:
    """``body`` (``root`` serialized) with what is around ``root`` in its
    document: the text recorded as read, else the comments and processing
    instructions there now, one to a line. ``body`` alone for an element
    that is not a document's root."""
    if root.getparent() is not None:
        return body
    before = list(root.itersiblings(preceding=True))[::-1]
    after = list(root.itersiblings())
    nodes = tuple(_text(n) for n in (*before, *after))
    if outside is not None and nodes == outside.nodes:
        return outside.before + body + outside.after
    if not nodes:
        return body
    return b"".join(n + b"\n" for n in nodes[: len(before)]) + body + b"".join(b"\n" + n for n in nodes[len(before) :])


def _siblings(root: etree._Element) -> bool:
    return root.getprevious() is not None or root.getnext() is not None


def _text(node: etree._Element) -> bytes:
    return bytes(etree.tostring(node, encoding="utf-8", with_tail=False))


def _skip_space(raw: bytes, at: int) -> int:
    while at < len(raw) and raw[at] in _WS:
        at += 1
    return at


def _root_start(raw: bytes, count: int) -> int | None:
    """Where the root's start tag begins, after ``count`` comments and
    processing instructions (the XML declaration is not one of them)."""
    at = len(_BOM) if raw.startswith(_BOM) else 0
    found = 0
    while True:
        at = _skip_space(raw, at)
        if raw.startswith(b"<?", at):
            end = raw.find(b"?>", at + 2)
            if end < 0:
                return None
            if not raw.startswith((b"<?xml ", b"<?xml\t", b"<?xml\n", b"<?xml\r", b"<?xml?"), at):
                found += 1
            at = end + 2
        elif raw.startswith(b"<!--", at):
            end = raw.find(b"-->", at + 4)
            if end < 0:
                return None
            found += 1
            at = end + 3
        elif raw.startswith(b"<", at):
            return at if found == count else None
        else:
            return None


def _root_end(raw: bytes, after: list[etree._Element]) -> int | None:
    """Where the root's end tag ends, found from the end of ``raw`` back
    over white space and the nodes ``after`` the root."""
    end = len(raw)
    for node in reversed(after):
        while end and raw[end - 1] in _WS:
            end -= 1
        start = _node_start(raw, end, node)
        if start is None:
            return None
        end = start
    while end and raw[end - 1] in _WS:
        end -= 1
    return end if raw[end - 1 : end] == b">" else None


def _node_start(raw: bytes, end: int, node: etree._Element) -> int | None:
    """Where ``node`` (a comment or processing instruction ending at ``end``) begins."""
    if node.tag is etree.Comment:
        text = b"<!--" + (node.text or "").encode("utf-8") + b"-->"
        return end - len(text) if raw.endswith(text, 0, end) else None
    if node.tag is not etree.ProcessingInstruction or not raw.endswith(b"?>", 0, end):
        return None
    at = end - 2
    data = (node.text or "").encode("utf-8")
    if data:
        if not raw.endswith(data, 0, at):
            return None
        at -= len(data)
        if not at or raw[at - 1] not in _WS:
            return None  # the target and the data are apart
    while at and raw[at - 1] in _WS:
        at -= 1
    head = b"<?" + str(node.target).encode("utf-8")
    return at - len(head) if raw.endswith(head, 0, at) else None
