"""QIDO-RS (PS3.18 10.6): searching the record's studies, series and instances.

Matching follows PS3.4 C.2.2.2: single values, UID lists (``,`` or ``\\``),
wildcards (``*``, ``?``) for text, case-insensitive wildcards for person
names, date and time ranges (``A-B``, ``A-``, ``-B``), universal matching
(an empty value). The keys are those of :data:`KEYS`; a key of a lower level
at a higher one (``Modality`` when searching studies) finds the studies or
series that hold a match. Other attributes cannot be matched: they are
ignored with a ``Warning`` header, as PS3.18 asks. Queries run on the
store's DICOM index, never on the things' XML.

``includefield`` (keywords or tags, ``,``-separated or repeated) adds
attributes to the answers: those the index holds (empty when the match has
no value), and others from the stored metadata of the match's instance (any
attribute for instances; the patient's and a few of the study's or series'
for studies and series). One that cannot be returned is named in a
``Warning`` header; one that names no DICOM attribute is a 400.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import dictionary_has_tag, dictionary_VR, keyword_for_tag, tag_for_keyword

from .. import appview
from ..store.rows import INSTANCE, SERIES, STUDY, DicomHit, DicomMatch, DicomQuery
from .index import INSTANCE_ATTRIBUTES, SERIES_ATTRIBUTES, STUDY_ATTRIBUTES
from .media import DicomWebError, Urls, parse_json, warning

#: Matching keys: keyword -> (index column, how its values match, level).
KEYS: dict[str, tuple[str, str, str]] = {
    "StudyInstanceUID": ("study_uid", "uids", STUDY),
    "StudyDate": ("study_date", "date", STUDY),
    "StudyTime": ("study_time", "time", STUDY),
    "AccessionNumber": ("accession_number", "text", STUDY),
    "ModalitiesInStudy": ("modality", "any", STUDY),
    "ReferringPhysicianName": ("referring_physician", "name", STUDY),
    "PatientName": ("patient_name", "name", STUDY),
    "PatientID": ("patient_id", "text", STUDY),
    "StudyID": ("study_id", "text", STUDY),
    "StudyDescription": ("study_description", "text", STUDY),
    "SeriesInstanceUID": ("series_uid", "uids", SERIES),
    "Modality": ("modality", "text", SERIES),
    "SeriesNumber": ("series_number", "int", SERIES),
    "SeriesDescription": ("series_description", "text", SERIES),
    "SOPInstanceUID": ("sop_uid", "uids", INSTANCE),
    "SOPClassUID": ("sop_class_uid", "uids", INSTANCE),
    "InstanceNumber": ("instance_number", "int", INSTANCE),
}
_DEPTH = {STUDY: 0, SERIES: 1, INSTANCE: 2}
#: Most results one answer holds; a query past it is answered in part, with a warning.
MAX_RESULTS = 10_000
#: Largest limit or offset (a 32-bit count; larger ones cannot name a match).
MAX_NUMBER = 2**31 - 1
_OPTIONS = {"limit", "offset", "includefield", "fuzzymatching"}
#: Attributes every answer of a level holds when its match has them (the index's), or counts it computes.
_COMPUTED = {
    STUDY: ("ModalitiesInStudy", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"),
    SERIES: ("NumberOfSeriesRelatedInstances",),
    INSTANCE: (),
}
_INDEXED = {
    STUDY: frozenset((*STUDY_ATTRIBUTES, *_COMPUTED[STUDY], "RetrieveURL", "InstanceAvailability")),
    SERIES: frozenset(
        (*STUDY_ATTRIBUTES, *SERIES_ATTRIBUTES, *_COMPUTED[SERIES], "RetrieveURL", "InstanceAvailability")
    ),
    INSTANCE: frozenset(
        (*STUDY_ATTRIBUTES, *SERIES_ATTRIBUTES, *INSTANCE_ATTRIBUTES, "RetrieveURL", "InstanceAvailability")
    ),
}
#: Attributes of a study or series (besides the patient's, group 0010) an answer of that level
#: takes from its representative instance's stored metadata when asked for by includefield.
STUDY_EXTRA = frozenset(
    {
        "PatientAge",
        "PatientSize",
        "PatientWeight",
        "AdmittingDiagnosesDescription",
        "NameOfPhysiciansReadingStudy",
        "PhysiciansOfRecord",
        "RequestingPhysician",
        "RequestedProcedureDescription",
        "InstitutionName",
    }
)
SERIES_EXTRA = frozenset(
    {
        "Laterality",
        "ProtocolName",
        "OperatorsName",
        "PerformingPhysicianName",
        "StationName",
        "Manufacturer",
        "ManufacturerModelName",
        "PatientPosition",
        "FrameOfReferenceUID",
        "InstitutionalDepartmentName",
    }
)
_DATE = re.compile(r"^\d{8}$")
_TIME = re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$")


@dataclass
class Search:
    """A parsed QIDO-RS request: the query, and warnings for the answer."""

    query: DicomQuery
    warnings: list[str] = field(default_factory=list)
    #: Attributes includefield asks for, by keyword.
    include: tuple[str, ...] = ()


def keyword_of(name: str) -> str | None:
    """The DICOM keyword a query parameter names (a keyword or 8 hex digits), None if it names none."""
    if re.fullmatch(r"[0-9A-Fa-f]{8}", name):
        tag = int(name, 16)
        return (keyword_for_tag(tag) or name.upper()) if dictionary_has_tag(tag) else None
    return name if tag_for_keyword(name) is not None else None


def _values(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in re.split(r"[,\\]", text) if v.strip())


def _range(keyword: str, text: str, pattern: re.Pattern[str], what: str) -> tuple[str, str]:
    first, dash, last = text.partition("-")
    if not dash:
        last = first
    for value in (first, last):
        if value and not pattern.match(value):
            raise DicomWebError(400, f"{keyword}={text!r}: {value!r} is not a DICOM {what} (or range A-B, A-, -B)")
    if not first and not last:
        raise DicomWebError(400, f"{keyword}={text!r} is not a {what} range")
    return first, last


def _match(keyword: str, text: str, level: str) -> DicomMatch:
    column, kind, key_level = KEYS[keyword]
    wild = "*" in text or "?" in text
    if _DEPTH[key_level] > _DEPTH[level] or kind == "any":
        if wild or kind in ("date", "time"):
            raise DicomWebError(400, f"{keyword} is matched at the {level} level by single values or lists only")
        return DicomMatch(column, "any", _values(text))
    if kind == "uids":
        if wild:
            raise DicomWebError(400, f"{keyword}: UIDs are matched by value or list, not by wildcards")
        return DicomMatch(column, "uids", _values(text))
    if kind == "date":
        return DicomMatch(column, "range", _range(keyword, text.replace(".", ""), _DATE, "date (YYYYMMDD)"))
    if kind == "time":
        return DicomMatch(column, "range", _range(keyword, text.replace(":", ""), _TIME, "time (HHMMSS.FFFFFF)"))
    if kind == "int":
        if not text.strip().lstrip("-").isdigit():
            raise DicomWebError(400, f"{keyword}={text!r} is not an integer")
        return DicomMatch(column, "value", (str(int(text)),))
    if kind == "name":
        return DicomMatch(column, "name", (text,))
    return DicomMatch(column, "wildcard" if wild else "value", (text,))


def _number(params: dict[str, list[str]], name: str) -> int | None:
    given = params.get(name)
    if not given:
        return None
    text = given[-1].strip()
    value = int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else -1
    if not 0 <= value <= MAX_NUMBER:
        shown = text if len(text) <= 40 else text[:30] + f"... ({len(text)} characters)"
        raise DicomWebError(400, f"{name}={shown!r} is not a whole number from 0 to {MAX_NUMBER}")
    return value


def parse(level: str, params: Iterable[tuple[str, str]], fixed: dict[str, str] | None = None) -> Search:
    """The query of a QIDO-RS request: its query parameters, and the UIDs of its path (``fixed``)."""
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        grouped.setdefault(name, []).append(value)
    search_warnings: list[str] = []
    matches: list[DicomMatch] = []
    for keyword, uid in (fixed or {}).items():
        matches.append(DicomMatch(KEYS[keyword][0], "uids", (uid,)))
    include, ignored = _include([v for name, vs in grouped.items() if name.lower() == "includefield" for v in vs])
    search_warnings.extend(ignored)
    for name, values in grouped.items():
        if name.lower() in _OPTIONS:
            continue
        found = keyword_of(name)
        if found is None:
            if "." in name:
                search_warnings.append(f"matching on sequence attributes ({name}) is not supported; it was ignored")
                continue
            raise DicomWebError(400, f"unknown query parameter {name!r} (not a DICOM keyword or tag)")
        keyword = found
        if keyword not in KEYS:
            search_warnings.append(
                f"{keyword} is not a matching attribute here; it was ignored (matching attributes: {', '.join(KEYS)})"
            )
            continue
        for text in values:
            if text.strip():  # an empty value is universal matching
                matches.append(_match(keyword, text.strip(), level))
    fuzzy = grouped.get("fuzzymatching", [])
    if fuzzy and fuzzy[-1].lower() == "true":
        search_warnings.append(
            "The fuzzymatching parameter is not supported. Only literal matching has been performed."
        )
    limit = _number(grouped, "limit")
    capped = MAX_RESULTS + 1 if limit is None or limit > MAX_RESULTS else limit
    metadata = any(k not in _INDEXED[level] and _from_metadata(level, k) for k in include)
    query = DicomQuery(level, tuple(matches), capped, _number(grouped, "offset") or 0, metadata=metadata)
    return Search(query, search_warnings, tuple(include))


def _include(values: list[str]) -> tuple[list[str], list[str]]:
    """The keywords ``includefield`` values name (``,``-separated keywords or tags; ``all`` is what
    the index holds), and warnings for the sequence paths among them."""
    out: list[str] = []
    notes: list[str] = []
    for value in values:
        for part in (p.strip() for p in value.split(",")):
            if not part or part.lower() == "all":
                continue
            found = keyword_of(part)
            if found is None:
                if "." in part:
                    notes.append(f"includefield={part} (an attribute in a sequence) is not supported; it was ignored")
                    continue
                if re.fullmatch(r"[0-9A-Fa-f]{8}", part):  # a tag of no dictionary (private): ignored, as PS3.18 asks
                    notes.append(
                        f"includefield={part.upper()} (not a standard attribute) is not supported; it was ignored"
                    )
                    continue
                shown = part if len(part) <= 40 else part[:30] + "..."
                raise DicomWebError(400, f"includefield={shown!r} is not a DICOM keyword or tag")
            if found not in out:
                out.append(found)
    return out, notes


def _tag(keyword: str) -> int | None:
    """The tag of a keyword, or of 8 hex digits (a dictionary tag that has no keyword)."""
    tag = tag_for_keyword(keyword)
    if tag is None and re.fullmatch(r"[0-9A-Fa-f]{8}", keyword):
        return int(keyword, 16)
    return tag


def _from_metadata(level: str, keyword: str) -> bool:
    """Whether an answer of ``level`` takes ``keyword`` from its instance's stored metadata."""
    if level == INSTANCE:
        return True
    tag = _tag(keyword)
    if tag is not None and tag >> 16 == 0x0010:
        return True
    return keyword in STUDY_EXTRA or (level == SERIES and keyword in SERIES_EXTRA)


