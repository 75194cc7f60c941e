"""Studies on the platform: upload, list, show, download, add and remove series, delete.

An upload is resumable: every blob that finishes is written to a journal
(in the user's cache folder, keyed by record and study), and the blob being
sent when an upload stops is resumed from what the platform acknowledged.
Re-running an upload never creates a second study: an existing study with
the same Study Instance UID is updated with what it lacks.
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from healthvault import blobs as hvblobs
from healthvault import codec, safexml, signing, status, wire
from healthvault.bindings.thing import BlobPayload, BlobPayloadItem, Thing2
from healthvault.bindings.things import medical_image_study as v1
from healthvault.bindings.things import medical_image_study_2 as v2
from healthvault.client import HealthVaultClient, ThingQuery
from healthvault.errors import HealthVaultError

from . import dicom
from .results import DownloadResult, ImageDetails, SeriesDetails, StudyDetails, StudySummary, UploadResult
from .study import DICOM_TYPE, PREVIEW_TYPE, BuiltStudy, build

Progress = Callable[[int, "int | None"], None]
STUDY_TYPES = [str(v2.MedicalImageStudy.TYPE_ID), str(v1.MedicalImageStudy.TYPE_ID)]

__all__ = [
    "DownloadResult",
    "ImageDetails",
    "SeriesDetails",
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


class StudyError(HealthVaultError):
    """A study operation that cannot be done (unknown study, last series...)."""


@dataclass
class Signer:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate
    algorithm: str = "rsa-sha1"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hvgen" / "uploads"


class Journal:
    """Finished and in-progress blobs of one study upload.

    An append-only file of JSON lines, so that recording a blob costs the
    same however many came before it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done: dict[str, str] = {}
        self.pending: dict[str, Any] | None = None
        try:
            lines = path.read_text().splitlines()
        except OSError:
            lines = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by a crash
            if "done" in entry:
                self.done[entry["done"]] = entry["item"]
                self.pending = None
            elif "pending" in entry:
                self.pending = entry["pending"]

    def _append(self, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def start(self, pending: dict[str, Any]) -> None:
        self.pending = pending
        self._append({"pending": pending})

    def finished(self, name: str, item: BlobPayloadItem) -> None:
        text = wire.to_string(item, "blob")
        self.done[name] = text
        self.pending = None
        self._append({"done": name, "item": text})

    def item(self, name: str) -> BlobPayloadItem | None:
        text = self.done.get(name)
        if text is None:
            return None
        return codec.bind(safexml.parse(text), BlobPayloadItem, what="journal")

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:150]


def study_of(thing: Thing2) -> Any:
    data = thing.data_xml[0].any_element if thing.data_xml else None
    if not isinstance(data, (v1.MedicalImageStudy, v2.MedicalImageStudy)):
        raise StudyError("the thing does not hold a medical image study")
    return data


