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

import base64
import binascii
import datetime as dt
import math
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any

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

    __slots__ = ("name", "_parse", "_format", "whitespace", "trivial", "python", "valid", "base", "facets", "builtin")

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

    def _parses(self, text: str) -> bool:
        try:
            self._parse(self.normalize(text))
        except ValueError:
            return False
        return True

    def normalize(self, text: str) -> str:
        if self.whitespace == "collapse":
            return " ".join(text.split()) if _NEEDS_COLLAPSE(text) else text
        if self.whitespace == "replace":
            return text.replace("\t", " ").replace("\n", " ").replace("\r", " ")
        return text

    def parse(self, text: str | None) -> Any:
        """The value of ``text``; :class:`ValueError` when it is not valid."""
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


_NEEDS_COLLAPSE = re.compile(r"^\s|\s$|\s\s|[\t\n\r]").search


def _quote(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


# -- built-in types ------------------------------------------------------------------


def _string(text: str) -> str:
    return text


_INTEGER = re.compile(r"[+-]?[0-9]+")


_WS = " \t\n\r"


def _integer_valid(low: int | None, high: int | None) -> Callable[[str], bool]:
    match = _INTEGER.fullmatch

    def valid(text: str) -> bool:
        text = text.strip(_WS)
        if not match(text):
            return False
        if low is None and high is None:
            return True
        value = int(text)
        return (low is None or value >= low) and (high is None or value <= high)

    return valid


def _integer_parser(name: str, low: int | None, high: int | None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not _INTEGER.fullmatch(text):
            raise ValueError(f"{_quote(text)} is not a valid {name}")
        value = int(text)
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"{value} is outside the range of {name}")
        return value

    return parse


def _format_int(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not an integer")
    return str(value)


_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


def _decimal(text: str) -> Decimal:
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"{_quote(text)} is not a valid decimal")
    return Decimal(text)


def _format_decimal(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, float)):
        raise ValueError(f"{value!r} is not a number")
    number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite decimal")
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".") or "0"
    return text


_FLOAT = re.compile(r"[+-]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|INF)|NaN")


def _float(text: str) -> float:
    if not _FLOAT.fullmatch(text):
        raise ValueError(f"{_quote(text)} is not a valid floating-point number")
    return float(text.replace("INF", "inf"))


def _format_float(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValueError(f"{value!r} is not a number")
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "INF" if number > 0 else "-INF"
    return repr(number)


def _boolean(text: str) -> bool:
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ValueError(f"{_quote(text)} is not a valid boolean (true, false, 1 or 0)")


def _format_boolean(value: Any) -> str:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not a boolean")
    return "true" if value else "false"


_ZONE = r"(Z|[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00))?"
_DATE_TIME = re.compile(r"(-?[0-9]{4,})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?" + _ZONE)
_DATE = re.compile(r"(-?[0-9]{4,})-([0-9]{2})-([0-9]{2})" + _ZONE)
_TIME = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?" + _ZONE)


def _zone(text: str | None) -> dt.tzinfo | None:
    if text is None:
        return None
    if text == "Z":
        return dt.UTC
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))


def _year(text: str, what: str, original: str) -> int:
    year = int(text)
    if len(text.lstrip("-")) > 4 and text.lstrip("-").startswith("0"):
        raise ValueError(
            f"{_quote(original)} is not a valid {what}: a year of more than four digits has no leading zero"
        )
    if not 1 <= year <= 9999:
        raise ValueError(f"{_quote(original)} is not a supported {what}: years run from 0001 to 9999")
    return year


def _micro(fraction: str | None) -> int:
    return int((fraction[1:] + "000000")[:6]) if fraction else 0


def _date_time(text: str) -> dt.datetime:
    match = _DATE_TIME.fullmatch(text)
    if not match:
        raise ValueError(f"{_quote(text)} is not a valid date-time (YYYY-MM-DDThh:mm:ss[.fff][Z|+hh:mm])")
    y, mo, d, h, mi, s, fraction, zone = match.groups()
    year = _year(y, "date-time", text)
    hour, minute, second = int(h), int(mi), int(s)
    end_of_day = hour == 24 and minute == 0 and second == 0 and not (fraction or "").strip(".0")
    try:
        moment = dt.datetime(
            year, int(mo), int(d), 0 if end_of_day else hour, minute, second, _micro(fraction), _zone(zone)
        )
    except ValueError as exc:
        raise ValueError(f"{_quote(text)} is not a valid date-time: {exc}") from None
    return moment + dt.timedelta(days=1) if end_of_day else moment


