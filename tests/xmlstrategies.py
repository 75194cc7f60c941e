"""Hypothesis strategies for documents of the generated binding classes.

:func:`documents` builds random, valid elements for a binding class from its
own tables: a random path through its content-model automaton, children of
the right classes (recursively, with a depth limit), required and some
optional attributes, and for every simple value a random text of its type
in one of its lexical forms (leading zeros, exponents, trailing zeros,
1-7 fractional digits, ``1``/``true``...), honouring patterns, enumerations,
lengths and ranges.
"""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st
from lxml import etree

from healthvault.binding import Binding, RawElement
from healthvault.fields import Complex, Simple
from healthvault.values import SimpleType, xsd_pattern

#: Characters allowed in generated text (XML 1.0 chars, no surrogates).
_TEXT = st.characters(
    codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff"
) | st.sampled_from(" \t\n")

_INT_RANGES = {
    "integer": (None, None),
    "long": (-(2**63), 2**63 - 1),
    "int": (-(2**31), 2**31 - 1),
    "short": (-(2**15), 2**15 - 1),
    "byte": (-128, 127),
    "nonNegativeInteger": (0, None),
    "positiveInteger": (1, None),
    "nonPositiveInteger": (None, 0),
    "negativeInteger": (None, -1),
    "unsignedLong": (0, 2**64 - 1),
    "unsignedInt": (0, 2**32 - 1),
    "unsignedShort": (0, 2**16 - 1),
    "unsignedByte": (0, 255),
}


def _integer_text(low: int | None, high: int | None) -> st.SearchStrategy[str]:
    def lexical(value: int, zeros: int, plus: bool, pad: str) -> str:
        digits = "0" * zeros + str(abs(value))
        sign = "-" if value < 0 else ("+" if plus else "")
        return pad + sign + digits + pad

    return st.builds(
        lexical,
        st.integers(min_value=low, max_value=high),
        st.integers(0, 3),
        st.booleans(),
        st.sampled_from(["", "", " "]),
    )


def _decimal_text() -> st.SearchStrategy[str]:
    def lexical(value: Decimal, trailing: int) -> str:
        text = format(value, "f")
        if trailing:
            text += ("" if "." in text else ".") + "0" * trailing
        return text

    return st.builds(lexical, st.decimals(allow_nan=False, allow_infinity=False, places=4), st.integers(0, 2))


def _float_text() -> st.SearchStrategy[str]:
    def exponent(value: float, digits: int) -> str:
        return f"{value:.{digits}E}"

    return st.one_of(
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.builds(exponent, st.floats(allow_nan=False, allow_infinity=False, width=32), st.integers(0, 14)),
        st.sampled_from(["INF", "-INF", "NaN", "1", "0.90", "3.14159265358979E0", "0.000010"]),
    )


def _zone() -> st.SearchStrategy[str]:
    return st.sampled_from(["", "Z", "+01:00", "-05:30", "+14:00"])


def _fraction() -> st.SearchStrategy[str]:
    return st.one_of(
        st.just(""),
        st.integers(1, 7).flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n).map(lambda d: "." + d)),
    )


def _date_time_text() -> st.SearchStrategy[str]:
    return st.builds(
        lambda d, f, z: d.strftime("%Y-%m-%dT%H:%M:%S") + f + z,
        st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)),
        _fraction(),
        _zone(),
    )


def _builtin_text(name: str) -> st.SearchStrategy[str]:
    if name in _INT_RANGES:
        return _integer_text(*_INT_RANGES[name])
    if name == "decimal":
        return _decimal_text()
    if name in ("float", "double"):
        return _float_text()
    if name == "boolean":
        return st.sampled_from(["true", "false", "1", "0", " true "])
    if name == "date-time":
        return _date_time_text()
    if name == "date":
        return st.builds(lambda d, z: d.strftime("%Y-%m-%d") + z, st.dates(min_value=dt.date(1, 1, 1)), _zone())
    if name == "time":
        return st.builds(lambda t, f, z: t.strftime("%H:%M:%S") + f + z, st.times(), _fraction(), _zone())
    if name == "base64Binary":
        return st.binary(max_size=40).map(lambda b: base64.b64encode(b).decode("ascii"))
    if name == "hexBinary":
        return st.binary(max_size=20).map(lambda b: b.hex())
    if name in ("anyURI", "token", "Name", "NCName", "NMTOKEN", "ID", "IDREF", "ENTITY", "QName", "language"):
        return st.from_regex(r"[a-z][a-z0-9]{0,11}", fullmatch=True)
    if name in ("duration",):
        return st.sampled_from(["P1Y2M3DT4H5M6S", "PT0.5S", "-P3D"])
    if name.startswith("g"):
        return st.sampled_from(
            {
                "gYear": ["2024"],
                "gYearMonth": ["2024-05"],
                "gMonth": ["--05"],
                "gMonthDay": ["--05-17"],
                "gDay": ["---17"],
            }.get(name, ["2024"])
        )
    return st.text(_TEXT, max_size=20)


