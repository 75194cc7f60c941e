"""Studies of a record as the viewer shows them, read from the store.

A study is read from its stored version: the thing's XML with a blob
payload naming the blobs the version holds (name, content type, length; no
bytes), bound as a ``Thing2`` and summarized by :mod:`hvgen_imaging.results`
(which needs the runtime only, not the imaging extra). A signed study's
signature is checked as PutThings checked it: against the hashes of the
bytes the platform holds.

A version never changes, so what was read of it is kept, by version stamp,
for the next page that shows it (:class:`StudyCache`).
"""

from __future__ import annotations

import datetime as dt
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID
from lxml import etree

from healthvault import codec, verification
from healthvault.bindings.things import medical_image_study as v1
from healthvault.bindings.things import medical_image_study_2 as v2
from healthvault.errors import HealthVaultError
from hvgen_imaging.results import details, study_of

from .. import appview, thingxml
from ..appview import current_flags
from ..store import Store
from ..store.rows import ACTIVE, ThingFilter, ThingSelection, ThingVersion, VersionBlob

#: Type ids of medical image studies (version 2, then 1).
STUDY_TYPES = (str(v2.MedicalImageStudy.TYPE_ID), str(v1.MedicalImageStudy.TYPE_ID))
#: Studies on one page of a record's list.
PAGE_SIZE = 50
#: Blob URL of blobs named in a payload built here (their bytes are the platform's own).
STORED_BLOB = "urn:hvgen:stored-blob"


@dataclass(frozen=True)
class Signature:
    """Who signed a study, and whether the signature holds."""

    valid: bool
    #: The certificate's common name (else its whole subject; "" when unknown).
    signer: str
    #: The certificate's subject as RFC 4514 text ("" when unknown).
    subject: str
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Blob:
    blob_id: str
    content_type: str
    size: int
    hash: str | None


@dataclass(frozen=True)
class Image:
    #: Blob name of the DICOM file.
    name: str
    size: int
    #: Blob name of its preview (a JPEG), if it has one.
    preview: str | None


@dataclass(frozen=True)
class Series:
    #: Position in the study, from 1.
    number: int
    uid: str | None
    description: str | None
    modality: str | None
    body_part: str | None
    institution: str | None
    acquired: dt.datetime | dt.date | None
    #: Blob name of the preview that stands for the series.
    preview: str | None
    images: tuple[Image, ...]

    @property
    def size(self) -> int:
        return sum(i.size for i in self.images)


@dataclass(frozen=True)
class Study:
    """One stored study version, as the pages show it."""

    thing_id: str
    version_stamp: str
    type_version: int
    study_uid: str | None
    patient: str | None
    when: dt.datetime | dt.date
    description: str | None
    accession_number: str | None
    preview: str | None
    series: tuple[Series, ...]
    signature: Signature | None
    blobs: dict[str, Blob] = field(default_factory=dict, compare=False)
    #: None: the study could be read (see :class:`Unreadable`).
    problem: None = None
    #: The thing's flags (:mod:`..appview`: personal, hidden from the emergency profile, read-only).
    flags: int = 0

    @property
    def images(self) -> int:
        return sum(len(s.images) for s in self.series)

    @property
    def personal(self) -> bool:
        return bool(self.flags & appview.PERSONAL)

    @property
    def hidden_from_eprep(self) -> bool:
        return bool(self.flags & appview.HIDDEN_FROM_EPREP)

    @property
    def read_only(self) -> bool:
        return bool(self.flags & appview.READ_ONLY)

    @property
    def size(self) -> int:
        return sum(s.size for s in self.series)

    @property
    def modalities(self) -> tuple[str, ...]:
        """Each modality of its series once, in series order."""
        return tuple(dict.fromkeys(s.modality for s in self.series if s.modality))

    @property
    def previews(self) -> set[str]:
        return {i.preview for s in self.series for i in s.images if i.preview} | {
            p for p in [self.preview, *(s.preview for s in self.series)] if p
        }

    @property
    def image_names(self) -> set[str]:
        return {i.name for s in self.series for i in s.images}


