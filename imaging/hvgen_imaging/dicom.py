"""Reading a folder of DICOM files into studies, series and images.

Only headers are read (pixel data is left on disk). Files that are not
DICOM, cannot be read (permission denied...) or are cut short are skipped
with a note that says why; pydicom's warnings become notes naming the file. Files are grouped by Study Instance UID, then
Series Instance UID, and ordered by Instance Number within a series.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import DeflatedExplicitVRLittleEndian

from healthvault.errors import HealthVaultError

from . import inflate, notes
from .errors import ImagingError


class ScanError(ImagingError, HealthVaultError):
    """A folder that cannot be scanned at all."""


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
    """The images of one series (Series Instance UID) found by a scan."""

    uid: str
    images: list[DicomImage] = field(default_factory=list)

    @property
    def first(self) -> Dataset:
        return self.images[0].header


@dataclass
class DicomStudy:
    """The series of one study (Study Instance UID) found by a scan."""

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


def why_unreadable(exc: OSError) -> str:
    """What stops a file or folder being read, in words."""
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "it is a folder"
    if isinstance(exc, FileNotFoundError):
        return "it is gone (a broken link?)"
    return exc.strerror or str(exc)


def _truncation(ds: Dataset, size: int, warned: list[str]) -> str | None:
    """Why the file is cut short, if it is: an element runs past its end, or
    a header that describes an image comes without its pixel data."""
    if any("End of file reached" in w for w in warned):
        return "truncated: the file ends inside an element"
    for tag in list(ds.keys()):
        element = ds.get_item(tag, keep_deferred=True)  # as read: not converted, large values not loaded
        length, tell = getattr(element, "length", None), getattr(element, "value_tell", None)
        if tell is None or length is None or length == 0xFFFFFFFF:
            continue
        if tell + length > size:
            return f"truncated: element {element.tag} needs {tell + length} bytes, the file has {size}"
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "FileMetaInformationGroupLength" in meta:
        try:
            end = 132 + 12 + int(meta.FileMetaInformationGroupLength)
        except (TypeError, ValueError):
            end = size + 1  # the group length itself is cut
        if size < end or (size == end and len(ds) == 0):
            return "truncated: the file ends in or right after its file meta header"
    image = all(k in ds for k in ("Rows", "Columns", "BitsAllocated", "SamplesPerPixel"))
    if image and not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        return "truncated: the header describes an image but the file ends before its pixel data"
    return None


def examine(path: Path) -> tuple[Dataset | None, str]:
    """(header, "") for a DICOM file, else (None, why it is skipped).

    The header is the whole data set with the large values (pixel data) left
    on disk. Files without the 128-byte preamble and DICM prefix are accepted
    when they parse and carry a SOP Instance UID. Warnings pydicom raises go
    to the notes of :mod:`notes` (see :func:`scan`).
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return None, f"cannot read it: {why_unreadable(exc)}"
    if not stat.S_ISREG(mode):
        return None, "it is a folder" if stat.S_ISDIR(mode) else "not a regular file (a device, pipe or socket)"
    try:
        f = open(path, "rb")
    except OSError as exc:
        return None, f"cannot read it: {why_unreadable(exc)}"
    with f:
        try:
            size = os.fstat(f.fileno()).st_size
            part10 = f.read(132)[128:] == b"DICM"
            deflated = part10 and inflate.is_deflated(f)
            f.seek(0)
        except OSError as exc:
            return None, f"cannot read it: {why_unreadable(exc)}"
        if not deflated:
            return _examine_open(f, size, part10)
        # the data set is read from an inflated copy (bounded memory; positions in the inflated bytes)
        try:
            with inflate.inflated_copy(f) as copy, open(copy.path, "rb") as inflated:
                if not copy.complete:
                    return None, "truncated: the deflated data set ends before its deflate stream does"
                ds, why = _examine_open(inflated, copy.size, True)
        except inflate.InflateError as exc:
            return None, f"damaged DICOM file ({exc})" if "damaged" in str(exc) else str(exc)
        except OSError as exc:
            return None, f"cannot read it: {why_unreadable(exc)}"
        if ds is not None:
            ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian  # as the file says
        return ds, why


