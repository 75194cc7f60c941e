"""Hypothesis strategies for things of the clinical types and the further
measurements mapped to FHIR (data-xml roots as the catalog's schemas allow
them), keyed by mapping module, and the resource a mapping makes of them."""

from __future__ import annotations

import importlib
from typing import Any

from hypothesis import strategies as st
from lxml import etree

from hvgen_server.fhir import maps
from hvgen_server.fhir.mapping import Mapping
from hvgen_server.store.rows import ThingVersion

from .fhirthings import FHIR, RECORD, _double, _integer, approx, when
from .fhirthings_documents import STRATEGIES as DOCUMENTS
from .fhirthings_more import STRATEGIES as MORE


def mapping(module: str) -> Mapping:
    found: Mapping = importlib.import_module(f"{maps.__name__}.{module}").MAPPING
    return found


def _coded(tag: str, texts: list[str], vocabularies: list[tuple[str, str]]) -> st.SearchStrategy[etree._Element]:
    @st.composite
    def build(draw: st.DrawFn) -> etree._Element:
        el = etree.Element(tag)
        etree.SubElement(el, "text").text = draw(st.sampled_from(texts))
        for _ in range(draw(st.integers(0, 2))):
            code = etree.SubElement(el, "code")
            family, vocabulary = draw(st.sampled_from(vocabularies))
            etree.SubElement(code, "value").text = str(draw(st.integers(1, 10**6)))
            if family:
                etree.SubElement(code, "family").text = family
            etree.SubElement(code, "type").text = vocabulary
            if draw(st.booleans()):
                etree.SubElement(code, "version").text = draw(st.sampled_from(["1", "2.0"]))
        return el

    return build()


def _person(tag: str) -> st.SearchStrategy[etree._Element]:
    @st.composite
    def build(draw: st.DrawFn) -> etree._Element:
        el = etree.Element(tag)
        name = etree.SubElement(el, "name")
        etree.SubElement(name, "full").text = draw(st.sampled_from(["Ann Lee", "Dr. B. Okafor"]))
        if draw(st.booleans()):
            etree.SubElement(name, "first").text = "Ann"
        if draw(st.booleans()):
            etree.SubElement(el, "organization").text = "Interlake Hospitals"
        return el

    return build()


def _text(tag: str, values: list[str]) -> st.SearchStrategy[etree._Element]:
    def build(value: str) -> etree._Element:
        el = etree.Element(tag)
        el.text = value
        return el

    return st.sampled_from(values).map(build)


@st.composite
def _approx_date(draw: st.DrawFn, tag: str) -> etree._Element:
    el = etree.Element(tag)
    etree.SubElement(el, "y").text = str(draw(st.integers(1990, 2035)))
    if draw(st.booleans()):
        etree.SubElement(el, "m").text = str(draw(st.integers(1, 12)))
        if draw(st.booleans()):
            etree.SubElement(el, "d").text = str(draw(st.integers(1, 28)))
    return el


def _build(tag: str, parts: list[tuple[st.SearchStrategy[etree._Element], bool]]) -> st.SearchStrategy[etree._Element]:
    """A root of ``tag`` whose children are drawn in order, each optional unless required."""

    @st.composite
    def build(draw: st.DrawFn) -> etree._Element:
        root = etree.Element(tag)
        for strategy, required in parts:
            if required or draw(st.booleans()):
                root.append(draw(strategy))
        return root

    return build()


SNOMED = [("Snomed", "SnomedCT"), ("wc", "procedures"), ("", "local")]
immunization = _build("immunization", [
    (_coded("name", ["Anthrax vaccine", "MMR"], [("wc", "immunizations-common"), ("wc", "immunizations")]), True),
    (approx("administration-date"), False),
    (_person("administrator"), False),
    (_coded("manufacturer", ["Abbott Laboratories"], [("HL7", "vaccine-manufacturers-mvx")]), False),
    (_text("lot", ["AAJN11K", " 42 "]), False),
    (_coded("route", ["Intramuscular"], [("wc", "medication-routes")]), False),
    (_approx_date("expiration-date"), False),
    (_text("sequence", ["1", "Second dose"]), False),
    (_coded("anatomic-surface", ["Left arm"], [("wc", "anatomic-surfaces")]), False),
    (_text("adverse-event", ["Mild fever"]), False),
    (_text("consent", ["Signed"]), False),
])  # fmt: skip
allergy = _build("allergy", [
    (_coded("name", ["Peanuts", "Penicillin"], [("icd", "icd9cm"), ("Snomed", "SnomedCT"), ("wc", "allergens")]), True),
    (_coded("reaction", ["Hives"], [("wc", "reactions")]), False),
    (approx("first-observed"), False),
    (_coded("allergen-type", ["food"], [("wc", "allergen-type")]), False),
    (_coded("allergen-code", ["peanut"], [("wc", "allergen")]), False),
    (_person("treatment-provider"), False),
    (_coded("treatment", ["Antihistamine"], [("wc", "treatments")]), False),
    (_text("is-negated", ["true", "false", "1", "0"]), False),
])  # fmt: skip
procedure = _build("procedure", [
    (approx("when"), False),
    (_coded("name", ["Appendectomy", "Knee arthroscopy"], SNOMED), True),
    (_coded("anatomic-location", ["Abdomen"], [("Snomed", "SnomedCT")]), False),
    (_person("primary-provider"), False),
    (_person("secondary-provider"), False),
])  # fmt: skip
_RX = [("RxNorm", "RxNorm Active Medicines"), ("wc", "medications")]
medication = _build("medication", [
    (_coded("name", ["Lisinopril 10 mg", "Aspirin"], _RX), True),
    (_coded("generic-name", ["lisinopril"], _RX), False),
    (_coded("route", ["By mouth"], [("wc", "medication-routes")]), False),
    (_coded("indication", ["High blood pressure"], [("Snomed", "SnomedCT")]), False),
    (approx("date-started"), False),
    (approx("date-discontinued"), False),
    (_coded("prescribed", ["Prescribed"], [("wc", "medication-prescribed")]), False),
])  # fmt: skip
medication_v1 = _build("medication", [
    (_text("name", ["Lisinopril", "Aspirin 81 mg"]), False),
    (_text("code", ["42", "7"]), False),
    (approx("date-discontinued"), False),
    (_text("indication", ["Headache"]), False),
    (_coded("route", ["By mouth"], [("wc", "medication-routes")]), False),
    (_text("instructions", ["Twice a day with food"]), False),
])  # fmt: skip