#: The platform's "not empty, not only white space" pattern, as compiled.
_NOT_BLANK = xsd_pattern(r"(\s*[^\s]+\s*)+").pattern


def text_for(simple: SimpleType) -> st.SearchStrategy[str]:
    """Random valid texts of a simple type."""
    facets = simple.facets
    if simple.builtin == "union":
        return st.one_of([text_for(m) for m in facets["members"]])
    if simple.builtin == "list":
        return st.lists(text_for(facets["item"]), min_size=1, max_size=3).map(" ".join).filter(simple.valid)
    if facets.get("enumeration"):
        return st.sampled_from(facets["enumeration"])
    bounded = _bounded(simple)
    if facets.get("patterns") == (_NOT_BLANK,):
        longest = min(facets.get("max_length") or 20, 20)
        strategy = st.text(_TEXT, min_size=1, max_size=longest).filter(lambda s: bool(s.strip(" \t\n\r")))
    elif facets.get("patterns"):
        strategy = st.one_of([st.from_regex(xsd_pattern(p), fullmatch=True) for p in facets["patterns"]])
    elif bounded is not None:
        strategy = bounded
    elif simple.base is not None:
        strategy = text_for(simple.base)
    else:
        strategy = _builtin_text(simple.builtin)
    if simple.trivial:
        return strategy.filter(_xml_text)
    return strategy.filter(lambda t: _xml_text(t) and simple.valid(t))


def _xml_text(text: str) -> bool:
    """Text lxml can hold (and a parser gives back unchanged: no CR)."""
    return all(c in "\t\n" or (" " <= c and not 0xD800 <= ord(c) <= 0xDFFF and c not in "\ufffe\uffff") for c in text)


def _bounded(simple: SimpleType) -> st.SearchStrategy[str] | None:
    """Texts within the range and length facets of integer, decimal and string types."""
    facets: dict[str, Any] = {}
    node: SimpleType | None = simple
    while node is not None:  # the innermost facet wins
        for key, value in node.facets.items():
            facets.setdefault(key, value)
        node = node.base
    name = simple.builtin
    if name in _INT_RANGES and any(
        k in facets for k in ("min_inclusive", "max_inclusive", "min_exclusive", "max_exclusive")
    ):
        low, high = _INT_RANGES[name]
        if "min_inclusive" in facets:
            low = int(facets["min_inclusive"])
        if "min_exclusive" in facets:
            low = int(facets["min_exclusive"]) + 1
        if "max_inclusive" in facets:
            high = int(facets["max_inclusive"])
        if "max_exclusive" in facets:
            high = int(facets["max_exclusive"]) - 1
        return _integer_text(low, high)
    if name == "decimal" and any(
        k in facets for k in ("min_inclusive", "max_inclusive", "fraction_digits", "total_digits")
    ):
        places = facets.get("fraction_digits", 2)
        lowest = Decimal(facets.get("min_inclusive", -(10**6)))
        highest = Decimal(facets.get("max_inclusive", 10**6))
        return st.decimals(min_value=lowest, max_value=highest, places=min(places, 4)).map(lambda d: format(d, "f"))
    if simple.python is str and any(k in facets for k in ("length", "min_length", "max_length")):
        low = facets.get("length", facets.get("min_length", 0))
        high = facets.get("length", facets.get("max_length", max(low, 20)))
        return st.text(_TEXT, min_size=low, max_size=min(high, low + 20)).filter(lambda s: bool(s.strip()) or low == 0)
    return None


def _tag_local(tag: str) -> str:
    return tag.rpartition("}")[2]


