"""Retrieving from other DICOM nodes: C-GET (the instances come back on the
same association) and C-MOVE (to a storage service started here for the
retrieval, under the calling AE title, which the node must know).

Each instance is written to a file as it arrives (pynetdicom's chunked
receive), fsynced and renamed into place; every instance the node said it
has gets a result (received, or failed with the status or "not sent").
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, build_role, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from healthvault import filemodes

from .peers import (
    _COMMON_SYNTAXES,
    DEFAULT_CALLING_AE,
    MAX_CONTEXTS,
    Node,
    Outcome,
    PeerError,
    Progress,
    Transfer,
    _accepted,
    _ae,
    _associate,
    find,
    status_text,
)
from .spool import file_name, fsync_folder


def _receiver(out: Path, transfer: Transfer, progress: Progress | None) -> Callable[[Any], int]:
    """An EVT_C_STORE handler writing each instance to ``out``/<SOP instance>.dcm."""

    def on_store(event: Any) -> int:
        sop = str(event.request.AffectedSOPInstanceUID or "").strip()
        target = out / (file_name(sop) if sop else "unnamed.dcm")
        partial = target.with_suffix(".part")
        try:
            received = Path(event.dataset_path)
            try:
                os.replace(received, partial)
            except OSError:
                shutil.copyfile(received, partial)
            filemodes.flush_file(partial)
            size = partial.stat().st_size
            partial.rename(target)
            fsync_folder(out)  # (its name on disk before Success)
        except OSError as exc:
            partial.unlink(missing_ok=True)  # (the node is told it failed: nothing half-written is left)
            outcome = Outcome(sop, "failed", status=0xA700, reason=f"cannot write {target}: {exc.strerror}")
            transfer.outcomes.append(outcome)
            if progress:
                progress(outcome, 0)
            return 0xA700
        outcome = Outcome(sop, "received", path=str(target))
        transfer.outcomes.append(outcome)
        if progress:
            progress(outcome, size)
        return 0x0000

    return on_store


def _instances(node: Node, study_uid: str, series_uid: str | None, calling: str) -> list[Dataset]:
    instances = find(
        node,
        "IMAGE",
        {"StudyInstanceUID": study_uid, **({"SeriesInstanceUID": series_uid} if series_uid else {})},
        calling=calling,
    )
    if not instances:
        raise PeerError(
            f"{node} has no instances of study {study_uid}" + (f" series {series_uid}" if series_uid else "")
        )
    return instances


def _identifier(study_uid: str, series_uid: str | None) -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "SERIES" if series_uid else "STUDY"
    query.StudyInstanceUID = study_uid
    if series_uid:
        query.SeriesInstanceUID = series_uid
    return query


def _account(transfer: Transfer, instances: list[Dataset], final: int) -> Transfer:
    """An outcome for every instance the node has that did not arrive."""
    seen = {o.sop_instance_uid for o in transfer.outcomes}
    for ds in instances:
        sop = str(ds.get("SOPInstanceUID", "")).strip()
        if sop and sop not in seen:
            transfer.outcomes.append(
                Outcome(sop, "failed", status=final if final >= 0 else None, reason="the node did not send it")
            )
    return transfer


def _final(node: Node, what: str, responses: Any, transfer: Transfer, hint: str = "") -> int:
    """Go through a C-GET's or C-MOVE's responses; the last status (a failure with nothing
    received raises, with ``hint`` after a refusal that is not a lack of resources)."""
    final, comment = -1, ""
    for status, _ in responses:
        if status:
            final = int(getattr(status, "Status", -1))
            comment = str(getattr(status, "ErrorComment", "") or "")
    if final not in (0x0000, 0xB000, 0xFF00) and not transfer.outcomes:
        raise PeerError(
            f"{node} answered the {what} with "
            + (status_text(final) if final >= 0 else "nothing")
            + (f": {comment}" if comment else "")
            + (f" ({hint})" if hint and final >= 0 and final >> 8 not in (0xA7, 0xFE) else "")
        )
    return final


def get(
    node: Node,
    study_uid: str,
    out: Path,
    *,
    series_uid: str | None = None,
    calling: str = DEFAULT_CALLING_AE,
    progress: Progress | None = None,
) -> Transfer:
    """C-GET a study (or one series of it) into ``out``/<SOP instance>.dcm; the SOP
    classes to accept come from a C-FIND of its instances first."""
    instances = _instances(node, study_uid, series_uid, calling)
    classes = sorted({str(ds.get("SOPClassUID", "")).strip() for ds in instances} - {""})
    if not classes:
        raise PeerError(f"{node} does not say the SOP classes of the study's instances (C-FIND at IMAGE level)")
    if len(classes) > (MAX_CONTEXTS - 1) // 2:
        raise PeerError(f"the study has {len(classes)} SOP classes: more than one association can receive")
    filemodes.make_folder(out)
    transfer = Transfer()
    ae = _ae(calling)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    # One context per (SOP class, transfer syntax): the node then sends each instance in the
    # syntax it is stored in (a context of many syntaxes gets one chosen for all, and transcoding).
    room = (MAX_CONTEXTS - 1) // len(classes)
    syntaxes = ALL_TRANSFER_SYNTAXES if room >= len(ALL_TRANSFER_SYNTAXES) else _COMMON_SYNTAXES[:room]
    roles = []
    for sop_class in classes:
        for syntax in syntaxes:
            ae.add_requested_context(sop_class, [syntax])
        roles.append(build_role(sop_class, scp_role=True))
    handlers = [(evt.EVT_C_STORE, _receiver(out, transfer, progress))]
    assoc = _associate(ae, node, ext_neg=roles, evt_handlers=handlers)
    try:
        if not _accepted(assoc, StudyRootQueryRetrieveInformationModelGet):
            raise PeerError(f"{node} does not serve C-GET (Study Root); retrieve with --move instead")
        responses = assoc.send_c_get(_identifier(study_uid, series_uid), StudyRootQueryRetrieveInformationModelGet)
        final = _final(node, "C-GET", responses, transfer)
    finally:
        if assoc.is_established:
            assoc.release()
    return _account(transfer, instances, final)


def move(
    node: Node,
    study_uid: str,
    out: Path,
    *,
    port: int,
    host: str = "0.0.0.0",
    series_uid: str | None = None,
    calling: str = DEFAULT_CALLING_AE,
    progress: Progress | None = None,
) -> Transfer:
    """C-MOVE a study (or one series) to a storage service listening here on
    ``port`` under the calling AE title, for the time of the retrieval; the
    node must know that AE title at this machine's address and ``port``."""
    instances = _instances(node, study_uid, series_uid, calling)
    filemodes.make_folder(out)
    transfer = Transfer()
    receiver = AE(ae_title=calling)
    receiver.acse_timeout = receiver.network_timeout = receiver.dimse_timeout = 60
    for context in AllStoragePresentationContexts:
        if context.abstract_syntax is not None:
            receiver.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
    try:
        server = receiver.start_server(
            (host, port), block=False, evt_handlers=[(evt.EVT_C_STORE, _receiver(out, transfer, progress))]
        )
    except OSError as exc:
        raise PeerError(f"cannot listen on {host}:{port} for the moved instances: {exc.strerror or exc}") from None
    assert server is not None  # (started without blocking)
    try:
        ae = _ae(calling)
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
        assoc = _associate(ae, node)
        try:
            if not _accepted(assoc, StudyRootQueryRetrieveInformationModelMove):
                raise PeerError(f"{node} does not serve C-MOVE (Study Root)")
            responses = assoc.send_c_move(
                _identifier(study_uid, series_uid), calling, StudyRootQueryRetrieveInformationModelMove
            )
            hint = (
                f"a node answers so when it does not know the move destination {calling} at this "
                f"machine's address and port {port}: add it to the node's list of DICOM peers"
            )
            final = _final(node, "C-MOVE", responses, transfer, hint)
        finally:
            if assoc.is_established:
                assoc.release()
    finally:
        server.shutdown()
    return _account(transfer, instances, final)
