"""Strict reading agrees with libxml2's XML Schema validation.

libxml2 (``lxml.etree.XMLSchema``, ``xmllint --schema``) is the yardstick:

* simple values: over lexical variants of every built-in type the schemas
  use (signs, leading zeros, exponents, fraction digits, white space around
  the value, NaN/INF/+INF, years, zones, base64 padding...), alone and
  against range facets, a text the runtime accepts is one libxml2 accepts;
  one libxml2 accepts and the runtime refuses is one of the few places the
  runtime is stricter than libxml2, where XML Schema 1.0 refuses it too
  (:func:`stricter_than_libxml2`);
* documents: random valid things of every type, with a value replaced by a
  lexical variant, an ``xsi:nil`` added, or their data-xml emptied, are
  read with ``strict=True`` exactly when libxml2 finds them valid against
  the thing schema and the thing type's schema.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import etree

from healthvault import codec, registry, validation
from healthvault.binding import Binding
from healthvault.errors import HealthVaultXmlError
from healthvault.values import BUILTINS, SimpleType, restrict

from .conftest import examples
from .xmlstrategies import DATES, NUMBERS, OTHERS, lexical_variants, mutated_roots

pytestmark = pytest.mark.properties  # also run with --hypothesis-profile=deep (.ci/run)

XS = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SETTINGS = settings(
    max_examples=examples(300),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)

#: Built-in types compared (those the project's and the catalog's schemas use, and their kin).
COMPARED = [
    "string", "normalizedString", "token", "boolean", "decimal", "float", "double",
    "integer", "long", "int", "short", "byte", "nonNegativeInteger", "positiveInteger",
    "nonPositiveInteger", "negativeInteger", "unsignedLong", "unsignedInt", "unsignedShort", "unsignedByte",
    "dateTime", "date", "time", "duration", "gYear", "gYearMonth", "gMonth", "gDay", "gMonthDay",
    "base64Binary", "hexBinary", "language", "Name", "NCName", "ID", "IDREF", "NMTOKEN", "NMTOKENS", "IDREFS",
]  # fmt: skip


@functools.cache
def schema_for(base: str, facets: str = "") -> etree.XMLSchema:
    return etree.XMLSchema(
        etree.fromstring(
            f'<xs:schema xmlns:xs="{XS}"><xs:element name="v"><xs:simpleType>'
            f'<xs:restriction base="xs:{base}">{facets}</xs:restriction>'
            "</xs:simpleType></xs:element></xs:schema>"
        )
    )


def libxml2_accepts(schema: etree.XMLSchema, text: str) -> bool:
    element = etree.Element("v")
    element.text = text
    return bool(schema.validate(element))


_EMPTY_EXPONENT = re.compile(r"[ \t\n]*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)[eE][+-]?[ \t\n]*")
_YEAR = re.compile(r"(-?)([0-9]+)")


def stricter_than_libxml2(name: str, text: str) -> bool:
    """Texts XML Schema 1.0 refuses (or that no Python value can hold) and
    libxml2 accepts: the runtime refuses them. Listed in README.md."""
    if name in ("float", "double"):
        return bool(_EMPTY_EXPONENT.fullmatch(text))  # "1e": an exponent without digits
    if name == "base64Binary":  # libxml2 skips characters that are not base64
        return bool(set(text) - set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \t\n"))
    if name in ("date", "dateTime", "gYear", "gYearMonth"):  # years before 0001 or after 9999
        year = _YEAR.match(text)
        return year is not None and (year.group(1) == "-" or len(year.group(2)) > 4)
    return False


NAMES = frozenset({"Name", "NCName", "ID", "IDREF", "IDREFS", "NMTOKEN", "NMTOKENS", "ENTITY", "ENTITIES"})


def older_names(name: str, text: str) -> bool:
    """A name with letters XML 1.0's fifth edition has and its fourth has
    not: libxml2 before 2.15 refuses them (2.15 follows the fifth edition,
    as the runtime does)."""
    return name in NAMES and etree.LIBXML_VERSION < (2, 15) and any(ord(c) > 0x7F for c in text)


def _agrees(simple: SimpleType, schema: etree.XMLSchema, name: str, text: str) -> None:
    ours = simple.check(text) is None
    theirs = libxml2_accepts(schema, text)
    if ours:
        assert theirs or older_names(name, text), f"{name}: {text!r} accepted, libxml2 refuses it"
    elif theirs:
        assert stricter_than_libxml2(name, text), f"{name}: {text!r} refused ({simple.check(text)}), libxml2 accepts it"


@pytest.mark.parametrize("name", COMPARED)
def test_listed_lexical_forms_agree_with_libxml2(name: str) -> None:
    simple, schema = BUILTINS[name], schema_for(name)
    for text in NUMBERS + DATES + OTHERS:
        for before, after in (("", ""), (" ", ""), ("", " "), ("\n\t", "\n")):
            _agrees(simple, schema, name, before + text + after)


@pytest.mark.parametrize("name", COMPARED)
def test_built_in_types_agree_with_libxml2(name: str) -> None:
    simple = BUILTINS[name]
    schema = schema_for(name)

    @SETTINGS
    @given(lexical_variants())
    @example("+INF")
    @example(" INF ")
    @example("NaN ")
    @example(" 2024-01-01")
    @example("AB==")
    def check(text: str) -> None:
        _agrees(simple, schema, name, text)

    check()


#: Range facets as the schemas write them (base.xsd's positiveDouble,
#: nonNegativeDouble, zero-one, positiveInt...), and a few more.
FACETS = [
    ("double", {"min_exclusive": "0"}),
    ("double", {"min_inclusive": "0"}),
    ("double", {"min_inclusive": "0", "max_inclusive": "1"}),
    ("double", {"max_exclusive": "100"}),
    ("double", {"min_inclusive": "-INF", "max_inclusive": "INF"}),
    ("float", {"min_inclusive": "0", "max_inclusive": "0.1"}),
    ("float", {"max_exclusive": "3.4e38"}),
    ("decimal", {"min_inclusive": "0", "max_inclusive": "1"}),
    ("decimal", {"total_digits": 3, "fraction_digits": 1}),
    ("int", {"min_exclusive": "0"}),
    ("int", {"min_inclusive": "1", "max_inclusive": "31"}),
    ("integer", {"min_inclusive": "1000", "max_inclusive": "9999"}),
]
_FACET_NAMES = {
    "min_inclusive": "minInclusive",
    "max_inclusive": "maxInclusive",
    "min_exclusive": "minExclusive",
    "max_exclusive": "maxExclusive",
    "total_digits": "totalDigits",
    "fraction_digits": "fractionDigits",
}


@pytest.mark.parametrize(("base", "facets"), FACETS, ids=lambda v: str(v))
def test_range_facets_agree_with_libxml2(base: str, facets: dict[str, Any]) -> None:
    simple = restrict(BUILTINS[base], **facets)
    schema = schema_for(base, "".join(f'<xs:{_FACET_NAMES[k]} value="{v}"/>' for k, v in facets.items()))
    for text in NUMBERS:
        for before, after in (("", ""), (" ", " ")):
            _agrees(simple, schema, base, before + text + after)

    @SETTINGS
    @given(lexical_variants())
    @example("NaN")
    @example("INF")
    @example("-INF")
    @example("+INF")
    def check(text: str) -> None:
        _agrees(simple, schema, base, text)

    check()


# -- documents -----------------------------------------------------------------------------------

THING_TYPES = sorted(registry.THING_TYPES.items(), key=lambda item: str(item[0]))
THING_NS = "urn:com.microsoft.wc.thing"


@functools.cache
def thing_schema() -> etree.XMLSchema:
    """thing.xsd with a global ``thing`` element (the wire's root)."""
    location = (Path(validation.SCHEMA_DIR) / "thing.xsd").as_uri()
    return etree.XMLSchema(
        etree.fromstring(
            f'<xs:schema xmlns:xs="{XS}" xmlns:this="{THING_NS}" targetNamespace="{THING_NS}">'
            f'<xs:include schemaLocation="{location}"/><xs:element name="thing" type="this:Thing2"/></xs:schema>'
        )
    )


def libxml2_accepts_thing(thing: bytes, type_id: Any) -> bool:
    element = etree.fromstring(thing)
    candidate = copy.deepcopy(element)
    candidate.tag = f"{{{THING_NS}}}thing"
    if not thing_schema().validate(candidate):
        return False
    roots = [r for d in element.findall("data-xml") for r in d[:1] if isinstance(r.tag, str) and r.tag != "common"]
    if len(roots) != len(element.findall("data-xml")):
        return False  # a data-xml without the root of the thing's type
    try:
        for root in roots:
            validation.validate_data(root, type_id)
    except HealthVaultXmlError:
        return False
    return True


def strict_accepts(thing: bytes) -> bool:
    try:
        codec.read_thing(thing, strict=True)
    except HealthVaultXmlError:
        return False
    return True


@st.composite
def mutated_things(draw: st.DrawFn, type_id: Any, cls: type[Binding]) -> bytes:
    """A thing of ``cls``'s type whose data root is mutated (see
    :func:`mutated_roots`), or whose data-xml lacks it."""
    kind = draw(st.sampled_from(["root", "root", "root", "root", "no-root", "only-common"]))
    data_xml = etree.Element("data-xml")
    if kind == "root":
        data_xml.append(draw(mutated_roots(cls)))
    if kind == "only-common" or draw(st.booleans()):
        etree.SubElement(data_xml, "common")
    thing = etree.Element("thing")
    etree.SubElement(thing, "type-id").text = str(type_id)
    thing.append(data_xml)
    return bytes(etree.tostring(thing, encoding="utf-8"))


@pytest.mark.parametrize(("type_id", "cls"), THING_TYPES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_strict_reading_of_things_agrees_with_libxml2(type_id: Any, cls: type[Binding]) -> None:
    @settings(SETTINGS, max_examples=examples(120))
    @given(mutated_things(type_id, cls))
    def check(thing: bytes) -> None:
        theirs = libxml2_accepts_thing(thing, type_id)
        ours = strict_accepts(thing)
        if ours:
            assert theirs, f"strict reading accepted what libxml2 refuses: {thing!r}"
        elif theirs:
            root = etree.fromstring(thing).find("data-xml")
            texts = [(e.tag, e.text or "") for e in root.iter() if isinstance(e.tag, str)] if root is not None else []
            assert any(stricter_than_libxml2(n, t) for _, t in texts for n in ("double", "base64Binary", "date")), (
                f"strict reading refused what libxml2 accepts: {thing!r}"
            )

    check()


@pytest.mark.parametrize(
    ("data_xml", "problem"),
    [
        ("<data-xml/>", "ends too early: expected the root element of the thing's type"),
        ("<data-xml><common/></data-xml>", "holds no root element of the thing's type before <common>"),
    ],
)
def test_a_data_xml_without_its_root_is_refused_when_strict(data_xml: str, problem: str) -> None:
    thing = f"<thing><type-id>bd0403c5-4ae2-4b0e-a8db-1888678e4528</type-id>{data_xml}</thing>".encode()
    with pytest.raises(HealthVaultXmlError, match=re.escape(f"/thing/data-xml (line 1): <data-xml> {problem}")):
        codec.read_thing(thing, strict=True)
    with pytest.warns(Warning, match="kept as read"):
        read = codec.read_thing(thing)
    assert codec.write_thing(read) == thing
    assert not libxml2_accepts_thing(thing, "bd0403c5-4ae2-4b0e-a8db-1888678e4528")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('<size xsi:nil="true"/>', "xsi:nil on <size>, which is not nillable"),
        ("<size>NaN</size>", "is not a valid"),
        ("<size>+INF</size>", "is not a valid"),
    ],
)
def test_values_libxml2_refuses_are_refused_when_strict(value: str, problem: str) -> None:
    data = f'<file xmlns:xsi="{XSI}"><name>a</name>{value}</file>'
    with pytest.raises(HealthVaultXmlError, match=re.escape(problem)):
        codec.read_data(data, "bd0403c5-4ae2-4b0e-a8db-1888678e4528", strict=True)
    with pytest.raises(HealthVaultXmlError):
        validation.validate_data(etree.fromstring(data), "bd0403c5-4ae2-4b0e-a8db-1888678e4528")


