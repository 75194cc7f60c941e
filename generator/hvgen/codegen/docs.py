"""Turn schema documentation into docstring text.

Platform schemas write structured documentation: ``<summary>``, ``<remarks>``
and catalogue fields such as ``<type-id>`` or ``<related-links>``. The code
generator hands this over as raw XML; here it becomes plain prose: the summary,
then the remarks as paragraphs. Catalogue fields are dropped (type-id and
friends are exposed as class constants instead).
"""

from __future__ import annotations

import re
import textwrap

from lxml import etree

#: Elements whose text is prose worth keeping, in the order they are printed.
_PROSE = ("summary", "remarks")

_PARSER = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)


def _normalize(text: str) -> str:
    return " ".join(text.split())


def _paragraphs(text: str) -> list[str]:
    """Split on blank lines and fold the white space inside each paragraph."""
    parts = re.split(r"\n\s*\n", textwrap.dedent(text).strip())
    return [p for p in (_normalize(part) for part in parts) if p]


def doc_paragraphs(raw: str | None) -> list[str]:
    """Paragraphs of prose from a schema annotation (raw XML or plain text)."""
    if not raw or not raw.strip():
        return []
    try:
        root = etree.fromstring(f"<doc>{raw}</doc>".encode(), _PARSER)
    except etree.XMLSyntaxError:
        return _paragraphs(raw)
    sections: dict[str, list[str]] = {}
    loose: list[str] = []
    if root.text and root.text.strip():
        loose.append(root.text)
    for child in root:
        if not isinstance(child.tag, str):
            continue
        local = etree.QName(child).localname
        if local in _PROSE:
            sections.setdefault(local, []).append("".join(child.itertext()))
        if child.tail and child.tail.strip():
            loose.append(child.tail)
    out: list[str] = []
    for name in _PROSE:
        for text in sections.get(name, []):
            out.extend(_paragraphs(text))
    if not sections:
        for text in loose:
            out.extend(_paragraphs(text))
    return out


def summary(raw: str | None) -> str:
    """The first paragraph of an annotation, or an empty string."""
    paragraphs = doc_paragraphs(raw)
    return paragraphs[0] if paragraphs else ""


def docstring(paragraphs: list[str], fields: list[tuple[str, str]], width: int = 72) -> str:
    """Assemble docstring text: paragraphs, then an ``Attributes:`` section."""
    blocks = [textwrap.fill(p, width) for p in paragraphs]
    described = [(name, text) for name, text in fields if text]
    if described:
        lines = ["Attributes:"]
        for name, text in described:
            lines.append(textwrap.fill(f"{name}: {text}", width, initial_indent="    ", subsequent_indent="        "))
        blocks.append("\n".join(lines))
    body = "\n\n".join(blocks)
    return body.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