class Studies:
    """Medical image studies in one record."""

    def __init__(self, client: HealthVaultClient, *, progress: Progress | None = None, journal_dir: Path | None = None) -> None:
        self.client = client
        self.progress = progress
        self.journal_dir = journal_dir or cache_dir()

    # -- queries -----------------------------------------------------------------------------

    def find(self, study_uid: str, *, blobs: bool = True) -> Thing2 | None:
        """The active study thing with this Study Instance UID, if any."""
        if '"' in study_uid:
            raise StudyError("a Study Instance UID cannot contain quotes")
        query = ThingQuery(
            type_ids=STUDY_TYPES,
            xpath=f'/thing/data-xml/medical-image-study/study-instance-uid[.="{study_uid}"]',
            sections=("core",),
            blob_payload=blobs,
            signatures=True,
        )
        found = self.client.get_things(query)
        return found[0] if found else None

    def require(self, study_uid: str) -> Thing2:
        thing = self.find(study_uid)
        if thing is None:
            raise StudyError(f"no study {study_uid} in the record")
        return thing

    def summaries(self) -> list[StudySummary]:
        """A summary of every study in the record."""
        out = []
        for thing in self.client.get_things(ThingQuery(type_ids=STUDY_TYPES, sections=("core",), blob_payload=True, blob_format="information", signatures=True)):
            data = study_of(thing)
            out.append(summary(thing, data))
        return out

    # -- upload ---------------------------------------------------------------------------------

    def upload(self, built: BuiltStudy, *, signer: Signer | None = None) -> UploadResult:
        """Upload a built study: its blobs, then the thing; resumable."""
        study_uid = built.data.study_instance_uid
        if not study_uid:
            raise StudyError("the study has no Study Instance UID (0020,000D); it cannot be matched later")
        existing = self.find(study_uid)
        notes = list(built.warnings)
        if existing is not None:
            version = 2 if isinstance(study_of(existing), v2.MedicalImageStudy) else 1
            if version != built.data.TYPE_VERSION:
                notes.append(f"the stored study is version {version}; uploading as version {version}")
                built = build(built.dicom, version=version)
                notes.extend(built.warnings)
            thing = existing
            merged = merge(study_of(existing), built.data)
            thing.data_xml[0].any_element = merged
        else:
            thing = copy.deepcopy(built.thing)
        have = {b.blob_info.name for b in (thing.blob_payload.blob if thing.blob_payload else [])}
        wanted: dict[str, tuple[str, Any]] = {n: ("file", p) for n, p in built.images.items()}
        wanted.update({n: ("preview", p) for n, p in built.previews.items()})
        missing = {n: v for n, v in wanted.items() if n not in have}
        if existing is not None and not missing and merged_equal(study_of(existing), built.data):
            return self._result(thing, existing, created=False, built=built, uploaded=0, size=0, resumed=0, signed=False, notes=notes + ["already uploaded; nothing to do"])

        journal = Journal(self.journal_dir / f"{_safe(self.client.record_id or '')}-{_safe(study_uid)}.jsonl")
        total = sum(p.stat().st_size if kind == "file" else len(p.data) for kind, p in missing.values())
        done_bytes = 0
        uploaded = resumed = 0
        items: list[BlobPayloadItem] = []
        for name, (kind, source) in sorted(missing.items()):
            size = source.stat().st_size if kind == "file" else len(source.data)
            item = journal.item(name)
            if item is not None:
                resumed += 1
            else:
                base = done_bytes

                def report(done: int, _total: int | None, base: int = base) -> None:
                    self._report(base + done, total)

                item = self._upload_one(name, kind, source, journal, report)
                uploaded += 1
            items.append(item)
            done_bytes += size
            self._report(done_bytes, total)
        payload = thing.blob_payload or BlobPayload(blob=[])
        kept = [b for b in payload.blob if b.blob_info.name not in missing]
        for b in kept:  # blobs the stored study already has: named, not re-sent
            b.blob_ref_url = None
            b.base64data = None
        payload.blob = kept + items
        thing.blob_payload = payload

        signed = False
        thing.signature_info = None
        if signer is not None:
            files: dict[str, Any] = dict(built.images)
            files.update({n: p.data for n, p in built.previews.items()})
            thing = codec.read_thing(signing.sign(thing, signer.key, signer.cert, blobs=files, algorithm=signer.algorithm))  # type: ignore[assignment]
            signed = True
        elif existing is not None and existing.signature_info is not None:
            notes.append("the study's signature was removed because its content changed; sign it again with --sign")
        try:
            key = self.client.put_thing(thing)
        except (status.InvalidBlobRefUrl, status.BlobTokenNotCompleted) as exc:
            journal.clear()
            raise StudyError(f"{exc.message}; the upload journal was reset, run the upload again") from None
        journal.clear()
        thing.thing_id = key
        return self._result(thing, existing, created=existing is None, built=built, uploaded=uploaded, size=done_bytes, resumed=resumed, signed=signed, notes=notes)

    def _report(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)

    def _upload_one(self, name: str, kind: str, source: Any, journal: Journal, progress: Progress) -> BlobPayloadItem:
        content_type = DICOM_TYPE if kind == "file" else PREVIEW_TYPE
        limit = self.client.config_int("maxInlineBlobSizeBytes", 0)
        if kind == "preview" and len(source.data) <= limit:
            inline = hvblobs.inline_item(name, content_type, source.data)
            journal.finished(name, inline)
            return inline
        item: BlobPayloadItem | None = None
        pending = journal.pending
        if kind == "file" and pending and pending.get("name") == name:
            item = self._resume(name, content_type, source, pending, progress)
        if item is None:
            upload = hvblobs.BlobUpload(self.client, name, content_type, progress=progress)
            upload.begin()
            journal.start({"name": name, "url": upload.url, "chunk": upload.chunk_size, "max": upload.max_size, "block": upload.block_size})
            item = upload.send(source if kind == "file" else io.BytesIO(source.data))
        journal.finished(name, item)
        return item

    def _resume(self, name: str, content_type: str, source: Path, pending: dict[str, Any], progress: Progress) -> BlobPayloadItem | None:
        """Carry on the blob the journal says was being sent; None when its
        upload URL is no longer usable (the blob is then sent afresh)."""
        upload = hvblobs.BlobUpload(self.client, name, content_type, progress=progress)
        upload.url, upload.chunk_size, upload.max_size, upload.block_size = (
            pending["url"], pending["chunk"], pending["max"], pending["block"]
        )
        upload.total = source.stat().st_size
        try:
            return upload.resume(source)
        except hvblobs.BlobUploadInterrupted:
            raise
        except hvblobs.HealthVaultBlobError:
            return None

    def _result(self, thing: Thing2, existing: Thing2 | None, *, created: bool, built: BuiltStudy, uploaded: int, size: int, resumed: int, signed: bool, notes: list[str]) -> UploadResult:
        data = study_of(thing)
        key = thing.thing_id
        return UploadResult(
            study_uid=data.study_instance_uid or "",
            thing_id=key.value if key else "",
            version_stamp=key.version_stamp if key else "",
            created=created,
            series=len(data.series),
            images=sum(len(s.images) for s in data.series),
            previews=len(built.previews),
            uploaded_blobs=uploaded,
            uploaded_bytes=size,
            resumed_blobs=resumed,
            signed=signed,
            warnings=notes,
        )

    # -- download -------------------------------------------------------------------------------

    def download(self, study_uid: str, out: Path, *, previews: bool = False, verify: bool = True) -> DownloadResult:
        """Save the study's DICOM files (and previews) under ``out``, each hash-checked.

        Files go to ``out/<series-uid>/<sop-instance-uid>.dcm``. A signed study
        is verified against the downloaded bytes.
        """
        thing = self.require(study_uid)
        data = study_of(thing)
        store = self.client.blobs(thing)
        sizes = _sizes(thing)
        plan: list[tuple[str, Path]] = []
        for index, series in enumerate(data.series):
            folder = out / _safe(series.series_instance_uid or f"series-{index + 1}")
            for image in series.images:
                plan.append((image.image_blob_name, folder / f"{_safe(image.image_blob_name)}.dcm"))
                if previews and image.image_preview_blob_name:
                    plan.append((image.image_preview_blob_name, folder / f"{_safe(image.image_preview_blob_name)}.jpg"))
        total = sum(sizes.get(name, 0) for name, _ in plan)
        done = 0
        files: dict[str, Path] = {}
        for name, path in plan:
            path.parent.mkdir(parents=True, exist_ok=True)
            store.save(name, path, progress=lambda d, _t, base=done: self._report(base + d, total))
            files[name] = path
            done += sizes.get(name, 0)
            self._report(done, total)
        result = DownloadResult(study_uid, thing.thing_id.value if thing.thing_id else "", len(files), done, str(out))
        if thing.signature_info is not None and verify:
            check = signing.verify(
                thing, blobs=files,  # type: ignore[arg-type]
                fetch=lambda url: hvblobs.open_blob(self.client.http, url),
            )
            result.signature = "valid" if check.valid else "INVALID: " + "; ".join(str(p) for p in check.problems)
        return result

    # -- changes --------------------------------------------------------------------------------

    def add_series(self, study_uid: str, folder: Path, *, signer: Signer | None = None) -> UploadResult:
        """Add the series found in ``folder`` to an existing study."""
        existing = self.require(study_uid)
        scanned = dicom.scan(folder)
        if not scanned.studies:
            raise StudyError(f"no DICOM files in {folder}")
        version = 2 if isinstance(study_of(existing), v2.MedicalImageStudy) else 1
        combined = dicom.DicomStudy(uid=study_uid, series=[s for st in scanned.studies for s in st.series])
        built = build(combined, version=version)
        built.data.study_instance_uid = study_uid
        notes = [f"{p}: skipped ({why})" for p, why in scanned.skipped] + scanned.warnings
        for st in scanned.studies:
            if st.uid != study_uid:
                notes.append(f"series of study {st.uid} added to study {study_uid}")
        result = self.upload(built, signer=signer)
        result.warnings = notes + result.warnings
        return result

    def remove_series(self, study_uid: str, series_uid: str, *, signer: Signer | None = None) -> UploadResult:
        """Remove one series and its blobs from a study."""
        thing = self.require(study_uid)
        data = study_of(thing)
        keep = [s for s in data.series if s.series_instance_uid != series_uid]
        if len(keep) == len(data.series):
            raise StudyError(f"study {study_uid} has no series {series_uid}")
        if not keep:
            raise StudyError("a study keeps at least one series; delete the study instead")
        gone = [s for s in data.series if s.series_instance_uid == series_uid][0]
        names = {i.image_blob_name for i in gone.images} | {i.image_preview_blob_name for i in gone.images if i.image_preview_blob_name}
        still_used = {i.image_blob_name for s in keep for i in s.images} | {i.image_preview_blob_name for s in keep for i in s.images if i.image_preview_blob_name}
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
        notes = []
        was_signed = thing.signature_info is not None
        thing.signature_info = None
        for b in thing.blob_payload.blob if thing.blob_payload else []:
            if b.content_length != 0:  # unchanged blobs are named, not re-sent
                b.blob_ref_url = None
                b.base64data = None
        if signer is not None:
            thing = codec.read_thing(signing.sign(thing, signer.key, signer.cert, algorithm=signer.algorithm))  # type: ignore[assignment]
        elif was_signed:
            notes.append("the study's signature was removed because its content changed; sign it again with --sign")
        key = self.client.put_thing(thing)
        thing.thing_id = key
        return UploadResult(study_uid, key.value, key.version_stamp, False, len(keep), sum(len(s.images) for s in keep), 0, 0, 0, 0, signer is not None, notes)

    def delete(self, study_uid: str) -> str:
        """Delete a study (its thing becomes Deleted); returns its thing id."""
        thing = self.require(study_uid)
        assert thing.thing_id is not None
        self.client.remove_things([thing.thing_id])
        return str(thing.thing_id.value)


