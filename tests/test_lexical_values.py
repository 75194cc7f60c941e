"""Values written by programs (``SimpleType.format``) and XML Schema patterns,
judged by others: every text the runtime writes for a Python value is one
libxml2 accepts for the type and one Python's own parsers (``Decimal``,
``float``, ``datetime.fromisoformat``, ``base64``, ``bytes.fromhex``) read
back as the same value; a pattern facet matches exactly what libxml2's
pattern facet matches (test_strict_libxml2.py compares the parsing side)."""

from __future__ import annotations

import base64
import datetime as dt
import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthvault.lexical import xsd_pattern
from healthvault.values import BUILTINS, restrict

from .conftest import examples
from .test_strict_libxml2 import libxml2_accepts, schema_for

pytestmark = pytest.mark.properties  # also run with --hypothesis-profile=deep (.ci/run)

SETTINGS = settings(max_examples=examples(200), deadline=None, suppress_health_check=list(HealthCheck))

ZONES = st.one_of(
    st.none(),
    st.just(dt.UTC),
    st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m))),
)
DATE_TIMES = st.builds(
    lambda d, z: d.replace(tzinfo=z),
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)),
    ZONES,
)
TIMES = st.builds(lambda t, z: t.replace(tzinfo=z), st.times(), ZONES)

#: type name -> (Python values, how Python itself reads the written text back)
WRITTEN: dict[str, tuple[st.SearchStrategy[Any], Any]] = {
    "integer": (st.integers(-(10**30), 10**30), int),
    "long": (st.integers(-(2**63), 2**63 - 1), int),
    "unsignedByte": (st.integers(0, 255), int),
    "decimal": (st.decimals(allow_nan=False, allow_infinity=False), Decimal),
    "double": (st.floats(), float),
    "float": (st.floats(width=32), float),
    "boolean": (st.booleans(), {"true": True, "false": False}.__getitem__),
    "dateTime": (DATE_TIMES, lambda text: dt.datetime.fromisoformat(text.replace("Z", "+00:00"))),
    "date": (st.dates(), dt.date.fromisoformat),
    "time": (TIMES, lambda text: dt.time.fromisoformat(text.replace("Z", "+00:00"))),
    "base64Binary": (st.binary(max_size=200), lambda text: base64.b64decode(text, validate=True)),
    "hexBinary": (st.binary(max_size=200), bytes.fromhex),
}


def _same(written: Any, read: Any) -> bool:
    if isinstance(written, float) and math.isnan(written):
        return isinstance(read, float) and math.isnan(read)
    return bool(written == read)


@pytest.mark.parametrize("name", sorted(WRITTEN))
def test_values_written_by_programs_are_read_back_by_python_and_accepted_by_libxml2(name: str) -> None:
    values, read_back = WRITTEN[name]
    simple, schema = BUILTINS[name], schema_for(name)

    @SETTINGS
    @given(values)
    def check(value: Any) -> None:
        text = simple.format(value)
        assert libxml2_accepts(schema, text), (value, text)
        assert _same(value, read_back(text)), (value, text)
        assert _same(value, simple.parse(text)), (value, text)
        assert simple.format(simple.parse(text)) == text  # canonical: writing again changes nothing
        assert simple.unchanged(text, text, value) and simple.unchanged(text, simple.format(value), value)

    check()


def test_values_a_type_cannot_hold_are_refused_when_written() -> None:
    for name, value in [
        ("integer", 1.5),
        ("integer", True),
        ("decimal", float("nan")),
        ("decimal", "x"),
        ("double", "1,5"),
        ("boolean", 2),
        ("date", "2024-02-30"),
        ("unsignedByte", 256),
        ("hexBinary", "abc"),
    ]:
        with pytest.raises(ValueError):
            BUILTINS[name].format(value)


#: (Characters whose place in names XML 1.0's fifth edition changed are left
#: out: libxml2 keeps the older rules, see test_strict_libxml2.older_names.)
#: XML Schema patterns with what Python's ``re`` reads otherwise: ``\i``, ``\c``,
#: ``\s`` (XML white space only), ``^`` and ``$`` (ordinary characters), classes.
PATTERNS = [
    r"\i\c*",
    r"\i[\c]*",
    r"a^b$c",
    r"[^a-c]+",
    r"\s\S\s?",
    r"\I\C",
    r"[\s\d]{2,3}",
    r"(ab|c)+\.d",
    r"[A-Z]{3}-\d{2}",
]
TEXTS = st.text(alphabet=st.sampled_from(list("abcABZ019:-._ ^$\t\n\u00b7\u00c0\u0300\u00d7é")), max_size=6)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_patterns_match_what_libxml2_matches(pattern: str) -> None:
    schema = schema_for("string", f'<xs:pattern value="{pattern}"/>')
    compiled = xsd_pattern(pattern)

    def agree(text: str) -> None:
        assert bool(compiled.fullmatch(text)) == libxml2_accepts(schema, text), (pattern, text)

    for text in ["a^b$c", "ab", ":x", "x:y", "_\u00b7", "\u00c0\u0300", " a ", "\ta\n", "ABC-12", "abab.d", "\u00b7"]:
        agree(text)  # texts each pattern's tricky part meets, whatever the random ones below
    given(TEXTS)(SETTINGS(agree))()


@given(st.integers(-1000, 1000), st.integers(-1000, 1000))
@SETTINGS
def test_range_facets_hold_for_values_written_by_programs(low: int, value: int) -> None:
    high = low + 50
    bounded = restrict(BUILTINS["integer"], min_inclusive=str(low), max_inclusive=str(high))
    if low <= value <= high:
        assert bounded.format(value) == str(value)
    else:
        with pytest.raises(ValueError):
            bounded.format(value)