def test_hvgen_roundtrip_strict_refuses_with_the_path_and_line(tmp_path: Path) -> None:
    from .terminal import assert_clean, hvgen_env, in_terminal

    thing = tmp_path / "thing.xml"
    thing.write_text(
        "<thing>\n  <type-id>ca3c57f4-f4c1-4e15-be67-0a3caf5414ed</type-id>\n  <data-xml>\n"
        "    <blood-pressure><when><date><y>2006</y><m>12</m><d>22</d></date></when>"
        "<systolic>120</systolic><diastolic>80</diastolic><pulse>NaN</pulse></blood-pressure>\n"
        "  </data-xml>\n</thing>\n"
    )
    env = hvgen_env(tmp_path / "home")
    lax = in_terminal(["roundtrip", str(thing)], env)
    assert lax.code == 0 and any(line.startswith("warning: kept <blood-pressure> as raw XML") for line in lax.lines)
    strict = in_terminal(["roundtrip", "--strict", str(thing)], env)
    assert strict.code == 1
    assert_clean(strict)
    assert strict.lines == [
        "Error: thing: data-xml: /thing/data-xml/blood-pressure/pulse (line 4): 'NaN' is not a valid int"
    ], strict.lines
    thing.write_text("<thing><type-id>ca3c57f4-f4c1-4e15-be67-0a3caf5414ed</type-id><data-xml/></thing>")
    strict = in_terminal(["roundtrip", "--strict", str(thing)], env)
    assert strict.code == 1 and strict.lines == [
        "Error: thing: /thing/data-xml (line 1): <data-xml> ends too early: expected the root element of the thing's type"
    ], strict.lines