def _put(out: dict[str, Any], tag: str, vr: str, values: list[Any]) -> None:
    out[tag] = {"vr": vr, "Value": values} if values else {"vr": vr}


def result(level: str, hit: DicomHit, urls: Urls) -> dict[str, Any]:
    """One match as DICOM JSON: its level's attributes and those above, the counts and its URL."""
    i = hit.instance
    out: dict[str, Any] = parse_json(i.study_json)
    if level == STUDY:
        _put(out, "00080061", "CS", list(hit.modalities))
        _put(out, "00201206", "IS", [hit.series])
        _put(out, "00201208", "IS", [hit.instances])
        _put(out, "00081190", "UR", [urls.study(i.study_uid)])
    else:
        out.update(parse_json(i.series_json))
    if level == SERIES:
        _put(out, "00201209", "IS", [hit.instances])
        _put(out, "00081190", "UR", [urls.series(i.study_uid, i.series_uid)])
    if level == INSTANCE:
        out.update(parse_json(i.instance_json))
        _put(out, "00081190", "UR", [urls.instance(i.study_uid, i.series_uid, i.sop_uid)])
    _put(out, "00080056", "CS", ["ONLINE"])
    return dict(sorted(out.items()))


def _empty(keyword: str) -> dict[str, Any]:
    tag = _tag(keyword)
    return {"vr": dictionary_VR(tag).split(" ")[0] if tag is not None else "UN"}


