"""Compare two XML documents by content, for the round-trip tests.

Both sides are parsed, comments dropped, white-space-only text in element
content removed, and then compared element by element: names (with
namespaces), attributes and text. Text that differs only in an integer's
lexical form (``04`` against ``4``) is accepted and reported, since typed
bindings write integers in canonical form.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree


@dataclass
class Comparison:
    differences: list[str] = field(default_factory=list)
    normalized: list[tuple[str, str, str]] = field(default_factory=list)


def _clean(data: bytes) -> etree._Element:
    parser = etree.XMLParser(remove_comments=True, remove_pis=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(data, parser)
    for el in root.iter():
        if len(el) and el.text is not None and not el.text.strip():
            el.text = None
        if el.tail is not None and not el.tail.strip():
            el.tail = None
    return root


def _same_integer(a: str, b: str) -> bool:
    try:
        return int(a.strip()) == int(b.strip())
    except ValueError:
        return False


def compare(expected: bytes, actual: bytes) -> Comparison:
    result = Comparison()

    def walk(a: etree._Element, b: etree._Element, path: str) -> None:
        here = f"{path}/{etree.QName(a).localname}"
        if a.tag != b.tag:
            result.differences.append(f"{here}: element {a.tag} became {b.tag}")
            return
        if dict(a.attrib) != dict(b.attrib):
            result.differences.append(f"{here}: attributes {dict(a.attrib)} became {dict(b.attrib)}")
        ta, tb = (a.text or ""), (b.text or "")
        if ta != tb:
            if ta.strip() == tb.strip() == "":
                pass
            elif _same_integer(ta, tb):
                result.normalized.append((here, ta, tb))
            else:
                result.differences.append(f"{here}: text {ta!r} became {tb!r}")
        ca = [c for c in a if isinstance(c.tag, str)]
        cb = [c for c in b if isinstance(c.tag, str)]
        if [c.tag for c in ca] != [c.tag for c in cb]:
            result.differences.append(
                f"{here}: children {[etree.QName(c).localname for c in ca]} became "
                f"{[etree.QName(c).localname for c in cb]}"
            )
            return
        for x, y in zip(ca, cb, strict=False):
            walk(x, y, here)

    walk(_clean(expected), _clean(actual), "")
    return result
