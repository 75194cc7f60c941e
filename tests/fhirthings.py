"""Hypothesis strategies for things of the FHIR-mapped types (data-xml roots as
bytes, as the catalog's schemas allow them), with values in varied lexical
forms, and the resource a mapping makes of them, wrapped as the server does."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import strategies as st
from lxml import etree

from hvgen_server.fhir.registry import FhirTypes, all_mappings
from hvgen_server.store.rows import ThingVersion

RECORD = "11111111-2222-3333-4444-555555555555"


class ServesAll:
    """Thing types that serve every mapped type (for mappings without a server)."""

    def get(self, type_id: str) -> object:
        return object()


FHIR = FhirTypes(ServesAll())  # type: ignore[arg-type]


def _integer(low: int, high: int) -> st.SearchStrategy[str]:
    return st.builds(
        lambda v, zeros, plus: ("+" if plus else "") + "0" * zeros + str(v),
        st.integers(low, high),
        st.integers(0, 2),
        st.booleans(),
    )


def _double(low: str, high: str, places: int) -> st.SearchStrategy[str]:
    def lexical(value: Decimal, form: int) -> str:
        if form == 1:
            return f"{value:.{places + 2}f}"  # trailing zeros
        if form == 2 and value:
            digits = value.normalize()
            return f"{digits.scaleb(-1):f}E1"  # an exponent (the mantissa never in exponent form itself)
        return str(value)

    return st.builds(
        lexical,
        st.decimals(Decimal(low), Decimal(high), places=places, allow_nan=False, allow_infinity=False),
        st.integers(0, 2),
    )


@st.composite
def when(draw: st.DrawFn) -> etree._Element:
    el = etree.Element("when")
    date = etree.SubElement(el, "date")
    for part, value in (
        ("y", draw(st.integers(1950, 2030))),
        ("m", draw(st.integers(1, 12))),
        ("d", draw(st.integers(1, 28))),
    ):
        etree.SubElement(date, part).text = str(value)
    if draw(st.booleans()):
        time = etree.SubElement(el, "time")
        etree.SubElement(time, "h").text = str(draw(st.integers(0, 23)))
        etree.SubElement(time, "m").text = str(draw(st.integers(0, 59)))
        if draw(st.booleans()):
            etree.SubElement(time, "s").text = str(draw(st.integers(0, 59)))
            if draw(st.booleans()):
                etree.SubElement(time, "f").text = str(draw(st.integers(0, 999)))
    return el


def _codable(tag: str, vocabulary: str, value: str, text: str) -> etree._Element:
    el = etree.Element(tag)
    etree.SubElement(el, "text").text = text
    code = etree.SubElement(el, "code")
    for part, v in (("value", value), ("family", "wc"), ("type", vocabulary), ("version", "1")):
        etree.SubElement(code, part).text = v
    return el


def _with_display(draw: st.DrawFn, parent: etree._Element, value: str, units: str) -> None:
    if draw(st.booleans()):
        shown = etree.SubElement(parent, "display", units=units)
        shown.text = value.lstrip("+")


@st.composite
def weight(draw: st.DrawFn) -> etree._Element:
    root = etree.Element("weight")
    root.append(draw(when()))
    value = etree.SubElement(root, "value")
    kg = draw(_double("0.5", "400", 3))
    etree.SubElement(value, "kg").text = kg
    _with_display(draw, value, kg, "kg")
    return root


@st.composite
def height(draw: st.DrawFn) -> etree._Element:
    root = etree.Element("height")
    root.append(draw(when()))
    value = etree.SubElement(root, "value")
    m = draw(_double("0.3", "2.5", 3))
    etree.SubElement(value, "m").text = m
    _with_display(draw, value, m, "m")
    return root


@st.composite
def heart_rate(draw: st.DrawFn) -> etree._Element:
    root = etree.Element("heart-rate")
    root.append(draw(when()))
    etree.SubElement(root, "value").text = draw(_integer(20, 250))
    if draw(st.booleans()):
        root.append(
            _codable("measurement-method", "heart-rate-measurement-method", "DevicePulse", "Pulse measured by device")
        )
    return root


@st.composite
def blood_glucose(draw: st.DrawFn) -> etree._Element:
    root = etree.Element("blood-glucose")
    root.append(draw(when()))
    value = etree.SubElement(root, "value")
    mmol = draw(_double("0.5", "40", 4))
    etree.SubElement(value, "mmolPerL").text = mmol
    _with_display(draw, value, mmol, "mmolPerL")
    kind = draw(st.sampled_from([("wb", "Whole blood"), ("plasma", "Plasma")]))
    root.append(_codable("glucose-measurement-type", "glucose-measurement-type", *kind))
    if draw(st.booleans()):
        etree.SubElement(root, "normalcy").text = str(draw(st.integers(1, 5)))
    return root


@st.composite
def blood_pressure(draw: st.DrawFn) -> etree._Element:
    root = etree.Element("blood-pressure")
    root.append(draw(when()))
    etree.SubElement(root, "systolic").text = draw(_integer(60, 250))
    etree.SubElement(root, "diastolic").text = draw(_integer(30, 150))
    if draw(st.booleans()):
        etree.SubElement(root, "pulse").text = draw(_integer(20, 250))
    if draw(st.booleans()):
        etree.SubElement(root, "irregular-heartbeat").text = draw(st.sampled_from(["true", "false", "1", "0"]))
    return root


@st.composite
def medical_image_study(draw: st.DrawFn) -> etree._Element:
    root = etree.Element("medical-image-study")
    root.append(draw(when()))
    if draw(st.booleans()):
        etree.SubElement(root, "description").text = "Study of head"
    uid = st.lists(st.integers(0, 99999), min_size=3, max_size=8).map(lambda p: "1.2." + ".".join(map(str, p)))
    for _ in range(draw(st.integers(1, 3))):
        series = etree.SubElement(root, "series")
        for i in range(draw(st.integers(1, 3))):
            etree.SubElement(etree.SubElement(series, "images"), "image-blob-name").text = f"image-{i}"
        modality = draw(st.sampled_from([None, "CT", "MR", "us"]))
        if modality:
            etree.SubElement(etree.SubElement(series, "modality"), "text").text = modality
        if draw(st.integers(0, 3)):
            etree.SubElement(series, "series-instance-uid").text = draw(uid)
    if draw(st.booleans()):
        etree.SubElement(root, "study-instance-uid").text = draw(uid)
    return root


@st.composite
def approx(draw: st.DrawFn, tag: str) -> etree._Element:
    el = etree.Element(tag)
    if draw(st.integers(0, 4)) == 0:
        etree.SubElement(el, "descriptive").text = draw(st.sampled_from(["as a child", "last winter"]))
        return el
    structured = etree.SubElement(el, "structured")
    full = draw(when())
    date = full.find("date")
    assert date is not None
    cut = draw(st.integers(0, 2))  # a year, a month, or a whole date (with its time, if any)
    for part in ("d", "m")[: 2 - cut]:
        date.remove(date.find(part))
    structured.append(date)
    if cut == 2 and full.find("time") is not None:
        structured.append(full.find("time"))
    return el


@st.composite
def condition(draw: st.DrawFn) -> etree._Element:
    root = etree.Element("condition")
    name = etree.SubElement(root, "name")
    etree.SubElement(name, "text").text = draw(st.sampled_from(["High blood pressure", "Asthma", "Migraine "]))
    if draw(st.booleans()):
        code = etree.SubElement(name, "code")
        family = draw(st.sampled_from([("Mayo", "MayoConditions"), ("Snomed", "SnomedCT"), ("wc", "conditions")]))
        for part, v in (("value", str(draw(st.integers(1, 10**9)))), ("family", family[0]), ("type", family[1])):
            etree.SubElement(code, part).text = v
    if draw(st.booleans()):
        root.append(draw(approx("onset-date")))
    if draw(st.booleans()):
        value = draw(st.sampled_from(["active", "inactive", "resolved"]))
        root.append(_codable("status", "condition-occurrence", value, value))
    if draw(st.booleans()):
        root.append(draw(approx("stop-date")))
    if draw(st.booleans()):
        etree.SubElement(root, "stop-reason").text = "In Control"
    return root


#: A strategy per mapped data-xml root.
@st.composite
def file(draw: st.DrawFn) -> etree._Element:
    root = etree.Element("file")
    etree.SubElement(root, "name").text = draw(
        st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), min_size=1)
    )
    etree.SubElement(root, "size").text = draw(_integer(1, 2**40))
    if draw(st.booleans()):
        media = etree.SubElement(root, "content-type")
        etree.SubElement(media, "text").text = draw(st.sampled_from(["application/pdf", "text/plain", "image/png"]))
    return root


STRATEGIES = {
    "weight": weight(),
    "height": height(),
    "heart-rate": heart_rate(),
    "blood-glucose": blood_glucose(),
    "blood-pressure": blood_pressure(),
    "medical-image-study": medical_image_study(),
    "condition": condition(),
    "file": file(),
}
#: Types whose served resource is not imported back (studies come in as DICOM,
#: not as FHIR; a served file's attachment has a URL, an imported one its bytes).
READ_ONLY = {"medical-image-study", "file"}
assert set(STRATEGIES) <= {m.root for m in all_mappings()}, "strategies of mapped types only"


@st.composite
def roots(draw: st.DrawFn, two_way: bool = False) -> etree._Element:
    """A data-xml root of any mapped type (``two_way``: of types imported too), optionally indented."""
    chosen = [s for tag, s in STRATEGIES.items() if not (two_way and tag in READ_ONLY)]
    root: etree._Element = draw(st.one_of(*chosen))
    if draw(st.booleans()):
        etree.indent(root, "\t")
    return root


def stored(root: etree._Element, client_id: str | None = None) -> bytes:
    """A stored thing version holding ``root``."""
    mapping = next(m for m in all_mappings() if m.root == root.tag)
    common = f"<common><client-thing-id>{client_id}</client-thing-id></common>" if client_id else ""
    return (
        f'<thing><thing-id version-stamp="v1">t1</thing-id><type-id>{mapping.type_ids[0]}</type-id><data-xml>'.encode()
        + etree.tostring(root, encoding="utf-8")
        + f"{common}</data-xml></thing>".encode()
    )


def resource_of(root: etree._Element, client_id: str | None = None) -> dict[str, Any]:
    """The resource the server serves of a thing holding ``root``."""
    mapping = next(m for m in all_mappings() if m.root == root.tag)
    row = ThingVersion(
        "0f0f0f0f-0000-0000-0000-000000000001",
        mapping.type_ids[0],
        "v1",
        "Active",
        "",
        1.0,
        2.0,
        stored(root, client_id),
        1,
        None,
    )
    return FHIR.resource(RECORD, row)