def _fraction(tag: str) -> st.SearchStrategy[etree._Element]:
    @st.composite
    def build(draw: st.DrawFn) -> etree._Element:
        root = etree.Element(tag)
        root.append(draw(when()))
        etree.SubElement(root, "value").text = draw(_double("0", "1", 3))
        return root

    return build()


@st.composite
def hba1c(draw: st.DrawFn) -> etree._Element:
    root = etree.Element("HbA1C")
    root.append(draw(when()))
    value = etree.SubElement(root, "value")
    mmol = draw(_double("10", "150", 1))
    etree.SubElement(value, "mmol-per-mol").text = mmol
    if draw(st.booleans()):
        etree.SubElement(value, "display", units="mmol/mol").text = mmol
    if draw(st.booleans()):
        etree.SubElement(root, "device-id").text = "meter-7"
    return root


def _value(tag: str, unit: str, low: str, high: str, display: str | None) -> st.SearchStrategy[etree._Element]:
    @st.composite
    def build(draw: st.DrawFn) -> etree._Element:
        el = etree.Element(tag)
        number = draw(_double(low, high, 3))
        etree.SubElement(el, unit).text = number
        if display and draw(st.booleans()):
            etree.SubElement(el, "display", units=display).text = number
        return el

    return build()


def _leaf(tag: str, value: str) -> etree._Element:
    el = etree.Element(tag)
    el.text = value
    return el


@st.composite
def body_composition(draw: st.DrawFn) -> etree._Element:
    root = etree.Element("body-composition")
    root.append(draw(approx("when")))
    root.append(
        draw(_coded("measurement-name", ["Body fat", "Lean muscle"], [("wc", "body-composition-measurement-names")]))
    )
    value = etree.SubElement(root, "value")
    kinds = draw(st.sampled_from([("mass",), ("percent",), ("mass", "percent")]))
    if "mass" in kinds:
        value.append(draw(_value("mass-value", "kg", "0.5", "150", "kg")))
    if "percent" in kinds:
        value.append(_leaf("percent-value", draw(_double("0", "1", 3))))
    if draw(st.booleans()):
        root.append(draw(_coded("measurement-method", ["DEXA"], [("wc", "body-composition-measurement-methods")])))
    return root


body_dimension = _build("body-dimension", [
    (approx("when"), True),
    (_coded("measurement-name", ["Waist", "Head circumference"], [("wc", "body-dimension-measurement-names"),
                                                                  ("wc", "body-dimension-measurement-names-pediatric")]), True),
    (_value("value", "m", "0.05", "2", "cm"), True),
])  # fmt: skip
exercise = _build("exercise", [
    (approx("when"), True),
    (_coded("activity", ["Running", "Swimming"], [("wc", "exercise-activities")]), True),
    (_text("title", ["Morning run", "Laps"]), False),
    (_value("distance", "m", "1", "50000", "km"), False),
    (_double("0.5", "600", 2).map(lambda v: _leaf("duration", v)), False),
])  # fmt: skip
peak_flow = _build("peak-flow", [
    (approx("when"), True),
    (_value("pef", "liters-per-second", "0.5", "15", "L/s"), False),
    (_value("fev1", "liters", "0", "8", "L"), False),
    (_value("fev6", "liters", "0", "8", None), False),
])  # fmt: skip
cholesterol = _build("cholesterol-profile", [
    (when(), True),
    (_value("ldl", "mmolPerL", "0", "15", "mmol/L"), False),
    (_value("hdl", "mmolPerL", "0", "5", "mg/dL"), False),
    (_value("total-cholesterol", "mmolPerL", "0", "20", None), False),
    (_value("triglyceride", "mmolPerL", "0", "30", "mmol/L"), False),
])  # fmt: skip


