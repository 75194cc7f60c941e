"""HealthVault data types as FHIR data types, and back.

A HealthVault ``date-time`` (date, optional time, optional time zone as a
codable value) becomes a FHIR ``dateTime``: a date alone stays a date; a
time is written in UTC (``Z``), as the platform reads times that name no
zone (the zone's text travels in the thing-XML extension). Codable values
become CodeableConcepts: each HealthVault code (vocabulary family, type,
version) a coding whose system is ``urn:healthvault:FAMILY:TYPE`` unless
the vocabulary is one with a published system (SNOMED CT, LOINC, RxNorm…).
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from .errors import FhirError

#: Published code systems of HealthVault vocabulary families (by family, lower case).
SYSTEMS = {
    "snomed": "http://snomed.info/sct",
    "snomedct": "http://snomed.info/sct",
    "loinc": "http://loinc.org",
    "rxnorm": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "icd9cm": "http://hl7.org/fhir/sid/icd-9-cm",
    "icd10cm": "http://hl7.org/fhir/sid/icd-10-cm",
    "cvx": "http://hl7.org/fhir/sid/cvx",
    "ucum": "http://unitsofmeasure.org",
}
_HV_SYSTEM = re.compile(r"urn:healthvault:([^:]*):(.+)")
_DATETIME = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def text(el: etree._Element | None, path: str) -> str | None:
    """The stripped text of ``path`` below ``el``, None when absent."""
    found = child(el, path)
    if found is None:
        return None
    return (found.text or "").strip()


def child(el: etree._Element | None, path: str) -> etree._Element | None:
    """The first element at ``path`` (names joined by ``/``) below ``el``
    (children walked directly: many times faster than ``find`` for the few
    children a thing's elements have)."""
    for name in path.split("/"):
        if el is None:
            return None
        el = next((c for c in el if c.tag == name), None)
    return el


def number(value: str) -> Decimal:
    try:
        found = Decimal(value.strip())
    except InvalidOperation:
        raise FhirError(422, f"{value!r} is not a number") from None
    if not found.is_finite():
        raise FhirError(422, f"{value!r} is not a finite number")
    return found


def json_number(value: Decimal) -> int | float:
    """A decimal as JSON writes it (an integer when it has no fraction)."""
    return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)


def date_time(when: etree._Element) -> str:
    """A HealthVault ``date-time`` element as a FHIR dateTime."""
    parts = {c.tag: c for c in when}
    date = parts.get("date")
    if date is None:
        raise FhirError(422, "a date-time without a date")
    ymd = {c.tag: (c.text or "").strip() for c in date}
    y, m, d = (int(ymd.get(part) or "0") for part in ("y", "m", "d"))
    time = parts.get("time")
    if time is None:
        return f"{y:04d}-{m:02d}-{d:02d}"
    hms = {c.tag: (c.text or "").strip() for c in time}
    h, mi = int(hms.get("h") or "0"), int(hms.get("m") or "0")
    s, f = hms.get("s"), hms.get("f")
    out = f"{y:04d}-{m:02d}-{d:02d}T{h:02d}:{mi:02d}:{int(s or '0'):02d}"
    if f is not None and int(f or "0"):
        out += f".{int(f):03d}"
    return out + "Z"


def parse_date_time(value: str) -> tuple[dt.datetime, bool]:
    """A FHIR dateTime as a UTC datetime and whether it has a time; only
    full dates (``YYYY-MM-DD``) and times are accepted."""
    found = _DATETIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if found is None or found.group(3) is None:
        raise FhirError(422, f"{value!r} is not a FHIR dateTime with a full date (YYYY-MM-DD)")
    y, m, d, h, mi, s, frac, zone = found.groups()
    try:
        if h is None:
            return dt.datetime(int(y), int(m), int(d), tzinfo=dt.UTC), False
        micro = int((frac or "0")[:6].ljust(6, "0"))
        moment = dt.datetime(int(y), int(m), int(d), int(h), int(mi), int(s or 0), micro)
    except ValueError:
        raise FhirError(422, f"{value!r} is not a date") from None
    if zone in (None, "Z"):
        return moment.replace(tzinfo=dt.UTC), True
    sign = 1 if zone[0] == "+" else -1
    offset = dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])) * sign
    return (moment - offset).replace(tzinfo=dt.UTC), True


