"""A DICOM storage service (C-STORE SCP, with C-ECHO) that stores what a
modality or PACS pushes as ``hvgen study upload`` does.

Each instance received is written to a spool folder before it is
acknowledged (to a temporary name, flushed, then renamed), so an instance a
sender was told is stored is on disk. When an association ends, its folder
is handed to one uploader thread, which scans it (grouping by study and
series as :func:`.dicom.scan` does), builds each study with previews and
uploads it with :class:`.workflow.Studies`: a study already in the record
gets what it lacks, nothing is stored twice, and an interrupted upload
resumes from its journal. A study's files are removed from the spool once
it is stored; a study that cannot be stored now (the platform is down...)
stays and is tried again every ``retry`` seconds, and on the next start.

pynetdicom does the DICOM networking: every storage SOP class in every
transfer syntax is accepted (the bytes are kept as sent), and associations
must call the listener's AE title.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from healthvault.client import HealthVaultClient
from healthvault.errors import HealthVaultError

from . import dicom
from .journal import safe_name
from .results import StudyError, UploadResult
from .study import build
from .workflow import Studies

#: C-STORE statuses (PS3.4 B.2.3).
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000


@dataclass
class Stored:
    """A study stored from what an association (or several) brought."""

    result: UploadResult
    calling: str


@dataclass
class Failed:
    """A study (or spool folder) that could not be stored yet; it is kept and tried again."""

    folder: Path
    message: str
    will_retry: bool = True


@dataclass
class Received:
    """An association ended: what it brought."""

    calling: str
    address: str
    instances: int
    skipped: list[str] = field(default_factory=list)


Report = Callable[[Stored | Failed | Received], None]


class Listener:
    """The storage service: ``start()``, then ``stop()``."""

    def __init__(
        self,
        make_client: Callable[[], HealthVaultClient],
        spool: Path,
        *,
        ae_title: str = "HVGEN",
        host: str = "127.0.0.1",
        port: int = 11112,
        report: Report | None = None,
        retry: float = 30.0,
        journal_dir: Path | None = None,
    ) -> None:
        self.make_client = make_client
        self.spool = spool
        self.incoming = spool / "incoming"
        self.ready = spool / "ready"
        self.ae_title = ae_title
        self.host, self.port = host, port
        self.report = report or (lambda _event: None)
        self.retry = retry
        self.journal_dir = journal_dir
        self._associations: dict[int, tuple[Path, str, str, int]] = {}
        self._lock = threading.Lock()
        self._work: queue.Queue[Path | None] = queue.Queue()
        self._stop = threading.Event()
        self._server: Any = None
        self._uploader: threading.Thread | None = None

    # -- the DICOM side ----------------------------------------------------------------------

    def start(self) -> None:
        """Listen (raises OSError when the port cannot be had) and start the uploader."""
        self.incoming.mkdir(parents=True, exist_ok=True)
        self.ready.mkdir(parents=True, exist_ok=True)
        for left in sorted(self.incoming.iterdir()):  # associations cut by a stop: what they brought was acknowledged
            left.rename(self.ready / left.name)
        ae = AE(ae_title=self.ae_title)
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:
                ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        ae.add_supported_context(Verification)
        ae.require_called_aet = True
        ae.maximum_associations = 16
        handlers: list[Any] = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_CONN_CLOSE, self._on_close)]
        self._server = ae.start_server((self.host, self.port), block=False, evt_handlers=handlers)
        self.port = self._server.server_address[1]
        self._uploader = threading.Thread(target=self._upload_loop, name="dicom-uploader", daemon=True)
        self._uploader.start()
        for folder in sorted(self.ready.iterdir()):
            self._work.put(folder)

    def stop(self) -> None:
        """Stop listening; the study being uploaded is finished, the rest waits for the next start."""
        if self._server is not None:
            self._server.shutdown()
        self._stop.set()
        self._work.put(None)
        if self._uploader is not None:
            self._uploader.join()

    def _folder(self, event: Any) -> Path:
        key = id(event.assoc)
        with self._lock:
            found = self._associations.get(key)
            if found is None:
                requestor = event.assoc.requestor
                folder = self.incoming / uuid.uuid4().hex
                folder.mkdir(parents=True)
                found = (folder, str(requestor.ae_title).strip(), f"{requestor.address}:{requestor.port}", 0)
                self._associations[key] = found
            return found[0]

    def _on_store(self, event: Any) -> int:
        try:
            sop = str(event.request.AffectedSOPInstanceUID or "").strip()
            if not sop:
                return CANNOT_UNDERSTAND
            folder = self._folder(event)
            target = folder / f"{safe_name(sop)}.dcm"
            partial = target.with_suffix(".part")
            with open(partial, "wb") as f:
                f.write(event.encoded_dataset(include_meta=True))
                f.flush()
                os.fsync(f.fileno())
            partial.rename(target)
        except OSError:
            return OUT_OF_RESOURCES
        with self._lock:
            f_, calling, address, count = self._associations[id(event.assoc)]
            self._associations[id(event.assoc)] = (f_, calling, address, count + 1)
        return SUCCESS

    def _on_close(self, event: Any) -> None:
        with self._lock:
            found = self._associations.pop(id(event.assoc), None)
        if found is None:
            return  # an echo, or nothing stored
        folder, calling, address, count = found
        for partial in folder.glob("*.part"):  # cut off before it was acknowledged
            partial.unlink(missing_ok=True)
        (folder / ".hvgen-calling").write_text(calling)
        ready = self.ready / folder.name
        folder.rename(ready)
        self.report(Received(calling, address, count))
        self._work.put(ready)

    # -- the platform side -------------------------------------------------------------------

    def _upload_loop(self) -> None:
        waiting: list[Path] = []
        while not self._stop.is_set():
            try:
                folder = self._work.get(timeout=self.retry if waiting else None)
            except queue.Empty:
                folder = None
                for again in waiting:
                    self._work.put(again)
                waiting = []
                continue
            if folder is None:
                break
            if folder in waiting or not folder.exists():
                continue
            if not self.store_folder(folder):
                waiting.append(folder)

    def store_folder(self, folder: Path) -> bool:
        """Store every study of a spool folder; True when nothing is left of it."""
        calling = (folder / ".hvgen-calling").read_text() if (folder / ".hvgen-calling").exists() else ""
        scanned = dicom.scan(folder)
        for path, why in scanned.skipped:  # acknowledged, but not storable: kept aside, said so
            rejected = self.spool / "rejected" / f"{folder.name}-{path.name}"
            rejected.parent.mkdir(parents=True, exist_ok=True)
            path.rename(rejected)
            self.report(Failed(rejected, f"{why}; kept as {rejected}", will_retry=False))
        try:
            client = self.make_client()
        except (HealthVaultError, OSError, ValueError) as exc:
            self.report(Failed(folder, f"cannot reach the platform: {exc}"))
            return False
        left = False
        with client:
            studies = Studies(client, journal_dir=self.journal_dir)
            for study in scanned.studies:
                try:
                    result = studies.upload(build(study))
                except (StudyError, HealthVaultError, OSError) as exc:
                    self.report(Failed(folder, f"study {study.uid}: {exc}"))
                    left = True
                    continue
                for image in study.images:
                    image.path.unlink(missing_ok=True)
                self.report(Stored(result, calling))
        if left:
            return False
        shutil.rmtree(folder, ignore_errors=True)
        return True
