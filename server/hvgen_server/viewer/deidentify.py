"""A study's de-identified ZIP, for the viewer's second download button.

Each DICOM file is read from the blob store, de-identified with the basic
application confidentiality profile (PS3.15 Annex E, through
:mod:`hvgen_imaging.anonymize`: new UIDs consistent within the study,
identifying attributes removed or replaced, private tags dropped) and
written into the ZIP under its new UIDs, one file at a time. It needs the
imaging extra; without it the viewer offers the plain download only.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Iterable, Iterator

from .archive import Entry, safe_part

try:  # the imaging extra, when installed
    from hvgen_imaging.anonymize import Anonymizer, anonymized_bytes
except ImportError:
    Anonymizer = anonymized_bytes = None  # type: ignore[assignment,misc]


@functools.cache
def available() -> bool:
    """Whether de-identification can be offered (the imaging extra is installed)."""
    if Anonymizer is None:
        return False
    try:
        return importlib.util.find_spec("dicomanonymizer") is not None
    except ImportError:
        return False


def deidentified_entries(files: Iterable[tuple[str, Callable[[], Iterable[bytes]]]]) -> Iterator[Entry]:
    """ZIP entries of de-identified copies of ``files`` ((where, bytes) pairs),
    named ``<new study UID>/<new series UID>/<new SOP instance UID>.dcm``;
    each file is read, de-identified and held alone while it is written."""
    assert Anonymizer is not None and anonymized_bytes is not None, "see available()"
    anonymizer = Anonymizer()
    for where, read in files:
        data, ds = anonymized_bytes(anonymizer, b"".join(read()), where)
        parts = [
            safe_part(str(ds.get("StudyInstanceUID", "") or ""), "study"),
            safe_part(str(ds.get("SeriesInstanceUID", "") or ""), "series"),
            safe_part(str(ds.get("SOPInstanceUID", "") or ""), "image") + ".dcm",
        ]
        yield Entry("/".join(parts), len(data), functools.partial(_one, data))


def _one(data: bytes) -> list[bytes]:
    return [data]
