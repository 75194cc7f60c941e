"""A medical image study thing made from DICOM headers, with previews.

Each element comes from the DICOM tag its schema remark names. A tag that is
missing or malformed gives a warning and the element is left out (elements
the schema requires get a documented fallback instead). Images are named by
their SOP Instance UID; an image's preview is ``<name>_preview``; a series
and the study point at the preview of a representative image.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from healthvault.bindings.base import CodableValue, CodedValue, Name, Organization, Person
from healthvault.bindings.dates import Date, DateTime, Time
from healthvault.bindings.thing import Common, DataXml, Thing2, ThingType
from healthvault.bindings.things import medical_image_study as v1
from healthvault.bindings.things import medical_image_study_2 as v2

from .budget import OverBudget
from .dicom import DicomImage, DicomSeries, DicomStudy, parse_date, parse_time, person_name, text
from .notes import collecting, working_on
from .preview import PREVIEW_MAX_SIDE, PREVIEW_MIN_SIDE, Preview, describe, make_preview

__all__ = [
    "DICOM_TYPE",
    "PREVIEW_MAX_SIDE",
    "PREVIEW_MIN_SIDE",
    "PREVIEW_SUFFIX",
    "PREVIEW_TYPE",
    "BuiltStudy",
    "Preview",
    "build",
    "date_time",
    "make_preview",
    "make_previews",
    "merge",
    "merged_equal",
]

PREVIEW_SUFFIX = "_preview"
DICOM_TYPE = "application/dicom"
PREVIEW_TYPE = "image/jpeg"


@dataclass
class BuiltStudy:
    """A study ready to upload: the thing, its blob files and previews."""

    dicom: DicomStudy
    thing: Thing2
    images: dict[str, Path]  # blob name -> DICOM file
    previews: dict[str, Preview]  # blob name -> JPEG
    warnings: list[str] = field(default_factory=list)

    @property
    def data(self) -> Any:
        return self.thing.data_xml[0].any_element

    @property
    def size(self) -> int:
        return self.dicom.size + sum(len(p.data) for p in self.previews.values())


def date_time(date_value: str | None, time_value: str | None, what: str, notes: list[str]) -> DateTime | None:
    """A structured date-time from DICOM DA and TM values."""
    day = parse_date(date_value)
    if day is None:
        if date_value:
            notes.append(f"{what}: malformed date {date_value!r}; left out")
        return None
    if day.year < 1000:  # the schema's years start at 1000; de-identified files say 00010101
        notes.append(f"{what}: date {date_value!r} is before the year 1000; left out")
        return None
    result = DateTime(date=Date(y=day.year, m=day.month, d=day.day))
    if time_value:
        parts = parse_time(time_value)
        if parts is None:
            notes.append(f"{what}: malformed time {time_value!r}; date kept without time")
        else:
            h, m, s, f = parts
            result.time = Time(h=h, m=m, s=s, f=f)
    return result


def _codable(value: str | None, vocabulary: str | None = None) -> CodableValue | None:
    if value is None:
        return None
    codes = [CodedValue(value=value, family="dicom", type_value=vocabulary)] if vocabulary else []
    return CodableValue(text=value, code=codes)


def _person(ds: Any, keyword: str) -> Person | None:
    name = person_name(ds, keyword)
    if name is None:
        return None
    full, given, family = name
    return Person(name=Name(full=full, first=given, last=family))


# -- previews -----------------------------------------------------------------------------------


Progress = Callable[[int, "int | None"], None]


def make_previews(images: list[DicomImage], notes: list[str], progress: Progress | None = None) -> dict[str, Preview]:
    """The previews of ``images`` by blob name.

    An image without a preview, and every warning pydicom raised while
    reading it, becomes a note naming its file. ``progress(images_done,
    images_total)`` is called as they are made.
    """
    made: dict[str, Preview] = {}
    with collecting(notes):
        for done, image in enumerate(images):
            if progress is not None:
                progress(done, len(images))
            mine: list[str] = []
            with working_on(image.path, mine):
                try:
                    preview = make_preview(image.path, image.sop_instance_uid + PREVIEW_SUFFIX)
                except OverBudget:
                    raise  # not now: the caller refuses the study (out of resources) or tries it later
                except Exception as exc:  # no decoder, corrupt pixel data...
                    mine.append(f"{image.path}: no preview ({describe(exc)})")
                    preview = None
            notes.extend(mine)
            if preview is not None:
                notes.extend(f"{image.path}: {note}" for note in preview.notes)
                made[preview.name] = preview
    if progress is not None:
        progress(len(images), len(images))
    return made


# -- building the study ---------------------------------------------------------------------------


def _representative(series: DicomSeries, previews: dict[str, Preview]) -> str | None:
    """The preview of the middle image of the series that has one."""
    ordered = series.images[len(series.images) // 2 :] + series.images[: len(series.images) // 2]
    for image in ordered:
        name = image.sop_instance_uid + PREVIEW_SUFFIX
        if name in previews:
            return name
    return None


def build(
    study: DicomStudy,
    *,
    version: int = 2,
    previews: bool = True,
    client_thing_id: str | None = None,
    progress: Progress | None = None,
) -> BuiltStudy:
    """The medical image study thing for a scanned DICOM study.

    ``progress(images_done, images_total)`` follows the making of previews.
    """
    if version not in (1, 2):
        raise ValueError("version must be 1 or 2")
    M = v2 if version == 2 else v1
    notes: list[str] = []
    first = study.first
    made = make_previews(study.images, notes, progress) if previews else {}

    when = date_time(text(first, "StudyDate"), text(first, "StudyTime"), "study date (0008,0020)", notes)
    if when is None:
        for keyword in ("SeriesDate", "AcquisitionDate", "ContentDate"):
            when = date_time(text(first, keyword), None, keyword, notes)
            if when is not None:
                notes.append(f"no study date (0008,0020); used {keyword}")
                break
    if when is None:
        mtime = dt.datetime.fromtimestamp(study.images[0].path.stat().st_mtime, dt.UTC)
        when = DateTime(date=Date(y=mtime.year, m=mtime.month, d=mtime.day))
        notes.append("no study date (0008,0020) or other date in the files; used the file date, which `when` requires")

    series_list = []
    images: dict[str, Path] = {}
    for series in study.series:
        ds = series.first
        acquired = date_time(
            text(ds, "AcquisitionDate") or text(ds, "SeriesDate"),
            text(ds, "AcquisitionTime") or text(ds, "SeriesTime"),
            f"series {series.uid} acquisition date (0008,0022)",
            notes,
        )
        if acquired is None and version == 1:
            acquired = when
            notes.append(
                f"series {series.uid}: no acquisition date (0008,0022); used the study date (required in version 1)"
            )
        entries = []
        for image in series.images:
            images[image.sop_instance_uid] = image.path
            preview_name = image.sop_instance_uid + PREVIEW_SUFFIX
            entries.append(
                M.MedicalImageStudySeriesImage(
                    image_blob_name=image.sop_instance_uid,
                    image_preview_blob_name=preview_name if preview_name in made else None,
                )
            )
        institution = text(ds, "InstitutionName")
        fields: dict[str, Any] = dict(
            acquisition_datetime=acquired,
            description=text(ds, "SeriesDescription"),
            images=entries,
            institution_name=Organization(name=institution) if institution else None,
            modality=_codable(text(ds, "Modality"), "modality"),
            body_part=_codable(text(ds, "BodyPartExamined")),
            preview_blob_name=_representative(series, made),
            series_instance_uid=series.uid if not series.uid.endswith(".unknown-series") else None,
        )
        if version == 1:
            fields["referring_physician"] = _person(ds, "ReferringPhysicianName")
        series_list.append(M.MedicalImageStudySeries(**fields))

    study_fields: dict[str, Any] = dict(
        when=when,
        patient_name=(person_name(first, "PatientName") or (None,))[0],
        description=text(first, "StudyDescription"),
        series=series_list,
        reason=_codable(text(first, "ReasonForStudy") or text(first, "ReasonForTheRequestedProcedure")),
        preview_blob_name=next((s.preview_blob_name for s in series_list if s.preview_blob_name), None),
        study_instance_uid=study.uid if study.uid != "unknown-study" else None,
    )
    if version == 2:
        study_fields["referring_physician"] = _person(first, "ReferringPhysicianName")
        study_fields["accession_number"] = text(first, "AccessionNumber")
    data = M.MedicalImageStudy(**study_fields)
    thing = Thing2(
        type_id=ThingType(value=str(M.MedicalImageStudy.TYPE_ID)),
        data_xml=[
            DataXml(any_element=data, common=Common(client_thing_id=client_thing_id) if client_thing_id else None)
        ],
    )
    return BuiltStudy(dicom=study, thing=thing, images=images, previews=made, warnings=notes)


# -- merging into a stored study ----------------------------------------------------------------


def merge(stored: Any, new: Any) -> Any:
    """The stored study with the series and images of ``new`` it lacks, and the
    previews ``new`` names for images the stored study has without one."""
    merged = copy.deepcopy(stored)
    by_uid = {s.series_instance_uid: s for s in merged.series if s.series_instance_uid}
    for series in new.series:
        target = by_uid.get(series.series_instance_uid) if series.series_instance_uid else None
        if target is None:
            merged.series.append(copy.deepcopy(series))
            continue
        known = {i.image_blob_name: i for i in target.images}
        for image in series.images:
            have = known.get(image.image_blob_name)
            if have is None:
                target.images.append(copy.deepcopy(image))
            elif have.image_preview_blob_name is None and image.image_preview_blob_name is not None:
                have.image_preview_blob_name = image.image_preview_blob_name
        if target.preview_blob_name is None:
            target.preview_blob_name = series.preview_blob_name
    if merged.preview_blob_name is None:
        merged.preview_blob_name = new.preview_blob_name
    return merged


def merged_equal(stored: Any, new: Any) -> bool:
    """Whether ``stored`` already has every series, image and preview of ``new``."""
    merged = merge(stored, new)

    def counted(study: Any) -> tuple[int, int, int, bool]:
        images = [i for s in study.series for i in s.images]
        previews = sum(1 for i in images if i.image_preview_blob_name is not None)
        named = study.preview_blob_name is not None and all(s.preview_blob_name is not None for s in study.series)
        return len(study.series), len(images), previews, named

    return counted(merged) == counted(stored)


def add_previews(data: Any, previews: set[str]) -> list[str]:
    """Name in a study (made without some previews) the previews of ``previews``
    (blob names) its images lack, choosing each series' and the study's
    preview as :func:`build` does when it is missing; returns the names added."""
    added: list[str] = []
    for series in data.series:
        for image in series.images:
            name = image.image_blob_name + PREVIEW_SUFFIX
            if image.image_preview_blob_name is None and name in previews:
                image.image_preview_blob_name = name
                added.append(name)
        if series.preview_blob_name is None:
            images = series.images[len(series.images) // 2 :] + series.images[: len(series.images) // 2]
            series.preview_blob_name = next(
                (i.image_preview_blob_name for i in images if i.image_preview_blob_name), None
            )
    if data.preview_blob_name is None:
        data.preview_blob_name = next((s.preview_blob_name for s in data.series if s.preview_blob_name), None)
    return added
