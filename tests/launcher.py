"""Test servers started by forking a process that has already imported them.

A test server is ``python -m hvgen_cli serve ...``. Most of the CPU its start
costs is importing (the server, the DICOM stack, uvicorn): about a second, and
a run starts some hundreds of them. Each pytest worker therefore keeps one
*launcher*: a process that imports those modules once and then waits. For every
server a test starts, the launcher forks; the child takes the test's arguments,
environment, working folder and log file, and runs the command line's
``main`` exactly as ``python -m hvgen_cli`` does. It is a process of its own,
with its own pid, that the test signals and waits for as it would a
:class:`subprocess.Popen` (:class:`LaunchedProcess` has the methods the tests
use); the launcher reaps it and sends its exit status to the test.

What is not the same as a new interpreter: modules are imported before the
environment is set, so nothing may read the environment at import time (the
packages read it when a command runs). ``HVGEN_TEST_SERVERS=process`` starts
every server as a new interpreter instead, and so does a run under coverage.py
(its measurement starts with an interpreter).

The launcher: ``python -m tests.launcher FD``, where FD is one end of a
``SOCK_SEQPACKET`` socket pair. A request is one packet (JSON: ``args``, ``env``,
``cwd``) carrying two descriptors: the log file and one end of a socket pair of
the child's own, on which the launcher writes the child's pid, then its wait
status when it ends.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PR_SET_PDEATHSIG = 1

#: What ``hvgen serve`` imports before it answers its first request, here once
#: per launcher rather than once per server.
PRELOAD = (
    "uvicorn",
    "uvicorn.lifespan.on",
    "uvicorn.loops.auto",
    "uvicorn.loops.asyncio",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.websockets.auto",
    "anyio._backends._asyncio",
    "hvgen_cli",
    "hvgen_server.app",
    "hvgen_server.backends",
    "hvgen_server.bootstrap",
    "hvgen_server.store.postgres",
    "hvgen_server.store.s3files",
    "healthvault.validation",
)


# -- the test's side ------------------------------------------------------------------------------


class LaunchedProcess:
    """A server process forked by the launcher, driven as a ``Popen``."""

    def __init__(self, pid: int, status: socket.socket) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._status = status

    def _take(self, timeout: float | None) -> int | None:
        if self.returncode is None:
            poller = select.poll()  # (select.select cannot take a descriptor above 1023)
            poller.register(self._status, select.POLLIN)
            if poller.poll(None if timeout is None else timeout * 1000):
                said = self._status.recv(64)
                self._status.close()
                # No status: the launcher is gone, and its children with it (PR_SET_PDEATHSIG).
                self.returncode = os.waitstatus_to_exitcode(int(said)) if said else -signal.SIGKILL
        return self.returncode

    def poll(self) -> int | None:
        return self._take(0)

    def wait(self, timeout: float | None = None) -> int:
        code = self._take(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(f"server {self.pid}", timeout or 0)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def __del__(self) -> None:
        if self.returncode is None:
            self._status.close()


class Launcher:
    """This worker's launcher, started on first use."""

    _lock = threading.Lock()
    _running: Launcher | None = None

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._control = ours
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.launcher", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            cwd=ROOT,
        )
        theirs.close()
        ready = ours.recv(16)
        if ready != b"ready":
            raise RuntimeError("the test server launcher did not start")

    #: Set for a test session (``tests/conftest.py``); a benchmark measures
    #: servers started as users start them.
    enabled = False

    @classmethod
    def wanted(cls) -> bool:
        if not cls.enabled or os.environ.get("HVGEN_TEST_SERVERS") == "process":
            return False
        coverage = sys.modules.get("coverage")
        return coverage is None or coverage.Coverage.current() is None

    @property
    def pid(self) -> int:
        return self._process.pid

    def launch(self, args: list[str], env: dict[str, str], log: int) -> LaunchedProcess:
        """``python -m hvgen_cli *args`` with this environment, its output and
        errors to the descriptor ``log``, forked by this launcher."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            request = json.dumps({"args": args, "env": env, "cwd": os.getcwd()}).encode()
            socket.send_fds(self._control, [request], [log, theirs.fileno()])
        finally:
            theirs.close()
        pid = ours.recv(64)
        if not pid:
            ours.close()
            raise RuntimeError("the test server launcher could not start a server")
        return LaunchedProcess(int(pid), ours)

    def stop(self) -> None:
        self._control.close()  # the launcher ends when its control socket does
        self._process.wait(30)

    @classmethod
    def spawn(cls, args: list[str], env: dict[str, str], log: int) -> LaunchedProcess:
        """:meth:`launch` by this worker's launcher (started on first use)."""
        with cls._lock:
            if cls._running is None or cls._running._process.poll() is not None:
                cls._running = Launcher()
            return cls._running.launch(args, env, log)

    @classmethod
    def close(cls) -> None:
        with cls._lock:
            if cls._running is not None:
                cls._running.stop()
                cls._running = None


# -- the launcher's side --------------------------------------------------------------------------


def _serve(control: socket.socket) -> tuple[dict[str, Any], int] | None:
    """Answer requests until the control socket closes. In a forked child,
    return what it is to run (the request and its log descriptor)."""
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the tests; the launcher ends with its worker
    children: dict[int, socket.socket] = {}
    launcher = os.getpid()
    control.send(b"ready")
    while True:
        try:
            ready, _, _ = select.select([control.fileno(), wake_read], [], [])
        except InterruptedError:
            continue
        if wake_read in ready:
            os.read(wake_read, 4096)
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            told = children.pop(pid)
            try:
                told.send(str(status).encode())
            except OSError:
                pass  # the test has gone
            told.close()
        if control.fileno() not in ready:
            continue
        message, fds, _, _ = socket.recv_fds(control, 1 << 20, 2)
        if not message:
            return None
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            continue
        log, status_fd = fds
        try:
            request = json.loads(message)
            pid = os.fork()
        except (OSError, ValueError):
            for fd in fds:  # the test sees its status socket close with no pid, and says so
                os.close(fd)
            continue
        if pid == 0:
            _die_with(launcher)
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            for fd in (wake_read, wake_write, status_fd):
                os.close(fd)
            control.close()
            for told in children.values():
                told.close()
            return request, log
        os.close(log)
        children[pid] = socket.socket(fileno=status_fd)
        try:
            children[pid].send(str(pid).encode())
        except OSError:  # the test stopped waiting for it (Ctrl-C): nobody would stop this server
            os.kill(pid, signal.SIGKILL)


def _die_with(launcher: int) -> None:
    """In a forked child: end when the launcher does (Linux's PR_SET_PDEATHSIG), so
    that a test told its server is gone (the launcher died) is told the truth, and a
    server a test left running ends with the session."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != launcher:  # it died before the line above
        os._exit(1)


def _run(request: dict[str, Any], log: int) -> None:
    """In the forked child: become ``python -m hvgen_cli *args``."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # read $TMPDIR again, as a new interpreter would
    sys.argv = [str(Path(sys.modules["hvgen_cli"].__file__ or "").parent / "__main__.py"), *request["args"]]
    from hvgen_cli import main

    main(args=request["args"], prog_name="python -m hvgen_cli")  # (the name click gives a new interpreter)


def launcher_main(fd: int) -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # an extra not installed: a server that needs it fails as a new interpreter would
    assert threading.active_count() == 1, "a preloaded module started a thread: forking would copy a lock"
    work = _serve(socket.socket(fileno=fd))
    if work is not None:
        _run(*work)


if __name__ == "__main__":
    launcher_main(int(sys.argv[1]))