def merge(stored: Any, new: Any) -> Any:
    """The stored study with the series and images of ``new`` it lacks."""
    merged = copy.deepcopy(stored)
    by_uid = {s.series_instance_uid: s for s in merged.series if s.series_instance_uid}
    for series in new.series:
        target = by_uid.get(series.series_instance_uid) if series.series_instance_uid else None
        if target is None:
            merged.series.append(copy.deepcopy(series))
            continue
        known = {i.image_blob_name for i in target.images}
        target.images.extend(copy.deepcopy(i) for i in series.images if i.image_blob_name not in known)
        if target.preview_blob_name is None:
            target.preview_blob_name = series.preview_blob_name
    if merged.preview_blob_name is None:
        merged.preview_blob_name = new.preview_blob_name
    return merged


def merged_equal(stored: Any, new: Any) -> bool:
    """Whether ``stored`` already has every series and image of ``new``."""
    merged = merge(stored, new)
    return sum(len(s.images) for s in merged.series) == sum(len(s.images) for s in stored.series) and len(merged.series) == len(stored.series)


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
    )


def details(thing: Thing2) -> StudyDetails:
    """Everything `hvgen study show` prints."""
    data = study_of(thing)
    sizes = _sizes(thing)
    return StudyDetails(
        **summary(thing, data).__dict__,
        accession_number=getattr(data, "accession_number", None),
        series_list=[
            SeriesDetails(
                series_uid=s.series_instance_uid,
                description=s.description,
                modality=s.modality.text if s.modality else None,
                body_part=s.body_part.text if s.body_part else None,
                institution=s.institution_name.name if s.institution_name else None,
                images=[ImageDetails(i.image_blob_name, sizes.get(i.image_blob_name, 0), i.image_preview_blob_name) for i in s.images],
            )
            for s in data.series
        ],
    )
