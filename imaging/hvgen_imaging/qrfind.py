"""C-FIND answers of the query/retrieve SCP (:mod:`.qrscp`): which keys the
archive matches, which are matched here on the answers, and the character
set each answer is encoded in.

* The archive (the DICOM index, through QIDO-RS) matches the keys of
  :data:`INDEX_KEYS`. The identifier's other keys with values (Patient's
  Sex, Patient's Birth Date, ...) are asked for as return keys and matched
  here on each answer (:func:`matches`: single values, lists, wildcards,
  date and time ranges), as PS3.4 C.2.2.2 matches them. An answer that does
  not hold one of them (the archive cannot supply it), and any sequence
  matching, is answered with Pending 0xFF01 ("an optional key was not
  matched") instead of 0xFF00.
* Each answer names the Specific Character Set its values need: the one its
  match was stored in, ISO_IR 192 (UTF-8) when its values are not ASCII and
  no single stored one covers them (a patient whose studies were stored in
  different character sets).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

#: Keys the archive matches itself (:data:`hvgen_server.dicomweb.qido.KEYS`).
INDEX_KEYS = frozenset(
    {
        "StudyInstanceUID",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "ModalitiesInStudy",
        "ReferringPhysicianName",
        "PatientName",
        "PatientID",
        "StudyID",
        "StudyDescription",
        "SeriesInstanceUID",
        "Modality",
        "SeriesNumber",
        "SeriesDescription",
        "SOPInstanceUID",
        "SOPClassUID",
        "InstanceNumber",
    }
)
UTF8 = "ISO_IR 192"
_TEXT_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
)
_NUMBERS = frozenset({"IS", "DS", "US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"})


def sequence_keys(identifier: Dataset) -> list[str]:
    """The identifier's sequences that hold a value to match (sequence matching is not done)."""
    return [e.keyword or str(e.tag) for e in identifier if e.VR == "SQ" and any(_has_value(i) for i in e.value or [])]


def _has_value(item: Dataset) -> bool:
    for element in item:
        if element.VR == "SQ":
            if any(_has_value(i) for i in element.value or []):
                return True
        elif element.value not in (None, "", b"") and str(element.value).strip():
            return True
    return False


def _values(element: DataElement) -> list[str]:
    value = element.value
    if value is None:
        return []
    items = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    return [str(v).strip() for v in items if v is not None and str(v).strip()]


def _wildcard(pattern: str, text: str, fold: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.IGNORECASE | re.DOTALL if fold else re.DOTALL) is not None


def _one(vr: str, criterion: str, value: str) -> bool:
    if vr in ("DA", "TM", "DT") and "-" in criterion and not criterion.startswith("+"):
        first, _, last = criterion.partition("-")
        strip = str.maketrans("", "", ".:" if vr != "DT" else "")
        value, first, last = value.translate(strip), first.translate(strip), last.translate(strip)
        return (not first or value[: len(first)] >= first) and (not last or value[: len(last)] <= last)
    if vr in ("DA", "TM"):
        criterion, value = criterion.replace(".", "").replace(":", ""), value.replace(".", "").replace(":", "")
    if "*" in criterion or "?" in criterion:
        return _wildcard(criterion, value, vr == "PN")
    if vr == "PN":
        return criterion.casefold() == value.casefold()
    if vr in _NUMBERS:
        try:
            return float(criterion) == float(value)
        except ValueError:
            return criterion == value
    return criterion == value


def matches(element: DataElement, text: str) -> bool:
    """Whether an answer's element matches a key's value (any of ``\\``-separated values; an
    element without a value matches no value)."""
    values = _values(element)
    if not values:
        return False
    criteria = [c.strip() for c in text.split("\\") if c.strip()] or [text]
    return any(_one(element.VR, c, v) for c in criteria for v in values)


def checked(match: Dataset, keys: dict[str, str]) -> tuple[bool, bool]:
    """(whether ``match`` matches the keys it holds, whether it holds all of them)."""
    complete = True
    for keyword, text in keys.items():
        if keyword not in match:
            complete = False
            continue
        if not matches(match[keyword], text):
            return False, complete
    return True, complete


def _texts(ds: Dataset) -> Iterable[str]:
    for element in ds:
        if element.VR == "SQ":
            for item in element.value or []:
                yield from _texts(item)
        elif element.VR in _TEXT_VRS and element.value is not None:
            yield from (str(v) for v in (element.value if isinstance(element.value, MultiValue) else [element.value]))


def charset(ds: Dataset, stored: Iterable[str]) -> str | None:
    """The Specific Character Set for ``ds``'s values: None when they are ASCII, the one
    stored character set they were all stored in, else ISO_IR 192."""
    if all(text.isascii() for text in _texts(ds)):
        return None
    given = {s for s in stored if s}
    return given.pop() if len(given) == 1 else UTF8


def stored_charset(ds: Dataset) -> str:
    """The Specific Character Set a match was stored in ('' for the default repertoire)."""
    value = ds.get("SpecificCharacterSet")
    if value is None:
        return ""
    return "\\".join(str(v) for v in value) if isinstance(value, MultiValue | list) else str(value)
