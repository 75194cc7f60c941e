"""What the store holds, as the method code sees it: plain rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

#: Blob states: an upload in progress, finished by the client, part of a thing or package.
UPLOADING, COMPLETE, COMMITTED = "uploading", "complete", "committed"
#: Blob kinds: bytes of a record's thing, or an encrypted connect-package blob.
RECORD_BLOB, PACKAGE_BLOB = "record", "package"
#: Package states: allocated (an id only), pending (created, waiting for its
#: person), picking (the right answer was given; its pick-up job runs),
#: picked, locked (three wrong answers).
ALLOCATED, PENDING, PICKING, PICKED, LOCKED = "allocated", "pending", "picking", "picked", "locked"
#: Pick-up job states.
RUNNING, DONE, FAILED = "running", "done", "failed"
#: Thing (and thing version) states.
ACTIVE, DELETED = "Active", "Deleted"
#: Kinds of person tokens: the ``wctoken`` the sign-in page hands an
#: application (sent back as ``user-auth-token``), and a signed-in browser.
WCTOKEN, BROWSER = "wctoken", "browser"
#: More kinds: a one-time link to the study viewer an application asked for
#: (CreateViewerLink), and the browser session such a link opened (viewer
#: pages only, reaching the records of the link's application).
VIEWER_LINK, VIEWER = "viewer-link", "viewer"


@dataclass(frozen=True)
class Application:
    """A registered application: its certificate, and where the sign-in
    page sends a person back to (None: a page of the platform says done)."""

    app_id: str
    name: str
    cert_pem: str
    thumbprint: str
    action_url: str | None = None
    #: The versions of versioned thing types it reads and writes: type ids,
    #: space-separated ("": each thing as stored).
    type_versions: str = ""


@dataclass(frozen=True)
class SessionRow:
    """An application's session: the key of its requests' HMAC and the
    HMAC algorithm (``HMACSHA256`` or ``HMACSHA1``) it was opened with."""

    token: str
    app_id: str
    secret: bytes
    expires: float
    algorithm: str = "HMACSHA256"


@dataclass(frozen=True)
class Person:
    """Someone who signs in and authorizes applications for their records.

    ``password_hash`` is None for a person who cannot sign in (yet).
    """

    person_id: str
    login: str
    name: str
    password_hash: str | None
    created: float


@dataclass(frozen=True)
class RecordRow:
    """A record and the person it belongs to."""

    record_id: str
    person_id: str
    name: str


@dataclass(frozen=True)
class PersonToken:
    """A signed-in person: a ``wctoken`` for one application, or a browser
    session (``app_id`` None). The store keeps a digest of the token only."""

    digest: str
    kind: str
    person_id: str
    app_id: str | None
    created: float
    expires: float


@dataclass(frozen=True)
class AlternateId:
    """An application's own name for a person and record."""

    app_id: str
    alternate_id: str
    person_id: str
    record_id: str
    created: float


class ThingVersion(NamedTuple):
    """One version of a thing, with the thing's dates (a named tuple: made
    straight from a row of the things query, many at a time).

    ``created``, ``updated`` and ``eff_date`` are the thing's (epoch seconds,
    and ISO text for the effective date); the rest are the version's.
    ``xml`` is empty when the query asked for the version without it.
    """

    thing_id: str
    type_id: str
    version_stamp: str
    state: str
    eff_date: str
    created: float
    updated: float
    xml: bytes
    seq: int
    #: Where the version's top-level nodes are in ``xml`` (:func:`..thingxml.layout`), if known.
    layout: str | None = None
    #: The thing's flags (those of its current version: Personal 0x1, HiddenFromEPrep 0x8, ReadOnly 0x10).
    flags: int = 0


@dataclass(frozen=True)
class ThingFilter:
    """What the store matches of a GetThings filter (None: no bound).

    Dates of the effective date are ISO text (they sort like time); created
    and updated are epoch seconds; audit ids are lower-case.
    """

    type_ids: tuple[str, ...] = ()
    states: tuple[str, ...] = (ACTIVE,)
    eff_date_min: str | None = None
    eff_date_max: str | None = None
    created_min: float | None = None
    created_max: float | None = None
    updated_min: float | None = None
    updated_max: float | None = None
    created_app_id: str | None = None
    created_person_id: str | None = None
    updated_app_id: str | None = None
    updated_person_id: str | None = None


