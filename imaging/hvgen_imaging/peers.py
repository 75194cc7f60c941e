"""Other DICOM nodes over DIMSE: verify, query, send to and retrieve from them.

The service-class user side of the DICOM network (pynetdicom):

* :func:`echo` (C-ECHO): whether a node answers;
* :func:`find` (C-FIND, Study Root or Patient Root): what a node holds, at
  the PATIENT, STUDY, SERIES or IMAGE level, with the keys asked for;
* :func:`send` (C-STORE): files to a node, each sent from disk as it is
  (its own transfer syntax, never decoded: constant memory, byte-exact),
  skipping what the node already has when it answers a C-FIND for the study.
  A file stored compressed or big endian is offered in uncompressed little
  endian too: when the node takes only that, a decoded copy is sent
  (:func:`.qrsend.prepared`, as Orthanc does);
* :func:`get` (C-GET): a study or series into a folder, received on the same
  association, each instance written to disk as it arrives.

Every instance gets a result (:class:`Outcome`): sent or received, already
there, or failed with the status and the reason. A node that cannot be
reached, refuses the association or accepts none of the contexts asked for
is a :class:`PeerError` naming it (and the SOP classes and transfer syntaxes
it refused).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID
from pynetdicom import AE, _config
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

from . import dicom, qrsend
from .errors import ImagingError

# Files are sent from disk without being decoded; what C-GET brings goes to a file as it arrives.
_config.STORE_SEND_CHUNKED_DATASET = True
_config.STORE_RECV_CHUNKED_DATASET = True

#: The calling AE title of this side when none is given.
DEFAULT_CALLING_AE = "HVGEN"
#: Presentation contexts one association may ask for (PS3.8: context ids are odd numbers below 256).
MAX_CONTEXTS = 128
#: Query levels and the unique key of each.
LEVELS = {"PATIENT": "PatientID", "STUDY": "StudyInstanceUID", "SERIES": "SeriesInstanceUID", "IMAGE": "SOPInstanceUID"}
#: What a query returns at each level when no return keys are given.
RETURN_KEYS = {
    "PATIENT": ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "NumberOfPatientRelatedStudies"),
    "STUDY": (
        "PatientName",
        "PatientID",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "StudyDescription",
        "ModalitiesInStudy",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
        "StudyInstanceUID",
    ),
    "SERIES": ("Modality", "SeriesNumber", "SeriesDescription", "NumberOfSeriesRelatedInstances", "SeriesInstanceUID"),
    "IMAGE": ("InstanceNumber", "SOPClassUID", "SOPInstanceUID"),
}
_STATUS_NAMES = {
    0xA700: "out of resources",
    0xA701: "out of resources (cannot calculate the number of matches)",
    0xA702: "out of resources (cannot perform sub-operations)",
    0xA801: "move destination unknown",
    0xA900: "data set does not match SOP class",
    0xC000: "cannot understand",
    0x0122: "SOP class not supported",
    0x0124: "not authorized",
    0xFE00: "cancelled",
}
#: The transfer syntaxes asked for first when not all fit (uncompressed, then the usual compressed ones).
_COMMON_SYNTAXES = [
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.5",  # RLE Lossless
    "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless
    "1.2.840.10008.1.2.2",  # Explicit VR Big Endian
]
_AE_TITLE = re.compile(r"[\x20-\x5b\x5d-\x7e]{1,16}")  # PS3.5 AE VR: no backslash, no control characters


class PeerError(ImagingError):
    """A node that cannot be reached, refuses us, or answers with a failure."""


@dataclass(frozen=True)
class Node:
    """Where a DIMSE peer is: its AE title, host and port (and a name for people)."""

    ae_title: str
    host: str
    port: int
    name: str = ""

    def __str__(self) -> str:
        where = f"{self.ae_title}@{self.host}:{self.port}"
        return f"{self.name} ({where})" if self.name and self.name != where else where


def check_ae_title(value: str, what: str = "AE title") -> str:
    """An AE title as DICOM allows it (1 to 16 characters, no backslash or control characters)."""
    if not _AE_TITLE.fullmatch(value) or not value.strip():
        raise PeerError(f"{what} {value!r} is not 1 to 16 printable characters without a backslash")
    return value.strip()


def parse_node(text: str) -> Node | None:
    """``AE@HOST:PORT`` as a node, or None when the text is not written so."""
    found = re.fullmatch(r"([^@]{1,16})@(\[[0-9A-Fa-f:.]+\]|[^@:\[\]]+):(\d{1,5})", text.strip())
    if found is None or not 0 < int(found.group(3)) < 65536:
        return None
    return Node(check_ae_title(found.group(1)), found.group(2).strip("[]"), int(found.group(3)))


@dataclass
class Outcome:
    """What became of one instance."""

    sop_instance_uid: str
    #: sent, received, present (the node had it already) or failed.
    state: str
    status: int | None = None
    reason: str = ""
    path: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sop_instance_uid": self.sop_instance_uid, "state": self.state}
        if self.status is not None:
            out["status"] = f"0x{self.status:04X}"
        if self.reason:
            out["reason"] = self.reason
        if self.path:
            out["path"] = self.path
        return out


@dataclass
class Transfer:
    """Every instance of one send or retrieve, in order."""

    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, state: str) -> int:
        return sum(1 for o in self.outcomes if o.state == state)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.state == "failed"]


#: Called once per instance as a transfer goes: (the outcome, bytes it moved).
Progress = Callable[[Outcome, int], None]


def status_text(code: int) -> str:
    name = _STATUS_NAMES.get(code) or ("warning" if code in (0x0001, 0x0107, 0x0116) or code >> 12 == 0xB else "")
    return f"0x{code:04X}" + (f" ({name})" if name else "")


def _ae(calling: str) -> AE:
    ae = AE(ae_title=check_ae_title(calling, "calling AE title"))
    ae.acse_timeout = ae.network_timeout = ae.dimse_timeout = 60
    return ae


def _associate(ae: AE, node: Node, **kwargs: Any) -> Any:
    try:
        assoc = ae.associate(node.host, node.port, ae_title=node.ae_title, **kwargs)
    except (OSError, ValueError) as exc:
        raise PeerError(f"cannot reach {node}: {exc}") from None
    if assoc.is_established:
        return assoc
    if assoc.is_rejected:
        raise PeerError(f"{node} refused the association (check the AE titles it knows: we call as {ae.ae_title})")
    if assoc.is_aborted and assoc.rejected_contexts and not assoc.accepted_contexts:
        raise PeerError(f"{node} accepts none of the SOP classes and transfer syntaxes asked for: {_refused(assoc)}")
    if assoc.is_aborted:
        try:  # pynetdicom says "aborted" also when the connection could not be made: which was it?
            socket.create_connection((node.host, node.port), timeout=10).close()
        except OSError as exc:
            raise PeerError(f"cannot reach {node}: {exc.strerror or exc}") from None
        raise PeerError(f"{node} aborted the association")
    raise PeerError(f"cannot reach {node} (nothing answered at {node.host}:{node.port})")


def _refused(assoc: Any) -> str:
    """The rejected presentation contexts of an association request, as they were asked for."""
    asked = {c.context_id: c for c in assoc.requestor.requested_contexts}
    refused = []
    for context in assoc.rejected_contexts:
        syntaxes = asked.get(context.context_id, context).transfer_syntax
        refused.append(f"{_name(context.abstract_syntax)} in {' or '.join(_name(s) for s in syntaxes)}")
    shown = ", ".join(sorted(set(refused))[:8])
    return shown + (f" and {len(set(refused)) - 8} more" if len(set(refused)) > 8 else "")


def _name(uid: str | None) -> str:
    known = UID(uid or "")
    return str(known.name) if known.is_valid and known.name != str(known) else str(uid)


def _accepted(assoc: Any, abstract: str) -> bool:
    return any(c.abstract_syntax == abstract for c in assoc.accepted_contexts)


def echo(node: Node, calling: str = DEFAULT_CALLING_AE) -> None:
    """Verify the node answers a C-ECHO; raises :class:`PeerError` otherwise."""
    ae = _ae(calling)
    ae.add_requested_context(Verification)
    assoc = _associate(ae, node)
    try:
        answer = assoc.send_c_echo()
        code = int(getattr(answer, "Status", -1)) if answer else -1
    finally:
        assoc.release()
    if code != 0:
        raise PeerError(f"{node} answered the C-ECHO with " + (status_text(code) if code >= 0 else "nothing"))


def identifier(level: str, keys: dict[str, str], returned: Iterable[str] = ()) -> Dataset:
    """The C-FIND identifier: the level, the matching keys, and empty return keys."""
    level = level.upper()
    if level not in LEVELS:
        raise PeerError(f"query level {level!r}: use one of {', '.join(LEVELS)}")
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword in [*RETURN_KEYS[level], *returned]:
        setattr(ds, keyword, "")
    for keyword, value in keys.items():
        try:
            setattr(ds, keyword, value)
        except (ValueError, TypeError, AttributeError) as exc:
            raise PeerError(f"query key {keyword}={value!r}: {exc}") from None
    return ds


def find(
    node: Node,
    level: str,
    keys: dict[str, str],
    *,
    returned: Iterable[str] = (),
    model: str = "study",
    calling: str = DEFAULT_CALLING_AE,
    limit: int | None = None,
) -> list[Dataset]:
    """The matches of a C-FIND (``model``: study or patient root), at most ``limit`` of them."""
    information_model = (
        PatientRootQueryRetrieveInformationModelFind
        if model == "patient"
        else StudyRootQueryRetrieveInformationModelFind
    )
    query = identifier(level, keys, returned)
    ae = _ae(calling)
    ae.add_requested_context(information_model)
    assoc = _associate(ae, node)
    matches: list[Dataset] = []
    try:
        if not _accepted(assoc, information_model):
            raise PeerError(f"{node} does not answer {model} root queries (C-FIND)")
        for status, found in assoc.send_c_find(query, information_model):
            code = int(getattr(status, "Status", -1)) if status else -1
            if code in (0xFF00, 0xFF01):
                if found is not None:
                    matches.append(found)
                if limit is not None and len(matches) >= limit:
                    assoc.abort()
                    return matches
            elif code == 0:
                break
            else:
                comment = str(getattr(status, "ErrorComment", "") or "")
                raise PeerError(
                    f"{node} answered the query with "
                    + (status_text(code) if code >= 0 else "nothing (the association ended)")
                    + (f": {comment}" if comment else "")
                )
    finally:
        if assoc.is_established:
            assoc.release()
    return matches


@dataclass(frozen=True)
class _File:
    path: Path
    sop_uid: str
    sop_class: str
    transfer_syntax: str
    size: int


def _examined(paths: Iterable[Path], transfer: Transfer, progress: Progress | None) -> Iterator[_File]:
    for path in paths:
        header, why = dicom.examine(path)
        meta = getattr(header, "file_meta", None) if header is not None else None
        syntax = str(getattr(meta, "TransferSyntaxUID", "") or "") if meta is not None else ""
        sop = (dicom.text(header, "SOPInstanceUID") or "") if header is not None else ""
        sop_class = (dicom.text(header, "SOPClassUID") or "") if header is not None else ""
        if header is None or not syntax or not sop or not sop_class:
            outcome = Outcome(
                sop, "failed", reason=why or "no file meta (transfer syntax), SOP class or instance", path=str(path)
            )
            transfer.outcomes.append(outcome)
            if progress:
                progress(outcome, 0)
            continue
        yield _File(path, sop, sop_class, syntax, path.stat().st_size)


def _contexts(files: list[_File]) -> list[tuple[str, list[str]]]:
    """The presentation contexts for ``files``: each (SOP class, transfer syntax) pair, and each SOP
    class of a file stored compressed or big endian in uncompressed little endian."""
    pairs = [(c, [s]) for c, s in dict.fromkeys((f.sop_class, f.transfer_syntax) for f in files)]
    plain = dict.fromkeys(f.sop_class for f in files if qrsend.needs_plain(UID(f.transfer_syntax)))
    return pairs + [(c, [str(s) for s in qrsend.PLAIN]) for c in plain]


def _batches(files: list[_File]) -> Iterator[list[_File]]:
    """Files in groups whose presentation contexts (:func:`_contexts`) fit one association."""
    batch: list[_File] = []
    pairs: set[tuple[str, str]] = set()  # (what _contexts counts, kept as the batch grows: no quadratic work)
    plain: set[str] = set()
    for f in files:
        pair = (f.sop_class, str(f.transfer_syntax))
        fallback = {f.sop_class} if qrsend.needs_plain(UID(f.transfer_syntax)) else set()
        if batch and len(pairs | {pair}) + len(plain | fallback) > MAX_CONTEXTS:
            yield batch
            batch, pairs, plain = [], set(), set()
        batch.append(f)
        pairs.add(pair)
        plain |= fallback
    if batch:
        yield batch


def reach(node: Node) -> None:
    """Raise :class:`PeerError` when nothing answers at the node's address (no DICOM is exchanged)."""
    try:
        socket.create_connection((node.host, node.port), timeout=10).close()
    except OSError as exc:
        raise PeerError(f"cannot reach {node}: {exc.strerror or exc}") from None


