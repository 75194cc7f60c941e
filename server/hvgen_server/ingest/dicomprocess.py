"""The DICOM network side of ``hvgen serve --dicom-port``, in a process of its own.

Receiving and acknowledging instances (pynetdicom's reactor threads, the
checks before Success) and storing studies (building them, PutThings' core,
the index rows) each keep a Python interpreter busy. In one process they
take turns on one core, and an association waits for every turn; so the
server runs the listener (:class:`hvgen_imaging.listener.Listener`, the
very one of ``hvgen dicom listen``) in a child process, ``python -m
hvgen_server.ingest.dicomprocess``, and stores what it hands on in its own
process, on the other core, while the association goes on:

- the child receives, checks, spools and flushes each instance and answers
  Success, as the listener always did; it also answers C-ECHO, C-FIND,
  C-GET and C-MOVE over the record (its own connections to the store, read
  as DICOMweb reads it);
- it sends the header its checks read of each instance it acknowledged, as
  soon as it has answered (a pickle on its standard output): the server
  does not read those files' headers again, and makes their index rows and
  metadata (:func:`.indexrows.prepare`) while the association goes on;
- it hands each study on as soon as the association moves on to the next
  study (``split_studies``), and the rest when the association ends: a
  message names a folder of ``spool/ready``;
- the server's :class:`~hvgen_imaging.uploader.Uploader` stores those
  folders (a group commit of what is ready) with the in-process ingest.

Nothing acknowledged depends on the pipe: a folder is in ``spool/ready`` (or
``spool/incoming``, for an association still open) before its line is sent,
and the server's next start stores what either holds. The child reads its
orders on standard input: the configuration (a length line, then a pickle),
then ``stop``; its messages are pickles too, each after its length (4 bytes). When the server is killed, the child is killed with it (on
Linux; elsewhere its standard input ends and it stops), so that its port is
free for the next start; it ignores Ctrl-C (the server stops it). A
child that ends by itself is started again (after a second), and the
server's log says so. Both processes log to the server's standard error.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pydicom.dataset import Dataset

from hvgen_imaging.listener import KEPT_HEADERS, HandOn
from hvgen_imaging.spool import Spool

from ..config import DicomListening, ServerConfig, settle_collector
from ..errors import ServerError

log = logging.getLogger("hvgen_server.dicom")

#: Seconds the server waits for the child to listen (its imports and store included).
START_TIMEOUT = 120.0
#: Seconds a stopping child has to finish before it is killed.
STOP_TIMEOUT = 30.0
#: Seconds before a child that ended by itself is started again.
RESTART_DELAY = 1.0
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
_PR_SET_PDEATHSIG = 1
#: Folders handed on that :class:`_Headers` remembers (to skip what is still queued of them).
_TAKEN_KEPT = 1024
#: The length before each message of the child.
_SIZE = struct.Struct(">I")


class DicomServiceError(ServerError):
    """The DICOM service could not start (its port, its store); the message says why."""


@dataclass
class _Orders:
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
        prepare: Callable[[Dataset], None] | None = None,
    ) -> None:
        self.orders = _Orders(config, options, record_id, logging.getLogger().getEffectiveLevel(), os.getpid())
        self.spool = spool_of(config)
        self.hand_on = hand_on
        self.port = options.port
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._reader: threading.Thread | None = None
        self._headers = _Headers(prepare)

    def start(self) -> None:
        """Start the child from a thread that lives as long as the service (the child ends
        with the thread that started it, :func:`_end_with_parent`), and wait until it listens."""
        started: list[BaseException | None] = []
        ready = threading.Event()

        def run() -> None:
            try:
                self._spawn()
            except BaseException as exc:
                started.append(exc)
                ready.set()
                return
            started.append(None)
            ready.set()
            self._read()

        self._reader = threading.Thread(target=run, name="dicom-service", daemon=True)
        self._reader.start()
        ready.wait()
        if started[0] is not None:
            raise started[0]

    def _spawn(self) -> None:
        """Start the child and wait until it listens."""
        process = subprocess.Popen(
            [sys.executable, "-m", __name__],
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
            pass  # (it ended at once: its first line, or its end, says why)
        first = _first_message(process.stdout, START_TIMEOUT)
        if first is None or first[0] != "listening":
            _end(process)
            why = (
                first[1]
                if first is not None and first[0] == "error"
                else "it ended before listening; see the log above"
            )
            raise DicomServiceError(f"the DICOM service could not start: {why}")
        self.port = int(first[1])
        self._process = process

    def _read(self) -> None:
        """Hand on the folders the child names; start it again when it ends by itself."""
        while True:
            process = self._process
            assert process is not None and process.stdout is not None
            while (message := _read_message(process.stdout)) is not None:
                if message[0] == "header" and _plain_name(message[1]) and _plain_name(message[2]):
                    self._headers.add(message[1], message[2], message[3])
                elif message[0] == "ready" and _plain_name(message[1]):
                    self.hand_on(self.spool.ready / message[1], self._headers.take(message[1]))
            code = process.wait()
            self._headers.clear()
            if self._stopping.is_set():
                return
            log.error("the DICOM service ended by itself (exit code %s); starting it again", code)
            while not self._stopping.wait(RESTART_DELAY):
                try:
                    self._spawn()
                    break
                except DicomServiceError as exc:
                    log.error("%s; trying again", exc)
            else:
                return

    def receiving(self) -> bool:
        """Whether an association has brought instances it has not handed on (its folder is in ``incoming``)."""
        try:
            return any(True for _ in self.spool.incoming.iterdir())
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the child (it stops listening and aborts open associations: what they acknowledged is spooled)."""
        self._stopping.set()
        process = self._process
        if process is not None:
            try:
                assert process.stdin is not None
                process.stdin.write(b"stop\n")
                process.stdin.close()
            except OSError:
                pass  # (already gone)
            _end(process)
        if self._reader is not None:
            self._reader.join(STOP_TIMEOUT)