@st.composite
def element_for(draw: st.DrawFn, cls: type[Binding], tag: str | None = None, depth: int = 0) -> etree._Element:
    """A random valid element of ``cls``."""
    element = etree.Element(tag or cls.ELEMENT)
    for name, attr in cls._ATTRIBUTES.items():
        if attr.required or draw(st.booleans()):
            element.set(name, draw(text_for(attr.type)))
    if cls._TEXT is not None:
        element.text = draw(text_for(cls._TEXT.type))
        return element
    if cls is RawElement or cls.__name__ == "RawElement":  # (also that of another generated package)
        return element
    model = cls._MODEL
    state = 0
    steps = 0
    while True:
        options = sorted(model.trans[state].items())
        wild = list(model.wild.get(state, ()))
        can_stop = state in model.accept
        deep = depth >= 4 or steps >= 8
        if can_stop and (deep or not (options or wild) or draw(st.integers(0, 3)) == 0):
            break
        if not options and not wild:
            break  # a dead end cannot happen for a consistent model
        choices = [("elem", k, v) for k, v in options] + [("wild", w, v) for w, v in wild]
        kind, key, target = draw(st.sampled_from(choices))
        if kind == "wild":
            names = [n for n in ("extra", "{urn:example:other}extra", "{urn:example:other}note-x") if key.accepts(n)]
            child = etree.SubElement(element, draw(st.sampled_from(names)))
            child.text = draw(st.from_regex(r"[a-z]{0,8}", fullmatch=True))
        else:
            field = cls._CHILDREN[key]
            item: Any = field.item
            if isinstance(item, Complex) or item.kind == "child":  # (that of another generated package too)
                element.append(draw(element_for(item.cls, key, depth + 1)))
            else:
                assert isinstance(item, Simple) or item.kind == "value", item
                child = etree.SubElement(element, key)
                child.text = draw(text_for(item.type))
        state = target
        steps += 1
    return element


