"""What the study operations of :mod:`.workflow` return.

Each result is a dataclass; ``as_dict()`` gives the JSON form the
``hvgen study`` commands print with ``--json``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class UploadResult:
    """A study uploaded, or changed by adding or removing series."""

    study_uid: str
    thing_id: str
    version_stamp: str
    created: bool
    series: int
    images: int
    previews: int
    uploaded_blobs: int
    uploaded_bytes: int
    resumed_blobs: int
    signed: bool
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class StudySummary:
    """One line of ``hvgen study list``."""

    study_uid: str | None
    thing_id: str | None
    date: str
    patient: str | None
    description: str | None
    version: int
    series: int
    images: int
    bytes: int
    signed: bool

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ImageDetails:
    name: str
    bytes: int
    #: Blob name of the image's preview, if it has one.
    preview: str | None


@dataclass
class SeriesDetails:
    series_uid: str | None
    description: str | None
    modality: str | None
    body_part: str | None
    institution: str | None
    images: list[ImageDetails]

    @property
    def bytes(self) -> int:
        return sum(i.bytes for i in self.images)


@dataclass
class StudyDetails(StudySummary):
    """Everything ``hvgen study show`` prints: the summary, then each series."""

    accession_number: str | None = None
    series_list: list[SeriesDetails] = field(default_factory=list)


@dataclass
class DownloadResult:
    """A study's files saved by :meth:`.workflow.Studies.download`."""

    study_uid: str
    thing_id: str
    files: int
    bytes: int
    folder: str
    #: ``valid`` or ``INVALID: ...`` for a signed study; None when not checked.
    signature: str | None = None

    @property
    def signature_valid(self) -> bool:
        """False only when a signature was checked and failed."""
        return self.signature is None or self.signature == "valid"

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if self.signature is None:
            del out["signature"]
        return out