@st.composite
def _time(draw: st.DrawFn, tag: str) -> etree._Element:
    el = etree.Element(tag)
    etree.SubElement(el, "h").text = str(draw(st.integers(0, 23)))
    etree.SubElement(el, "m").text = str(draw(st.integers(0, 59)))
    if draw(st.booleans()):
        etree.SubElement(el, "s").text = str(draw(st.integers(0, 59)))
        if draw(st.booleans()):
            etree.SubElement(el, "f").text = str(draw(st.integers(0, 999)))
    return el


def _minutes(tag: str) -> st.SearchStrategy[etree._Element]:
    return st.integers(0, 900).map(lambda v: _leaf(tag, str(v)))


sleep_am = _build("sleep-am", [
    (when(), True),
    (_time("bed-time"), True),
    (_time("wake-time"), True),
    (_minutes("sleep-minutes"), True),
    (_minutes("settling-minutes"), True),
    (st.builds(lambda: etree.fromstring(b"<awakening><when><h>2</h><m>5</m></when><minutes>10</minutes></awakening>")), False),
    (_coded("medications", ["Melatonin"], [("RxNorm", "RxNorm Active Medicines")]), False),
    (st.sampled_from(["1", "2", "3", "+3"]).map(lambda v: _leaf("wake-state", v)), True),
    (_minutes("times-woken-up"), False),
])  # fmt: skip

immunization_v1 = _build("immunization", [
    (_coded("name", ["Anthrax vaccine", "MMR"], [("wc", "immunizations-common"), ("wc", "immunizations")]), True),
    (approx("administration-date"), True),
    (_person("administrator"), False),
    (_text("manufacturer", ["Abbott Laboratories"]), False),
    (_text("lot", ["AAJN11K"]), False),
    (_coded("route", ["Intramuscular"], [("wc", "medication-routes")]), False),
    (_approx_date("expiration-date"), False),
    (_text("sequence", ["1"]), False),
])  # fmt: skip
procedure_v1 = _build("procedure", [
    (when(), True),
    (_coded("title", ["Appendectomy", "Knee arthroscopy"], SNOMED), False),
    (_person("primary-provider"), False),
    (_coded("anatomic-location", ["Abdomen"], [("Snomed", "SnomedCT")]), False),
    (_person("secondary-provider"), False),
])  # fmt: skip


@st.composite
def _date(draw: st.DrawFn, tag: str) -> etree._Element:
    el = etree.Element(tag)
    for part, value in (("y", draw(st.integers(1950, 2030))), ("m", draw(st.integers(1, 12))),
                        ("d", draw(st.integers(1, 28)))):  # fmt: skip
        etree.SubElement(el, part).text = str(value)
    return el


def _whole(tag: str) -> st.SearchStrategy[etree._Element]:
    return _integer(1, 400).map(lambda v: _leaf(tag, v))


cholesterol_v1 = _build("cholesterol-profile", [
    (_date("when"), True),
    *[(_whole(tag), False) for tag in ("ldl", "hdl", "total-cholesterol", "triglyceride")],
])  # fmt: skip

#: A strategy per mapping module.
STRATEGIES: dict[str, st.SearchStrategy[etree._Element]] = {
    "immunization": immunization,
    "allergy_intolerance": allergy,
    "procedure": procedure,
    "medication_statement": medication,
    "medication_statement_v1": medication_v1,
    "oxygen_saturation": _fraction("blood-oxygen-saturation"),
    "hba1c": hba1c(),
    "hba1c_v1": _fraction("HbA1C"),
    "body_dimension": body_dimension,
    "body_composition": body_composition(),
    "exercise": exercise,
    "peak_flow": peak_flow,
    "cholesterol": cholesterol,
    "sleep_session": sleep_am,
    "immunization_v1": immunization_v1,
    "procedure_v1": procedure_v1,
    "cholesterol_v1": cholesterol_v1,
    **DOCUMENTS,
    **MORE,
}


def stored(module: str, root: etree._Element) -> bytes:
    return (
        f'<thing><thing-id version-stamp="v1">t1</thing-id><type-id>{mapping(module).type_ids[0]}</type-id>'
        "<data-xml>".encode()
        + etree.tostring(root, encoding="utf-8")
        + b"</data-xml></thing>"
    )


def resource_of(module: str, root: etree._Element) -> dict[str, Any]:
    """The resource the server serves of a thing of ``module``'s mapping holding ``root``."""
    found = mapping(module)
    row = ThingVersion(
        "0f0f0f0f-0000-0000-0000-000000000002", found.type_ids[0], "v1", "Active", "", 1.0, 2.0,
        stored(module, root), 1, None,
    )  # fmt: skip
    return FHIR.resource(RECORD, row)
