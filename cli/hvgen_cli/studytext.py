"""How the study commands word what they did: counts, sizes, skipped files,
upload results."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .terminal import echo_err, stderr_is_terminal

if TYPE_CHECKING:
    from hvgen_imaging.dicom import ScanResult
    from hvgen_imaging.results import UploadResult


#: The study the scan puts files without a Study Instance UID in (:mod:`hvgen_imaging.dicom`).
UNKNOWN_STUDY = "unknown-study"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def heading(show: bool, line: str) -> None:
    """A line on stderr naming what the progress bars below it are about
    (bar labels stay short, so that long UIDs are never cut)."""
    if show and stderr_is_terminal():
        echo_err(line)


def skipped_lines(scanned: ScanResult) -> list[str]:
    return [f"skipped {path}: {why}" for path, why in scanned.skipped] + [f"note: {w}" for w in scanned.warnings]


def skipped_json(scanned: ScanResult) -> list[dict[str, str]]:
    return [{"path": str(path), "reason": why} for path, why in scanned.skipped]


def without_study_uid_skipped(scanned: ScanResult) -> ScanResult:
    """The scan with its files without a Study Instance UID skipped (a study is found again
    by its UID: they cannot be uploaded as one), each named, and its notes about them dropped."""
    uidless = [s for s in scanned.studies if s.uid == UNKNOWN_STUDY]
    if not uidless:
        return scanned
    paths = sorted({str(image.path) for s in uidless for image in s.images})
    scanned.skipped += [(Path(p), "no Study Instance UID (0020,000D): a study is found again by it") for p in paths]
    scanned.warnings = [w for w in scanned.warnings if w.split(": ", 1)[0] not in set(paths)]
    scanned.studies = [s for s in scanned.studies if s.uid != UNKNOWN_STUDY]
    return scanned


def study_name(scanned: Any) -> str:
    """A scanned study as people know it: its UID, or its files when it has none."""
    if scanned.uid != UNKNOWN_STUDY:
        return str(scanned.uid)
    images = scanned.images
    return f"{plural(len(images), 'file')} without a Study Instance UID ({images[0].path}{', ...' if len(images) > 1 else ''})"


def names_a_file(note: str) -> bool:
    """Whether a note starts with the file it is about."""
    head = note.split(": ", 1)[0]
    return bool(head) and Path(head).exists()


def result_line(r: UploadResult, patient: str | None = None) -> str:
    who = f"patient {patient}, " if patient is not None else ""
    about = f" (patient {patient})" if patient is not None else ""
    sent = f"{plural(r.uploaded_blobs, 'blob')} sent" + (f", {r.resumed_blobs} resumed" if r.resumed_blobs else "")
    signed = ", signed" if r.signed else ", signature removed" if r.signature_removed else ""
    if r.status == "unchanged":
        return (
            f"{r.study_uid}: already uploaded as thing {r.thing_id}{about}; "
            f"nothing to do{' (signed)' if r.signed else ''}"
        )
    if r.status == "signed":
        return f"{r.study_uid}: already uploaded as thing {r.thing_id}{about}; signed it"
    return (
        f"{r.study_uid}: {r.status} thing {r.thing_id} "
        f"({who}{r.series} series, {plural(r.images, 'image')}; {sent}{signed})"
    )
