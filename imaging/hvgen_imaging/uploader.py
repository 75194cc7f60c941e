"""The listener's platform side: storing what associations handed on.

One thread takes each ready spool folder, scans it (grouping by study and
series as :func:`.dicom.scan` does), builds each study with previews and
uploads it with :class:`.workflow.Studies`: a study already in the record
gets what it lacks, nothing is stored twice, and an interrupted upload
resumes from its journal. A study's files leave the spool once it is stored.

What fails is not retried without end. A study that fails for a reason that
may pass (the platform is down or busy, the decoding budget is spent) is
tried again after ``retry`` seconds, then twice as long each time (at most
:data:`MAX_DELAY`), :data:`MAX_ATTEMPTS` times in all; every failure is
reported with the attempt and the next try. What cannot be stored (the
platform refuses the study, or the attempts are spent) is set aside once in
``rejected/`` with its reason (see :mod:`.spool`, ``hvgen dicom rejected``).
"""

from __future__ import annotations

import functools
import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydicom.dataset import Dataset

from healthvault import status
from healthvault.client import HealthVaultClient, HealthVaultTransportError
from healthvault.errors import HealthVaultError

from . import dicom
from .budget import OverBudget
from .results import StudyError, UploadResult
from .spool import CALLING, Attempts, Rejection, Spool
from .study import build
from .workflow import Studies

#: Tries of a study that fails for a passing reason, before it is set aside.
MAX_ATTEMPTS = 12
#: The longest wait between two tries (seconds).
MAX_DELAY = 3600.0
#: Ready folders (associations) stored together, in one transaction when the store can.
MAX_BATCH = 32
#: Headers read at receipt held for the folders waiting to be stored (bounded memory
#: however far storing falls behind); the files of a folder given more are read again.
KNOWN_HEADERS = 4000


@dataclass
class Stored:
    """A study stored from what an association (or several) brought."""

    result: UploadResult
    calling: str


@dataclass
class Failed:
    """A study (or spool folder) that could not be stored now; tried again in ``retry_in`` seconds."""

    folder: Path
    message: str
    will_retry: bool = True
    attempt: int = 0
    of: int = MAX_ATTEMPTS
    retry_in: float = 0.0


@dataclass
class SetAside:
    """What cannot be stored, moved to ``rejected/`` with its reason."""

    rejection: Rejection


@dataclass
class Received:
    """An association ended: what it brought (and what was refused at once)."""

    calling: str
    address: str
    instances: int
    refused: list[str] = field(default_factory=list)


Event = Stored | Failed | SetAside | Received
Report = Callable[[Event], None]
#: Stores one study somewhere other than through a client (the platform's
#: own in-process ingest, when the listener runs inside ``hvgen serve``).
StoreStudy = Callable[[dicom.DicomStudy], UploadResult]
#: Stores several studies at once (in one transaction when it can): what each
#: became, or the failure (StudyError, HealthVaultError, OSError, OverBudget) of each.
StoreStudies = Callable[[list[dicom.DicomStudy]], list[UploadResult | Exception]]


def _one_by_one(store: StoreStudy, found: list[dicom.DicomStudy]) -> list[UploadResult | Exception]:
    """Each study stored with ``store``, one after the other."""
    outcomes: list[UploadResult | Exception] = []
    for study in found:
        try:
            outcomes.append(store(study))
        except (StudyError, HealthVaultError, OSError, OverBudget) as exc:
            outcomes.append(exc)
    return outcomes


