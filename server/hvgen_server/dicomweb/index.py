"""Keeping the store's DICOM index up to date with the record's study things.

The index is brought up to date before every DICOMweb request of a record
(:func:`refresh`): the versions of medical image study things not indexed
yet are read (their XML names the image blobs; each image's DICOM header is
read from its blob, up to the pixel data), and what was indexed of things
updated or deleted since is dropped. Whatever wrote a study (``hvgen study
upload``, STOW-RS, C-STORE, a package pick-up, another client), the index
follows; finding out that nothing changed is one query.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import pydicom
from lxml import etree
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian

from healthvault.bindings.things import medical_image_study as v1
from healthvault.bindings.things import medical_image_study_2 as v2
from hvgen_imaging import inflate

from ..appview import dicom_for_applications
from ..context import Platform
from ..store.base import Transaction, retried
from ..store.files import BlobFiles
from ..store.rows import INSTANCE, STUDY, DicomInstance, DicomMatch, DicomQuery

log = logging.getLogger("hvgen_server.dicomweb")

#: Medical image study versions 2 and 1.
STUDY_TYPES = (str(v2.MedicalImageStudy.TYPE_ID), str(v1.MedicalImageStudy.TYPE_ID))

#: Attributes a query answer returns, by level (PS3.18 Table 6.7.1-2 and a few more).
STUDY_ATTRIBUTES = (
    "SpecificCharacterSet",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "TimezoneOffsetFromUTC",
    "StudyDescription",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyID",
)
SERIES_ATTRIBUTES = (
    "Modality",
    "SeriesDescription",
    "SeriesNumber",
    "SeriesInstanceUID",
    "SeriesDate",
    "SeriesTime",
    "BodyPartExamined",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
)
INSTANCE_ATTRIBUTES = (
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceNumber",
    "Rows",
    "Columns",
    "BitsAllocated",
    "NumberOfFrames",
    "PhotometricInterpretation",
)

#: Versions indexed per write transaction.
BATCH = 50

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)


class BlobReader(io.RawIOBase):
    """A blob's bytes as a seekable binary file (read piece by piece from :class:`BlobFiles`)."""

    def __init__(self, files: BlobFiles, blob_id: str) -> None:
        self.files, self.blob_id = files, blob_id
        self.length = files.size(blob_id)
        self.position = 0

    @property
    def name(self) -> str:
        return f"blob {self.blob_id}"

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.length}[whence]
        self.position = max(0, base + offset)
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        wanted = min(len(view), self.length - self.position)
        if wanted <= 0:
            return 0
        done = 0
        for piece in self.files.read(self.blob_id, self.position, wanted):
            view[done : done + len(piece)] = piece
            done += len(piece)
        self.position += done
        return done


def open_blob(files: BlobFiles, blob_id: str) -> io.BufferedReader:
    return io.BufferedReader(BlobReader(files, blob_id), buffer_size=64 * 1024)


def read_header(files: BlobFiles, blob_id: str, *, pixels: bool = False) -> Dataset | None:
    """The DICOM data set of a blob (without pixel data unless ``pixels``), or None if it is not DICOM."""
    try:
        with open_blob(files, blob_id) as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if not inflate.is_deflated(f):
                f.seek(0)
                return pydicom.dcmread(f, stop_before_pixels=not pixels, force=True)
            # pydicom would inflate the whole data set in memory: read its inflated copy instead
            with inflate.inflated_copy(f) as copy, open(copy.path, "rb") as inflated:
                ds = pydicom.dcmread(inflated, stop_before_pixels=not pixels, force=True)
                ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
                return ds
    except Exception as exc:  # not DICOM, cut short, gone
        log.info("blob %s is not a readable DICOM file: %s", blob_id, exc)
        return None


def subset_json(ds: Dataset, keywords: tuple[str, ...], whole: dict[str, Any] | None = None) -> str:
    """The DICOM JSON of those attributes of ``ds`` it has (unreadable values left out), in ``keywords``' order
    (taken from ``whole``, the DICOM JSON of all of ``ds``, when given and it has them inline)."""
    if whole is not None:
        picked = _picked(ds, keywords, whole)
        if picked is not None:
            return picked
    sub = Dataset()
    tags: list[str] = []
    try:
        for keyword in keywords:
            if keyword in ds:
                element = ds[keyword]
                sub.add(element)
                tags.append(f"{element.tag:08X}")
        whole = sub.to_json_dict()
    except Exception:  # a value that cannot be read: each attribute on its own, that one left out
        return _each_json(ds, keywords)
    return json.dumps({tag: whole[tag] for tag in tags if tag in whole}, separators=(",", ":"))


