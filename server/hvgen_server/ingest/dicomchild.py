"""The DICOM listener's own process (``python -m hvgen_server.ingest.dicomchild``),
started by :class:`.dicomprocess.DicomService` (which says what it does and why).

It reads its orders on standard input (a length line, then a pickle of
:class:`.dicomprocess.Orders`), runs :class:`hvgen_imaging.listener.Listener`
with ``split_studies`` and the server's record, and writes its messages on
its standard output, each a pickle after its length, by a thread of its own
(:class:`_Sender`): the answer to a sender never waits for the pipe. What any
library prints goes to standard error (the server's log), never among the
messages. It ignores SIGINT and SIGTERM (the server stops it by a ``stop``
line), and is killed with the server (Linux; elsewhere the end of its
standard input stops it).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import logging
import os
import pickle
import queue
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from pydicom.dataset import Dataset

from hvgen_imaging.listener import HandOn, Listener

from ..config import DicomListening, settle_collector
from ..context import Platform
from ..errors import ServerError
from .archive import IndexArchive
from .dicomprocess import LOG_FORMAT, SIZE, STOP_TIMEOUT, Orders, receiving_folder, spool_of
from .listening import destination, report

#: Headers waiting to be sent to the server; beyond, a header is not sent (the server reads that file).
_SENDING = 256
_PR_SET_PDEATHSIG = 1


def _serve_child() -> int:
    """The child's life: read the orders, listen, hand folders on, stop when told or orphaned."""
    for ignored in (signal.SIGINT, signal.SIGTERM):  # (a terminal's Ctrl-C, a service manager's stop:
        signal.signal(ignored, signal.SIG_IGN)  # the server stops it; killed with the server otherwise)
    orders_in = sys.stdin.buffer
    sender = _Sender(os.fdopen(os.dup(1), "wb"))
    os.dup2(2, 1)  # (what any library prints goes to the log, never into the messages)
    sys.stdout = sys.stderr
    try:
        size = orders_in.readline()
        orders: Orders = pickle.loads(orders_in.read(int(size)))
    except (ValueError, pickle.UnpicklingError, EOFError):
        return 2  # (not started by a server)
    _end_with_parent(orders.parent)
    logging.basicConfig(level=orders.log_level, format=LOG_FORMAT)
    try:
        listener, platform = _listen(
            orders,
            lambda ready, _headers: sender.send(("ready", ready.name)),  # (its headers were sent one by one)
            lambda path, header: sender.send(("header", path.parent.name, path.name, header), droppable=True),
        )
    except Exception as exc:
        sender.send(("error", _why_not(exc, orders.options)))
        sender.close()
        return 1
    settle_collector()  # (as the server does: pynetdicom makes many objects per message)
    sender.send(("listening", listener.port))
    for line in orders_in:  # until "stop", or the end of the server's pipe (it is gone)
        if line.strip() == b"stop":
            break
    listener.stop()
    sender.close()
    platform.close()
    return 0


class _Sender:
    """The child's messages, written in order by a thread of their own (so that an
    answer never waits for the pipe); at most :data:`_SENDING` droppable ones waiting."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self._queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._waiting = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="dicom-sender", daemon=True)
        self._thread.start()

    def send(self, message: tuple[Any, ...], droppable: bool = False) -> None:
        with self._lock:
            if droppable and self._waiting >= _SENDING:
                return
            self._waiting += 1
        self._queue.put(message)

    def close(self) -> None:
        """Send what waits, then end."""
        self._queue.put(None)
        self._thread.join(STOP_TIMEOUT)

    def _run(self) -> None:
        while (message := self._queue.get()) is not None:
            with self._lock:
                self._waiting -= 1
            try:
                body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # (a header that cannot be pickled: the server reads its file)
                logging.getLogger(__name__).warning("a message could not be sent: %s", exc)
                continue
            try:
                self.out.write(SIZE.pack(len(body)) + body)
                self.out.flush()
            except OSError:
                return  # (the server is gone: this process is killed or stops)


def _why_not(exc: BaseException, options: DicomListening) -> str:
    """Why the listener could not start, for the server's log and its user (``hvgen
    serve`` checks the port before it starts: this is a port taken in between)."""
    if isinstance(exc, OSError) and exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
        return f"cannot listen on {options.host}:{options.port} (--dicom-port): {exc.strerror}"
    if isinstance(exc, (OSError, ServerError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


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


def _listen(orders: Orders, hand_on: HandOn, checked: Callable[[Path, Dataset], None]) -> tuple[Any, Any]:
    """The listener of the child, listening; and its platform (the archive's store)."""
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
