"""The DICOM network side of ``hvgen serve --dicom-port``, in a process of its own.

Receiving and acknowledging instances (pynetdicom's reactor threads, the
checks before Success) and storing studies (building them, PutThings' core,
the index rows) each keep a Python interpreter busy. In one process they
take turns on one core, and an association waits for every turn; so the
server runs the listener (:class:`hvgen_imaging.listener.Listener`, the
very one of ``hvgen dicom listen``) in a child process (:mod:`.dicomchild`)
and stores what it hands on in its own process, on the other core, while
the association goes on:

- the child receives, checks, spools and flushes each instance and answers
  Success, as the listener always did; it also answers C-ECHO, C-FIND,
  C-GET and C-MOVE over the record (its own connections to the store, read
  as DICOMweb reads it);
- with each answer it sends the header its checks read of that instance
  (by a thread of its own: the answer does not wait for it), and the
  server makes the instance's index row and metadata
  (:func:`.indexrows.prepare`) while the association goes on; it does not
  read those files' headers again;
- it hands each study on as soon as the association moves on to the next
  study (``split_studies``), and the rest when the association ends: a
  message names a folder of ``spool/ready``;
- the server's :class:`~hvgen_imaging.uploader.Uploader` stores those
  folders (a group commit of what is ready) with the in-process ingest.

Nothing acknowledged depends on the pipe: a folder is in ``spool/ready`` (or
``spool/incoming``, for an association still open) before it is named, and
the server's next start stores what either holds. Messages are pickles,
each after its length (4 bytes); one that cannot be read is logged and
skipped. When the server is killed, the child is killed with it (on Linux;
elsewhere its standard input ends and it stops), so that its port is free
for the next start. A child that ends by itself is started again (after a
second, then twice as long after each start that fails, at most a minute);
the one started again hands on what the associations of the one before had
acknowledged, and the server's log says so. Both processes log to the
server's standard error.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pydicom.dataset import Dataset

from hvgen_imaging.listener import KEPT_HEADERS, HandOn
from hvgen_imaging.spool import Spool
from hvgen_imaging.uploader import KNOWN_HEADERS

from ..config import DicomListening, ServerConfig
from ..errors import ServerError

log = logging.getLogger("hvgen_server.dicom")

#: Seconds the server waits for the child to listen (its imports and store included).
START_TIMEOUT = 120.0
#: Seconds a stopping child has to finish before it is killed.
STOP_TIMEOUT = 30.0
#: Seconds before a child that ended by itself is started again.
RESTART_DELAY = 1.0
#: The longest wait between two starts of a child that cannot start (doubling from RESTART_DELAY).
MAX_RESTART_DELAY = 60.0
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
#: Folders handed on that :class:`_Headers` remembers (to skip what is still queued of them).
_TAKEN_KEPT = 1024
#: The length before each message of the child.
SIZE = struct.Struct(">I")
#: What the server does with each header while the association goes on: the header,
#: and where its file is (the first of those paths that exists; none for the first
#: instance of a part).
Prepare = Callable[[Dataset, tuple[Path, ...]], None]


class DicomServiceError(ServerError):
    """The DICOM service could not start (its port, its store); the message says why."""


@dataclass
class Orders:
    """What the child is started with."""

    config: ServerConfig
    options: DicomListening
    record_id: str
    log_level: int
    parent: int  # the server's pid


def receiving_folder(config: ServerConfig) -> Path:
    """Where pynetdicom writes each data set as it arrives (on the spool's disk)."""
    return config.data_dir / "dicom" / "receiving"


def spool_of(config: ServerConfig) -> Spool:
    """The DICOM service's spool (``DATA/dicom/spool``)."""
    return Spool(config.data_dir / "dicom" / "spool")


class DicomService:
    """The child process, seen from the server: ``start()`` (raises
    :class:`DicomServiceError` when it cannot listen), ``receiving()``,
    ``stop()``; each folder it hands on goes to ``hand_on``."""

    def __init__(
        self,
        config: ServerConfig,
        options: DicomListening,
        record_id: str,
        hand_on: HandOn,
        prepare: Prepare | None = None,
    ) -> None:
        self.orders = Orders(config, options, record_id, logging.getLogger().getEffectiveLevel(), os.getpid())
        self.spool = spool_of(config)
        self.hand_on = hand_on
        self.port = options.port
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._reader: threading.Thread | None = None
        self._headers = _Headers(prepare, self.spool)

    def start(self) -> None:
        """Start the child from a thread that lives as long as the service (the child ends
        with the thread that started it, :func:`_end_with_parent`), and wait until it listens."""
        started: list[BaseException | subprocess.Popen[bytes]] = []
        ready = threading.Event()

        def run() -> None:
            try:
                process = self._spawn()
            except BaseException as exc:
                started.append(exc)
                ready.set()
                return
            started.append(process)
            ready.set()
            self._read(process)

        self._reader = threading.Thread(target=run, name="dicom-service", daemon=True)
        self._reader.start()
        ready.wait()
        if isinstance(started[0], BaseException):
            raise started[0]

    def _spawn(self) -> subprocess.Popen[bytes]:
        """Start the child and wait until it listens, taking what it hands on meanwhile
        (a child started again hands on the associations the one before left open)."""
        process = subprocess.Popen(
            [sys.executable, "-m", "hvgen_server.ingest.dicomchild"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        assert process.stdin is not None and process.stdout is not None
        orders = pickle.dumps(self.orders)
        try:
            process.stdin.write(b"%d\n" % len(orders) + orders)
            process.stdin.flush()
        except OSError:
            pass  # (it ended at once: its end says why)
        outcome: list[tuple[Any, ...] | None] = []
        waiting = threading.Thread(target=lambda: outcome.append(self._until_listening(process)), daemon=True)
        waiting.start()
        deadline = time.monotonic() + START_TIMEOUT
        while waiting.is_alive() and time.monotonic() < deadline and not self._stopping.is_set():
            waiting.join(0.1)
        first = outcome[0] if outcome else None
        if first is None or first[0] != "listening":
            process.kill()  # (not listening: nothing to finish)
            process.wait()
            waiting.join()
            if first is not None and first[0] == "error":
                why = str(first[1])
            elif self._stopping.is_set():
                why = "the server is stopping"
            elif not outcome:
                why = f"it did not listen within {START_TIMEOUT:g} s"
            else:
                why = "it ended before listening; see the log above"
            raise DicomServiceError(f"the DICOM service could not start: {why}")
        self.port = int(first[1])
        with self._lock:
            self._process = process
        return process

    def _until_listening(self, process: subprocess.Popen[bytes]) -> tuple[Any, ...] | None:
        assert process.stdout is not None
        while (message := _read_message(process.stdout)) is not None:
            if message[0] in ("listening", "error"):
                return message
            self._take(message)
        return None

    def _take(self, message: tuple[Any, ...]) -> None:
        """A header or a folder handed on (anything else, or what fails here, is logged)."""
        try:
            if message[0] == "header" and _plain_name(message[1]) and _plain_name(message[2]):
                self._headers.add(message[1], message[2], message[3])
            elif message[0] == "ready" and _plain_name(message[1]):
                self.hand_on(self.spool.ready / message[1], self._headers.take(message[1]))
            elif message[0] != "skipped":
                log.warning("the DICOM service sent an unknown message: %.80r", message)
        except Exception as exc:  # (what is not handed on now is at the next start)
            log.error("a message of the DICOM service could not be taken: %s: %s", type(exc).__name__, exc)

    def _read(self, process: subprocess.Popen[bytes]) -> None:
        """Take what the child sends; start it again when it ends by itself."""
        while True:
            assert process.stdout is not None
            while (message := _read_message(process.stdout)) is not None:
                self._take(message)
            code = process.wait()
            self._headers.clear()
            if self._stopping.is_set():
                return
            delay = RESTART_DELAY
            log.error("the DICOM service ended by itself (exit code %s); starting it again", code)
            while True:
                if self._stopping.wait(delay):
                    return
                try:
                    process = self._spawn()
                except DicomServiceError as exc:
                    delay = min(2 * delay, MAX_RESTART_DELAY)
                    log.error("%s; trying again in %g s", exc, delay)
                    continue
                if self._stopping.is_set():  # (stop() came while it started)
                    _stop(process)
                    return
                break

    def receiving(self) -> bool:
        """Whether an association has brought instances it has not handed on (its folder is in ``incoming``)."""
        try:
            return any(True for _ in self.spool.incoming.iterdir())
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the child (it stops listening and aborts open associations: what they acknowledged is spooled)."""
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is not None:
            _stop(process)
        if self._reader is not None:
            self._reader.join(STOP_TIMEOUT)
        with self._lock:
            later = self._process
        if later is not None and later is not process:  # (started while this stopped the one before)
            _stop(later)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Tell a child to stop, and wait for it (killed when it takes too long)."""
    try:
        assert process.stdin is not None
        process.stdin.write(b"stop\n")
        process.stdin.close()
    except OSError:
        pass  # (already gone)
    _end(process)


class _Headers:
    """The headers the child sent, by folder (at most ``KEPT_HEADERS`` each) until
    the folder is handed on; each given to ``prepare`` by a thread of its own meanwhile,
    with where its file is (in ``incoming``, or in ``ready`` once handed on)."""

    def __init__(self, prepare: Prepare | None, spool: Spool) -> None:
        self.prepare, self.spool = prepare, spool
        self._by_folder: dict[str, dict[str, Dataset]] = {}
        self._count = 0  # headers held (at most KNOWN_HEADERS)
        self._taken: dict[str, None] = {}  # the folders handed on lately (what is still queued of them is skipped)
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[str, str, Dataset, bool]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def add(self, folder: str, name: str, header: object) -> None:
        if not isinstance(header, Dataset):
            return
        with self._lock:
            if folder in self._taken or self._count >= KNOWN_HEADERS:
                return  # (handed on already: an association cut off as it answered; or too many held)
            kept = self._by_folder.setdefault(folder, {})
            if len(kept) >= KEPT_HEADERS:
                return
            first = not kept
            kept[name] = header
            self._count += 1
        if self.prepare is not None:
            if self._thread is None:
                self._thread = threading.Thread(target=self._prepare, name="dicom-prepare", daemon=True)
                self._thread.start()
            self._queue.put((folder, name, header, first))

    def take(self, folder: str) -> dict[str, Dataset]:
        """The headers of a folder handed on (the rest of them is not prepared ahead)."""
        with self._lock:
            self._taken[folder] = None
            while len(self._taken) > _TAKEN_KEPT:
                del self._taken[next(iter(self._taken))]
            taken = self._by_folder.pop(folder, {})
            self._count -= len(taken)
            return taken

    def clear(self) -> None:
        """Forget every folder (the child ended: what it had not handed on is handed on at its next start)."""
        with self._lock:
            self._by_folder.clear()
            self._count = 0

    def _prepare(self) -> None:
        assert self.prepare is not None
        while True:
            folder, name, header, first = self._queue.get()
            with self._lock:
                if folder in self._taken:
                    continue
            # (the file of a part's first instance is not given: a one-instance study is handed
            # on as the next one begins, stored before anything could be done with its file)
            paths = () if first else (self.spool.incoming / folder / name, self.spool.ready / folder / name)
            try:
                self.prepare(header, paths)
            except Exception as exc:  # (made again when the study is stored, and failing there if it must)
                log.debug("an instance's index row could not be made ahead: %s", exc)


def _read_message(stream: IO[bytes]) -> tuple[Any, ...] | None:
    """The child's next message (a tuple whose first item names it), or None at the end
    of its output; ``("skipped",)`` for a message that cannot be read (the next is)."""
    size = stream.read(SIZE.size)
    if len(size) < SIZE.size:
        return None
    length = SIZE.unpack(size)[0]
    body = stream.read(length)
    if len(body) < length:
        return None
    try:
        message = pickle.loads(body)  # (from the child this process started)
    except Exception as exc:
        log.warning("a message of the DICOM service could not be read: %s: %s", type(exc).__name__, exc)
        return ("skipped",)
    return message if isinstance(message, tuple) and message else ("skipped",)


def _plain_name(name: object) -> bool:
    """Whether ``name`` is a file or folder name (not a path, not empty)."""
    return isinstance(name, str) and bool(name) and "/" not in name and name not in (".", "..")


def _end(process: subprocess.Popen[bytes]) -> None:
    """Wait for a stopping child; kill it when it takes too long."""
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        log.warning("the DICOM service did not stop within %g s; killed", STOP_TIMEOUT)
        process.kill()
        process.wait()