_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _date_time_valid(text: str) -> bool:
    match = _DATE_TIME.fullmatch(text.strip(_WS))
    if not match:
        return False
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    if not (1 <= year <= 9999 and 1 <= month <= 12 and 1 <= day <= _DAYS[month - 1]):
        return False
    if month == 2 and day == 29 and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        return False
    if hour == 24:
        return minute == 0 and second == 0 and not (match.group(7) or "").strip(".0")
    return hour < 24 and minute < 60 and second < 60 and len(match.group(1).lstrip("-")) == 4


def _format_zone(value: dt.datetime | dt.time) -> str:
    offset = value.utcoffset()
    if offset is None:
        return ""
    if not offset:
        return "Z"
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _fraction(micro: int) -> str:
    return f".{micro:06d}".rstrip("0") if micro else ""


def _format_date_time(value: Any) -> str:
    if not isinstance(value, dt.datetime):
        raise ValueError(f"{value!r} is not a datetime")
    return value.strftime("%Y-%m-%dT%H:%M:%S") + _fraction(value.microsecond) + _format_zone(value)


def _date(text: str) -> dt.date:
    match = _DATE.fullmatch(text)
    if not match:
        raise ValueError(f"{_quote(text)} is not a valid date (YYYY-MM-DD)")
    y, mo, d, _zone_text = match.groups()
    try:
        return dt.date(_year(y, "date", text), int(mo), int(d))
    except ValueError as exc:
        raise ValueError(f"{_quote(text)} is not a valid date: {exc}") from None


def _format_date(value: Any) -> str:
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise ValueError(f"{value!r} is not a date")
    return value.strftime("%Y-%m-%d")


def _time(text: str) -> dt.time:
    match = _TIME.fullmatch(text)
    if not match:
        raise ValueError(f"{_quote(text)} is not a valid time (hh:mm:ss[.fff])")
    h, mi, s, fraction, zone = match.groups()
    try:
        return dt.time(
            int(h) % 24 if (h, mi, s) == ("24", "00", "00") else int(h), int(mi), int(s), _micro(fraction), _zone(zone)
        )
    except ValueError as exc:
        raise ValueError(f"{_quote(text)} is not a valid time: {exc}") from None


def _format_time(value: Any) -> str:
    if not isinstance(value, dt.time):
        raise ValueError(f"{value!r} is not a time")
    return value.strftime("%H:%M:%S") + _fraction(value.microsecond) + _format_zone(value)


_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def _base64(text: str) -> bytes:
    compact = "".join(text.split())
    if not _BASE64.fullmatch(compact):
        raise ValueError(f"{_quote(text)} is not valid base64")
    return base64.b64decode(compact)


def _format_base64(value: Any) -> str:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ValueError(f"{value!r} is not bytes")
    return base64.b64encode(bytes(value)).decode("ascii")


def _hex(text: str) -> bytes:
    try:
        if len(text) % 2:
            raise ValueError
        return binascii.unhexlify(text)
    except (ValueError, binascii.Error):
        raise ValueError(f"{_quote(text)} is not valid hexBinary") from None


def _format_hex(value: Any) -> str:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ValueError(f"{value!r} is not bytes")
    return binascii.hexlify(bytes(value)).decode("ascii").upper()


def _lexical(name: str, pattern: str) -> Callable[[str], str]:
    regex = re.compile(pattern)

    def parse(text: str) -> str:
        if not regex.fullmatch(text):
            raise ValueError(f"{_quote(text)} is not a valid {name}")
        return text

    return parse


def _format_str(value: Any) -> str:
    if isinstance(value, Enum):
        value = value.value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    return value


_NAME_START = r"A-Za-z_:\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02FF\u0370-\u037D\u037F-\u1FFF\u200C-\u200D\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD"
_NAME_CHAR = _NAME_START + r"\-.0-9\u00B7\u0300-\u036F\u203F-\u2040"
_NAME = f"[{_NAME_START}][{_NAME_CHAR}]*"
_NCNAME = _NAME.replace(":", "")
_DURATION = r"-?P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?"