def present(node: Node, study_uid: str, calling: str = DEFAULT_CALLING_AE) -> set[str] | None:
    """The SOP Instance UIDs the node holds of a study, or None when it does not say (no C-FIND)."""
    try:
        found = find(node, "IMAGE", {"StudyInstanceUID": study_uid}, calling=calling)
    except PeerError:
        return None
    return {str(ds.get("SOPInstanceUID", "")).strip() for ds in found} - {""}


def send(
    node: Node,
    paths: Iterable[Path],
    *,
    calling: str = DEFAULT_CALLING_AE,
    skip: set[str] | None = None,
    progress: Progress | None = None,
) -> Transfer:
    """C-STORE each file to the node, from disk as it is; the SOP instances in
    ``skip`` (the node has them) are not sent again."""
    transfer = Transfer()
    files = list(_examined(paths, transfer, progress))
    for f in [f for f in files if skip and f.sop_uid in skip]:
        transfer.outcomes.append(Outcome(f.sop_uid, "present", path=str(f.path)))
        if progress:
            progress(transfer.outcomes[-1], f.size)
    files = [f for f in files if not (skip and f.sop_uid in skip)]
    for batch in _batches(files):
        ae = _ae(calling)
        for sop_class, syntaxes in _contexts(batch):
            ae.add_requested_context(sop_class, syntaxes)
        assoc = _associate(ae, node)
        try:
            accepted = {(c.abstract_syntax, c.transfer_syntax[0]) for c in assoc.accepted_contexts}
            for f in batch:
                outcome = _store_one(assoc, f, accepted)
                transfer.outcomes.append(outcome)
                if progress:
                    progress(outcome, f.size)
                if not assoc.is_established:
                    raise PeerError(f"{node} ended the association after {len(transfer.outcomes)} instance(s)")
        finally:
            if assoc.is_established:
                assoc.release()
    return transfer