def _included(
    search: Search, hit: DicomHit, out: dict[str, Any], more: dict[str, dict[str, Any]], ignored: set[str]
) -> None:
    """Add to ``out`` the includefield attributes it lacks: from the index (empty when the match has
    none), ``more`` (by Study Instance UID, what the caller found), the instance's stored metadata."""
    level, metadata = search.query.level, None
    for keyword in search.include:
        tag = _tag(keyword)
        if tag is None:
            ignored.add(keyword)
            continue
        key = f"{tag:08X}"
        if key in out:
            continue
        extra = more.get(hit.instance.study_uid, {})
        if key in extra:
            out[key] = extra[key]
        elif keyword in _INDEXED[level]:
            out[key] = _empty(keyword)  # the index has it for every match: this one has no value
        elif not _from_metadata(level, keyword) or hit.instance.metadata_json is None:
            ignored.add(keyword)
        else:
            metadata = parse_json(hit.instance.metadata_json) if metadata is None else metadata
            value = metadata.get(key)
            if isinstance(value, dict) and ("BulkDataURI" in value or "InlineBinary" in value):
                ignored.add(keyword)  # bulk data: the instance's metadata has it
            else:
                out[key] = value if isinstance(value, dict) else _empty(keyword)


def study_extras(tx: Any, record_id: str, search: Search, hits: list[DicomHit]) -> dict[str, dict[str, Any]]:
    """What :func:`answer` takes as ``more`` for a study-level search whose includefield asks for
    SOP Classes in Study: one more query, over the matched studies' instances (an application's view)."""
    if search.query.level != STUDY or "SOPClassesInStudy" not in search.include or not hits:
        return {}
    uids = tuple(dict.fromkeys(hit.instance.study_uid for hit in hits[:MAX_RESULTS]))
    query = appview.dicom_for_applications(DicomQuery(INSTANCE, (DicomMatch("study_uid", "uids", uids),)))
    found: dict[str, dict[str, None]] = {}
    for hit in tx.dicom.search(record_id, query):
        if hit.instance.sop_class_uid:
            found.setdefault(hit.instance.study_uid, {})[hit.instance.sop_class_uid] = None
    return {uid: {"00080062": {"vr": "UI", "Value": list(classes)}} for uid, classes in found.items()}


def answer(
    search: Search, hits: list[DicomHit], urls: Urls, more: dict[str, dict[str, Any]] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The results of a search, and the warnings to send with them (``more``: DICOM JSON
    attributes the caller found, by Study Instance UID, for includefield)."""
    notes = list(search.warnings)
    if len(hits) > MAX_RESULTS:
        hits = hits[:MAX_RESULTS]
        notes.append(f"The result was limited to {MAX_RESULTS} matches; use limit and offset to page through it")
    results: list[dict[str, Any]] = []
    ignored: set[str] = set()
    for hit in hits:
        out = result(search.query.level, hit, urls)
        if search.include:
            _included(search, hit, out, more or {}, ignored)
            out = dict(sorted(out.items()))
        results.append(out)
    if ignored:
        notes.append(f"includefield {', '.join(sorted(ignored))}: not available from this server's index here; ignored")
    return results, [warning(n) for n in notes]