class Match(NamedTuple):
    """A version a query found, and which of its filters it matched
    (their indexes; empty when the query has no filters)."""

    version: ThingVersion
    filters: tuple[int, ...]


@dataclass(frozen=True)
class ThingSelection:
    """Which things (and versions) a GetThings group asks for, before filters.

    Empty tuples select nothing by that criterion; ``keys`` maps a thing id
    to the version stamp wanted ("" for any of its versions).
    """

    thing_ids: tuple[str, ...] = ()
    client_thing_ids: tuple[str, ...] = ()
    keys: dict[str, str] = field(default_factory=dict)
    all_versions: bool = False
    #: Things with any of these flags are left out, as if they were not
    #: there (:mod:`hvgen_server.appview`: personal things for applications).
    hidden_flags: int = 0


@dataclass(frozen=True)
class BlobRef:
    """A named blob of a thing version."""

    name: str
    content_type: str
    blob_id: str


@dataclass
class BlobRow:
    """The state of a blob: how far its upload got, and its hash once complete."""

    blob_id: str
    record_id: str | None
    kind: str
    chunk_size: int | None
    state: str
    received: int
    total: int | None
    last_range: str | None
    block_size: int
    block_digests: bytes
    hash: str | None
    created: float
    expires: float
    #: Where the bytes of an upload in progress are, as the blob bytes'
    #: backend keeps track of them (opaque to everything else; "" for files).
    files_state: str = ""


@dataclass(frozen=True)
class VersionBlob:
    """A named blob of a thing version, with its state."""

    name: str
    content_type: str
    blob: BlobRow


@dataclass(frozen=True)
class PackageContent:
    """What CreateConnectPackage stores about a package."""

    friendly_name: str | None
    question: str | None
    external_id: str | None
    package_xml: bytes


@dataclass(frozen=True)
class Package:
    identity_code: str
    app_id: str
    state: str
    friendly_name: str | None
    question: str | None
    external_id: str | None
    package_xml: bytes | None
    attempts: int
    created: float
    expires: float
    picked_record: str | None
    #: Answers checked and found wrong (``attempts`` counts those being checked too).
    wrong_answers: int = 0


@dataclass(frozen=True)
class Pickup:
    """The pick-up job of a package, once its right answer was given."""

    identity_code: str
    record_id: str
    verifier: bytes
    state: str
    done: int
    total: int
    error_code: int | None
    error_message: str | None
    thing_keys: str | None
    started: float
    updated: float


#: Levels of a DICOM query (QIDO-RS).
STUDY, SERIES, INSTANCE = "study", "series", "instance"


#: What stands for an instance's URL in its stored metadata (replaced by the URL when it is served).
METADATA_URL = "hvgen-instance:"


@dataclass(frozen=True)
class DicomInstance:
    """One DICOM image of a medical image study thing, as the DICOM index
    keeps it: where its bytes are, the attributes queries match on, and the
    attributes a query answer returns (DICOM JSON text, by level)."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    transfer_syntax: str
    blob_name: str
    blob_id: str
    size: int
    preview_blob_id: str | None
    patient_name: str
    patient_id: str
    study_date: str
    study_time: str
    accession_number: str
    study_id: str
    referring_physician: str
    study_description: str
    modality: str
    series_number: int | None
    series_description: str
    instance_number: int | None
    study_json: str
    series_json: str
    instance_json: str
    thing_id: str = ""
    #: The instance's metadata (DICOM JSON, bulk data URIs under :data:`METADATA_URL`), stored
    #: when it was indexed; None: not stored (read from the file when asked). Read only by
    #: queries that ask for it (:attr:`DicomQuery.metadata`).
    metadata_json: str | None = None


@dataclass(frozen=True)
class DicomMatch:
    """One matching key of a DICOM query on an indexed column.

    ``kind``: ``uids`` (any of ``values``), ``value`` (exactly),
    ``wildcard`` (``*`` and ``?``, case-sensitive), ``name`` (a person name:
    wildcards, case-insensitive), ``range`` (``values`` = (first, last),
    either may be "" for no bound), ``any`` (at least one row of the study
    has one of ``values``: ModalitiesInStudy).
    """

    column: str
    kind: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class DicomQuery:
    """A DICOM query of one level over the record's index."""

    level: str
    matches: tuple[DicomMatch, ...] = ()
    limit: int | None = None
    offset: int = 0
    #: Studies whose thing has any of these flags are left out (:mod:`hvgen_server.appview`).
    hidden_flags: int = 0
    #: Whether the instances' stored metadata is read too (:attr:`DicomInstance.metadata_json`).
    metadata: bool = False