@dataclass(frozen=True)
class Unreadable:
    """A stored study thing whose content the viewer cannot read."""

    thing_id: str
    version_stamp: str
    problem: str
    flags: int = 0


@dataclass(frozen=True)
class Page:
    """One page of a record's studies, newest first."""

    rows: list[Study | Unreadable]
    number: int
    pages: int
    total: int

    @property
    def first(self) -> int:
        """Position of the first row in the whole list, from 1 (0 when empty)."""
        return (self.number - 1) * PAGE_SIZE + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0


# -- reading one version ----------------------------------------------------------------


def _payload(blobs: Iterable[VersionBlob]) -> etree._Element:
    payload = thingxml.element("blob-payload")
    for stored in blobs:
        blob = thingxml.element("blob")
        info = thingxml.element("blob-info")
        info.append(thingxml.element("name", stored.name))
        info.append(thingxml.element("content-type", stored.content_type))
        blob.append(info)
        blob.append(thingxml.element("content-length", str(stored.blob.received)))
        blob.append(thingxml.element("blob-ref-url", STORED_BLOB))
        payload.append(blob)
    return payload


def _moment(value: Any) -> dt.datetime | dt.date | None:
    """A structured date-time binding as a date, or a date-time when it has a time."""
    if value is None:
        return None
    date = value.date
    day = dt.date(date.y, date.m, date.d)
    time = value.time
    if time is None:
        return day
    return dt.datetime(day.year, day.month, day.day, time.h, time.m, time.s or 0)


def _signer(certificate: x509.Certificate | None) -> tuple[str, str]:
    if certificate is None:
        return "", ""
    subject = certificate.subject.rfc4514_string()
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common = str(names[0].value) if names else ""
    return common or subject, subject


def _signature(root: etree._Element, blobs: list[VersionBlob], trust: list[x509.Certificate] | None) -> Signature:
    hashes = {b.name: (b.blob.hash, b.blob.block_size) for b in blobs if b.blob.hash}
    try:
        check = verification.verify(root, blob_hashes=hashes, trust=trust)
    except HealthVaultError as exc:
        return Signature(False, "", "", (f"signature-info: {exc}",))
    signer, subject = _signer(check.certificate)
    return Signature(check.valid, signer, subject, tuple(str(p) for p in check.problems))


def read_study(
    version: ThingVersion, blobs: list[VersionBlob], trust: list[x509.Certificate] | None = None
) -> Study | Unreadable:
    """What the viewer shows of a stored study version (``version.xml`` must be set)."""
    try:
        root = thingxml.parse_stored(version.xml)
        if blobs:
            thingxml.set_child(root, "blob-payload", _payload(blobs))
        with warnings.catch_warnings():
            # the platform checked the data when it was written; what reads
            # oddly now is shown as far as it can be
            warnings.simplefilter("ignore")
            thing = codec.read_thing(root)
            summary = details(thing)
            data = study_of(thing)
            when = _moment(data.when)
            series_data = list(data.series)
            acquired = [_moment(s.acquisition_datetime) for s in series_data]
            previews = [s.preview_blob_name for s in series_data]
            study_preview = data.preview_blob_name
    except (HealthVaultError, ValueError, TypeError, AttributeError) as exc:
        return Unreadable(
            version.thing_id, version.version_stamp, f"its content cannot be read: {exc}", current_flags(version)
        )
    assert when is not None  # `when` is required
    signature = _signature(root, blobs, trust) if thingxml.child(root, "signature-info") is not None else None
    series = tuple(
        Series(
            number=n + 1,
            uid=s.series_uid,
            description=s.description,
            modality=s.modality,
            body_part=s.body_part,
            institution=s.institution,
            acquired=acquired[n],
            preview=previews[n],
            images=tuple(Image(i.name, i.bytes, i.preview) for i in s.images),
        )
        for n, s in enumerate(summary.series_list)
    )
    return Study(
        thing_id=version.thing_id,
        version_stamp=version.version_stamp,
        type_version=summary.version,
        study_uid=summary.study_uid,
        patient=summary.patient,
        when=when,
        description=summary.description,
        accession_number=summary.accession_number,
        preview=study_preview,
        series=series,
        signature=signature,
        blobs={b.name: Blob(b.blob.blob_id, b.content_type, b.blob.received, b.blob.hash) for b in blobs},
        flags=current_flags(version),
    )