# -- nillable elements ---------------------------------------------------------------------------

NILS_XSD = """<?xml version="1.0" encoding="utf-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:example:nils"
           elementFormDefault="qualified">
  <xs:element name="record">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="count" type="xs:int" nillable="true"/>
        <xs:element name="note" type="xs:string" nillable="true" minOccurs="0" maxOccurs="unbounded"/>
        <xs:element name="when" type="xs:dateTime" minOccurs="0"/>
        <xs:element name="person" nillable="true" minOccurs="0">
          <xs:complexType>
            <xs:sequence>
              <xs:element name="name" type="xs:string"/>
              <xs:element name="age" type="xs:int" minOccurs="0"/>
            </xs:sequence>
            <xs:attribute name="id" type="xs:int" use="required"/>
          </xs:complexType>
        </xs:element>
        <xs:element name="amount" nillable="true" minOccurs="0">
          <xs:complexType>
            <xs:simpleContent>
              <xs:extension base="xs:decimal"><xs:attribute name="unit" type="xs:token"/></xs:extension>
            </xs:simpleContent>
          </xs:complexType>
        </xs:element>
        <xs:element name="plain" minOccurs="0">
          <xs:complexType><xs:sequence><xs:element name="v" type="xs:int" minOccurs="0"/></xs:sequence></xs:complexType>
        </xs:element>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
</xs:schema>
"""