_I64 = 2**63
_INTEGERS = {
    "integer": (None, None),
    "long": (-_I64, _I64 - 1),
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
        "gYear": r"-?[0-9]{4,}" + _ZONE,
        "gYearMonth": r"-?[0-9]{4,}-(0[1-9]|1[0-2])" + _ZONE,
        "gMonth": r"--(0[1-9]|1[0-2])" + _ZONE,
        "gMonthDay": r"--(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])" + _ZONE,
        "gDay": r"---(0[1-9]|[12][0-9]|3[01])" + _ZONE,
    }
    for name, pattern in lexical.items():
        types[name] = SimpleType(name, _lexical(name, pattern), _format_str)
    for name, item in (("IDREFS", "IDREF"), ("ENTITIES", "ENTITY"), ("NMTOKENS", "NMTOKEN")):
        types[name] = list_type(types[item], name=name)
    return types


def builtin(name: str) -> SimpleType:
    """The built-in type ``name`` (its local name in the XML Schema namespace)."""
    return BUILTINS[name]


# -- derived types --------------------------------------------------------------------


def xsd_pattern(pattern: str) -> re.Pattern[str]:
    """Compile an XML Schema regular expression for Python's ``re``.

    XML Schema patterns are anchored at both ends and have no ``^``/``$``
    anchors (outside a character class they are ordinary characters);
    ``\\i`` and ``\\c`` are the XML name character classes.
    """
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt == "i":
                out.append(_NAME_START if in_class else f"[{_NAME_START}]")
            elif nxt == "c":
                out.append(_NAME_CHAR if in_class else f"[{_NAME_CHAR}]")
            elif nxt == "I":
                out.append(f"[^{_NAME_START}]")
            elif nxt == "C":
                out.append(f"[^{_NAME_CHAR}]")
            elif nxt == "s":  # XML white space only (Python's \\s is wider)
                out.append(" \\t\\n\\r" if in_class else "[ \\t\\n\\r]")
            elif nxt == "S":
                out.append("[^ \\t\\n\\r]")
            else:
                out.append(char + nxt)
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        elif char in "^$" and not in_class:
            out.append("\\" + char)
            i += 1
            continue
        out.append(char)
        i += 1
    return re.compile("".join(out))


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
    low_in = base.parse(min_inclusive) if min_inclusive is not None else None
    high_in = base.parse(max_inclusive) if max_inclusive is not None else None
    low_ex = base.parse(min_exclusive) if min_exclusive is not None else None
    high_ex = base.parse(max_exclusive) if max_exclusive is not None else None
    label = name or base.name

    def parse(text: str) -> Any:
        value = base._parse(text)  # noqa: SLF001 - same family
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
        if low_in is not None and value < low_in:
            raise ValueError(f"{_quote(text)} is below the minimum {min_inclusive} of {label}")
        if high_in is not None and value > high_in:
            raise ValueError(f"{_quote(text)} is above the maximum {max_inclusive} of {label}")
        if low_ex is not None and value <= low_ex:
            raise ValueError(f"{_quote(text)} must be above {min_exclusive} for {label}")
        if high_ex is not None and value >= high_ex:
            raise ValueError(f"{_quote(text)} must be below {max_exclusive} for {label}")
        if total_digits is not None or fraction_digits is not None:
            digits = Decimal(text.lstrip("+-") or "0").as_tuple() if isinstance(value, (int, Decimal)) else None
            if digits is not None:
                fraction = max(0, -int(digits.exponent)) if isinstance(digits.exponent, int) else 0
                if total_digits is not None and len(digits.digits) > total_digits and any(digits.digits):
                    raise ValueError(f"{_quote(text)} has more than {total_digits} digits for {label}")
                if fraction_digits is not None and fraction > fraction_digits:
                    raise ValueError(f"{_quote(text)} has more than {fraction_digits} fraction digits for {label}")
        return value

    derived = SimpleType(label, parse, base._format, whitespace or base.whitespace, base.python)  # noqa: SLF001
    derived.base = base
    derived.builtin = base.builtin
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
    derived.base = base
    derived.builtin = base.builtin
    derived.facets = {"enumeration": tuple(by_text)}
    return derived


def list_type(item: SimpleType, name: str | None = None) -> SimpleType:
    """A whitespace-separated list of ``item`` values (``xs:list``)."""

    def parse(text: str) -> list[Any]:
        return [item.parse(part) for part in text.split()]

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
