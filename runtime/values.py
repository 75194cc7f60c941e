"""Simple types: the lexical space and value of XML Schema simple values.

Each :class:`SimpleType` checks a text against its XML Schema type (the
lexical form of the built-in type, then the schema's facets: patterns,
enumerations, lengths, ranges, digits) and converts between text and a
Python value. Parsing never rewrites the document: a value read from XML
keeps its text in the tree until the program sets a new value, and only
then is the canonical form written.

Built-in types map to Python types as follows: integers -> ``int``,
``decimal`` -> ``Decimal``, ``float``/``double`` -> ``float``, ``boolean``
-> ``bool``, ``dateTime`` -> ``datetime.datetime`` (aware when the text has
a zone), ``date`` -> ``datetime.date``, ``time`` -> ``datetime.time``,
``base64Binary``/``hexBinary`` -> ``bytes``; every other type is ``str``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any

from .lexical import (
    _DURATION,
    _INTEGERS,
    _NAME,
    _NAME_CHAR,
    _NCNAME,
    _NEEDS_COLLAPSE,
    _WS,
    _ZONE,
    EDGES,
    FLOAT_ORDERS,
    _base64,
    _boolean,
    _date,
    _date_time,
    _date_time_valid,
    _decimal,
    _float,
    _format_base64,
    _format_boolean,
    _format_date,
    _format_date_time,
    _format_decimal,
    _format_float,
    _format_hex,
    _format_int,
    _format_str,
    _format_time,
    _hex,
    _integer_parser,
    _integer_valid,
    _lexical,
    _quote,
    _string,
    _time,
    _words,
    xsd_pattern,
)

__all__ = [
    "SimpleType",
    "BUILTINS",
    "builtin",
    "restrict",
    "enum_type",
    "list_type",
    "union_type",
    "xsd_pattern",
]


class SimpleType:
    """A simple type: its name for messages, parser, formatter and facets.

    ``parse`` raises :class:`ValueError` with a message that says what is
    wrong; ``format`` writes a value's canonical text. ``whitespace`` is
    the XML Schema whiteSpace facet (``preserve``, ``replace`` or
    ``collapse``), applied before the lexical check.
    """

    __slots__ = (
        "name",
        "_parse",
        "_format",
        "whitespace",
        "trivial",
        "python",
        "valid",
        "base",
        "facets",
        "builtin",
        "edges",
    )

    def __init__(
        self,
        name: str,
        parse: Callable[[str], Any],
        format: Callable[[Any], str],  # noqa: A002 - the facet's own name
        whitespace: str = "collapse",
        python: type | tuple[type, ...] = str,
        valid: Callable[[str], bool] | None = None,
    ) -> None:
        self.name = name
        self._parse = parse
        self._format = format
        self.whitespace = whitespace
        #: True when every text is valid (plain strings): checks can be skipped.
        self.trivial = False
        self.python = python
        #: A fast test of a text's validity (same answer as :meth:`parse`).
        self.valid: Callable[[str], bool] = valid or self._parses
        #: What the type derives from, how (facet -> value; ``members`` for a
        #: union, ``item`` for a list) and the built-in at the root of it.
        self.base: SimpleType | None = None
        self.facets: dict[str, Any] = {}
        self.builtin = name
        #: The white space libxml2 allows around the text (see :data:`lexical.EDGES`):
        #: checks the text as it is, before the whiteSpace facet applies.
        self.edges: Callable[[str, str], str | None] | None = None

    def _parses(self, text: str) -> bool:
        try:
            self.parse(text)
        except ValueError:
            return False
        return True

    def _edged(self, edges: Callable[[str, str], str | None] | None) -> None:
        """Take ``edges`` (a base type's): checked before the fast test too."""
        self.edges = edges
        if edges is None or self.valid == self._parses:
            return
        fast = self.valid
        label = self.name
        self.valid = lambda text: edges(text, label) is None and fast(text)

    def normalize(self, text: str) -> str:
        if self.whitespace == "collapse":
            return " ".join(_words(text)) if _NEEDS_COLLAPSE(text) else text
        if self.whitespace == "replace":
            return text.replace("\t", " ").replace("\n", " ").replace("\r", " ")
        return text

    def parse(self, text: str | None) -> Any:
        """The value of ``text``; :class:`ValueError` when it is not valid."""
        if self.edges is not None and text:
            problem = self.edges(text, self.name)
            if problem is not None:
                raise ValueError(problem)
        return self._parse(self.normalize(text or ""))

    def check(self, text: str | None) -> str | None:
        """None when ``text`` is valid, else what is wrong with it."""
        if self.trivial or self.valid(text or ""):
            return None
        try:
            self.parse(text)
        except ValueError as exc:
            return str(exc)
        return None

    def unchanged(self, current: str | None, text: str, value: Any) -> bool:
        """Whether ``current`` (the text an element or attribute holds)
        already says ``value``, whose text to write is ``text``: the same
        text or, for a value given as a Python value rather than as text, a
        text of the same canonical form (``0123`` for 123, ``1.50`` for
        ``Decimal("1.50")``, ``NaN`` for a NaN). Writing would then change
        nothing but the lexical form, which is kept."""
        current = current or ""
        if current == text:
            return True
        if isinstance(value, str):
            return False  # a lexical form given as text is written as given
        try:
            return bool(self.format(self.parse(current)) == text)
        except ValueError:
            return False

    def format(self, value: Any) -> str:
        """The canonical text of ``value``."""
        if isinstance(value, str) and self.python is not str and not isinstance(value, Enum):
            self.parse(value)  # a lexical form given as text: keep it, once checked
            return value
        text = self._format(value)
        self.parse(text)  # facets apply to values set by programs too
        return text

    def __repr__(self) -> str:
        return f"<simple type {self.name}>"


def _make_builtins() -> dict[str, SimpleType]:
    types: dict[str, SimpleType] = {}
    for name in ("string", "anySimpleType", "anyType"):
        types[name] = SimpleType(name, _string, _format_str, "preserve")
        types[name].trivial = True
    types["normalizedString"] = SimpleType("normalizedString", _string, _format_str, "replace")
    types["normalizedString"].trivial = True
    for name in ("token", "anyURI", "QName", "NOTATION"):
        types[name] = SimpleType(name, _string, _format_str)
        types[name].trivial = True
    for name, (low, high) in _INTEGERS.items():
        types[name] = SimpleType(
            name, _integer_parser(name, low, high), _format_int, python=int, valid=_integer_valid(low, high)
        )
    types["decimal"] = SimpleType("decimal", _decimal, _format_decimal, python=Decimal)
    types["float"] = SimpleType("float", _float, _format_float, python=float)
    types["double"] = SimpleType("double", _float, _format_float, python=float)
    booleans = frozenset({"true", "false", "1", "0"})
    types["boolean"] = SimpleType(
        "boolean", _boolean, _format_boolean, python=bool, valid=lambda text: text.strip(_WS) in booleans
    )
    types["dateTime"] = SimpleType(
        "date-time", _date_time, _format_date_time, python=dt.datetime, valid=_date_time_valid
    )
    types["date"] = SimpleType("date", _date, _format_date, python=dt.date)
    types["time"] = SimpleType("time", _time, _format_time, python=dt.time)
    types["base64Binary"] = SimpleType("base64Binary", _base64, _format_base64, python=bytes)
    types["hexBinary"] = SimpleType("hexBinary", _hex, _format_hex, python=bytes)
    lexical = {
        "language": r"[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*",
        "Name": _NAME,
        "NCName": _NCNAME,
        "ID": _NCNAME,
        "IDREF": _NCNAME,
        "ENTITY": _NCNAME,
        "NMTOKEN": f"[{_NAME_CHAR}]+",
        "duration": _DURATION,
        "gYear": r"(?P<year>-?[0-9]{4,})" + _ZONE,
        "gYearMonth": r"(?P<year>-?[0-9]{4,})-(0[1-9]|1[0-2])" + _ZONE,
        "gMonth": r"--(0[1-9]|1[0-2])" + _ZONE,
        "gMonthDay": r"--(?P<month>0[1-9]|1[0-2])-(?P<day>0[1-9]|[12][0-9]|3[01])" + _ZONE,
        "gDay": r"---(0[1-9]|[12][0-9]|3[01])" + _ZONE,
    }
    for name, pattern in lexical.items():
        types[name] = SimpleType(name, _lexical(name, pattern), _format_str)
    for name, item in (("IDREFS", "IDREF"), ("ENTITIES", "ENTITY"), ("NMTOKENS", "NMTOKEN")):
        types[name] = list_type(types[item], name=name)
    for name, edges in EDGES.items():
        types[name]._edged(edges)  # noqa: SLF001
    return types


def builtin(name: str) -> SimpleType:
    """The built-in type ``name`` (its local name in the XML Schema namespace)."""
    return BUILTINS[name]


# -- derived types --------------------------------------------------------------------


def _digits(value: int | Decimal) -> tuple[int, int]:
    """The digits of a value's integer and fraction parts, as the
    totalDigits and fractionDigits facets count them: of the value, so
    without leading or trailing zeros (``001.50`` has 1 and 1)."""
    _sign, digits, exponent = Decimal(value).as_tuple()
    text = "".join(map(str, digits))
    if not isinstance(exponent, int):
        return 0, 0
    if exponent >= 0:
        return len((text + "0" * exponent).lstrip("0")), 0
    cut = len(text) + exponent
    return len(text[: max(cut, 0)].lstrip("0")), len(("0" * max(-cut, 0) + text[max(cut, 0) :]).rstrip("0"))


def _length(value: Any) -> int:
    if isinstance(value, (bytes, list, tuple)):
        return len(value)
    return len(str(value))


def restrict(
    base: SimpleType,
    *,
    patterns: Sequence[str] = (),
    enumeration: Sequence[str] = (),
    length: int | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    min_inclusive: str | None = None,
    max_inclusive: str | None = None,
    min_exclusive: str | None = None,
    max_exclusive: str | None = None,
    total_digits: int | None = None,
    fraction_digits: int | None = None,
    whitespace: str | None = None,
    name: str | None = None,
) -> SimpleType:
    """A type derived from ``base`` by restriction with the given facets.

    Bounds are given in the base type's lexical form (as the schema has
    them). A facet's failure is reported with the facet's name.
    """
    compiled = [xsd_pattern(p) for p in patterns]
    allowed = frozenset(enumeration)
    order = FLOAT_ORDERS.get(base.builtin)  # floats compare as libxml2 compares them (NaN, single precision)

    def bound(text: str | None) -> Any:
        if text is None:
            return None
        value = base.parse(text)
        return order(value) if order is not None else value

    low_in, high_in, low_ex, high_ex = map(bound, (min_inclusive, max_inclusive, min_exclusive, max_exclusive))
    label = name or base.name

    def parse(text: str) -> Any:
        value = base._parse(text)  # noqa: SLF001 - same family
        compared = order(value) if order is not None else value
        if compiled and not any(p.fullmatch(text) for p in compiled):
            raise ValueError(f"{_quote(text)} does not match the pattern of {label}")
        if allowed and text not in allowed:
            shown = ", ".join(sorted(allowed)[:8]) + (", ..." if len(allowed) > 8 else "")
            raise ValueError(f"{_quote(text)} is not one of the values of {label} ({shown})")
        if length is not None or min_length is not None or max_length is not None:
            size = _length(value)
            if length is not None and size != length:
                raise ValueError(f"{_quote(text)} must be {length} long for {label}, not {size}")
            if min_length is not None and size < min_length:
                raise ValueError(f"{_quote(text)} is shorter than the {min_length} {label} requires")
            if max_length is not None and size > max_length:
                raise ValueError(f"{_quote(text)} is longer than the {max_length} {label} allows")
        if low_in is not None and compared < low_in:
            raise ValueError(f"{_quote(text)} is below the minimum {min_inclusive} of {label}")
        if high_in is not None and compared > high_in:
            raise ValueError(f"{_quote(text)} is above the maximum {max_inclusive} of {label}")
        if low_ex is not None and compared <= low_ex:
            raise ValueError(f"{_quote(text)} must be above {min_exclusive} for {label}")
        if high_ex is not None and compared >= high_ex:
            raise ValueError(f"{_quote(text)} must be below {max_exclusive} for {label}")
        if (total_digits is not None or fraction_digits is not None) and isinstance(value, (int, Decimal)):
            whole, fraction = _digits(value)
            if total_digits is not None and whole + fraction > total_digits:
                raise ValueError(f"{_quote(text)} has more than {total_digits} digits for {label}")
            if fraction_digits is not None and fraction > fraction_digits:
                raise ValueError(f"{_quote(text)} has more than {fraction_digits} fraction digits for {label}")
        return value

    derived = SimpleType(label, parse, base._format, whitespace or base.whitespace, base.python)  # noqa: SLF001
    derived.base = base
    derived.builtin = base.builtin
    derived.edges = base.edges
    derived.facets = {
        name: value
        for name, value in (
            ("patterns", tuple(p.pattern for p in compiled)),
            ("enumeration", tuple(enumeration)),
            ("length", length),
            ("min_length", min_length),
            ("max_length", max_length),
            ("min_inclusive", min_inclusive),
            ("max_inclusive", max_inclusive),
            ("min_exclusive", min_exclusive),
            ("max_exclusive", max_exclusive),
            ("total_digits", total_digits),
            ("fraction_digits", fraction_digits),
        )
        if value or (value == 0 and name not in ("patterns", "enumeration"))
    }
    simple_facets = not (
        allowed or low_in is not None or high_in is not None or low_ex is not None or high_ex is not None
    )
    simple_facets = simple_facets and total_digits is None and fraction_digits is None
    if simple_facets and base.python is str and derived.whitespace == "preserve":
        derived.valid = _string_valid(base, patterns, compiled, length, min_length, max_length)
    return derived


#: Patterns with an exact, faster test (after translation to Python).
_KNOWN_PATTERNS: dict[str, Callable[[str], bool]] = {
    # "not empty and not only white space" (the platform's stringnznw)
    "([ \t\n\r]*[^ \t\n\r]+[ \t\n\r]*)+": lambda text: bool(text.strip(_WS)),
}


def _string_valid(
    base: SimpleType,
    patterns: Sequence[str],
    compiled: list[re.Pattern[str]],
    length: int | None,
    min_length: int | None,
    max_length: int | None,
) -> Callable[[str], bool]:
    tests = [_KNOWN_PATTERNS.get(p.pattern) or (lambda text, p=p: p.fullmatch(text) is not None) for p in compiled]
    base_valid = None if base.trivial else base.valid
    low = length if length is not None else (min_length or 0)
    high = length if length is not None else max_length

    if base_valid is None and not low and high is None and len(tests) == 1:
        return tests[0]  # a pattern alone (GUIDs and the like): one call, not two

    def valid(text: str) -> bool:
        if base_valid is not None and not base_valid(text):
            return False
        size = len(text)
        if size < low or (high is not None and size > high):
            return False
        if len(tests) == 1:
            return tests[0](text)
        return not tests or any(test(text) for test in tests)

    return valid


def enum_type(enum: type[Enum], base: SimpleType | None = None, name: str | None = None) -> SimpleType:
    """A type whose values are the members of ``enum`` (member value = lexical form)."""
    base = base or BUILTINS["string"]
    by_text = {str(member.value): member for member in enum}
    label = name or enum.__name__

    def parse(text: str) -> Enum:
        member = by_text.get(text)
        if member is None:
            shown = ", ".join(list(by_text)[:8]) + (", ..." if len(by_text) > 8 else "")
            raise ValueError(f"{_quote(text)} is not one of the values of {label} ({shown})")
        return member

    def format_member(value: Any) -> str:
        if isinstance(value, enum):
            return str(value.value)
        if isinstance(value, str) and value in by_text:
            return value
        raise ValueError(f"{value!r} is not a {label}")

    derived = SimpleType(label, parse, format_member, base.whitespace, enum)
    if base.whitespace == "preserve":
        derived.valid = by_text.__contains__  # what parse() accepts, in one call
    else:
        derived.valid = lambda text: derived.normalize(text) in by_text
    derived.base = base
    derived.builtin = base.builtin
    derived.facets = {"enumeration": tuple(by_text)}
    derived._edged(base.edges)  # noqa: SLF001
    return derived


def list_type(item: SimpleType, name: str | None = None) -> SimpleType:
    """A whitespace-separated list of ``item`` values (``xs:list``)."""

    def parse(text: str) -> list[Any]:
        return [item.parse(part) for part in _words(text)]

    def format_list(value: Any) -> str:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ValueError(f"{value!r} is not a list")
        return " ".join(item.format(v) for v in value)

    derived = SimpleType(name or f"list of {item.name}", parse, format_list, "collapse", list)
    derived.builtin = "list"
    derived.facets = {"item": item}
    return derived


def union_type(members: Sequence[SimpleType], name: str | None = None) -> SimpleType:
    """A value of the first member type that accepts the text (``xs:union``)."""
    label = name or " or ".join(m.name for m in members)

    def parse(text: str) -> Any:
        for member in members:
            try:
                return member.parse(text)
            except ValueError:
                continue
        raise ValueError(f"{_quote(text)} is not a valid {label}")

    def format_union(value: Any) -> str:
        for member in members:
            try:
                return member.format(value)
            except ValueError:
                continue
        raise ValueError(f"{value!r} is not a valid {label}")

    whitespace = "preserve" if any(m.whitespace == "preserve" for m in members) else "collapse"
    pythons = tuple(m.python for m in members if isinstance(m.python, type))
    derived = SimpleType(label, parse, format_union, whitespace, pythons or str)
    derived.builtin = "union"
    derived.facets = {"members": tuple(members)}
    return derived


BUILTINS = _make_builtins()
