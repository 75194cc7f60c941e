"""The DICOM storage service inside ``hvgen serve`` (``--dicom-port``).

The listener of ``hvgen dicom listen`` (:class:`hvgen_imaging.listener.Listener`:
the same checks before Success, the same spool, limits, retries and
set-aside files) runs in a process of its own (:mod:`.dicomprocess`), and
this process stores what it hands on: the studies of each part of an
association (a study as soon as the association moves on to the next one),
and of those ready at once (a group commit), in one transaction with the
in-process ingest (:meth:`.studies.Ingest.store_many`) instead of a client:
into one record (``--dicom-record``, by default the platform's first
person's record), as the DICOM gateway application. The spool is
``DATA/dicom/spool`` (``hvgen dicom rejected --spool DATA/dicom/spool``
lists what was set aside); pynetdicom receives each data set into a
temporary file in ``DATA/dicom/receiving``, on the same disk, so that it is
moved into the spool, and from there adopted by the blob store, never
copied.

The record and the application are chosen once at start
(:func:`listening_record`); the listener also answers C-FIND, C-GET and
C-MOVE over that record's DICOM index (:mod:`.archive`), C-MOVE sending to
the DIMSE nodes of the store (`hvgen dicom node`) by AE title.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from healthvault.errors import HealthVaultError
from hvgen_imaging.dicom import DicomStudy
from hvgen_imaging.listener import Failed, Received, SetAside, Stored
from hvgen_imaging.peers import Node
from hvgen_imaging.results import StudyError, UploadResult
from hvgen_imaging.study import BuiltStudy, build
from hvgen_imaging.uploader import Uploader

from ..bootstrap import DEFAULT_RECORD
from ..config import DicomListening
from ..context import Platform
from ..dicomweb.gateway import ensure_gateway
from ..errors import ServerError
from ..store import Store
from .activity import ACTIVITY
from .blobwrite import stage, unstage
from .dicomprocess import DicomService, spool_of
from .indexrows import prepare
from .previews import previews_of
from .studies import Ingest, Ingested

log = logging.getLogger("hvgen_server.dicom")


class ListeningError(ServerError):
    """The DICOM listener cannot start as asked (an unknown record)."""


def listening_record(store: Store, options: DicomListening) -> str:
    """The record the listener stores into: ``options.record_id``, or the first person's."""
    record_id = options.record_id or store.meta(DEFAULT_RECORD) or ""
    with store.read() as tx:
        known = bool(record_id) and tx.records.exists(record_id)
    if not known:
        named = f"record {options.record_id}" if options.record_id else "the first person's record"
        raise ListeningError(f"--dicom-record: {named} is not in the store (`hvgen record list` lists them)")
    return record_id


class DicomListener:
    """The running storage service: the listener's process, and this process's uploader."""

    def __init__(self, service: DicomService, uploader: Uploader) -> None:
        self.service, self.uploader = service, uploader

    @property
    def port(self) -> int:
        return self.service.port

    def stop(self) -> None:
        """Stop listening; the study being stored is finished, the rest waits for the next start."""
        self.service.stop()
        self.uploader.stop()


