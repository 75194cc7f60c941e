"""Query/retrieve services of the DICOM listener: C-FIND, C-GET and C-MOVE
(Patient Root and Study Root) over the studies of the listener's record.

The listener answers from an :class:`Archive`. :class:`WebArchive` is the
record as the platform's DICOMweb service shows it (QIDO-RS over the DICOM
index, WADO-RS for the files, a bearer token the platform issues to the
listener's application and renewed before it expires); so the standalone
``hvgen dicom listen`` answers for any platform it stores into.

* C-FIND: the identifier's keys with values match (wildcards, ranges and UID
  lists as QIDO-RS matches them); its empty keys are returned. PATIENT
  level (Patient Root) is the studies' patients, one answer per Patient ID.
* C-GET: the matching instances go back on the same association, each file
  as stored (its own transfer syntax).
* C-MOVE: to a destination named by its AE title (``--move-to
  AE@HOST:PORT``), on an association whose presentation contexts are
  exactly the SOP classes and transfer syntaxes of the files.

Files are fetched to a temporary folder first and removed afterwards; each
goes out as pynetdicom's sub-operations take it, a data set read with its
large values left on disk until it is encoded (one instance in memory at a
time), in the transfer syntax it is stored in.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelGet,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)

from . import dicom, webpeer
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
PENDING, SUCCESS = 0xFF00, 0x0000
OUT_OF_RESOURCES, IDENTIFIER_DOES_NOT_MATCH, CANCELLED = 0xA700, 0xA900, 0xFE00
UNABLE_TO_PROCESS = 0xC000


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


def _answer(identifier: Dataset, match: Dataset, level: str) -> Dataset:
    """The identifier's keys with the match's values (empty where it has none)."""
    out = Dataset()
    if "SpecificCharacterSet" in match:
        out.SpecificCharacterSet = match.SpecificCharacterSet
    out.QueryRetrieveLevel = level
    for element in identifier:
        if element.keyword in ("QueryRetrieveLevel", "SpecificCharacterSet"):
            continue
        if element.tag in match:
            out[element.tag] = match[element.tag]
        else:
            out.add_new(element.tag, element.VR, None)
    return out


def _patients(archive: Archive, keys: dict[str, str], returned: list[str]) -> list[Dataset]:
    study_keys = {k: v for k, v in keys.items() if k in PATIENT_KEYS}
    found = archive.find("STUDY", study_keys, [k for k in PATIENT_KEYS if k not in study_keys])
    patients: dict[str, Dataset] = {}
    counts: dict[str, int] = {}
    for ds in found:
        pid = str(ds.get("PatientID", "") or "")
        counts[pid] = counts.get(pid, 0) + 1
        if pid not in patients:
            patient = Dataset()
            for keyword in PATIENT_KEYS:
                if keyword in ds:
                    setattr(patient, keyword, ds.get(keyword))
            patients[pid] = patient
    for pid, patient in patients.items():
        patient.NumberOfPatientRelatedStudies = counts[pid]
    return list(patients.values())


def handle_find(archive: Archive, event: Any) -> Iterator[tuple[int, Dataset | None]]:
    """The EVT_C_FIND handler."""
    try:
        level, keys, returned = _split(event.identifier)
        matches = _patients(archive, keys, returned) if level == "PATIENT" else archive.find(level, keys, returned)
    except PeerError as exc:
        yield _failure(IDENTIFIER_DOES_NOT_MATCH if "Level" in str(exc) else UNABLE_TO_PROCESS, str(exc)), None
        return
    for match in matches:
        if event.is_cancelled:
            yield CANCELLED, None
            return
        yield PENDING, _answer(event.identifier, match, level)


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


def _files(archive: Archive, identifier: Dataset, folder: Path) -> list[Path]:
    keys = _retrieve_keys(identifier)
    if "PatientID" in keys and "StudyInstanceUID" not in keys:  # a patient's studies, one by one
        uids = [str(ds.StudyInstanceUID) for ds in archive.find("STUDY", {"PatientID": keys["PatientID"]}, [])]
        return [f for uid in uids for f in archive.fetch({"StudyInstanceUID": uid}, folder / uid)]
    keys.pop("PatientID", None)
    return archive.fetch(keys, folder)


def _deferred(path: Path, assoc: Any = None) -> Dataset:
    """The file as pynetdicom's sub-operations want it (a data set): its large values stay on
    disk until the sub-operation encodes them, one instance at a time. A compressed instance
    whose syntax the requestor of a C-GET did not accept, where it accepted an uncompressed one,
    is decompressed (pydicom's decoders) rather than not sent."""
    ds = dcmread(path, defer_size="256 KB")
    if assoc is None:
        return ds
    syntax = ds.file_meta.TransferSyntaxUID
    accepted = {(c.abstract_syntax, c.transfer_syntax[0]) for c in assoc.accepted_contexts}
    sop_class = str(ds.get("SOPClassUID", ""))
    if syntax.is_compressed and (sop_class, syntax) not in accepted:
        if any((sop_class, plain) in accepted for plain in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)):
            try:
                ds.decompress(generate_instance_uid=False)  # the same instance, losslessly decoded
            except Exception:  # no decoder for it: the sub-operation fails and is reported as failed
                return ds
    return ds


def handle_get(archive: Archive, work: Path, event: Any) -> Iterator[Any]:
    """The EVT_C_GET handler: the number of instances, then each file."""
    with tempfile.TemporaryDirectory(dir=work, prefix="get-") as folder:
        try:
            files = _files(archive, event.identifier, Path(folder))
        except PeerError as exc:
            yield 1  # one sub-operation announced, so that the failure is the final answer
            yield _failure(UNABLE_TO_PROCESS, str(exc)), None
            return
        yield len(files)
        for path in files:
            if event.is_cancelled:
                yield CANCELLED, None
                return
            yield PENDING, _deferred(path, event.assoc)


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
        problem = ""
        try:
            files = _files(archive, event.identifier, Path(folder))
        except PeerError as exc:
            files, problem = [], str(exc)
        pairs: dict[tuple[str, str], None] = {}
        for path in files:
            header, _ = dicom.examine(path)
            meta = getattr(header, "file_meta", None)
            if header is not None and meta is not None:
                pairs[(str(header.SOPClassUID), str(meta.TransferSyntaxUID))] = None
        contexts = [build_context(sop_class, [syntax]) for sop_class, syntax in list(pairs)[:128]]
        yield destination.host, destination.port, {"contexts": contexts or [build_context(Verification)]}
        if problem:
            yield 1
            yield _failure(UNABLE_TO_PROCESS, problem), None
            return
        yield len(files)
        for path in files:
            if event.is_cancelled:
                yield CANCELLED, None
                return
            yield PENDING, _deferred(path)
