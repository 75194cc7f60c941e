"""A study's de-identified ZIP, for the viewer's second download button.

Each DICOM file is read from the blob store, de-identified with the basic
application confidentiality profile (PS3.15 Annex E, through
:mod:`hvgen_imaging.anonymize`: new UIDs consistent within the study,
identifying attributes removed or replaced, private tags dropped) and
written into the ZIP under its new UIDs, one file at a time, in bounded
memory (:mod:`hvgen_imaging.anonstream`: the header is de-identified, the
pixel data streamed from the blob as the plain ZIP streams whole files). A
file that cannot be de-identified so is left out and named, with the
reason, in ``LEFT-OUT.txt`` at the end of the archive. It needs the imaging
extra; without it the viewer offers the plain download only.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Callable, Iterable, Iterator

from starlette.responses import StreamingResponse

from ..headers import ATTACHMENT
from ..store.files import BlobFiles
from .archive import Entry, safe_part, zip_stream
from .studies import Study

try:  # the imaging extra, when installed
    from hvgen_imaging.anonstream import InflateError, RangeSource, TooLarge, Unsupported, deidentify
    from hvgen_imaging.anonymize import Anonymizer
except ImportError:
    Anonymizer = RangeSource = deidentify = None  # type: ignore[assignment,misc]
    TooLarge = Unsupported = InflateError = ValueError  # type: ignore[assignment,misc]

log = logging.getLogger("hvgen_server")

#: Largest header (the data set before its pixel data) of one file de-identified in memory.
MAX_HEADER = 32 * 1024 * 1024

#: A blob's bytes: ``read(first, length)`` gives them in pieces.
Reader = Callable[[int, int], Iterable[bytes]]


@functools.cache
def available() -> bool:
    """Whether de-identification can be offered (the imaging extra is installed)."""
    if Anonymizer is None:
        return False
    try:
        return importlib.util.find_spec("dicomanonymizer") is not None
    except ImportError:
        return False


def deidentified_entries(files: Iterable[tuple[str, int, Reader]]) -> Iterator[Entry]:
    """ZIP entries of de-identified copies of ``files`` ((where, size, bytes)
    triples), named ``<new study UID>/<new series UID>/<new SOP instance UID>.dcm``;
    each file's header is held alone while it is written, its pixel data streamed.
    Files that cannot be de-identified end up in ``LEFT-OUT.txt``."""
    assert Anonymizer is not None and deidentify is not None, "see available()"
    anonymizer = Anonymizer()
    left_out: list[str] = []
    for number, (where, size, read) in enumerate(files, 1):
        try:
            done = deidentify(anonymizer, RangeSource(size, read), where, MAX_HEADER)
        except (TooLarge, Unsupported, InflateError) as exc:
            left_out.append(f"file {number}: {exc}")  # by number: its name is an identifying UID
            continue
        except Exception as exc:  # pydicom's errors are many; the file is counted, not lost silently
            log.warning("de-identified download: %s left out: %s: %s", where, type(exc).__name__, exc)
            left_out.append(f"file {number}: not a DICOM file that can be read")
            continue
        ds = done.dataset
        parts = [
            safe_part(str(ds.get("StudyInstanceUID", "") or ""), "study"),
            safe_part(str(ds.get("SeriesInstanceUID", "") or ""), "series"),
            safe_part(str(ds.get("SOPInstanceUID", "") or ""), "image") + ".dcm",
        ]
        yield Entry("/".join(parts), done.size, done.pieces)
    if left_out:
        text = (
            "These files of the study (numbered in the viewer's order) could not be de-identified "
            "and are not in this archive:\n\n" + "\n".join(left_out) + "\n"
        ).encode("utf-8")
        yield Entry("LEFT-OUT.txt", len(text), functools.partial(_one, text))


def _one(data: bytes) -> list[bytes]:
    return [data]


def archive_response(files: BlobFiles, study: Study, size_of: Callable[[str], int]) -> StreamingResponse:
    """The study's DICOM files de-identified, as a ZIP written while it is sent
    (``size_of``: a blob's size, refusing a blob gone meanwhile)."""
    found: list[tuple[str, int, Reader]] = []
    for series in study.series:
        for image in series.images:
            blob = study.blobs.get(image.name)
            if blob is not None:
                found.append((image.name, size_of(blob.blob_id), functools.partial(files.read, blob.blob_id)))
    headers = {
        **ATTACHMENT,
        "Content-Disposition": 'attachment; filename="study-deidentified.zip"',
        "Cache-Control": "private, no-store",
    }
    return StreamingResponse(zip_stream(deidentified_entries(found)), media_type="application/zip", headers=headers)
