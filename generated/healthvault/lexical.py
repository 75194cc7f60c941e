"""The lexical forms of XML Schema's built-in simple types.

For each built-in type: a parser from text to a Python value that says what
is wrong when the text is not valid, a formatter of the canonical text of a
value, and for the common ones a faster validity test. :mod:`values` builds
its :class:`~values.SimpleType` objects from these.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
import re
import struct
from collections.abc import Callable
from decimal import Decimal
from enum import Enum
from typing import Any

# XML's white space is these four characters only (not Python's \s, not U+00A0).
_NEEDS_COLLAPSE = re.compile(r"^[ \t\n\r]|[ \t\n\r]$|[ \t\n\r]{2}|[\t\n\r]").search
_SPACES = re.compile(r"[ \t\n\r]+")


def _words(text: str) -> list[str]:
    """``text`` split at XML white space."""
    return [word for word in _SPACES.split(text) if word]


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


# XML Schema 1.0: INF, -INF and NaN (+INF is XML Schema 1.1's, which libxml2 refuses).
_FLOAT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|-?INF|NaN")


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
    year, month, day, hour, minute, second = map(int, match.groups()[:6])
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
    return _ymd(value) + value.strftime("T%H:%M:%S") + _fraction(value.microsecond) + _format_zone(value)


def _ymd(value: dt.date) -> str:
    """YYYY-MM-DD, the year in four digits at least (strftime's %Y writes year 999 as 999 on glibc)."""
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


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
    return _ymd(value)


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


# The last group's unused bits are zero (XML Schema's B04 and B16 characters before "=").
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?")


def _base64(text: str) -> bytes:
    compact = "".join(_words(text))
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
    """A type whose value is its text, once it matches ``pattern``; a
    pattern with a named group ``year`` has its year checked as a date's
    (0001 to 9999, no leading zero beyond four digits), one with ``month``
    and ``day`` its day (up to the 29th of February)."""
    regex = re.compile(pattern)
    has_year = "year" in regex.groupindex
    has_day = "day" in regex.groupindex and "month" in regex.groupindex

    def parse(text: str) -> str:
        match = regex.fullmatch(text)
        if not match:
            raise ValueError(f"{_quote(text)} is not a valid {name}")
        if has_year:
            _year(match.group("year"), name, text)
        if has_day and int(match.group("day")) > _DAYS[int(match.group("month")) - 1]:
            raise ValueError(f"{_quote(text)} is not a valid {name}: no such day in that month")
        return text

    return parse


def _format_str(value: Any) -> str:
    if isinstance(value, Enum):
        value = value.value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    return value


# -- what libxml2 refuses beyond XML Schema 1.0 ---------------------------------------------
#
# XML Schema collapses the white space around every value but a string's;
# libxml2 (the schema validator of lxml and xmllint) does not around dates,
# times and the special floating-point values. The readers agree with it:
# a value libxml2 refuses is not a valid value.

_ZONE_END = re.compile(r"(Z|[+-][0-9]{2}:[0-9]{2})$")


def _edges(before: bool, after: bool, *, zone_then_after: bool = False) -> Callable[[str, str], str | None]:
    """A check of the white space at the edges of a value's text: ``before``
    and ``after``, whether white space may lead and trail it (after a time
    zone only, with ``zone_then_after``)."""

    def check(text: str, name: str) -> str | None:
        if not before and text[:1] in _WS and text:
            return f"{_quote(text)} is not a valid {name}: white space before it is not accepted"
        if not after and text[-1:] in _WS and text:
            if zone_then_after and _ZONE_END.search(text.rstrip(_WS)):
                return None
            return f"{_quote(text)} is not a valid {name}: white space after it is not accepted"
        return None

    return check


_NO_SPACE = _edges(False, False)
_NO_TRAILING_SPACE = _edges(True, False)

#: The white space each built-in type allows around its value, where
#: libxml2 allows less than all.
EDGES: dict[str, Callable[[str, str], str | None]] = {
    "date": _NO_SPACE,
    "gYear": _NO_SPACE,
    "gYearMonth": _NO_SPACE,
    "dateTime": _edges(False, False, zone_then_after=True),
    "time": _NO_TRAILING_SPACE,
    "gMonth": _NO_TRAILING_SPACE,
    "gDay": _NO_TRAILING_SPACE,
    "gMonthDay": _NO_TRAILING_SPACE,
    "duration": _NO_TRAILING_SPACE,
}

_SPECIAL_FLOATS = frozenset({"NaN", "INF", "-INF"})


def _float_edges(text: str, name: str) -> str | None:
    """NaN, INF and -INF followed by white space (libxml2 refuses them)."""
    if text[-1:] in _WS and text and text.strip(_WS) in _SPECIAL_FLOATS:
        return f"{_quote(text)} is not a valid {name}: white space after it is not accepted"
    return None


EDGES["float"] = EDGES["double"] = _float_edges


def _float_order(value: float) -> tuple[int, float]:
    """A key that orders doubles as libxml2 compares them against a facet:
    NaN above every number (INF too) and equal to NaN."""
    return (1, 0.0) if value != value else (0, value)


def _single(value: float) -> float:
    """``value`` as a single-precision float (libxml2's xs:float), as a double."""
    try:
        found: float = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:
        return math.copysign(math.inf, value)
    return found


#: Facet comparison keys of the floating-point types.
FLOAT_ORDERS: dict[str, Callable[[float], tuple[int, float]]] = {
    "double": _float_order,
    "float": lambda value: _float_order(_single(value)),
}


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


_NAME_START = r"A-Za-z_:\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02FF\u0370-\u037D\u037F-\u1FFF\u200C-\u200D\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD"
_NAME_CHAR = _NAME_START + r"\-.0-9\u00B7\u0300-\u036F\u203F-\u2040"
_NAME = f"[{_NAME_START}][{_NAME_CHAR}]*"
_NCNAME = _NAME.replace(":", "")
_DURATION = r"-?P(?=\d|T\.?\d)(\d+Y)?(\d+M)?(\d+D)?(T(?=\.?\d)(\d+H)?(\d+M)?((\d+(\.\d*)?|\.\d+)S)?)?"

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
