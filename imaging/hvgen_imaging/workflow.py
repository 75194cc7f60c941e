"""Studies on the platform: upload, list, show, download, add and remove series, delete.

An upload is resumable: every blob that finishes is written to a journal
(see :mod:`.journal`), and the blob being sent when an upload stops is
resumed from what the platform acknowledged. Re-running an upload never
creates a second study: an existing study with the same Study Instance UID
is updated with what it lacks.

A study is named by its Study Instance UID. When the record holds several
studies with the same UID (written by another client, or picked up from a
package), no operation picks one silently: it raises
:class:`DuplicateStudies`, and the caller names one by its thing id.

A signed study is never changed without a word about its signature: the
change is signed again (``signer``) or, with ``drop_signature=True``, the
signature is dropped; otherwise :class:`SignatureWouldBeLost` is raised
before anything is sent.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from healthvault import blobs as hvblobs
from healthvault import filemodes, status, verification
from healthvault.bindings.thing import BlobPayload, Thing2
from healthvault.bindings.things import medical_image_study as v1
from healthvault.bindings.things import medical_image_study_2 as v2
from healthvault.client import HealthVaultClient, ThingQuery

from . import dicom
from .journal import Journal, cache_dir, safe_name
from .results import (
    DownloadResult,
    ImageDetails,
    SeriesDetails,
    StudyDetails,
    StudyError,
    StudySummary,
    UploadResult,
    _sizes,
    details,
    missing_blobs,
    study_of,
    summary,
)
from .sending import BlobSender, Signer, put_study
from .study import BuiltStudy, build, merge, merged_equal

Progress = Callable[[int, "int | None"], None]
STUDY_TYPES = [str(v2.MedicalImageStudy.TYPE_ID), str(v1.MedicalImageStudy.TYPE_ID)]

__all__ = [
    "DownloadResult",
    "DuplicateStudies",
    "ImageDetails",
    "OtherStudy",
    "SeriesDetails",
    "SignatureWouldBeLost",
    "Signer",
    "StudyDetails",
    "StudyError",
    "StudySummary",
    "Studies",
    "UploadResult",
    "details",
    "study_of",
    "summary",
]


class DuplicateStudies(StudyError):
    """The record holds more than one study with the Study Instance UID asked for."""

    def __init__(self, study_uid: str, things: list[Thing2], what_to_do: str = "name one by its thing id") -> None:
        self.study_uid = study_uid
        self.thing_ids = [t.thing_id.value for t in things if t.thing_id is not None]
        listed = "; ".join(_one_line_summary(t) for t in things)
        super().__init__(
            f"the record holds {len(things)} studies with Study Instance UID {study_uid} ({listed}); {what_to_do}"
        )


class SignatureWouldBeLost(StudyError):
    """A change to a signed study was asked for without signing it again."""


class OtherStudy(StudyError):
    """Series of another study or patient were to be added to a study."""


def _one_line_summary(thing: Thing2) -> str:
    s = summary(thing, study_of(thing))
    return f"thing {s.thing_id}: {s.series} series, {s.images} image{'' if s.images == 1 else 's'}, {s.date}"


def _patient_key(name: str | None) -> str:
    return " ".join((name or "").replace("^", " ").lower().split())


class Studies:
    """Medical image studies in one record."""

    def __init__(
        self, client: HealthVaultClient, *, progress: Progress | None = None, journal_dir: Path | None = None
    ) -> None:
        self.client = client
        self.progress = progress
        self.journal_dir = journal_dir or cache_dir()

    # -- queries -----------------------------------------------------------------------------

    def find_all(self, study_uid: str, *, blobs: bool = True) -> list[Thing2]:
        """Every active study thing with this Study Instance UID."""
        if '"' in study_uid:
            raise StudyError("a Study Instance UID cannot contain quotes")
        query = ThingQuery(
            type_ids=STUDY_TYPES,
            xpath=f'/thing/data-xml/medical-image-study/study-instance-uid[.="{study_uid}"]',
            sections=("core",),
            blob_payload=blobs,
            signatures=True,
        )
        return self.client.get_things(query)

    def find(self, study_uid: str, *, blobs: bool = True) -> Thing2 | None:
        """The study thing with this Study Instance UID, or None; raises
        :class:`DuplicateStudies` when there are several."""
        found = self.find_all(study_uid, blobs=blobs)
        if len(found) > 1:
            raise DuplicateStudies(study_uid, found)
        return found[0] if found else None

    def require(self, study_uid: str | None, thing_id: str | None = None) -> Thing2:
        """The study with this Study Instance UID (and thing id, when given)."""
        if thing_id is None:
            if not study_uid:
                raise StudyError("name a study by its Study Instance UID or its thing id")
            thing = self.find(study_uid)
            if thing is None:
                raise StudyError(f"no study {study_uid} in the record")
            return thing
        try:
            uuid.UUID(thing_id)
        except ValueError:
            raise StudyError(
                f"{thing_id!r} is not a thing id (a GUID such as those `hvgen study list` shows)"
            ) from None
        try:
            found = self.client.get_things(
                ThingQuery(thing_ids=[thing_id], sections=("core",), blob_payload=True, signatures=True)
            )
        except status.HealthVaultStatusError as exc:
            raise StudyError(f"no study with thing id {thing_id}: {exc.message}") from None
        if not found:
            raise StudyError(f"no thing {thing_id} in the record (deleted, or never there)")
        if study_of_or_none(found[0]) is None:
            raise StudyError(f"thing {thing_id} is not a medical image study")
        uid = study_of(found[0]).study_instance_uid
        if study_uid and uid != study_uid:
            raise StudyError(f"thing {thing_id} is study {uid}, not {study_uid}")
        return found[0]

    def summaries(self, thing_ids: Sequence[str] = ()) -> list[StudySummary]:
        """A summary of every study in the record (or of those things)."""
        out = []
        for thing in self.client.get_things(
            ThingQuery(
                type_ids=STUDY_TYPES,
                thing_ids=tuple(thing_ids),
                sections=("core",),
                blob_payload=True,
                blob_format="information",
                signatures=True,
            )
        ):
            data = study_of(thing)
            out.append(summary(thing, data))
        return out

    # -- upload ---------------------------------------------------------------------------------

    def upload(
        self,
        built: BuiltStudy,
        *,
        signer: Signer | None = None,
        drop_signature: bool = False,
        thing_id: str | None = None,
    ) -> UploadResult:
        """Upload a built study: its blobs, then the thing; resumable.

        A study already in the record (by Study Instance UID, or ``thing_id``)
        gets the series and images it lacks. Uploading an unchanged study with
        a ``signer`` signs it if it is not signed yet.
        """
        study_uid = built.data.study_instance_uid
        if not study_uid:
            raise StudyError("the study has no Study Instance UID (0020,000D); it cannot be matched later")
        if thing_id is not None:
            existing: Thing2 | None = self.require(study_uid, thing_id)
        else:
            found = self.find_all(study_uid)
            if len(found) > 1:
                raise DuplicateStudies(
                    study_uid,
                    found,
                    "nothing was uploaded; keep one of them (hvgen study delete UID --thing THING_ID deletes "
                    "another) and upload again",
                )
            existing = found[0] if found else None
        notes = list(built.warnings)
        unchanged_data = False
        if existing is not None:
            version = 2 if isinstance(study_of(existing), v2.MedicalImageStudy) else 1
            if version != built.data.TYPE_VERSION:
                notes.append(f"the stored study is version {version}; uploading as version {version}")
                built = build(built.dicom, version=version)
                notes.extend(built.warnings)
            thing = existing
            unchanged_data = merged_equal(study_of(existing), built.data)
            thing.data_xml[0].any_element = merge(study_of(existing), built.data)
        else:
            thing = copy.deepcopy(built.thing)
        have = {b.blob_info.name for b in (thing.blob_payload.blob if thing.blob_payload else [])}
        wanted: dict[str, tuple[str, Any]] = {n: ("file", p) for n, p in built.images.items()}
        wanted.update({n: ("preview", p) for n, p in built.previews.items()})
        missing = {n: v for n, v in wanted.items() if n not in have}
        was_signed = existing is not None and existing.signature_info is not None
        if existing is not None and not missing and unchanged_data:
            if signer is None or was_signed:
                return self._result(thing, status_="unchanged", built=built, notes=notes)
            return self._result(
                put_study(self.client, thing, signer, {}, None), status_="signed", built=built, notes=notes, signed=True
            )
        if was_signed and signer is None and not drop_signature:
            raise SignatureWouldBeLost(
                f"study {study_uid} (thing {_id(existing)}) is signed, and adding to it would remove the signature: "
                "pass --sign with --key and --cert to sign it again, or --unsigned-ok to remove the signature"
            )

        journal = Journal(self.journal_dir / f"{safe_name(self.client.record_id or '')}-{safe_name(study_uid)}.jsonl")
        sent = BlobSender(self.client, journal, self._report).send(missing)
        payload = thing.blob_payload or BlobPayload(blob=[])
        kept = [b for b in payload.blob if b.blob_info.name not in missing]
        for b in kept:  # blobs the stored study already has: named, not re-sent
            b.blob_ref_url = None
            b.base64data = None
        payload.blob = kept + sent.items
        thing.blob_payload = payload

        files: dict[str, Any] = dict(built.images)
        files.update({n: p.data for n, p in built.previews.items()})
        thing = put_study(self.client, thing, signer, files, journal, frozenset(missing))
        if was_signed and signer is None:
            notes.append(f"the signature of study {study_uid} was removed (--unsigned-ok)")
        return self._result(
            thing,
            status_="created" if existing is None else "updated",
            built=built,
            notes=notes,
            signed=signer is not None,
            uploaded=sent.uploaded,
            size=sent.size,
            resumed=sent.resumed,
            signature_removed=was_signed and signer is None,
        )

    def _report(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)

    def _result(
        self,
        thing: Thing2,
        *,
        status_: str,
        built: BuiltStudy | None,
        notes: list[str],
        signed: bool | None = None,
        uploaded: int = 0,
        size: int = 0,
        resumed: int = 0,
        signature_removed: bool = False,
    ) -> UploadResult:
        data = study_of(thing)
        key = thing.thing_id
        return UploadResult(
            study_uid=data.study_instance_uid or "",
            thing_id=key.value if key else "",
            version_stamp=key.version_stamp if key else "",
            created=status_ == "created",
            series=len(data.series),
            images=sum(len(s.images) for s in data.series),
            previews=len(built.previews) if built is not None else 0,
            uploaded_blobs=uploaded,
            uploaded_bytes=size,
            resumed_blobs=resumed,
            signed=thing.signature_info is not None if signed is None else signed,
            warnings=notes,
            status=status_,
            signature_removed=signature_removed,
        )

    # -- download -------------------------------------------------------------------------------

    def download(
        self, study_uid: str, out: Path, *, previews: bool = False, verify: bool = True, thing_id: str | None = None
    ) -> DownloadResult:
        """Save the study's DICOM files (and previews) under ``out``, each hash-checked.

        Files go to ``out/<series-uid>/<sop-instance-uid>.dcm``. A signed study
        is verified against the downloaded bytes.
        """
        thing = self.require(study_uid, thing_id)
        data = study_of(thing)
        store = self.client.blobs(thing)
        sizes = _sizes(thing)
        plan: list[tuple[str, Path]] = []
        for index, series in enumerate(data.series):
            folder = out / safe_name(series.series_instance_uid or f"series-{index + 1}")
            for image in series.images:
                plan.append((image.image_blob_name, folder / f"{safe_name(image.image_blob_name)}.dcm"))
                if previews and image.image_preview_blob_name:
                    plan.append(
                        (image.image_preview_blob_name, folder / f"{safe_name(image.image_preview_blob_name)}.jpg")
                    )
        lacking = missing_blobs(thing, [name for name, _ in plan])
        if lacking:
            shown = ", ".join(lacking[:3]) + (f" and {len(lacking) - 3} more" if len(lacking) > 3 else "")
            raise StudyError(
                f"study {study_uid} (thing {thing.thing_id.value if thing.thing_id else '?'}) names "
                f"{len(lacking)} file(s) it holds no blob of: {shown} (it was written without them); "
                "nothing was downloaded"
            )
        total = sum(sizes.get(name, 0) for name, _ in plan)
        done = 0
        files: dict[str, Path] = {}
        for name, path in plan:
            filemodes.make_folder(path.parent)  # (its name on disk, as each file's will be)
            store.save(name, path, progress=lambda d, _t, base=done: self._report(base + d, total), flush_name=False)
            files[name] = path
            done += sizes.get(name, 0)
            self._report(done, total)
        for folder in sorted({path.parent for _, path in plan}):  # the files' names, once a folder
            filemodes.flush_folder(folder)
        result = DownloadResult(study_uid, thing.thing_id.value if thing.thing_id else "", len(files), done, str(out))
        if thing.signature_info is not None and verify:
            check = verification.verify(
                thing,
                blobs=files,
                fetch=lambda url: hvblobs.open_blob(self.client.http, url),
            )
            result.signature = "valid" if check.valid else "INVALID: " + "; ".join(str(p) for p in check.problems)
        return result

    # -- changes --------------------------------------------------------------------------------

    def add_series(
        self,
        study_uid: str,
        source: Path | dicom.ScanResult,
        *,
        signer: Signer | None = None,
        drop_signature: bool = False,
        other_study_ok: bool = False,
        thing_id: str | None = None,
        previews_progress: Progress | None = None,
    ) -> UploadResult:
        """Add the series found in ``source`` (a folder, or what scanning it
        found) to an existing study.

        Series of another study, or of another patient, are refused with
        :class:`OtherStudy` unless ``other_study_ok``.
        """
        existing = self.require(study_uid, thing_id)
        scanned = source if isinstance(source, dicom.ScanResult) else dicom.scan(source)
        if not scanned.studies:
            raise StudyError(
                f"no DICOM files in {source if not isinstance(source, dicom.ScanResult) else 'the folder'}"
            )
        stored = study_of(existing)
        others = []
        for st in scanned.studies:
            patient = (dicom.person_name(st.first, "PatientName") or ("",))[0]
            if st.uid != study_uid:
                others.append(f"study {st.uid} (patient {patient or 'unnamed'})")
            elif _patient_key(patient) != _patient_key(stored.patient_name):
                others.append(f"patient {patient or 'unnamed'} (same Study Instance UID)")
        if others and not other_study_ok:
            raise OtherStudy(
                f"the files are not all of study {study_uid} (patient {stored.patient_name or 'unnamed'}): they hold "
                + ", ".join(others)
                + "; pass --allow-other-study to add them anyway"
            )
        version = 2 if isinstance(stored, v2.MedicalImageStudy) else 1
        combined = dicom.DicomStudy(uid=study_uid, series=[s for st in scanned.studies for s in st.series])
        built = build(combined, version=version, progress=previews_progress)
        built.data.study_instance_uid = study_uid
        notes = [f"added {o} to study {study_uid}" for o in others]
        result = self.upload(built, signer=signer, drop_signature=drop_signature, thing_id=_id(existing))
        result.warnings = notes + result.warnings
        return result

    def remove_series(
        self,
        study_uid: str,
        series_uid: str,
        *,
        signer: Signer | None = None,
        drop_signature: bool = False,
        thing_id: str | None = None,
    ) -> UploadResult:
        """Remove one series and its blobs from a study."""
        thing = self.require(study_uid, thing_id)
        data = study_of(thing)
        keep = [s for s in data.series if s.series_instance_uid != series_uid]
        if len(keep) == len(data.series):
            raise StudyError(f"study {study_uid} has no series {series_uid}")
        if not keep:
            raise StudyError("a study keeps at least one series; delete the study instead")
        was_signed = thing.signature_info is not None
        if was_signed and signer is None and not drop_signature:
            raise SignatureWouldBeLost(
                f"study {study_uid} (thing {_id(thing)}) is signed, and removing a series would remove the signature: "
                "pass --sign with --key and --cert to sign it again, or --unsigned-ok to remove the signature"
            )
        gone = [s for s in data.series if s.series_instance_uid == series_uid][0]
        names = {i.image_blob_name for i in gone.images} | {
            i.image_preview_blob_name for i in gone.images if i.image_preview_blob_name
        }
        still_used = {i.image_blob_name for s in keep for i in s.images} | {
            i.image_preview_blob_name for s in keep for i in s.images if i.image_preview_blob_name
        }
        names -= still_used
        data.series = keep
        if data.preview_blob_name and data.preview_blob_name not in still_used:
            data.preview_blob_name = next((s.preview_blob_name for s in keep if s.preview_blob_name), None)
        store = self.client.blobs(thing)
        for name in names:
            try:
                store.remove(name)
            except KeyError:
                pass
        thing = put_study(self.client, thing, signer, {}, None)
        notes = (
            [f"the signature of study {study_uid} was removed (--unsigned-ok)"] if was_signed and signer is None else []
        )
        return self._result(
            thing,
            status_="updated",
            built=None,
            notes=notes,
            signed=signer is not None,
            signature_removed=was_signed and signer is None,
        )

    def delete(self, study_uid: str, *, thing_id: str | None = None) -> StudySummary:
        """Delete a study (its thing becomes Deleted); returns what was deleted."""
        thing = self.require(study_uid, thing_id)
        assert thing.thing_id is not None
        gone = summary(thing, study_of(thing))
        self.client.remove_things([thing.thing_id])
        return gone


def _id(thing: Thing2 | None) -> str | None:
    return thing.thing_id.value if thing is not None and thing.thing_id is not None else None


def study_of_or_none(thing: Thing2) -> Any:
    try:
        return study_of(thing)
    except StudyError:
        return None