def date_time_element(value: str, tag: str = "when") -> etree._Element:
    """A FHIR dateTime as a HealthVault ``date-time`` element named ``tag``."""
    moment, has_time = parse_date_time(value)
    when = etree.Element(tag)
    date = etree.SubElement(when, "date")
    for part, v in (("y", moment.year), ("m", moment.month), ("d", moment.day)):
        etree.SubElement(date, part).text = str(v)
    if has_time:
        time = etree.SubElement(when, "time")
        for part, v in (("h", moment.hour), ("m", moment.minute), ("s", moment.second)):
            etree.SubElement(time, part).text = str(v)
        if moment.microsecond:
            etree.SubElement(time, "f").text = str(moment.microsecond // 1000)
    return when


def put_when(root: etree._Element, resource: dict[str, Any], what: str) -> None:
    """Give a measurement's ``root`` the ``<when>`` of the resource's
    effective[x] (``effectiveDateTime``, ``effectivePeriod.start`` or
    ``effectiveInstant``): a stored ``<when>`` that says the same moment is
    kept as written; a new one goes first.

    Raises:
        FhirError: 422 when the resource says no effective moment.
    """
    effective = resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start")
    effective = effective or resource.get("effectiveInstant")
    if not effective:
        raise FhirError(422, f"Observation ({what}): effectiveDateTime is needed")
    when = date_time_element(str(effective))
    old = root.find("when")
    if old is None:
        root.insert(0, when)
    elif date_time(old) != date_time(when):
        root.replace(old, when)


def index_date(value: str | None) -> str:
    """A FHIR date or dateTime as the index holds it (``YYYY-MM-DDTHH:MM:SS``, UTC), '' when none."""
    if not value:
        return ""
    try:
        moment, _ = parse_date_time(value)
    except FhirError:
        return ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def concept(codable: etree._Element) -> dict[str, Any]:
    """A HealthVault codable value as a CodeableConcept."""
    codings = []
    for code in codable.findall("code"):
        family = text(code, "family") or ""
        vocabulary = text(code, "type") or ""
        system = SYSTEMS.get(family.lower()) or SYSTEMS.get(vocabulary.lower())
        if system is None and family == vocabulary and ":" in family:
            system = family  # a code system with no vocabulary of HealthVault's, as imported (codable_element)
        coding: dict[str, Any] = {
            "system": system or f"urn:healthvault:{family}:{vocabulary}",
            "code": text(code, "value"),
        }
        version = text(code, "version")
        if version:
            coding["version"] = version
        codings.append(coding)
    result: dict[str, Any] = {"text": text(codable, "text") or ""}
    if codings:
        result["coding"] = codings
    return result


def codable_element(concept_: dict[str, Any], tag: str) -> etree._Element:
    """A CodeableConcept as a HealthVault codable value named ``tag``."""
    el = etree.Element(tag)
    codings = [c for c in concept_.get("coding") or [] if isinstance(c, dict) and c.get("code")]
    label = concept_.get("text") or next((c.get("display") for c in codings if c.get("display")), None)
    label = label or next((c.get("code") for c in codings), None)
    if not label:
        raise FhirError(422, f"{tag}: a CodeableConcept with neither text nor a code")
    etree.SubElement(el, "text").text = str(label)
    for coding in codings:
        code = etree.SubElement(el, "code")
        etree.SubElement(code, "value").text = str(coding["code"])
        system = str(coding.get("system") or "")
        found = _HV_SYSTEM.fullmatch(system)
        family, vocabulary = found.groups() if found else (_family(system), _family(system))
        if family:
            etree.SubElement(code, "family").text = family
        etree.SubElement(code, "type").text = vocabulary or "unknown"
        if coding.get("version"):
            etree.SubElement(code, "version").text = str(coding["version"])
    return el


def _family(system: str) -> str:
    for family, url in SYSTEMS.items():
        if url == system:
            return family
    return system


def approx_date_time(el: etree._Element) -> tuple[str, str]:
    """A HealthVault ``approx-date-time`` as (value, "DateTime") or, when it
    is descriptive text, (text, "String")."""
    structured = child(el, "structured")
    if structured is None:
        return text(el, "descriptive") or "", "String"
    date = child(structured, "date")
    parts = {c.tag: (c.text or "").strip() for c in date} if date is not None else {}
    out = f"{int(parts.get('y') or '0'):04d}"
    if parts.get("m"):
        out += f"-{int(parts['m']):02d}"
        if parts.get("d"):
            out += f"-{int(parts['d']):02d}"
            time = child(structured, "time")
            if time is not None:
                whole = etree.Element("when")
                whole.append(copy.deepcopy(date))
                whole.append(copy.deepcopy(time))
                out = date_time(whole)
    return out, "DateTime"


def approx_date_time_element(value: str, tag: str, descriptive: bool = False) -> etree._Element:
    """A FHIR dateTime (``YYYY``, ``YYYY-MM`` or more) or a string as a HealthVault ``approx-date-time``."""
    el = etree.Element(tag)
    if descriptive:
        etree.SubElement(el, "descriptive").text = value
        return el
    structured = etree.SubElement(el, "structured")
    found = _DATETIME.fullmatch(value.strip())
    if found is None:
        raise FhirError(422, f"{value!r} is not a FHIR dateTime")
    if found.group(3) is not None:
        full = date_time_element(value, "structured")
        structured.extend(list(full))
        return el
    date = etree.SubElement(structured, "date")
    etree.SubElement(date, "y").text = str(int(found.group(1)))
    if found.group(2):
        etree.SubElement(date, "m").text = str(int(found.group(2)))
    return el
