"""Query/retrieve services of the DICOM listener: C-FIND, C-GET and C-MOVE
(Patient Root and Study Root) over the studies of the listener's record.

The listener answers from an :class:`Archive`. :class:`WebArchive` is the
record as the platform's DICOMweb service shows it (QIDO-RS over the DICOM
index, WADO-RS for the files, a bearer token the platform issues to the
listener's application and renewed before it expires); so the standalone
``hvgen dicom listen`` answers for any platform it stores into.

* C-FIND: the identifier's keys with values match (wildcards, ranges and UID
  lists as QIDO-RS matches them; keys the index does not hold are matched on
  the answers, :mod:`.qrfind`); its empty keys are returned. PATIENT level
  (Patient Root) is the studies' patients, one answer per Patient ID, with
  their numbers of studies, series and instances. Each answer names the
  character set its values need.
* C-GET: the matching instances go back on the same association, each file
  as stored (its own transfer syntax) when the requestor accepted that,
  else decompressed or made little endian (:mod:`.qrsend`).
* C-MOVE: to a destination named by its AE title (``--move-to
  AE@HOST:PORT``), on an association proposing the SOP classes and transfer
  syntaxes of the files, and uncompressed little endian for those stored
  compressed or big endian. A destination that cannot be reached is
  answered 0xA702 with an Error Comment (0xA801 is for an unknown one).
* A retrieval that fails before any sub-operation (no unique key, the files
  cannot be read) is answered with a failure status, an Error Comment, no
  sub-operations and no data set.

Files are fetched to a temporary folder first and removed afterwards; each
goes out as pynetdicom's sub-operations take it, a data set read with its
large values left on disk until it is encoded (one instance in memory at a
time).
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from . import qrfind, qrsend, webpeer
from .peers import LEVELS, Node, PeerError

FIND_MODELS = (PatientRootQueryRetrieveInformationModelFind, StudyRootQueryRetrieveInformationModelFind)
RETRIEVE_MODELS = (
    PatientRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelMove,
)
#: Patient-level attributes a PATIENT query can return.
PATIENT_KEYS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")
#: C-FIND, C-GET and C-MOVE statuses (PS3.4 C.4).
PENDING, PENDING_WARNING, SUCCESS = 0xFF00, 0xFF01, 0x0000
OUT_OF_RESOURCES, IDENTIFIER_DOES_NOT_MATCH, CANCELLED = 0xA700, 0xA900, 0xFE00
UNABLE_TO_PROCESS, UNABLE_TO_SUBOPERATE, MOVE_DESTINATION_UNKNOWN = 0xC000, 0xA702, 0xA801


class Archive(Protocol):
    """What the listener answers queries and retrievals from."""

    def find(self, level: str, keys: dict[str, str], returned: list[str]) -> list[Dataset]:
        """The matches at ``level`` (STUDY, SERIES or IMAGE) with the keys returned."""

    def fetch(self, keys: dict[str, str], out: Path) -> list[Path]:
        """The files of the instances matching ``keys`` (study, series, SOP instance UIDs), written under ``out``."""


class WebArchive:
    """The record through the platform's DICOMweb service; ``issue()`` gives
    (base URL, bearer token, expiry as epoch seconds) and is called again
    when the token has less than a minute left."""

    def __init__(self, issue: Callable[[], tuple[str, str, float]]) -> None:
        self._issue = issue
        self._node: webpeer.WebNode | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def node(self) -> webpeer.WebNode:
        with self._lock:
            if self._node is None or time.time() > self._expires - 60:
                url, token, self._expires = self._issue()
                self._node = webpeer.WebNode(url, token)
            return self._node

    def find(self, level: str, keys: dict[str, str], returned: list[str]) -> list[Dataset]:
        return webpeer.find(self.node(), level, keys, returned=returned)

    def fetch(self, keys: dict[str, str], out: Path) -> list[Path]:
        node = self.node()
        transfer = webpeer.get_matching(node, keys, out)
        failed = transfer.failed
        if failed:
            raise PeerError(f"{len(failed)} instance(s) could not be read: {failed[0].reason}")
        return [Path(o.path) for o in transfer.outcomes if o.state == "received"]


def _split(identifier: Dataset) -> tuple[str, dict[str, str], list[str]]:
    """(level, matching keys, return keys) of a C-FIND identifier."""
    level = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    if level not in LEVELS:
        raise PeerError(f"Query/Retrieve Level {level or '(none)'} is not one of {', '.join(LEVELS)}")
    keys: dict[str, str] = {}
    returned: list[str] = []
    for element in identifier:
        keyword = element.keyword
        if not keyword or keyword in ("QueryRetrieveLevel", "SpecificCharacterSet") or element.VR == "SQ":
            continue
        value = element.value
        if isinstance(value, MultiValue | list | tuple):
            text = "\\".join(str(v) for v in value)
        else:
            text = "" if value is None else str(value)
        if text.strip():
            keys[keyword] = text.strip()
        else:
            returned.append(keyword)
    return level, keys, returned


def _answer(identifier: Dataset, match: Dataset, level: str, stored: list[str] | None = None) -> Dataset:
    """The identifier's keys with the match's values (empty where it has none), in the character
    set they need (``stored``: those the match's values were stored in, else the match's own)."""
    out = Dataset()
    out.QueryRetrieveLevel = level
    for element in identifier:
        if element.keyword in ("QueryRetrieveLevel", "SpecificCharacterSet"):
            continue
        if element.tag in match:
            out[element.tag] = match[element.tag]
        else:
            out.add_new(element.tag, element.VR, None)
    needed = qrfind.charset(out, stored if stored is not None else [qrfind.stored_charset(match)])
    if needed:
        out.SpecificCharacterSet = needed.split("\\")
    return out


#: Counts of a patient, summed from its studies' counts.
_PATIENT_COUNTS = {
    "NumberOfPatientRelatedStudies": "",
    "NumberOfPatientRelatedSeries": "NumberOfStudyRelatedSeries",
    "NumberOfPatientRelatedInstances": "NumberOfStudyRelatedInstances",
}


def _patients(studies: list[Dataset]) -> list[tuple[Dataset, list[str]]]:
    """The patients of the matching studies (one per Patient ID, with its studies' counts
    summed), each with the character sets its studies were stored in."""
    patients: dict[str, tuple[Dataset, list[str]]] = {}
    for ds in studies:
        pid = str(ds.get("PatientID", "") or "")
        if pid not in patients:
            patient = Dataset()
            for element in ds:
                if element.keyword not in ("SpecificCharacterSet", "QueryRetrieveLevel"):
                    patient.add(element)
            for keyword in _PATIENT_COUNTS:
                setattr(patient, keyword, 0)
            patients[pid] = (patient, [])
        patient, charsets = patients[pid]
        charsets.append(qrfind.stored_charset(ds))
        for keyword, per_study in _PATIENT_COUNTS.items():
            add = int(ds.get(per_study) or 0) if per_study else 1
            setattr(patient, keyword, int(patient.get(keyword)) + add)
    return list(patients.values())


def _matches(archive: Archive, identifier: Dataset) -> tuple[str, list[tuple[Dataset, list[str] | None, bool]]]:
    """The level and the answers of a C-FIND: (match, the character sets it was stored in, whether
    every key with a value was matched)."""
    level, keys, returned = _split(identifier)
    find_level = "STUDY" if level == "PATIENT" else level
    indexed = {k: v for k, v in keys.items() if k in qrfind.INDEX_KEYS and (level != "PATIENT" or k in PATIENT_KEYS)}
    optional = {k: v for k, v in keys.items() if k not in indexed}
    wanted = list(dict.fromkeys([*returned, *optional, *(PATIENT_KEYS if level == "PATIENT" else ())]))
    wanted = [k for k in wanted if k not in indexed and k not in _PATIENT_COUNTS]
    unmatched = bool(qrfind.sequence_keys(identifier))
    found: list[tuple[Dataset, bool]] = []
    for ds in archive.find(find_level, indexed, wanted):
        ok, complete = qrfind.checked(ds, optional)
        if ok:
            found.append((ds, complete and not unmatched))
    if level != "PATIENT":
        return level, [(ds, None, complete) for ds, complete in found]
    every = all(complete for _, complete in found)
    return level, [(p, charsets, every) for p, charsets in _patients([ds for ds, _ in found])]


def handle_find(archive: Archive, event: Any) -> Iterator[tuple[int, Dataset | None]]:
    """The EVT_C_FIND handler."""
    try:
        level, matches = _matches(archive, event.identifier)
    except PeerError as exc:
        yield _failure(IDENTIFIER_DOES_NOT_MATCH if "Level" in str(exc) else UNABLE_TO_PROCESS, str(exc)), None
        return
    for match, stored, complete in matches:
        if event.is_cancelled:
            yield CANCELLED, None
            return
        yield PENDING if complete else PENDING_WARNING, _answer(event.identifier, match, level, stored)


def _failure(code: int, comment: str) -> Any:
    status = Dataset()
    status.Status = code
    status.ErrorComment = comment[:64]
    return status


def _retrieve_keys(identifier: Dataset) -> dict[str, str]:
    level, keys, _ = _split(identifier)
    wanted = {
        k: v for k, v in keys.items() if k in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
    }
    if level != "PATIENT" and LEVELS[level] not in wanted:
        raise PeerError(f"a {level} retrieval needs {LEVELS[level]}")
    return wanted


def _files(archive: Archive, keys: dict[str, str], folder: Path) -> list[Path]:
    if "PatientID" in keys and "StudyInstanceUID" not in keys:  # a patient's studies, one by one
        uids = [str(ds.StudyInstanceUID) for ds in archive.find("STUDY", {"PatientID": keys["PatientID"]}, [])]
        return [f for uid in uids for f in archive.fetch({"StudyInstanceUID": uid}, folder / uid)]
    keys = {k: v for k, v in keys.items() if k != "PatientID"}
    return archive.fetch(keys, folder)


def _listed(archive: Archive, event: Any, folder: Path) -> list[Path] | None:
    """The files a C-GET or C-MOVE asks for; None when they cannot be listed: the request's
    answer (that of no sub-operations) is then made a failure that names the reason
    (:func:`.qrsend.answer_instead`)."""
    try:
        keys = _retrieve_keys(event.identifier)
    except PeerError as exc:
        qrsend.answer_instead(event.assoc, IDENTIFIER_DOES_NOT_MATCH, str(exc))
        return None
    try:
        return _files(archive, keys, folder)
    except PeerError as exc:
        qrsend.answer_instead(event.assoc, UNABLE_TO_PROCESS, str(exc))
        return None


def handle_get(archive: Archive, work: Path, event: Any) -> Iterator[Any]:
    """The EVT_C_GET handler: the number of instances, then each file (decompressed or made
    little endian where the requestor did not accept its stored syntax: :func:`.qrsend.prepared`)."""
    with tempfile.TemporaryDirectory(dir=work, prefix="get-") as folder:
        files = _listed(archive, event, Path(folder))
        if files is None:
            yield 0  # answered as a failure
            return
        yield len(files)
        for path in files:
            if event.is_cancelled:
                yield CANCELLED, None
                return
            yield PENDING, qrsend.prepared(path, event.assoc)


def handle_move(archive: Archive, work: Path, destinations: Callable[[str], Node | None], event: Any) -> Iterator[Any]:
    """The EVT_C_MOVE handler: the destination, the number of instances, then each file."""
    title = str(
        event.move_destination.decode() if isinstance(event.move_destination, bytes) else event.move_destination
    ).strip()
    destination = destinations(title)
    if destination is None:
        yield None, None  # pynetdicom answers 0xA801 (move destination unknown)
        return
    with tempfile.TemporaryDirectory(dir=work, prefix="move-") as folder:
        files = _listed(archive, event, Path(folder))
        if files is None:
            yield destination.host, destination.port, {}
            yield 0  # answered as a failure, without an association with the destination
            return
        sub = qrsend.Destination()
        contexts = qrsend.move_contexts(files)
        yield destination.host, destination.port, {"contexts": contexts, "evt_handlers": sub.handlers()}
        where = f"{title} at {destination.host}:{destination.port}"
        restore = qrsend.answer_instead(
            event.assoc, UNABLE_TO_SUBOPERATE, f"could not reach {where}", only=MOVE_DESTINATION_UNKNOWN
        )
        try:
            yield len(files)
        finally:
            restore()  # the association with the destination is established (or no sub-operation is needed)
        for path in files:
            if event.is_cancelled:
                yield CANCELLED, None
                return
            yield PENDING, qrsend.prepared(path, sub.assoc)
