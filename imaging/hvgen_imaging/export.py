"""A study as a zip of DICOM files, or as a de-identified folder.

:func:`write_zip` writes any list of :class:`ZipEntry` (a name made of UIDs
and where its bytes come from) to a binary file, streaming, optionally
de-identified (:mod:`.anonymize`; the names then use the new UIDs). It does
not care where the bytes are: :func:`study_entries` lists a study's files
through a platform client; a server can list them from its own store. The
zip holds ``<study-uid>/<series-uid>/<sop-instance-uid>.dcm`` (and
``..._preview.jpg`` when previews are asked for) and writes to files that
cannot seek (an HTTP response body) as well.

:func:`download_anonymized` is ``hvgen study download --anonymize``: the
study is downloaded (hash-checked, its signature verified) to a folder next
to the target, and only its de-identified copy is left.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from healthvault import filemodes

from .anonymize import Anonymizer, anonymize_tree, anonymized_bytes
from .results import DownloadResult, study_of
from .workflow import Studies

__all__ = ["ZipEntry", "ZipResult", "download_anonymized", "study_entries", "write_zip"]


@dataclass(frozen=True)
class ZipEntry:
    """One file of an archive: its name as UIDs (the last may end ``_preview``), and its bytes."""

    parts: tuple[str, ...]
    suffix: str
    chunks: Callable[[], Iterable[bytes]]
    dicom: bool = True

    def name(self, anonymizer: Anonymizer | None = None) -> str:
        parts = [anonymizer.name(p) for p in self.parts] if anonymizer is not None else list(self.parts)
        return "/".join(parts) + self.suffix


@dataclass
class ZipResult:
    """What :func:`write_zip` wrote: how many files and bytes, and whether de-identified."""

    files: int = 0
    bytes: int = 0
    anonymized: bool = False
    notes: list[str] = field(default_factory=list)
    #: Original UID -> new UID, when de-identified (for the one exporting; never written to the zip).
    uids: dict[str, str] = field(default_factory=dict)


def write_zip(entries: Iterable[ZipEntry], out: BinaryIO, *, anonymize: bool = False) -> ZipResult:
    """Write ``entries`` to ``out`` as a zip (stored: DICOM pixel data rarely shrinks enough to pay)."""
    anonymizer = Anonymizer() if anonymize else None
    result = ZipResult(anonymized=anonymize)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for entry in entries:
            name = entry.name(anonymizer)
            if anonymizer is not None and entry.dicom:
                data, _ = anonymized_bytes(anonymizer, b"".join(entry.chunks()), name)
                archive.writestr(name, data)
                result.bytes += len(data)
            else:
                with archive.open(name, "w", force_zip64=True) as f:
                    for chunk in entry.chunks():
                        f.write(chunk)
                        result.bytes += len(chunk)
            result.files += 1
    if anonymizer is not None:
        result.notes = anonymizer.summary()
        result.uids = dict(anonymizer.uids)
    return result


def study_entries(
    studies: Studies, study_uid: str, *, previews: bool = False, thing_id: str | None = None
) -> Iterator[ZipEntry]:
    """The files of a study in the record, read through the platform client as they are written."""
    thing = studies.require(study_uid, thing_id)
    data = study_of(thing)
    store = studies.client.blobs(thing)
    uid = data.study_instance_uid or study_uid

    def reader(name: str) -> Callable[[], Iterable[bytes]]:
        return lambda: store.open(name)

    for index, series in enumerate(data.series):
        folder = series.series_instance_uid or f"series-{index + 1}"
        for image in series.images:
            yield ZipEntry((uid, folder, image.image_blob_name), ".dcm", reader(image.image_blob_name))
            if previews and image.image_preview_blob_name:
                yield ZipEntry(
                    (uid, folder, image.image_preview_blob_name),
                    ".jpg",
                    reader(image.image_preview_blob_name),
                    dicom=False,
                )


def download_anonymized(
    studies: Studies, study_uid: str, out: Path, *, previews: bool = False, thing_id: str | None = None
) -> tuple[DownloadResult, list[str]]:
    """Download a study de-identified into ``out`` (``<new-series-uid>/<new-sop-uid>.dcm``); returns
    the download's result (for the de-identified files) and notes."""
    filemodes.make_folder(out)
    staging = Path(tempfile.mkdtemp(prefix=".hvgen-download-", dir=out))
    try:
        result = studies.download(study_uid, staging, previews=previews, thing_id=thing_id)
        anonymizer = Anonymizer()
        written = anonymize_tree(staging, out, anonymizer)
        filemodes.flush_written((path for _, path in written), out)  # (on disk before it says done)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result.folder = str(out)
    result.files = len(written)
    result.bytes = sum(target.stat().st_size for _, target in written)
    return result, anonymizer.summary()


def entries_from(items: Iterable[tuple[tuple[str, ...], str, Callable[[], Iterable[bytes]], bool]]) -> list[ZipEntry]:
    """Entries from plain tuples (parts, suffix, chunks, is DICOM): for callers that list files their own way."""
    return [ZipEntry(parts, suffix, chunks, dicom) for parts, suffix, chunks, dicom in items]
