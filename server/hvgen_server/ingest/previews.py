"""Previews made after a study is stored, and added to it in a later version.

STOW-RS and the DICOM service store a study without the previews of its new
images (:func:`hvgen_imaging.study.build` with ``previews=False``), so that
nothing slow stands before the answer. This worker then makes the previews
the study lacks, one study at a time in one thread (each decode within the
process's decoding budget, :mod:`hvgen_imaging.budget`), from the stored
blobs, and writes them in one new version of the study
(:func:`hvgen_imaging.study.add_previews`: each image's preview, and the
series' and study's when they had none, chosen as ``hvgen study upload``
chooses them), moving the study's DICOM index rows to that version in the
same transaction.

The worker makes previews when the ingest is quiet (:mod:`.activity`:
storing what arrives comes first), and in short bursts while it is not.

What a reader sees in between is a complete, schema-valid study whose new
images have no preview yet (``image-preview-blob-name`` is optional): the
viewer shows them without a thumbnail, WADO-RS renders such an image when
asked. A study changed in between gets the previews of the images it still
has. A study is marked as waiting for previews (a file in
``DATA/ingest/previews``, on disk before its commit) before it is stored, and unmarked once its
previews are added (or it has none to add): what a stop interrupted is made
at the next start (:meth:`Previews.recover`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from healthvault import filemodes
from healthvault.bindings.thing import BlobPayload, ThingKey
from hvgen_imaging.budget import OverBudget
from hvgen_imaging.preview import Preview, describe, make_preview
from hvgen_imaging.results import study_of
from hvgen_imaging.study import PREVIEW_SUFFIX, add_previews

from .. import thingxml
from ..context import Actor, Platform
from ..dicomweb.gateway import ensure_gateway
from ..dicomweb.index import open_blob
from ..store import Transaction
from .activity import ACTIVITY, BURST
from .studies import Ingest, as_sent_back, write_blobs, write_thing

log = logging.getLogger("hvgen_server.ingest")

#: Tries of a study whose previews cannot get the decoding budget, a second apart.
BUDGET_TRIES = 30
#: Flushes the marks of studies about to be stored (beside the storing, which waits for it before its commit).
_MARKING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="previews-mark")


class Previews:
    """The previews studies of a platform lack, made in one thread."""

    def __init__(self, platform: Platform, app_id: str) -> None:
        self.platform, self.app_id = platform, app_id
        self.folder = platform.config.data_dir / "ingest" / "previews"
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._pending: set[tuple[str, str]] = set()
        self._marking = threading.Lock()
        self._unflushed: dict[Path, Future[None]] = {}  # marks being flushed, by file
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ingest-previews", daemon=True)
        self._thread.start()

    def _marker(self, record_id: str, study_uid: str) -> Path:
        digest = hashlib.sha256(f"{record_id}\n{study_uid}".encode()).hexdigest()[:32]
        return self.folder / f"{digest}.json"

    def mark(self, record_id: str, *study_uids: str) -> Callable[[], None] | None:
        """Note that these studies will wait for previews (before they are stored): the
        marks are flushed to disk by a thread meanwhile. Returns what waits until they
        are (None when every mark was on disk already), for the studies' commit to call
        first (:meth:`.studies.Ingest.store_many`'s ``before_commit``): a study stored
        without its mark would never get its previews. A mark written by another store
        of the same study and not flushed yet is waited for too; a mark whose flush
        failed is removed (the next store writes it again)."""
        written: list[Path] = []
        waits: list[Future[None]] = []
        with self._marking:
            for study_uid in study_uids:
                marker = self._marker(record_id, study_uid)
                if marker.exists():
                    if marker in self._unflushed:
                        waits.append(self._unflushed[marker])
                    continue
                if not written:
                    filemodes.make_folder(self.folder)
                marker.write_text(json.dumps({"record": record_id, "study": study_uid}))
                written.append(marker)
            if written:
                flushing = _MARKING.submit(self._flush, written)
                waits.append(flushing)
                for marker in written:
                    self._unflushed[marker] = flushing
        if not waits:
            return None

        def wait() -> None:
            for waited in waits:
                waited.result()

        return wait

    def _flush(self, markers: list[Path]) -> None:
        try:
            for marker in markers:
                try:
                    filemodes.flush_file(marker)
                except FileNotFoundError:  # (its previews were made meanwhile: the store after asks again)
                    continue
            filemodes.flush_folder(self.folder)
        except OSError:
            for marker in markers:  # (not on disk: written again by the next store)
                marker.unlink(missing_ok=True)
            raise
        finally:
            with self._marking:
                for marker in markers:
                    self._unflushed.pop(marker, None)

    def add(self, record_id: str, study_uid: str) -> None:
        """Make the previews this study of the record lacks (once, however often it is asked)."""
        with self._lock:
            if (record_id, study_uid) in self._pending:
                return
            self._pending.add((record_id, study_uid))
        self._queue.put((record_id, study_uid))

    def recover(self) -> int:
        """Queue the studies marked as waiting for previews; returns how many."""
        count = 0
        for marker in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            try:
                noted = json.loads(marker.read_text())
                record_id, study_uid = str(noted["record"]), str(noted["study"])
                if marker != self._marker(record_id, study_uid):  # named otherwise: by the name it is unmarked by
                    marker.replace(self._marker(record_id, study_uid))
                self.add(record_id, study_uid)
                count += 1
            except (OSError, ValueError, KeyError, TypeError):
                marker.unlink(missing_ok=True)  # cut short when it was written: its study is complete
        return count

    def stop(self) -> None:
        """Stop after the image being made (the rest is made at the next start)."""
        self._stopping.set()
        self._queue.put(None)
        self._thread.join()

    def _loop(self) -> None:
        while (job := self._queue.get()) is not None and not self._stopping.is_set():
            with self._lock:
                self._pending.discard(job)
            for _ in range(BUDGET_TRIES):
                try:
                    self.make(*job)
                    break
                except OverBudget:
                    time.sleep(1.0)
                except Exception:
                    log.exception("the previews of study %s could not be made", job[1])
                    break
            if not self._stopping.is_set():  # else made at the next start
                self._marker(*job).unlink(missing_ok=True)

    def make(self, record_id: str, study_uid: str) -> int:
        """Make and add the previews the study lacks; returns how many were added."""
        ingest = Ingest(self.platform, self.app_id, record_id, hidden_flags=0)  # (the study stored, as it is now)
        found = ingest.find(study_uid)
        if len(found) > 1:  # (an application's study beside the person's personal one of the same UID)
            ingest = Ingest(self.platform, self.app_id, record_id)
            found = ingest.find(study_uid)
        if len(found) != 1:
            return 0
        thing = as_sent_back(found[0])
        with self.platform.store.read() as tx:
            blobs = {ref.name: ref.blob_id for ref in tx.things.blob_refs(found[0].version_stamp)}
        lacking = [
            image.image_blob_name
            for series in study_of(thing).series
            for image in series.images
            if image.image_preview_blob_name is None and image.image_blob_name in blobs
        ]
        made: dict[str, Preview] = {}
        burst_ends = 0.0
        for name in lacking:
            if time.monotonic() >= burst_ends:  # storing what arrives comes first (:mod:`.activity`)
                ACTIVITY.wait_quiet(self._stopping)
                burst_ends = time.monotonic() + BURST
            if self._stopping.is_set():
                return 0
            try:
                with open_blob(self.platform.files, blobs[name]) as f:
                    made[name + PREVIEW_SUFFIX] = make_preview(f, name + PREVIEW_SUFFIX)
            except OverBudget:
                raise
            except Exception as exc:  # no decoder, corrupt pixel data...
                log.info("image %s of study %s has no preview: %s", name, study_uid, describe(exc))
        if made:
            ACTIVITY.wait_quiet(self._stopping)  # (the new version waits as its previews did)
        return self._add(ingest, study_uid, made) if made else 0

    def _add(self, ingest: Ingest, study_uid: str, made: dict[str, Preview]) -> int:
        with self.platform.store.hold(ingest.lock):
            found = ingest.find(study_uid)  # as it is now: it may have changed while previews were made
            if len(found) != 1 or thingxml.child(thingxml.parse_stored(found[0].xml), "signature-info") is not None:
                return 0
            current = found[0]
            thing = as_sent_back(current)
            added = add_previews(study_of(thing), set(made))
            if not added:
                return 0
            rows, items = write_blobs(
                self.platform, ingest.record_id, [(name, ("preview", made[name])) for name in added]
            )
            thing.blob_payload = BlobPayload(blob=items)
            previews = {name[: -len(PREVIEW_SUFFIX)]: row.blob_id for name, row in zip(added, rows, strict=True)}

            def also(tx: Transaction, keys: list[ThingKey]) -> None:
                tx.dicom.follow(current.thing_id, current.version_stamp, keys[0].version_stamp or "", previews)

            actor = Actor(self.platform, app_id=self.app_id, record_id=ingest.record_id)
            write_thing(actor, thing, also, rows)
        return len(added)


_WORKERS: dict[int, Previews] = {}
_WORKERS_LOCK = threading.Lock()


def previews_of(platform: Platform, app_id: str) -> Previews:
    """The platform's preview worker (started on first use)."""
    with _WORKERS_LOCK:
        worker = _WORKERS.get(id(platform))
        if worker is None or worker.platform is not platform:
            worker = _WORKERS[id(platform)] = Previews(platform, app_id)
        return worker


def stop_previews(platform: Platform) -> None:
    with _WORKERS_LOCK:
        worker = _WORKERS.pop(id(platform), None)
    if worker is not None:
        worker.stop()


def recover_previews(platform: Platform) -> int:
    """Make the previews a stop interrupted (at the server's start); returns how many studies wait."""
    return previews_of(platform, ensure_gateway(platform).app_id).recover()
