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
    if cls is RawElement:
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
            item = field.item
            if isinstance(item, Complex):
                element.append(draw(element_for(item.cls, key, depth + 1)))
            else:
                assert isinstance(item, Simple), item
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