@pytest.fixture(scope="module")
def nils(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A package generated from a schema with nillable elements of every kind."""
    from healthvault.loading import load_generated
    from hvgen.codegen.compiler import Compiler, write

    from .conftest import ROOT

    folder = tmp_path_factory.mktemp("nils")
    (folder / "xsd").mkdir()
    (folder / "xsd" / "nils.xsd").write_text(NILS_XSD)
    write(Compiler(folder / "xsd", ROOT / "templates", ROOT / "runtime", package="hvnil").compile(), folder, "hvnil")
    return load_generated(folder / "hvnil")


def test_xsi_nil_agrees_with_libxml2(nils: Any) -> None:
    from healthvault.loading import submodule

    from .xmlstrategies import mutated_roots

    binder, errors = submodule(nils, "binder"), submodule(nils, "errors")
    cls = submodule(nils, "bindings.nils").Record
    schema = etree.XMLSchema(etree.fromstring(NILS_XSD.encode()))

    def agree(root: etree._Element) -> None:
        root = etree.fromstring(etree.tostring(root))  # as parsed: no empty text nodes
        theirs = bool(schema.validate(root))
        try:
            binder.bind(copy.deepcopy(root), cls, strict=True)
            ours = True
        except errors.HealthVaultXmlError as exc:
            ours, why = False, str(exc)
        assert ours == theirs, (etree.tostring(root), why if not ours else [e.message for e in schema.error_log][:1])

    @settings(SETTINGS, max_examples=examples(400))
    @given(mutated_roots(cls))
    def check(root: etree._Element) -> None:
        agree(root)

    check()
    n = "urn:example:nils"
    for body in [
        '<count xsi:nil="true"/><note xsi:nil="1"/><person xsi:nil="true" id="1"/><amount xsi:nil="true" unit="kg"/>',
        '<count xsi:nil="true"> </count>',
        '<count xsi:nil="true"><!-- none --></count>',
        '<count xsi:nil="false"/>',
        '<count>1</count><person xsi:nil="true"/>',
        '<count>1</count><person xsi:nil="true" id="1"><name>a</name></person>',
        '<count>1</count><when xsi:nil="false">2024-01-01T00:00:00</when>',
        '<count>1</count><plain xsi:nil="true"/>',
        '<count xsi:nil="maybe"/>',
    ]:
        agree(etree.fromstring(f'<record xmlns="{n}" xmlns:xsi="{XSI}">{body}</record>'))


def test_a_nilled_value_reads_as_none_and_a_value_set_drops_the_nil(nils: Any) -> None:
    from healthvault.loading import submodule

    binder, binding = submodule(nils, "binder"), submodule(nils, "binding")
    cls = submodule(nils, "bindings.nils").Record
    data = f'<record xmlns="urn:example:nils" xmlns:xsi="{XSI}"><count xsi:nil="true"/><note>a</note></record>'
    record = binder.bind(etree.fromstring(data), cls, strict=True)
    assert record.count is None
    record.count = 3
    out = binding.to_xml(record)
    assert b"<count>3</count>" in out and b"xsi:nil" not in out
