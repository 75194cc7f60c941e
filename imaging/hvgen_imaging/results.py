"""What the study operations of :mod:`.workflow` return.

Each result is a dataclass; ``as_dict()`` gives the JSON form the
``hvgen study`` commands print with ``--json``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from healthvault.bindings.thing import Thing2
from healthvault.bindings.things import medical_image_study as v1
from healthvault.bindings.things import medical_image_study_2 as v2
from healthvault.errors import HealthVaultError

from .errors import ImagingError


class StudyError(ImagingError, HealthVaultError):
    """A study operation that cannot be done (unknown study, last series...)."""


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
    #: What happened: ``created``, ``updated``, ``signed`` (an unchanged
    #: study signed) or ``unchanged``.
    status: str = "updated"
    #: Whether the study was signed before and is not any more.
    signature_removed: bool = False

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
    #: Each modality of its series once, in series order.
    modalities: list[str] = field(default_factory=list)
    accession_number: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ImageDetails:
    """One image of a stored study: its blob name and size."""

    name: str
    bytes: int
    #: Blob name of the image's preview, if it has one.
    preview: str | None
    #: The thing names the image but holds no blob of that name (written without it).
    missing: bool = False


@dataclass
class SeriesDetails:
    """One series of a stored study, as the study thing describes it, with its images."""

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


# -- from a stored study thing ----------------------------------------------------------------


def study_of(thing: Thing2) -> Any:
    data = thing.data_xml[0].any_element if thing.data_xml else None
    if not isinstance(data, (v1.MedicalImageStudy, v2.MedicalImageStudy)):
        raise StudyError("the thing does not hold a medical image study")
    return data


def missing_blobs(thing: Thing2, names: list[str]) -> list[str]:
    """Of ``names``, those the thing holds no blob of (in order, once each)."""
    held = _sizes(thing)
    return list(dict.fromkeys(n for n in names if n not in held))


def _sizes(thing: Thing2) -> dict[str, int]:
    return {b.blob_info.name: b.content_length or 0 for b in (thing.blob_payload.blob if thing.blob_payload else [])}


def summary(thing: Thing2, data: Any) -> StudySummary:
    when = data.when.date
    sizes = _sizes(thing)
    images = [i for s in data.series for i in s.images]
    return StudySummary(
        study_uid=data.study_instance_uid,
        thing_id=thing.thing_id.value if thing.thing_id else None,
        date=f"{when.y:04d}-{when.m:02d}-{when.d:02d}",
        patient=data.patient_name,
        description=data.description,
        version=data.TYPE_VERSION,
        series=len(data.series),
        images=len(images),
        bytes=sum(sizes.get(i.image_blob_name, 0) for i in images),
        signed=thing.signature_info is not None,
        modalities=list(dict.fromkeys(s.modality.text for s in data.series if s.modality and s.modality.text)),
        accession_number=getattr(data, "accession_number", None),
    )


def details(thing: Thing2) -> StudyDetails:
    """Everything `hvgen study show` prints."""
    data = study_of(thing)
    sizes = _sizes(thing)
    return StudyDetails(
        **summary(thing, data).__dict__,
        series_list=[
            SeriesDetails(
                series_uid=s.series_instance_uid,
                description=s.description,
                modality=s.modality.text if s.modality else None,
                body_part=s.body_part.text if s.body_part else None,
                institution=s.institution_name.name if s.institution_name else None,
                images=[
                    ImageDetails(
                        i.image_blob_name,
                        sizes.get(i.image_blob_name, 0),
                        i.image_preview_blob_name,
                        missing=i.image_blob_name not in sizes,
                    )
                    for i in s.images
                ],
            )
            for s in data.series
        ],
    )