def passing(exc: BaseException) -> bool:
    """Whether a failure may pass by itself (worth trying again later)."""
    if isinstance(exc, (HealthVaultTransportError, OverBudget, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, status.HealthVaultStatusError):
        return exc.code in (status.StatusCode.FAILED, status.StatusCode.REQUEST_TIMED_OUT)
    if isinstance(exc, StudyError):
        return "run the upload again" in str(exc)
    return isinstance(exc, (HealthVaultError, OSError))


class Uploader:
    """Stores ready folders of a spool, one thread, with bounded retries."""

    def __init__(
        self,
        make_client: Callable[[], HealthVaultClient] | None,
        spool: Spool,
        report: Report,
        *,
        retry: float = 30.0,
        journal_dir: Path | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        store_study: StoreStudy | None = None,
        store_studies: StoreStudies | None = None,
    ) -> None:
        if store_study is not None and store_studies is None:
            store_studies = functools.partial(_one_by_one, store_study)
        if (make_client is None) == (store_studies is None):
            raise ValueError("give either make_client or store_study")
        self.make_client = make_client
        self.store_studies = store_studies
        self.spool = spool
        self.report = report
        self.retry = retry
        self.journal_dir = journal_dir
        self.max_attempts = max_attempts
        self._work: queue.Queue[Path | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._known: dict[Path, dict[str, Dataset]] = {}
        self._known_count = 0
        self._known_lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="dicom-uploader", daemon=True)
        self._thread.start()
        for folder in sorted(self.spool.ready.iterdir()):
            self._work.put(folder)

    def put(self, folder: Path, headers: dict[str, Dataset] | None = None) -> None:
        """Store ``folder``; ``headers`` are those of its files read when they
        were received (by file name), so that they are not parsed again (at most
        :data:`KNOWN_HEADERS` are held for the folders waiting: beyond, files are read again)."""
        if headers:
            with self._known_lock:
                if self._known_count + len(headers) <= KNOWN_HEADERS:
                    self._known[folder] = headers
                    self._known_count += len(headers)
        self._work.put(folder)

    def _headers(self, folder: Path) -> dict[Path, Dataset]:
        """The headers given with ``folder`` (once), as read from where its files are now."""
        with self._known_lock:
            given = self._known.pop(folder, {})
            self._known_count -= len(given)
        known = {}
        for name, header in given.items():
            header.filename = str(folder / name)  # where values left on disk are read from
            header.timestamp = None  # (the blob store may touch the file it adopts)
            known[folder / name] = header
        return known

    def stop(self) -> None:
        self._stop.set()
        self._work.put(None)
        if self._thread is not None:
            self._thread.join()

    def delay(self, attempt: int) -> float:
        """Seconds before try ``attempt + 1``."""
        return float(min(MAX_DELAY, self.retry * 2 ** max(0, attempt - 1)))

    def _loop(self) -> None:
        waiting: dict[Path, float] = {}  # folder -> when to try it again
        while not self._stop.is_set():
            timeout = max(0.0, min(waiting.values()) - time.monotonic()) if waiting else None
            try:
                folder = self._work.get(timeout=timeout)
            except queue.Empty:
                now = time.monotonic()
                for due in [f for f, at in waiting.items() if at <= now]:
                    del waiting[due]
                    self._work.put(due)
                continue
            if folder is None:
                break
            if folder in waiting or not folder.exists():
                continue
            batch = [folder, *self._more(folder, waiting)]
            try:
                outcome = self.store_folders(batch)
            except Exception as exc:  # (not a study's failure: the folders wait as for one, the thread goes on)
                outcome = {f: self._unforeseen(f, exc) for f in batch}
            for done, again in outcome.items():
                if again is not None:
                    waiting[done] = time.monotonic() + again

    def _more(self, first: Path, waiting: dict[Path, float]) -> list[Path]:
        """The other folders ready now (at most :data:`MAX_BATCH` in all), to be stored with the first."""
        more: list[Path] = []
        while self.store_studies is not None and len(more) < MAX_BATCH - 1:
            try:
                folder = self._work.get_nowait()
            except queue.Empty:
                break
            if folder is None:
                self._work.put(None)  # (stopping: after this batch)
                break
            if folder != first and folder not in waiting and folder not in more and folder.exists():
                more.append(folder)
        return more

    def store_folder(self, folder: Path) -> float | None:
        """Store every study of a ready folder; the seconds before it is tried
        again when some study failed for a passing reason, else None."""
        return self.store_folders([folder])[folder]

    def store_folders(self, folders: list[Path]) -> dict[Path, float | None]:
        """Store every study of ready folders (together, when a function stores
        them: in one transaction, a group commit of what several associations
        brought); for each folder, the seconds before it is tried again when
        some study failed for a passing reason, else None."""
        scans = [(folder, *self._scan(folder)) for folder in folders]
        every = [study for _, _, studies in scans for study in studies]
        outcomes: list[UploadResult | Exception] = []
        if self.store_studies is not None:
            outcomes = self.store_studies(every) if every else []
        else:
            assert self.make_client is not None
            try:
                client = self.make_client()
            except (HealthVaultError, OSError, ValueError) as exc:
                outcomes = [exc] * len(every)
            else:
                with client:
                    studies = Studies(client, journal_dir=self.journal_dir)
                    outcomes = _one_by_one(lambda study: studies.upload(build(study)), every)
        results: dict[Path, float | None] = {}
        at = 0
        for folder, calling, found in scans:
            mine, at = outcomes[at : at + len(found)], at + len(found)
            failure = self._settle(found, mine, calling)
            if failure is None:
                shutil.rmtree(folder, ignore_errors=True)
                results[folder] = None
            else:
                results[folder] = self._failed(folder, failure, calling)
        return results

    def _scan(self, folder: Path) -> tuple[str, list[dicom.DicomStudy]]:
        """The calling AE title of a ready folder, and its studies (setting aside what cannot be read)."""
        calling = (folder / CALLING).read_text() if (folder / CALLING).exists() else ""
        scanned = dicom.scan(folder, known=self._headers(folder))
        for path, why in scanned.skipped:  # checked at receipt: only what changed on disk since
            self._set_aside([path], why, calling, [], "")
        return calling, scanned.studies

    def _settle(
        self, found: list[dicom.DicomStudy], outcomes: list[UploadResult | Exception], calling: str
    ) -> BaseException | None:
        """What became of each study: the last failure that may pass (the study stays in the
        spool), after setting aside each study that cannot be stored."""
        failure: BaseException | None = None
        for study, result in zip(found, outcomes, strict=True):
            if isinstance(result, BaseException):
                if passing(result):
                    failure = result
                else:
                    sops = [i.sop_instance_uid for i in study.images]
                    self._set_aside(
                        [i.path for i in study.images], f"study {study.uid}: {result}", calling, sops, study.uid
                    )
                continue
            for image in study.images:
                image.path.unlink(missing_ok=True)
            self.report(Stored(result, calling))
        return failure

    def _unforeseen(self, folder: Path, failure: Exception) -> float | None:
        """A batch failed as nothing foresaw: each folder counts an attempt
        (tried again later, set aside after the last), or waits the first delay."""
        try:
            calling = (folder / CALLING).read_text() if (folder / CALLING).exists() else ""
            return self._failed(folder, failure, calling)
        except Exception:
            return self.delay(1)

    def _failed(self, folder: Path, failure: BaseException, calling: str) -> float | None:
        attempts = self.spool.attempts(folder)
        attempts = Attempts(attempts.count + 1, attempts.first or time.time(), f"{type(failure).__name__}: {failure}")
        message = (
            str(failure) if isinstance(failure, (StudyError, HealthVaultError, OverBudget)) else attempts.last_error
        )
        if attempts.count >= self.max_attempts:
            files = sorted(folder.glob("*.dcm"))
            hours = (time.time() - attempts.first) / 3600
            headers = [dicom.examine(p)[0] for p in files]
            self._set_aside(
                files,
                f"not stored after {attempts.count} attempts over {hours:.1f} h; the last: {message}",
                calling,
                [dicom.text(h, "SOPInstanceUID") or "" for h in headers if h is not None],
                ", ".join(sorted({dicom.text(h, "StudyInstanceUID") or "" for h in headers if h is not None})),
            )
            shutil.rmtree(folder, ignore_errors=True)
            return None
        self.spool.record_attempt(folder, attempts)
        wait = self.delay(attempts.count)
        self.report(Failed(folder, message, True, attempts.count, self.max_attempts, wait))
        return wait

    def _set_aside(self, files: list[Path], reason: str, calling: str, sops: list[str], study: str) -> None:
        files = [p for p in files if p.exists()]
        if not files:
            return
        self.report(SetAside(self.spool.set_aside(files, reason, calling=calling, sops=sops, study=study)))