def _store_one(assoc: Any, f: _File, accepted: set[tuple[str, str]]) -> Outcome:
    what: Path | Dataset = f.path
    if (f.sop_class, f.transfer_syntax) not in accepted:
        if any((f.sop_class, str(plain)) in accepted for plain in qrsend.PLAIN):
            try:
                what = qrsend.prepared(f.path, assoc)  # decoded: the node takes this SOP class uncompressed only
            except Exception as exc:  # an unreadable file: pydicom's errors are of many kinds
                return Outcome(f.sop_uid, "failed", reason=f"cannot read it to decode it: {exc}", path=str(f.path))
        if not isinstance(what, Dataset) or str(what.file_meta.TransferSyntaxUID) == f.transfer_syntax:
            return Outcome(
                f.sop_uid,
                "failed",
                reason=f"the node does not accept {_name(f.sop_class)} in {_name(f.transfer_syntax)}"
                + (" and it could not be decoded here" if isinstance(what, Dataset) else ""),
                path=str(f.path),
            )
    try:
        answer = assoc.send_c_store(what)
    except (OSError, ValueError, RuntimeError, AttributeError) as exc:
        return Outcome(f.sop_uid, "failed", reason=str(exc), path=str(f.path))
    code = int(getattr(answer, "Status", -1)) if answer else -1
    if code == 0 or code in (0x0001, 0x0107, 0x0116) or (code >= 0 and code >> 12 == 0xB):
        return Outcome(f.sop_uid, "sent", status=code, path=str(f.path))
    comment = str(getattr(answer, "ErrorComment", "") or "") if answer else ""
    why = status_text(code) if code >= 0 else "no answer (the association ended)"
    return Outcome(
        f.sop_uid,
        "failed",
        status=code if code >= 0 else None,
        reason=why + (f": {comment}" if comment else ""),
        path=str(f.path),
    )