@dataclass(frozen=True)
class DicomHit:
    """A study, series or instance a query found: a representative instance
    and the counts of its level (series and instances below it, modalities)."""

    instance: DicomInstance
    series: int
    instances: int
    modalities: tuple[str, ...]


#: Kinds of remote DICOM nodes: a DIMSE peer (AE title, host, port) or a DICOMweb service (URL).
DIMSE, DICOMWEB = "dimse", "dicomweb"


@dataclass(frozen=True)
class DicomNode:
    """A remote DICOM node the platform sends to and retrieves from, and a
    C-MOVE destination: a DIMSE peer (``ae_title``, ``host``, ``port``) or a
    DICOMweb service (``url``, and the file holding its bearer token, if any:
    the token itself is not kept in the store)."""

    name: str
    kind: str
    ae_title: str = ""
    host: str = ""
    port: int = 0
    url: str = ""
    token_file: str = ""
    created: float = 0.0


@dataclass(frozen=True)
class FhirFact:
    """What FHIR searches match of one thing version: the resource type it
    is served as, one of its codes (``system|code``, '' for none), its
    category ('' for none) and its date (``YYYY-MM-DDTHH:MM:SS``, UTC; ''
    for none)."""

    resource_type: str
    code: str = ""
    category: str = ""
    date: str = ""


class FhirRow(NamedTuple):
    """A thing the FHIR index finds: its current version, and the resource
    stored with the version (``resource``: JSON text, made in ``form``; ''
    when the version has none: it is made from the thing's XML)."""

    thing_id: str
    version_stamp: str
    type_id: str
    updated: float
    flags: int
    resource: str
    form: str


@dataclass(frozen=True)
class FhirExport:
    """A bulk export job (``$export``), kept in the store: its record, whose
    view it is (``app_id``; '' for the person's), the resource types and
    ``since`` (epoch seconds; None for everything) asked for, its state
    (``running``, ``done`` or ``failed``, with ``error``), the count of each
    type's file (JSON), when it started (its transaction time) and when its
    runner last said it was alive (``heartbeat``)."""

    job_id: str
    record_id: str
    app_id: str
    types: tuple[str, ...]
    since: float | None
    state: str
    error: str
    counts: str
    started: float
    heartbeat: float
    request: str


@dataclass(frozen=True)
class FhirQuery:
    """A FHIR search over the record's index: every condition given must
    hold. ``dates`` are (operator, value) pairs, operators ``=``, ``>=``,
    ``<=``, ``>``, ``<`` on the fact's date (text compared, values of the
    same form); ``updated`` the same on the thing's update time (epoch
    seconds)."""

    resource_type: str
    codes: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    dates: tuple[tuple[str, str], ...] = ()
    updated: tuple[tuple[str, float], ...] = ()
    limit: int = 50
    offset: int = 0
    #: Things with any of these flags are left out (matched and counted as absent).
    hidden_flags: int = 0


#: Columns the viewer's study list sorts by.
STUDY_SORTS = (
    "patient",
    "patient_id",
    "birth_date",
    "date",
    "description",
    "modalities",
    "accession",
    "series",
    "images",
    "size",
)


@dataclass(frozen=True)
class StudyListQuery:
    """A page of a record's study things as the viewer lists them.

    Patterns are SQL ``LIKE`` patterns (escape character ``\\``) matched
    against values lower-cased with ``^`` read as a space; dates are
    ``YYYYMMDD``. Sorted by date, studies without a study date come last in either order.
    """

    patient: str = ""
    accession: str = ""
    description: str = ""
    date_from: str = ""
    date_to: str = ""
    #: A modality one of the study's images has (upper case).
    modality: str = ""
    sort: str = "date"
    descending: bool = True
    limit: int = 50
    offset: int = 0
    #: Studies whose thing has any of these flags are left out (:mod:`hvgen_server.appview`).
    hidden_flags: int = 0


@dataclass(frozen=True)
class StudyListRow:
    """One study thing of the list, as its images' index rows describe it."""

    thing_id: str
    version_stamp: str
    patient_name: str
    patient_id: str
    birth_date: str
    study_date: str
    study_time: str
    accession_number: str
    study_description: str
    series: int
    images: int
    size: int
    modalities: tuple[str, ...]