def _examine_open(f: BinaryIO, size: int, part10: bool) -> tuple[Dataset | None, str]:
    """:func:`examine` of an open file of ``size`` bytes."""
    warned: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = None
        for force in (False, True):
            try:
                f.seek(0)
                ds = pydicom.dcmread(f, defer_size=4096, force=force)
                break
            except InvalidDicomError:
                continue
            except OSError as exc:
                return None, f"cannot read it: {why_unreadable(exc)}"
            except Exception as exc:
                if part10:
                    return None, f"damaged DICOM file ({notes.one_line(f'{type(exc).__name__}: {exc}', 120)})"
                return None, "not a DICOM file"
    warned = [str(w.message) for w in caught]
    if ds is None:
        return None, "not a DICOM file"
    try:
        sop = "SOPInstanceUID" in ds and str(ds.SOPInstanceUID).strip()
    except Exception:
        sop = ""
    try:
        cut = _truncation(ds, size, warned) if (part10 or sop) else None
    except Exception as exc:  # an element too damaged to look at
        return None, f"damaged DICOM file ({notes.one_line(f'{type(exc).__name__}: {exc}', 120)})"
    if cut:
        return None, cut
    if not sop:
        meta = getattr(ds, "file_meta", None)
        if part10 and str(getattr(meta, "MediaStorageSOPClassUID", "") or "") == MEDIA_DIRECTORY:
            return None, "a DICOMDIR: the index of a medium's files, not an image"
        return None, "no SOP Instance UID (0008,0018)" if part10 else "not a DICOM file"
    for message in warned:
        warnings.warn(message, UserWarning, stacklevel=1)  # to the scan's notes
    return ds, ""


#: The SOP class of a DICOMDIR (Media Storage Directory Storage).
MEDIA_DIRECTORY = "1.2.840.10008.1.3.10"


def read_header(path: Path) -> Dataset | None:
    """The header of a DICOM file, or None if it is not one (see :func:`examine`)."""
    return examine(path)[0]


def walk(root: Path, skipped: list[tuple[Path, str]]) -> list[Path]:
    """Every file under ``root``, sorted; folders that cannot be read are
    noted in ``skipped``. Raises :class:`ScanError` if ``root`` cannot be read."""
    if root.is_file() or root.is_symlink() and not root.exists():
        return [root]
    found: list[Path] = []

    def failed(exc: OSError) -> None:
        where = Path(exc.filename) if exc.filename else root
        if where == root:
            raise ScanError(f"cannot read {root}: {why_unreadable(exc)}")
        skipped.append((where, f"cannot read folder: {why_unreadable(exc)}"))

    for folder, _dirs, files in os.walk(root, onerror=failed):
        found.extend(Path(folder) / name for name in files)
    return sorted(found)


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


def scan(
    root: Path | str,
    extra_files: Iterable[Path] = (),
    *,
    progress: Callable[[int, int | None], None] | None = None,
    known: Mapping[Path, Dataset] | None = None,
) -> ScanResult:
    """Read every file under ``root`` (recursively) and group the DICOM ones.

    ``progress(files_done, files_total)`` is called as files are read
    (first with a total of None while the folder is listed). ``known`` are
    headers :func:`examine` gave already, by path (files it passed, not
    changed since: the DICOM listener's, read when they were received).
    """
    result = ScanResult()
    root = Path(root)
    if not root.exists() and not root.is_symlink():
        raise ScanError(f"{root} does not exist")
    if progress is not None:
        progress(0, None)
    paths = [*walk(root, result.skipped), *extra_files]
    studies: dict[str, DicomStudy] = {}
    series_index: dict[tuple[str, str], DicomSeries] = {}
    seen_sop: dict[str, Path] = {}
    with notes.collecting(result.warnings):
        for done, path in enumerate(paths):
            if progress is not None:
                progress(done, len(paths))
            if path.name.startswith(".hvgen"):
                continue
            with notes.working_on(path, result.warnings):
                header, why = (known[path], "") if known and path in known else examine(path)
                if header is None:
                    result.skipped.append((path, why))
                    continue
                _add(result, path, header, studies, series_index, seen_sop)  # reading values may warn too
    if progress is not None:
        progress(len(paths), len(paths))
    for study in studies.values():
        for series in study.series:
            series.images.sort(key=lambda im: (im.instance_number is None, im.instance_number or 0, str(im.path)))
    result.studies = list(studies.values())
    return result


def _add(
    result: ScanResult,
    path: Path,
    header: Dataset,
    studies: dict[str, DicomStudy],
    series_index: dict[tuple[str, str], DicomSeries],
    seen_sop: dict[str, Path],
) -> None:
    """Put one read file in its study and series."""
    sop = text(header, "SOPInstanceUID")
    if not sop:
        result.skipped.append((path, "no SOP Instance UID (0008,0018)"))
        return
    if sop in seen_sop:
        result.skipped.append((path, f"same SOP Instance UID as {seen_sop[sop]}"))
        return
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        result.skipped.append((path, f"cannot read it: {why_unreadable(exc)}"))
        return
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
        DicomImage(
            path=path, size=size, sop_instance_uid=sop, instance_number=_int(header, "InstanceNumber"), header=header
        )
    )


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