def documents(cls: type[Binding]) -> st.SearchStrategy[bytes]:
    """Random valid documents of ``cls``, serialized (optionally indented)."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        element = draw(element_for(cls))
        if draw(st.booleans()):
            etree.indent(element, "  ")
        return bytes(etree.tostring(element, encoding="utf-8"))

    return build()


def describe(obj: Any) -> str:
    return repr(obj)[:200]


# -- comments and processing instructions anywhere ------------------------------------------

#: Text a comment may hold: no "--", not ending in "-" (and nothing lxml would escape).
_COMMENT_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.just(" "), max_size=12).map(
    lambda s: s.replace("-", " ")
)


def _pi_data(text: str) -> str:
    """PI data as libxml2 writes it back: no "?>", no leading white space."""
    return text.replace("?>", "? >").lstrip(" \t\n")


def markup_nodes() -> st.SearchStrategy[etree._Element]:
    """A comment or a processing instruction, in the form libxml2 writes it
    (so that a document holding it can round-trip byte for byte)."""
    comments = _COMMENT_TEXT.filter(_xml_text).map(etree.Comment)
    pis = st.builds(
        lambda target, data: etree.ProcessingInstruction(target, data or None),
        st.from_regex(r"[a-wyz][a-z0-9-]{0,6}", fullmatch=True),
        st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=10)
        .map(_pi_data)
        .filter(_xml_text),
    )
    return st.one_of(comments, pis)


@st.composite
def sprinkled(draw: st.DrawFn, element: etree._Element, count: int = 6) -> etree._Element:
    """``element`` with up to ``count`` comments and processing instructions
    put anywhere inside it: between children, and inside the text of simple
    values, splitting it (``19<?pi x?>90``)."""
    nodes = [e for e in element.iter() if isinstance(e.tag, str)]
    for _ in range(draw(st.integers(0, count))):
        target = draw(st.sampled_from(nodes))
        markup = draw(markup_nodes())
        children = [c for c in target if isinstance(c.tag, str)]
        if not children:  # simple content (or empty): split its text
            text = target.text or ""
            at = draw(st.integers(0, len(text)))
            target.text, markup.tail = text[:at] or None, (text[at:] or None)
            target.insert(0, markup)  # before what an earlier split put there
        else:
            index = draw(st.integers(0, len(target)))
            target.insert(index, markup)
    return element


# -- lexical variants and mutations (for comparisons with libxml2) ----------------------------

NUMBERS = [
    "0", "1", "-1", "+1", "01", "-0", "+0", "00", "1.", ".5", "-.5", "+.5", "5.0", "1.50", ".", "+", "-",
    "1e5", "1E5", "1e+5", "1e-5", "1.5E3", ".5e1", "5.e1", "1e", "1e+", "e1", "1e5.5", "+-1", "--1", "0x1A", "1_0",
    "NaN", "INF", "-INF", "+INF", "nan", "inf", "Infinity", "-NaN", "+NaN", "NAN",
    "127", "128", "-128", "-129", "255", "256", "32767", "32768", "-32769", "65535", "65536",
    "2147483647", "2147483648", "-2147483649", "4294967295", "4294967296",
    "9223372036854775807", "9223372036854775808", "18446744073709551615", "18446744073709551616",
    "1e39", "3.4028235e38", "3.5e38", "1e400", "-1e400", "1e-400", "0.1", "0.10000000001",
]  # fmt: skip
DATES = [
    "2024-01-01", "0001-01-01", "9999-12-31", "0000-01-01", "10000-01-01", "-0001-01-01", "02024-01-01",
    "2024-02-29", "2023-02-29", "2024-02-30", "2024-13-01", "2024-00-10", "2024-1-1", "2024-01-01Z",
    "2024-01-01+14:00", "2024-01-01-14:00", "2024-01-01+14:01", "2024-01-01+13:60", "2024-01-01+1:00",
    "2024-01-01T10:00:00", "2024-01-01T10:00:00Z", "2024-01-01T10:00:00.1234567+01:00",
    "2024-01-01T24:00:00", "2024-01-01T24:00:01", "2024-01-01T23:59:60", "2024-01-01T10:00", "2024-01-01T10:00:00.",
    "10:00:00", "24:00:00", "23:59:59.999Z", "10:00", "1:00:00",
    "P1Y", "P1Y2M3DT4H5M6.7S", "PT0.5S", "-P3D", "P", "PT", "P1.5D", "PT.5S", "P1DT",
    "2024", "0000", "10000", "-2024", "02024", "2024Z", "2024-05", "2024-5", "--05", "--13", "--05-17", "--02-30",
    "---17", "---32",
]  # fmt: skip
OTHERS = [
    "true", "false", "1", "0", "TRUE", "True", "yes", "01", "",
    "AAAA", "AA==", "AQ==", "AB==", "AAA=", "AAE=", "A===", "AA=A", "AA AA", "AAAA\n", "A", "AAA", "////", "+/+/",
    "0a", "0A", "0", "0g", "0A0", "ff00",
    "en", "en-US", "x-abc", "en_US", "123", "a1", "_a", "a:b", ":a", "-a", ".a", "a b", "a  b", "é", "ab-c.d",
]  # fmt: skip


def lexical_variants() -> st.SearchStrategy[str]:
    """Texts around the lexical space of the built-in types."""
    base = st.one_of(
        st.sampled_from(NUMBERS + DATES + OTHERS),
        st.sampled_from(VARIANT_TYPES).flatmap(_builtin_text),
    )
    space = st.sampled_from(["", "", "", " ", "\t", "\n", "  "])
    return st.builds(lambda before, text, after: before + text + after, space, base, space)


#: The built-in types whose valid texts the variants start from too.
VARIANT_TYPES = [
    "string", "boolean", "decimal", "double", "int", "nonNegativeInteger", "dateTime", "date", "time",
    "duration", "gYear", "gYearMonth", "gMonthDay", "base64Binary", "hexBinary", "language", "NCName", "NMTOKEN",
]  # fmt: skip

XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def _simple_elements(element: etree._Element, cls: type[Binding]) -> list[etree._Element]:
    """Every element under ``element`` (of ``cls``) that holds a simple value."""
    found = []
    for child in element:
        field = cls._CHILDREN.get(child.tag) if isinstance(child.tag, str) else None
        if field is None:
            continue
        if field.item.kind == "value":
            found.append(child)
        elif field.item.kind == "child":
            found.extend(_simple_elements(child, field.item.cls))  # type: ignore[attr-defined]
    return found


@st.composite
def mutated_roots(draw: st.DrawFn, cls: type[Binding]) -> etree._Element:
    """A random valid element of ``cls`` with one change: a value replaced
    by a lexical variant, or an ``xsi:nil`` put on an element (emptied or not)."""
    root = draw(element_for(cls))
    kind = draw(st.sampled_from(["variant", "variant", "nil", "nil-empty"]))
    values = _simple_elements(root, cls)
    if kind == "variant" and values:
        draw(st.sampled_from(values)).text = draw(lexical_variants())
    elif kind.startswith("nil"):
        target = draw(st.sampled_from([e for e in root.iter() if isinstance(e.tag, str)]))
        target.set(XSI_NIL, draw(st.sampled_from(["true", "false", "1", " true ", "yes"])))
        if kind == "nil-empty":
            target.text = None
            target[:] = []
    return root