@functools.cache
def _tag(keyword: str) -> int | None:
    return tag_for_keyword(keyword)


def _picked(ds: Dataset, keywords: tuple[str, ...], whole: dict[str, Any]) -> str | None:
    """:func:`subset_json` from the DICOM JSON of the whole data set; None when a value is not in it as is."""
    out: dict[str, Any] = {}
    for keyword in keywords:
        tag = _tag(keyword)
        if tag is None or tag not in ds:
            continue
        key = f"{tag:08X}"
        value = whole.get(key)
        if not isinstance(value, dict) or "BulkDataURI" in value or "InlineBinary" in value:
            return None
        out[key] = value
    return json.dumps(out, separators=(",", ":"))


def _each_json(ds: Dataset, keywords: tuple[str, ...]) -> str:
    out: dict[str, Any] = {}
    for keyword in keywords:
        if keyword not in ds:
            continue
        try:
            element = ds[keyword]
            sub = Dataset()
            sub.add(element)
            out.update(sub.to_json_dict())
        except Exception:
            continue
    return json.dumps(out, separators=(",", ":"))


def _text(ds: Dataset, keyword: str) -> str:
    try:
        value = ds.get(keyword)
    except Exception:
        return ""
    return "" if value is None else str(value).strip()


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        return int(str(ds.get(keyword)).strip())
    except (TypeError, ValueError):
        return None


