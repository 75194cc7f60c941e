"""Hypothesis strategies for things of the vital signs and the sleep journal's
evening entry (data-xml roots as the catalog's schemas allow them), keyed by
mapping module (:mod:`.fhirthings_clinical` runs its properties over them)."""

from __future__ import annotations

from hypothesis import strategies as st
from lxml import etree

from .fhirthings import _double, _integer, approx, when


def _leaf(parent: etree._Element, tag: str, value: str) -> etree._Element:
    el = etree.SubElement(parent, tag)
    el.text = value
    return el


def _codable(parent: etree._Element, tag: str, label: str, codes: list[tuple[str, str, str]]) -> None:
    el = etree.SubElement(parent, tag)
    _leaf(el, "text", label)
    for value, family, vocabulary in codes:
        code = etree.SubElement(el, "code")
        _leaf(code, "value", value)
        if family:
            _leaf(code, "family", family)
        _leaf(code, "type", vocabulary)


TITLES = [
    ("Body temperature", [("8310-5", "LOINC", "LOINC")]),  # a vital sign of its own
    ("Respiratory rate", [("9279-1", "loinc", "loinc"), ("rsp", "wc", "vital-statistics")]),
    ("Pulse", [("pls", "wc", "vital-statistics")]),
    ("Pain score", []),
    ("Capillary refill", [("50427001", "Snomed", "SnomedCT")]),
    ("Body weight", [("29463-7", "LOINC", "LOINC"), ("wgt", "wc", "vital-statistics")]),  # the weight type's code
]
#: Units as the thing holds them: UCUM-coded, or a text of HealthVault's lab-results-units.
UNITS = [
    ("C", [("Cel", "ucum", "ucum")]),
    ("°F", [("[degF]", "ucum", "ucum")]),
    ("per minute", [("permin", "wc", "lab-results-units")]),
    ("score", []),
]


@st.composite
def vital_signs(draw: st.DrawFn) -> etree._Element:
    root = etree.Element("vital-signs")
    root.append(draw(when()))
    for _ in range(draw(st.integers(0, 3))):
        result = etree.SubElement(root, "vital-signs-results")
        _codable(result, "title", *draw(st.sampled_from(TITLES)))
        has_value = draw(st.booleans())
        if has_value:
            _leaf(result, "value", draw(_double("0", "250", 2)))
        if draw(st.booleans()):
            _codable(result, "unit", *draw(st.sampled_from(UNITS)))
        for tag in ("reference-minimum", "reference-maximum"):
            if draw(st.booleans()):
                _leaf(result, tag, draw(_double("0", "250", 1)))
        if draw(st.booleans()):
            _leaf(result, "text-value", draw(st.sampled_from(["normal", "slightly raised "])))
        if draw(st.booleans()):
            _codable(result, "flag", "High", [("H", "wc", "lab-results-flag")])
    if draw(st.booleans()):
        _leaf(root, "site", draw(st.sampled_from(["mouth", "left arm"])))
    if draw(st.booleans()):
        _leaf(root, "position", draw(st.sampled_from(["sitting", "lying"])))
    return root


@st.composite
def _time(draw: st.DrawFn, parent: etree._Element, tag: str) -> None:
    el = etree.SubElement(parent, tag)
    _leaf(el, "h", str(draw(st.integers(0, 23))))
    _leaf(el, "m", str(draw(st.integers(0, 59))))
    if draw(st.booleans()):
        _leaf(el, "s", str(draw(st.integers(0, 59))))
        if draw(st.booleans()):
            _leaf(el, "f", str(draw(st.integers(0, 999))))


@st.composite
def sleep_pm(draw: st.DrawFn) -> etree._Element:
    root = etree.Element("sleep-pm")
    root.append(draw(when()))
    for tag in ("caffeine", "alcohol"):
        for _ in range(draw(st.integers(0, 2))):
            draw(_time(root, tag))
    for tag in ("nap", "exercise"):
        for _ in range(draw(st.integers(0, 2))):
            activity = etree.SubElement(root, tag)
            draw(_time(activity, "when"))
            _leaf(activity, "minutes", draw(_integer(0, 600)))
    _leaf(root, "sleepiness", draw(st.sampled_from(["1", "2", "3", "4", "+4", "03"])))
    return root