class _Headers:
    """The headers the child sent, by folder (at most ``KEPT_HEADERS`` each) until
    the folder is handed on; each given to ``prepare`` by a thread of its own meanwhile."""

    def __init__(self, prepare: Callable[[Dataset], None] | None) -> None:
        self.prepare = prepare
        self._by_folder: dict[str, dict[str, Dataset]] = {}
        self._taken: dict[str, None] = {}  # the folders handed on lately (what is still queued of them is skipped)
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[str, Dataset]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def add(self, folder: str, name: str, header: object) -> None:
        if not isinstance(header, Dataset):
            return
        with self._lock:
            kept = self._by_folder.setdefault(folder, {})
            if len(kept) >= KEPT_HEADERS:
                return
            kept[name] = header
            self._taken.pop(folder, None)
        if self.prepare is not None:
            if self._thread is None:
                self._thread = threading.Thread(target=self._prepare, name="dicom-prepare", daemon=True)
                self._thread.start()
            self._queue.put((folder, header))

    def take(self, folder: str) -> dict[str, Dataset]:
        """The headers of a folder handed on (the rest of them is not prepared ahead)."""
        with self._lock:
            self._taken[folder] = None
            while len(self._taken) > _TAKEN_KEPT:
                del self._taken[next(iter(self._taken))]
            return self._by_folder.pop(folder, {})

    def clear(self) -> None:
        """Forget every folder (the child ended: what it had not handed on is handed on at its next start)."""
        with self._lock:
            self._by_folder.clear()

    def _prepare(self) -> None:
        assert self.prepare is not None
        while True:
            folder, header = self._queue.get()
            with self._lock:
                if folder in self._taken:
                    continue
            try:
                self.prepare(header)
            except Exception as exc:  # (made again when the study is stored, and failing there if it must)
                log.debug("an instance's index row could not be made ahead: %s", exc)


def _first_message(stream: IO[bytes], timeout: float) -> tuple[Any, ...] | None:
    """The first message of ``stream`` (None at its end, or after ``timeout`` seconds)."""
    got: list[tuple[Any, ...] | None] = []
    reader = threading.Thread(target=lambda: got.append(_read_message(stream)), daemon=True)
    reader.start()
    reader.join(timeout)
    return got[0] if got else None


def _read_message(stream: IO[bytes]) -> tuple[Any, ...] | None:
    """The child's next message (a tuple whose first item names it), or None at the end of its output."""
    size = stream.read(_SIZE.size)
    if len(size) < _SIZE.size:
        return None
    body = stream.read(_SIZE.unpack(size)[0])
    try:
        message = pickle.loads(body)  # (from the child this process started)
    except Exception:
        return None
    return message if isinstance(message, tuple) and message else None


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


# -- the child ----------------------------------------------------------------------------------


def _serve_child() -> int:
    """The child's life: read the orders, listen, hand folders on, stop when told or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # (a terminal's Ctrl-C: the server stops it)
    orders_in = sys.stdin.buffer
    out = sys.stdout.buffer
    lock = threading.Lock()

    def send(*message: Any) -> None:
        body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        with lock:
            out.write(_SIZE.pack(len(body)) + body)
            out.flush()

    size = orders_in.readline()
    orders: _Orders = pickle.loads(orders_in.read(int(size)))
    _end_with_parent(orders.parent)
    logging.basicConfig(level=orders.log_level, format=LOG_FORMAT)
    try:
        listener, platform = _listen(
            orders,
            lambda ready, _headers: send("ready", ready.name),  # (its headers were sent one by one)
            lambda path, header: send("header", path.parent.name, path.name, header),
        )
    except (OSError, ServerError) as exc:
        send("error", str(exc))
        return 1
    settle_collector()  # (as the server does: pynetdicom makes many objects per message)
    send("listening", listener.port)
    for line in orders_in:  # until "stop", or the end of the server's pipe (it is gone)
        if line.strip() == b"stop":
            break
    listener.stop()
    platform.close()
    return 0


def _end_with_parent(parent: int) -> None:
    """Be killed with the server, at once (Linux: ``PR_SET_PDEATHSIG``), so that
    its DICOM port is free for its next start; elsewhere the end of its pipe stops the child."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # (gone before the line above)
        os._exit(0)


def _listen(orders: _Orders, hand_on: HandOn, checked: Callable[[Path, Dataset], None]) -> tuple[Any, Any]:
    """The listener of the child, listening; and its platform (the archive's store)."""
    from hvgen_imaging.listener import Listener

    from ..context import Platform
    from .archive import IndexArchive
    from .listening import destination, report

    options, config = orders.options, orders.config
    receiving = receiving_folder(config)
    receiving.mkdir(parents=True, exist_ok=True)
    for left in receiving.iterdir():  # cut off by a stop: never acknowledged
        left.unlink(missing_ok=True)
    tempfile.tempdir = str(receiving)
    platform = Platform.open(config)
    try:
        listener = Listener(
            None,
            spool_of(config).root,
            ae_title=options.ae_title,
            host=options.host,
            port=options.port,
            report=report,
            allowed_callers=list(options.allowed),
            idle_timeout=options.idle_timeout,
            max_per_peer=options.max_per_peer,
            archive=IndexArchive(platform, orders.record_id),
            destinations=functools.partial(destination, platform),
            hand_on=hand_on,
            split_studies=True,
            checked=checked,
        )
        listener.start()
    except BaseException:
        platform.close()
        raise
    return listener, platform


if __name__ == "__main__":
    sys.exit(_serve_child())