# -- the cache ------------------------------------------------------------------------------


class StudyCache:
    """Studies read, by version stamp, up to about ``max_images`` images in all
    (the least recently shown go first)."""

    def __init__(self, max_images: int = 100_000) -> None:
        self.max_images = max_images
        self._found: OrderedDict[str, Study | Unreadable] = OrderedDict()
        self._images = 0
        self._lock = threading.Lock()

    @staticmethod
    def _weight(study: Study | Unreadable) -> int:
        return 1 + (study.images if isinstance(study, Study) else 0)

    def get(self, version_stamp: str) -> Study | Unreadable | None:
        with self._lock:
            found = self._found.get(version_stamp)
            if found is not None:
                self._found.move_to_end(version_stamp)
            return found

    def put(self, study: Study | Unreadable) -> None:
        with self._lock:
            if study.version_stamp in self._found:
                return
            self._found[study.version_stamp] = study
            self._images += self._weight(study)
            while self._images > self.max_images and len(self._found) > 1:
                _, gone = self._found.popitem(last=False)
                self._images -= self._weight(gone)

    def __len__(self) -> int:
        return len(self._found)


# -- what the pages ask for -------------------------------------------------------------------


class Studies:
    """The studies of the platform's records, read through the store."""

    def __init__(self, store: Store, trust: list[x509.Certificate] | None = None, cache: StudyCache | None = None):
        self.store = store
        self.trust = trust
        self.cache = cache or StudyCache()

    def _read(self, version: ThingVersion, xml: bytes, blobs: list[VersionBlob]) -> Study | Unreadable:
        study = read_study(version._replace(xml=xml), blobs, self.trust)
        self.cache.put(study)
        return study

    def count(self, record_id: str, hidden_flags: int = 0) -> int:
        """How many studies the record has (those with any of ``hidden_flags`` left out)."""
        with self.store.read() as tx:
            return tx.things.count(record_id, ThingFilter(type_ids=STUDY_TYPES), hidden_flags=hidden_flags)

    def page(self, record_id: str, number: int, hidden_flags: int = 0) -> Page:
        """Page ``number`` (from 1; past the last: the last) of the record's studies, newest first
        (those with any of ``hidden_flags`` left out)."""
        wanted = ThingFilter(type_ids=STUDY_TYPES)
        with self.store.read() as tx:
            total = tx.things.count(record_id, wanted, hidden_flags=hidden_flags)
            pages = max(1, -(-total // PAGE_SIZE))
            number = min(max(number, 1), pages)
            found = list(
                tx.things.select(
                    record_id,
                    ThingSelection(hidden_flags=hidden_flags),
                    [wanted],
                    limit=PAGE_SIZE,
                    offset=(number - 1) * PAGE_SIZE,
                )
            )
            rows: list[Study | Unreadable] = []
            for match in found:
                version = match.version
                cached = self.cache.get(version.version_stamp)
                if cached is None:
                    stamp = version.version_stamp
                    cached = self._read(version, tx.things.xml(stamp), tx.things.version_blobs(stamp))
                rows.append(cached)
        return Page(rows, number, pages, total)

    def study(self, record_id: str, thing_id: str, hidden_flags: int = 0) -> Study | Unreadable | None:
        """The current version of an active study of the record, or None (also when
        it has any of ``hidden_flags``)."""
        with self.store.read() as tx:
            version = tx.things.current(record_id, thing_id)
            if version is None or version.state != ACTIVE or version.type_id not in STUDY_TYPES:
                return None
            if current_flags(version) & hidden_flags:
                return None
            cached = self.cache.get(version.version_stamp)
            if cached is not None:
                return cached
            return self._read(version, version.xml, tx.things.version_blobs(version.version_stamp))

    def xml(self, study: Study | Unreadable) -> bytes:
        with self.store.read() as tx:
            return tx.things.xml(study.version_stamp)
