"""A DICOM storage service (C-STORE SCP, with C-ECHO) that stores what a
modality or PACS pushes as ``hvgen study upload`` does.

Nothing is acknowledged that will not be stored. Each instance is received
into a temporary file (pynetdicom's chunked receiving: never whole in
memory), moved into the spool, flushed to disk and checked as the scan of
``hvgen study upload`` checks a file (it parses, is not cut short, has a SOP
Instance and a Study Instance UID, and is the instance and SOP class the
C-STORE request names) before the answer is sent. Success (0x0000) only for
what passed; otherwise a failure status with an Error Comment saying why
(PS3.4 B.2.3): 0xA700 out of resources (the spool's disk is nearly full, or
writing failed), 0xA900 when the data set does not match the request's SOP
class or instance or lacks a UID a study needs, 0xC000 when it cannot be
understood. A refused instance leaves a record (``hvgen dicom rejected``),
not its bytes.

When an association ends (released, aborted, or its connection lost), what
it brought is handed to the :class:`.uploader.Uploader` at once (or to
``hand_on``, when another process stores it). With ``split_studies``, a
study is handed on as soon as the association moves on to the next one, so
that it is stored while the association goes on. Senders
may be limited to an allow-list of calling AE titles; each peer address may
hold at most ``max_per_peer`` connections, and an association silent for
``idle_timeout`` seconds is aborted, so idle connections cannot lock others
out.

pynetdicom does the DICOM networking: every storage SOP class in every
transfer syntax is accepted (the bytes are kept as sent), and associations
must call the listener's AE title.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from healthvault import filemodes
from healthvault.client import HealthVaultClient

from . import dicom, qrscp
from .associations import MAX_PDU, HeldRequestHandler, PeerLimitedServer, copied_quickly
from .peers import Node
from .qrscp import Archive
from .spool import CALLING, Spool, file_name, fsync_folder
from .uploader import MAX_ATTEMPTS, Failed, Received, Report, SetAside, Stored, StoreStudies, StoreStudy, Uploader

__all__ = ["Failed", "HandOn", "Listener", "Received", "SetAside", "StoreStudies", "StoreStudy", "Stored"]

log = logging.getLogger("hvgen_imaging.listener")
#: Takes a ready spool folder (and the headers of its files read at receipt, by file name) to be stored.
HandOn = Callable[[Path, dict[str, Dataset]], None]
#: C-STORE statuses (PS3.4 B.2.3).
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
NOT_MATCHING = 0xA900
CANNOT_UNDERSTAND = 0xC000
#: Free space the spool's disk keeps: an instance that would leave less is refused (0xA700).
MIN_FREE_BYTES = 256 * 1024**2

#: Transfer syntaxes accepted, Explicit VR Little Endian first: offered several, the listener
#: takes it (also for what a C-GET sends back: no VR is lost to Implicit VR).
_SYNTAXES = ["1.2.840.10008.1.2.1", *(s for s in ALL_TRANSFER_SYNTAXES if s != "1.2.840.10008.1.2.1")]

#: How long pynetdicom's network thread of an association sleeps between two looks at
#: its socket while instances arrive (its own 1 ms is a wait in every exchange),
#: and how long after the last instance it goes back to its own pace (an idle
#: association then costs no more than pynetdicom's).
BUSY_LOOP_DELAY = 0.0002
IDLE_AFTER = 0.5
#: Headers read at receipt kept per association for the uploader (which then
#: does not parse those files again); beyond, files are read again (bounded memory).
KEPT_HEADERS = 1000


class _Association:
    """What one association brought so far."""

    def __init__(self, folder: Path, calling: str, address: str) -> None:
        self.folder, self.calling, self.address = folder, calling, address
        self.count = 0  # instances acknowledged (in every part)
        self.in_part = 0  # instances in the part being received (``folder``)
        self.refused: list[str] = []
        self.headers: dict[str, Dataset] = {}  # by file name: what the check read (the part's)
        self.study = ""  # the study of the part being received
        self.studies: set[str] = set()  # the studies of the parts handed on
        self.splitting = True  # False once a study came back after its part was handed on
        self.network: Any = None  # pynetdicom's network thread (its DUL) of the association
        self.idle_delay: Any = None  # its pace before instances arrived
        self.last = 0.0  # when the last instance arrived (monotonic)


class Listener:
    """The storage service: ``start()``, then ``stop()``."""

    def __init__(
        self,
        make_client: Callable[[], HealthVaultClient] | None,
        spool: Path,
        *,
        ae_title: str = "HVGEN",
        host: str = "127.0.0.1",
        port: int = 11112,
        report: Report | None = None,
        retry: float = 30.0,
        journal_dir: Path | None = None,
        allowed_callers: list[str] | None = None,
        idle_timeout: float = 30.0,
        max_per_peer: int = 4,
        max_associations: int = 16,
        max_attempts: int = MAX_ATTEMPTS,
        require_called_ae: bool = False,
        archive: Archive | None = None,
        destinations: Callable[[str], Node | None] | None = None,
        store_study: StoreStudy | None = None,
        store_studies: StoreStudies | None = None,
        hand_on: HandOn | None = None,
        split_studies: bool = False,
        checked: Callable[[Path, Dataset], None] | None = None,
    ) -> None:
        self.spool = Spool(spool)
        self.ae_title = ae_title
        self.host, self.port = host, port
        self.report: Report = report or (lambda _event: None)
        self.allowed_callers = [c.strip() for c in allowed_callers or [] if c.strip()]
        self.idle_timeout = idle_timeout
        self.max_per_peer = max_per_peer
        self.max_associations = max_associations
        self.require_called_ae = require_called_ae
        #: What C-FIND, C-GET and C-MOVE answer from (none: storage only), and where C-MOVE may send.
        self.archive = archive
        self.destinations = destinations or (lambda _title: None)
        self.split_studies = split_studies
        #: Told of each instance acknowledged whose header is kept: where it lies (in its
        #: association's folder in ``incoming``) and the header its checks read.
        self.checked = checked
        #: What stores the ready folders: this process's uploader, or ``hand_on`` (another process's).
        self.uploader: Uploader | None = None
        if hand_on is None:
            self.uploader = Uploader(
                make_client,
                self.spool,
                self.report,
                retry=retry,
                journal_dir=journal_dir,
                max_attempts=max_attempts,
                store_study=store_study,
                store_studies=store_studies,
            )
            hand_on = self.uploader.put
        self.hand_on: HandOn = hand_on
        self._associations: dict[int, _Association] = {}
        self._lock = threading.Lock()
        self._server: Any = None
        self._stopping = threading.Event()
        self._flusher: ThreadPoolExecutor | None = None  # flushes received files (while listening)

    # -- the DICOM side ----------------------------------------------------------------------

    def start(self) -> None:
        """Listen (raises OSError when the port cannot be had) and start the uploader."""
        for ready in self.spool.recover():
            if self.uploader is None:  # (an uploader finds them itself when it starts)
                self.hand_on(ready, {})
        self._stopping.clear()  # (started again after a stop)
        self._flusher = ThreadPoolExecutor(max(1, self.max_associations), thread_name_prefix="dicom-flush")
        ae = AE(ae_title=self.ae_title)
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:  # (either role: a C-GET requestor takes the SCP role)
                ae.add_supported_context(context.abstract_syntax, _SYNTAXES, scu_role=True, scp_role=True)
        ae.add_supported_context(Verification)
        if self.archive is not None:
            for model in (*qrscp.FIND_MODELS, *qrscp.RETRIEVE_MODELS):
                ae.add_supported_context(model)
        ae.require_called_aet = self.require_called_ae  # by default any called AE title, as most PACS accept
        if self.allowed_callers:
            ae.require_calling_aet = self.allowed_callers
        ae.maximum_associations = self.max_associations
        ae.maximum_pdu_size = MAX_PDU
        ae.acse_timeout = min(self.idle_timeout, 10.0)  # from connecting to the association request
        ae.network_timeout = self.idle_timeout  # silence within an association
        ae.dimse_timeout = self.idle_timeout
        handlers: list[Any] = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_CONN_CLOSE, self._on_close),
            (evt.EVT_ABORTED, self._on_close),
            (evt.EVT_RELEASED, self._on_close),
        ]
        if self.archive is not None:
            work = self.spool.root / "retrieving"
            work.mkdir(parents=True, exist_ok=True)
            handlers += [
                (evt.EVT_C_FIND, functools.partial(qrscp.handle_find, self.archive)),
                (evt.EVT_C_GET, functools.partial(qrscp.handle_get, self.archive, work)),
                (evt.EVT_C_MOVE, functools.partial(qrscp.handle_move, self.archive, work, self.destinations)),
            ]
        server_class = type("PeerLimitedServer", (PeerLimitedServer,), {"max_per_peer": self.max_per_peer})
        server = ae.make_server(
            (self.host, self.port),
            evt_handlers=handlers,
            server_class=server_class,
            request_handler=HeldRequestHandler,
        )
        ae._servers.append(server)
        copied_quickly(server.contexts)
        threading.Thread(target=server.serve_forever, name="dicom-listener", daemon=True).start()
        threading.Thread(target=self._pace, name="dicom-pace", daemon=True).start()
        self._server = server
        self.port = server.server_address[1]
        if self.uploader is not None:
            self.uploader.start()

    def stop(self) -> None:
        """Stop listening; the study being uploaded is finished, the rest waits for the next start."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            for assoc in self._server.active_associations:  # what they acknowledged is handed on
                if assoc.is_established:
                    assoc.abort()
                else:  # still waiting for an association request: no A-ABORT in that state, just close
                    assoc.kill()
        if self._flusher is not None:
            self._flusher.shutdown(wait=False)  # (a flush under way ends; what it flushes was not acknowledged)
        if self.uploader is not None:
            self.uploader.stop()

    def _pace(self) -> None:
        """Put associations that no longer receive back to pynetdicom's own pace (:data:`BUSY_LOOP_DELAY`)."""
        while not self._stopping.wait(IDLE_AFTER / 2):
            now = time.monotonic()
            with self._lock:
                for association in self._associations.values():
                    if association.idle_delay is not None and now - association.last > IDLE_AFTER:
                        association.network._run_loop_delay = association.idle_delay

    @property
    def receiving(self) -> bool:
        """Whether an association that has brought instances is open."""
        with self._lock:
            return bool(self._associations)

    def _association(self, event: Any) -> _Association:
        key = id(event.assoc)
        with self._lock:
            found = self._associations.get(key)
            if found is None:
                requestor = event.assoc.requestor
                folder = self.spool.incoming / uuid.uuid4().hex
                folder.mkdir(parents=True)
                calling = str(requestor.ae_title).strip()
                (folder / CALLING).write_text(calling)  # (so that its hand-on is only a rename)
                found = _Association(folder, calling, f"{requestor.address}:{requestor.port}")
                found.network = getattr(event.assoc, "dul", None)
                found.idle_delay = getattr(found.network, "_run_loop_delay", None)
                self._associations[key] = found
            found.last = time.monotonic()
            if found.idle_delay is not None:
                found.network._run_loop_delay = BUSY_LOOP_DELAY
            return found

    def _on_store(self, event: Any) -> Dataset | int:
        request = event.request
        sop = str(request.AffectedSOPInstanceUID or "").strip()
        sop_class = str(request.AffectedSOPClassUID or "").strip()
        try:
            association = self._association(event)
        except OSError as exc:
            return self._refuse(event, None, OUT_OF_RESOURCES, f"cannot write to the spool: {exc.strerror}", sop)
        if not sop:
            return self._refuse(event, association, CANNOT_UNDERSTAND, "no Affected SOP Instance UID", sop)
        received = Path(event.dataset_path)
        try:
            size = received.stat().st_size
            if shutil.disk_usage(association.folder).free - size < MIN_FREE_BYTES:
                return self._refuse(event, association, OUT_OF_RESOURCES, "the spool's disk is nearly full", sop)
            target = association.folder / file_name(sop)
            partial = target.with_suffix(".part")
            try:
                os.replace(received, partial)  # the temporary file, on the same disk
            except OSError:
                shutil.copyfile(received, partial)
            flushing = self._flushing(partial)
        except OSError as exc:
            return self._refuse(event, association, OUT_OF_RESOURCES, f"cannot write to the spool: {exc.strerror}", sop)
        header, why = dicom.examine(partial)  # (read while the disk writes it)
        try:
            flushing.result()
        except OSError as exc:
            partial.unlink(missing_ok=True)
            return self._refuse(event, association, OUT_OF_RESOURCES, f"cannot write to the spool: {exc.strerror}", sop)
        problem: tuple[int, str] | None = None
        if header is None:
            problem = (CANNOT_UNDERSTAND, why)
        elif (dicom.text(header, "SOPInstanceUID") or "") != sop:
            problem = (NOT_MATCHING, "the data set's SOP Instance UID is not the one of the request")
        elif (dicom.text(header, "SOPClassUID") or "") != sop_class:
            problem = (NOT_MATCHING, "the data set's SOP Class UID is not the one of the request")
        elif not dicom.text(header, "StudyInstanceUID"):
            problem = (NOT_MATCHING, "no Study Instance UID (0020,000D)")
        if problem is not None:
            partial.unlink(missing_ok=True)
            study = (dicom.text(header, "StudyInstanceUID") or "") if header is not None else ""
            return self._refuse(event, association, problem[0], problem[1], sop, study)
        examined = str(partial)
        try:
            if self.split_studies and header is not None:
                partial = self._next_part(association, dicom.text(header, "StudyInstanceUID") or "", partial)
                target = association.folder / target.name
            partial.rename(target)
            fsync_folder(association.folder)
            if association.in_part == 0:  # the folder's first: its own name in ``incoming`` made durable too
                fsync_folder(association.folder.parent)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            return self._refuse(event, association, OUT_OF_RESOURCES, f"cannot write to the spool: {exc.strerror}", sop)
        with self._lock:
            association.count += 1
            association.in_part += 1
            association.last = time.monotonic()  # (the pace: from the answer, not from the arrival)
            if (
                header is not None and len(association.headers) < KEPT_HEADERS and header.filename == examined
            ):  # (not inflated)
                association.headers[target.name] = header
                kept = header
            else:
                kept = None
        if kept is not None and self.checked is not None:
            try:
                self.checked(target, kept)
            except Exception as exc:  # (only told: the instance is kept all the same)
                log.warning("after %s was kept: %s: %s", target.name, type(exc).__name__, exc)
        return SUCCESS  # (a status as a number: no data set to build)

    def _flushing(self, path: Path) -> Future[None]:
        """``path``'s bytes being flushed to disk by a thread of the listener's, while the
        association's thread checks them (a flush waits for the disk, a check for the
        interpreter: each in its own thread, the answer waits for both)."""
        if self._flusher is not None:
            with contextlib.suppress(RuntimeError):  # (stopping: flushed here)
                return self._flusher.submit(_flush, path)
        done: Future[None] = Future()
        try:
            _flush(path)
            done.set_result(None)
        except OSError as exc:
            done.set_exception(exc)
        return done

    def _next_part(self, association: _Association, study: str, partial: Path) -> Path:
        """Where the received file ``partial`` of ``study`` is now: in a new part of the
        association when it begins one (the part received so far, another
        study's, is handed on; ``association.folder`` is the new part's).

        Senders send a study's instances together: when the next study
        begins, the last one is complete. When a study comes back after its
        part was handed on, the association's studies are interleaved, and
        the rest of it is kept together (such a study gets one more version,
        not one per turn)."""
        if not association.splitting or study == association.study:
            return partial
        if study in association.studies:
            association.splitting = False
            return partial
        previous, association.study = association.study, study
        if association.in_part == 0:
            return partial
        folder = self.spool.incoming / uuid.uuid4().hex
        folder.mkdir()
        (folder / CALLING).write_text(association.calling)
        moved = folder / partial.name
        partial.rename(moved)
        association.studies.add(previous)
        with self._lock:
            done, headers = association.folder, association.headers
            association.folder, association.headers, association.in_part = folder, {}, 0
        self._hand_on(done, headers)
        return moved

    def _hand_on(self, folder: Path, headers: dict[str, Dataset]) -> None:
        """A complete part of an association (its folder, from ``incoming``) to what stores it."""
        ready = self.spool.ready / folder.name
        folder.rename(ready)
        self.hand_on(ready, headers)

    def _refuse(
        self, event: Any, association: _Association | None, code: int, why: str, sop: str, study: str = ""
    ) -> Dataset:
        requestor = event.assoc.requestor
        calling = str(requestor.ae_title).strip()
        address = f"{requestor.address}:{requestor.port}"
        try:
            self.spool.refuse(why, code, calling=calling, address=address, sop=sop, study=study)
        except OSError:
            pass  # the record is a courtesy: the sender is told all the same
        if association is not None:
            with self._lock:
                association.refused.append(f"{sop or '(no UID)'}: {why} (0x{code:04X})")
        return _status(code, why)

    def _on_close(self, event: Any) -> None:
        """The association ended (released, aborted, connection lost): hand on what it brought, once."""
        with self._lock:
            found = self._associations.pop(id(event.assoc), None)
        if found is None:
            return  # an echo, nothing stored, or already handed on
        for partial in found.folder.glob("*.part"):  # cut off before it was acknowledged
            partial.unlink(missing_ok=True)
        self.report(Received(found.calling, found.address, found.count, found.refused))
        if found.in_part == 0:
            shutil.rmtree(found.folder, ignore_errors=True)
            return
        self._hand_on(found.folder, found.headers)


def _flush(path: Path) -> None:
    """Flush a file's bytes to disk."""
    filemodes.flush_file(path)


def _status(code: int, comment: str = "") -> Dataset:
    """A C-STORE response status with its Error Comment (at most 64 characters, LO)."""
    status = Dataset()
    status.Status = code
    if comment:
        status.ErrorComment = comment.replace("\\", "/")[:64]
    return status