def instance_row(
    ds: Dataset,
    blob_name: str,
    blob_id: str,
    size: int,
    preview_blob_id: str | None,
    whole: dict[str, Any] | None = None,
) -> DicomInstance:
    """The index row of an instance whose header is ``ds`` (``whole``: its DICOM JSON, when made already)."""
    meta = getattr(ds, "file_meta", None)
    return DicomInstance(
        study_uid=_text(ds, "StudyInstanceUID"),
        series_uid=_text(ds, "SeriesInstanceUID"),
        sop_uid=_text(ds, "SOPInstanceUID") or blob_name,
        sop_class_uid=_text(ds, "SOPClassUID") or (_text(meta, "MediaStorageSOPClassUID") if meta else ""),
        transfer_syntax=_text(meta, "TransferSyntaxUID") if meta is not None else "",
        blob_name=blob_name,
        blob_id=blob_id,
        size=size,
        preview_blob_id=preview_blob_id,
        patient_name=_text(ds, "PatientName"),
        patient_id=_text(ds, "PatientID"),
        study_date=_text(ds, "StudyDate"),
        study_time=_text(ds, "StudyTime"),
        accession_number=_text(ds, "AccessionNumber"),
        study_id=_text(ds, "StudyID"),
        referring_physician=_text(ds, "ReferringPhysicianName"),
        study_description=_text(ds, "StudyDescription"),
        modality=_text(ds, "Modality"),
        series_number=_int(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription"),
        instance_number=_int(ds, "InstanceNumber"),
        study_json=subset_json(ds, STUDY_ATTRIBUTES, whole),
        series_json=subset_json(ds, SERIES_ATTRIBUTES, whole),
        instance_json=subset_json(ds, INSTANCE_ATTRIBUTES, whole),
    )


def images_of(xml: bytes) -> Iterator[tuple[str, str | None]]:
    """(image blob name, preview blob name) of every image a study thing's XML lists."""
    return _images_in(etree.fromstring(xml, _PARSER))


def _images_in(root: Any) -> Iterator[tuple[str, str | None]]:
    for image in root.iterfind("data-xml/medical-image-study/series/images"):
        name = (image.findtext("image-blob-name") or "").strip()
        if name:
            yield name, (image.findtext("image-preview-blob-name") or "").strip() or None


def study_uid_in(root: Any) -> str:
    """The Study Instance UID a stored study thing (its parsed XML) names ("" for none)."""
    return str(root.findtext("data-xml/medical-image-study/study-instance-uid") or "").strip()


def index_version(platform: Platform, version_stamp: str) -> list[DicomInstance]:
    """The index rows of one version of a study thing."""
    return _indexed(platform, version_stamp)[0]


def _indexed(platform: Platform, version_stamp: str) -> tuple[list[DicomInstance], str]:
    """The index rows of one version of a study thing, and the Study Instance UID its XML names."""
    with platform.store.read() as tx:
        xml = tx.things.xml(version_stamp)
        blobs = {ref.name: ref.blob_id for ref in tx.things.blob_refs(version_stamp)}
    root = etree.fromstring(xml, _PARSER)
    study_uid = study_uid_in(root)
    rows: list[DicomInstance] = []
    seen: set[str] = set()
    for name, preview in _images_in(root):
        blob_id = blobs.get(name)
        if blob_id is None or name in seen:
            continue
        seen.add(name)
        ds = read_header(platform.files, blob_id)
        if ds is None:
            continue
        rows.append(instance_row(ds, name, blob_id, platform.files.size(blob_id), blobs.get(preview or "")))
    return rows, study_uid


def refresh(platform: Platform, record_id: str) -> int:
    """Bring the record's index up to date; returns how many versions were indexed."""
    with platform.store.read() as tx:
        stale = tx.dicom.stale(record_id, STUDY_TYPES)
        gone = tx.dicom.gone(record_id)
    updated = {thing_id for thing_id, _ in stale}
    dropped = [thing_id for thing_id in gone if thing_id not in updated]
    if dropped:
        retried(functools.partial(_forget, platform, dropped))
    for start in range(0, len(stale), BATCH):
        batch = [(thing_id, stamp, *_indexed(platform, stamp)) for thing_id, stamp in stale[start : start + BATCH]]
        retried(functools.partial(_replace, platform, record_id, batch))
    return len(stale)


class Freshness:
    """Whether a record's index is current, remembered between requests: a
    refresh reads every study thing of the record (tens of milliseconds at
    10,000 studies), the fingerprint of their changes
    (:meth:`~..store.studylist.StudyListTable.changes`) one index range. A
    record is refreshed only when its fingerprint moved since the last refresh
    this process made; taken before the refresh reads, a fingerprint never
    stands for more than the refresh saw."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._seen: dict[str, tuple[int, float, float]] = {}
        self._lock = threading.Lock()

    def refresh(self, platform: Platform, record_id: str) -> int:
        """Bring the record's index up to date if its things changed; how many versions were indexed."""
        with platform.store.read() as tx:
            now = tx.dicom.changes(record_id, STUDY_TYPES)
        with self._lock:
            if self._seen.get(record_id) == now:
                return 0
        indexed = refresh(platform, record_id)
        with self._lock:
            if len(self._seen) >= self.limit:
                self._seen.clear()
            self._seen[record_id] = now
        return indexed


def warm_reads(tx: Transaction) -> None:
    """The reads of DICOMweb requests, on keys that match nothing: what a shared
    store prepares on each new connection (:meth:`~..store.postgres.PostgresStore.warm`).
    Each is the statement a request runs (the same text and parameter types): the
    application's authorization, the index's freshness (:func:`refresh`), a QIDO-RS
    of studies without matching keys, and WADO-RS's instances of a study (the files,
    their metadata)."""
    tx.records.authorized("", "")
    tx.dicom.stale("", STUDY_TYPES)
    tx.dicom.gone("")
    tx.dicom.search("", dicom_for_applications(DicomQuery(STUDY, limit=1)))
    study = (DicomMatch("study_uid", "uids", ("",)),)
    for metadata in (False, True):
        tx.dicom.search("", dicom_for_applications(DicomQuery(INSTANCE, study, metadata=metadata)))


def after_put(platform: Platform, record_id: str, type_ids: set[str]) -> None:
    """Index the studies PutThings just stored (``hvgen study upload``, any
    client), before it answers: the first query after needs no catch-up."""
    if type_ids.intersection(STUDY_TYPES):
        refresh(platform, record_id)


def _forget(platform: Platform, thing_ids: list[str]) -> None:
    with platform.store.write() as tx:
        tx.dicom.forget(thing_ids)


def _replace(platform: Platform, record_id: str, batch: list[tuple[str, str, list[DicomInstance], str]]) -> None:
    """Index a batch of versions (another server process of a shared store may be indexing them too)."""
    with platform.store.write() as tx:
        for thing_id, stamp, rows, study_uid in batch:
            tx.dicom.replace(record_id, thing_id, stamp, rows, study_uid)