#: A strategy per mapping module.
STRATEGIES: dict[str, st.SearchStrategy[etree._Element]] = {"vital_signs": vital_signs(), "sleep_pm": sleep_pm()}


@st.composite
def _result(draw: st.DrawFn, parent: etree._Element) -> None:
    result = etree.SubElement(parent, "results")
    if draw(st.booleans()):
        result.append(draw(approx("when")))
    named = draw(st.booleans())
    if named:
        _leaf(result, "name", draw(st.sampled_from(["Glucose", "Haemoglobin"])))
    if draw(st.booleans()):
        _codable(result, "substance", "Blood", [("119297000", "Snomed", "SnomedCT")])
    if draw(st.booleans()) or not named:
        _codable(result, "clinical-code", *draw(st.sampled_from(CLINICAL)))
    if draw(st.booleans()):
        value = etree.SubElement(result, "value")
        measurement = etree.SubElement(value, "measurement")
        number = draw(_double("0", "500", 2))
        _leaf(measurement, "display", f"{number} mmol/L")
        for _ in range(draw(st.integers(0, 2))):
            structured = etree.SubElement(measurement, "structured")
            _leaf(structured, "value", number)
            _codable(structured, "units", *draw(st.sampled_from(UNITS)))
        for _ in range(draw(st.integers(0, 2))):
            ranges = etree.SubElement(value, "ranges")
            _codable(ranges, "type", "Normal", [("normal", "wc", "lab-results-range-type")])
            _codable(ranges, "text", "3.9–5.5", [])
            if draw(st.booleans()):
                bounds = etree.SubElement(ranges, "value")
                for tag in ("minimum-range", "maximum-range"):
                    if draw(st.booleans()):
                        _leaf(bounds, tag, draw(_double("0", "10", 1)))
        for _ in range(draw(st.integers(0, 2))):
            _codable(value, "flag", "High", [("H", "wc", "lab-results-flag")])
    if draw(st.booleans()):
        _codable(result, "status", "Complete", [("complete", "wc", "lab-status")])
    if draw(st.booleans()):
        _leaf(result, "note", "fasting")


CLINICAL = [("Glucose", [("2345-7", "LOINC", "LOINC")]), ("Hb", [("718-7", "loinc", "loinc"), ("hb", "wc", "lab")]),
            ("Sodium", [])]  # fmt: skip


@st.composite
def _group(draw: st.DrawFn, parent: etree._Element, tag: str, depth: int) -> None:
    group = etree.SubElement(parent, tag)
    _codable(group, "group-name", *draw(st.sampled_from([("Chemistry", [("24323-8", "LOINC", "LOINC")]),
                                                         ("Blood count", [])])))  # fmt: skip
    if draw(st.booleans()):
        _leaf(etree.SubElement(group, "laboratory-name"), "name", "Interlake Laboratory")
    if draw(st.booleans()):
        _codable(group, "status", "Complete", [("complete", "wc", "lab-status")])
    for _ in range(draw(st.integers(0, 1 if depth else 0))):
        draw(_group(group, "sub-groups", depth - 1))
    for _ in range(draw(st.integers(0, 2))):
        draw(_result(group))


@st.composite
def lab_test_results(draw: st.DrawFn) -> etree._Element:
    root = etree.Element("lab-test-results")
    if draw(st.booleans()):
        root.append(draw(approx("when")))
    for _ in range(draw(st.integers(1, 2))):
        draw(_group(root, "lab-group", 1))
    if draw(st.booleans()):
        _leaf(etree.SubElement(root, "ordered-by"), "name", "Dr. B. Okafor")
    return root


STRATEGIES["lab_test_results"] = lab_test_results()