def start_listener(platform: Platform, options: DicomListening) -> DicomListener:
    """Start the storage service (raises :class:`.dicomprocess.DicomServiceError`
    when its port cannot be had)."""
    record_id = listening_record(platform.store, options)
    ingest = Ingest(platform, ensure_gateway(platform).app_id, record_id)
    spool = spool_of(platform.config)
    spool.recover()  # (before the listener's process starts: what it moves, it hands on)

    previews = previews_of(platform, ingest.app_id)

    def store_studies(studies: list[DicomStudy]) -> list[UploadResult | Exception]:
        """The studies an association (or several) brought, in one transaction when they can be."""
        with ACTIVITY.busy():  # (previews wait)
            return _store(studies)

    def _store(studies: list[DicomStudy]) -> list[UploadResult | Exception]:
        outcomes: list[UploadResult | Exception | None] = []
        builts: list[BuiltStudy] = []
        for study in studies:
            try:
                builts.append(build(study, previews=False))  # made afterwards (.previews)
                outcomes.append(None)
            except (StudyError, HealthVaultError, OSError) as exc:
                outcomes.append(exc)
        marked = previews.mark(record_id, *(built.data.study_instance_uid or "" for built in builts))
        try:
            stored = iter(ingest.store_many(builts, marked))
        finally:  # (what the studies did not use of the files' blobs made ahead)
            unstage(platform, [image.header for study in studies for image in study.images])
        done: list[UploadResult | Exception] = []
        for outcome in outcomes:
            if outcome is None:
                result = next(stored)
                if isinstance(result, Ingested):
                    previews.add(record_id, result.study_uid)
                    outcome = _upload_result(result)
                else:
                    outcome = result
            done.append(outcome)
        return done

    uploader = Uploader(
        None, spool, report, retry=options.retry, max_attempts=options.attempts, store_studies=store_studies
    )
    uploader.start()

    def ahead(header: Dataset, paths: tuple[Path, ...]) -> None:
        """While the association goes on: the instance's index row and metadata, and its blob."""
        prepare(header)
        if paths:
            stage(platform, header, paths)

    service = DicomService(platform.config, options, record_id, uploader.put, ahead)
    try:
        service.start()
    except BaseException:
        uploader.stop()
        raise
    ACTIVITY.watch(_receiving(service))
    # the FHIR mappings the store indexes things with (imported on first use) loaded now, not by the first study
    threading.Thread(target=_load_mappings, args=(platform,), name="fhir-mappings", daemon=True).start()
    log.info(
        "listening for DICOM associations to %s on %s:%d, storing into record %s",
        options.ae_title,
        options.host,
        service.port,
        record_id,
    )
    return DicomListener(service, uploader)


def _load_mappings(platform: Platform) -> None:
    try:
        platform.fhir  # noqa: B018  (a cached property: loaded once)
    except Exception as exc:  # (loaded again, and said, by the first thing stored)
        log.warning("the FHIR mappings could not be loaded at start: %s", exc)


def _receiving(service: DicomService) -> Callable[[], bool]:
    """Whether the listener is receiving instances (False once it is gone)."""
    ref = weakref.ref(service)

    def receiving() -> bool:
        found = ref()
        return found is not None and found.receiving()

    return receiving


def _upload_result(done: Ingested) -> UploadResult:
    return UploadResult(
        study_uid=done.study_uid,
        thing_id=done.thing_id,
        version_stamp=done.version_stamp,
        created=done.status == "created",
        series=done.series,
        images=done.images,
        previews=0,
        uploaded_blobs=done.added,
        uploaded_bytes=0,
        resumed_blobs=0,
        signed=False,
        warnings=done.warnings,
        status=done.status,
    )


def destination(platform: Platform, ae_title: str) -> Node | None:
    """A C-MOVE destination: the DIMSE node of that AE title in the store (`hvgen dicom node`)."""
    with platform.store.read() as tx:
        node = tx.dicom_nodes.by_ae_title(ae_title)
    return None if node is None else Node(node.ae_title, node.host, node.port, node.name)


def report(event: Any) -> None:
    """The log lines of the listener's and uploader's events."""
    if isinstance(event, Received):
        log.info("received %d instance(s) from %s at %s", event.instances, event.calling or "?", event.address)
        for refused in event.refused:
            log.warning("refused %s", refused)
    elif isinstance(event, Stored):
        r = event.result
        log.info("stored study %s (%s): %d image(s), thing %s", r.study_uid, r.status, r.images, r.thing_id)
    elif isinstance(event, Failed):
        log.warning(
            "%s; attempt %d of %d, trying again in %g s", event.message, event.attempt, event.of, event.retry_in
        )
    elif isinstance(event, SetAside):
        rejection = event.rejection
        log.warning("set aside %d file(s) (%s): %s", len(rejection.files), rejection.id, rejection.reason)
