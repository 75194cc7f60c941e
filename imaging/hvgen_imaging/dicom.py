"""Reading a folder of DICOM files into studies, series and images.

Only headers are read (pixel data is left on disk); files that are not
DICOM are skipped with a note. Files are grouped by Study Instance UID, then
Series Instance UID, and ordered by Instance Number within a series.
"""

from __future__ import annotations

import datetime as dt
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError


@dataclass
class DicomImage:
    """One DICOM file: where it is and the header values the study needs."""

    path: Path
    size: int
    sop_instance_uid: str
    instance_number: int | None
    header: Dataset = field(repr=False)


@dataclass
class DicomSeries:
    uid: str
    images: list[DicomImage] = field(default_factory=list)

    @property
    def first(self) -> Dataset:
        return self.images[0].header


@dataclass
class DicomStudy:
    uid: str
    series: list[DicomSeries] = field(default_factory=list)

    @property
    def first(self) -> Dataset:
        return self.series[0].first

    @property
    def images(self) -> list[DicomImage]:
        return [image for series in self.series for image in series.images]

    @property
    def size(self) -> int:
        return sum(image.size for image in self.images)


@dataclass
class ScanResult:
    """What a folder held: studies, and notes on what was skipped or odd."""

    studies: list[DicomStudy] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_header(path: Path) -> Dataset | None:
    """The header of a DICOM file, or None if the file is not DICOM.

    Files without the 128-byte preamble and DICM prefix are accepted when
    they parse and carry a SOP Instance UID.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pydicom.dcmread(path, stop_before_pixels=True)
        except InvalidDicomError:
            pass
        except Exception:
            return None
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
        except Exception:
            return None
    try:
        return ds if "SOPInstanceUID" in ds and str(ds.SOPInstanceUID).strip() else None
    except Exception:
        return None


def text(ds: Dataset, keyword: str) -> str | None:
    """A header value as clean text, or None if absent, empty or unreadable."""
    try:
        value = ds.get(keyword)
    except Exception:
        return None
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            return None
    result = " ".join(str(value).replace("\x00", " ").split())
    return result or None


def _int(ds: Dataset, keyword: str) -> int | None:
    value = text(ds, keyword)
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def scan(root: Path | str, extra_files: Iterable[Path] = ()) -> ScanResult:
    """Read every file under ``root`` (recursively) and group the DICOM ones."""
    result = ScanResult()
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist")
    paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    studies: dict[str, DicomStudy] = {}
    series_index: dict[tuple[str, str], DicomSeries] = {}
    seen_sop: dict[str, Path] = {}
    for path in [*paths, *extra_files]:
        if path.name.startswith(".hvgen"):
            continue
        header = read_header(path)
        if header is None:
            result.skipped.append((path, "not a DICOM file"))
            continue
        sop = text(header, "SOPInstanceUID")
        if not sop:
            result.skipped.append((path, "no SOP Instance UID (0008,0018)"))
            continue
        if sop in seen_sop:
            result.skipped.append((path, f"same SOP Instance UID as {seen_sop[sop]}"))
            continue
        seen_sop[sop] = path
        study_uid = text(header, "StudyInstanceUID")
        if not study_uid:
            study_uid = "unknown-study"
            result.warnings.append(f"{path}: no Study Instance UID (0020,000D); grouped under {study_uid!r}")
        series_uid = text(header, "SeriesInstanceUID")
        if not series_uid:
            series_uid = f"{study_uid}.unknown-series"
            result.warnings.append(f"{path}: no Series Instance UID (0020,000E); grouped under {series_uid!r}")
        study = studies.setdefault(study_uid, DicomStudy(study_uid))
        key = (study_uid, series_uid)
        if key not in series_index:
            series_index[key] = DicomSeries(series_uid)
            study.series.append(series_index[key])
        series_index[key].images.append(
            DicomImage(path=path, size=os.path.getsize(path), sop_instance_uid=sop,
                       instance_number=_int(header, "InstanceNumber"), header=header)
        )
    for study in studies.values():
        for series in study.series:
            series.images.sort(key=lambda im: (im.instance_number is None, im.instance_number or 0, str(im.path)))
    result.studies = list(studies.values())
    return result


# -- dates and names -------------------------------------------------------------------------------


def parse_date(value: str | None) -> dt.date | None:
    """A DICOM DA value (YYYYMMDD; old files: YYYY.MM.DD)."""
    if not value:
        return None
    digits = value.strip().replace(".", "").replace("-", "")
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None


def parse_time(value: str | None) -> tuple[int, int, int | None, int | None] | None:
    """A DICOM TM value (HH, HHMM, HHMMSS or HHMMSS.FFFFFF; old files use colons):
    (hours, minutes, seconds, milliseconds)."""
    if not value:
        return None
    main, _, fraction = value.strip().replace(":", "").partition(".")
    if not main.isdigit() or len(main) not in (2, 4, 6):
        return None
    hours = int(main[:2])
    minutes = int(main[2:4]) if len(main) >= 4 else 0
    seconds = int(main[4:6]) if len(main) == 6 else None
    millis = int((fraction + "000")[:3]) if fraction.isdigit() and seconds is not None else None
    if hours > 23 or minutes > 59 or (seconds is not None and seconds > 59):
        return None
    return hours, minutes, seconds, millis


def person_name(ds: Dataset, keyword: str) -> tuple[str, str | None, str | None] | None:
    """(full name, given name, family name) of a PN value."""
    try:
        value: Any = ds.get(keyword)
    except Exception:
        return None
    if value is None or not str(value).strip():
        return None
    family = getattr(value, "family_name", "") or None
    given = getattr(value, "given_name", "") or None
    full = " ".join(str(value).replace("^", " ").split())
    return (full, given, family) if full else None
