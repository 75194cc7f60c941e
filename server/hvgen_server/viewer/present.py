"""Values as people read them: dates, sizes, counts, modalities and XML."""

from __future__ import annotations

import datetime as dt

from lxml import etree

from healthvault import safexml
from hvgen_imaging.units import size_text

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

#: DICOM modality codes (PS3.3 C.7.3.1.1.1) and what they stand for.
MODALITIES = {
    "AR": "Autorefraction",
    "BMD": "Bone densitometry",
    "CR": "Computed radiography",
    "CT": "Computed tomography",
    "DOC": "Document",
    "DX": "Digital radiography",
    "ECG": "Electrocardiography",
    "ES": "Endoscopy",
    "GM": "General microscopy",
    "IO": "Intra-oral radiography",
    "KO": "Key object selection",
    "MG": "Mammography",
    "MR": "Magnetic resonance",
    "NM": "Nuclear medicine",
    "OCT": "Optical coherence tomography",
    "OP": "Ophthalmic photography",
    "OPT": "Ophthalmic tomography",
    "OT": "Other",
    "PR": "Presentation state",
    "PT": "Positron emission tomography",
    "PX": "Panoramic X-ray",
    "REG": "Registration",
    "RF": "Radio fluoroscopy",
    "RTDOSE": "Radiotherapy dose",
    "RTIMAGE": "Radiotherapy image",
    "RTPLAN": "Radiotherapy plan",
    "RTSTRUCT": "Radiotherapy structure set",
    "SEG": "Segmentation",
    "SM": "Slide microscopy",
    "SR": "Structured report",
    "US": "Ultrasound",
    "XA": "X-ray angiography",
    "XC": "External-camera photography",
}


def when(value: dt.datetime | dt.date | None) -> str:
    """``17 May 2024``, with ``, 10:15`` for a date-time; "" for None."""
    if value is None:
        return ""
    day = f"{value.day} {MONTHS[value.month - 1]} {value.year}"
    if isinstance(value, dt.datetime):
        return f"{day}, {value.hour:02d}:{value.minute:02d}"
    return day


def moment(timestamp: float) -> str:
    """An epoch time as ``17 May 2024, 10:15 UTC``."""
    return when(dt.datetime.fromtimestamp(timestamp, dt.UTC)) + " UTC"


def size(count: int) -> str:
    """Bytes as the command line says them: ``512 bytes``, ``12.5 KiB``, ``3.4 MiB`` (powers of 1024)."""
    return size_text(count)


def plural(count: int, word: str, words: str | None = None) -> str:
    """``1 image``, ``3 images``, ``1,204 images``."""
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def modality(code: str | None) -> str:
    """What a modality code stands for ("" when the code is not a known one)."""
    return MODALITIES.get((code or "").strip().upper(), "")


def person_name(value: str | None) -> str:
    """A DICOM person name for reading: ``DOE^JANE`` as ``DOE JANE``."""
    return " ".join((value or "").replace("^", " ").split())


def pretty_xml(data: bytes) -> str:
    """Stored XML indented for reading (unparsable XML as it is)."""
    try:
        root = safexml.parse(data, what="stored thing", max_bytes=None)
    except Exception:
        return data.decode("utf-8", "replace")
    etree.indent(root, space="  ")
    return str(etree.tostring(root, encoding="unicode"))
