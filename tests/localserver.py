"""A local platform server run as a subprocess, for end-to-end tests."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from healthvault.client import HealthVaultClient
from healthvault.profile import Profile
from hvgen_server import tokens
from hvgen_server.backends import open_blob_files, open_store
from hvgen_server.config import ServerConfig
from hvgen_server.store import BlobFiles, Store
from hvgen_server.store.s3files import S3BlobFiles

from .engines import Engines
from .launcher import LaunchedProcess, Launcher


def listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds the listening socket of loopback ``port``
    (so that a server is not taken for another one that took its port first).
    True where /proc cannot tell."""
    try:
        table = Path("/proc/net/tcp").read_text().splitlines()[1:]
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return True
    inodes = {
        fields[9]
        for fields in (line.split() for line in table)
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port
    }
    held = set()
    for fd in fds:
        try:
            held.add(os.readlink(fd))
        except OSError:
            continue
    return any(f"socket:[{inode}]" in held for inode in inodes)


class PortTaken(Exception):
    """Another process bound the port chosen for a server before the server did."""


#: The ports :func:`free_port` hands out: below Linux's ephemeral range
#: (32768-60999), which outgoing connections take their local ports from, so
#: that no connection of any process holds the port of a server stopped for a
#: restart (a restart keeps its port: the client profiles name it). Each
#: parallel worker has a slice of its own, and a port is handed out once a run.
PORTS = range(20000, 32000)
_handed: set[int] = set()


def _my_ports() -> range:
    """This process's slice of :data:`PORTS` (the whole range outside pytest-xdist)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    span = len(PORTS) // max(count, 1)
    start = PORTS.start + (index % max(count, 1)) * span
    return range(start, start + span)


def free_port() -> int:
    """A loopback port nothing listens on, never handed out before in this run
    (:data:`PORTS`); an ephemeral one when the slice is used up."""
    mine = _my_ports()
    begin = random.randrange(len(mine))
    for step in range(len(mine)):
        port = mine[(begin + step) % len(mine)]
        if port in _handed:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed.add(port)
        return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Backend:
    """Where servers keep their data: ``embedded`` (SQLite and a blob folder
    in the data folder) or ``shared`` (a PostgreSQL database and an S3 bucket
    prefix of their own, on the engines of the test session)."""

    name: str
    engines: Engines | None = None

    def options(self) -> list[str]:
        return self.engines.options() if self.engines is not None else []

    @property
    def env(self) -> dict[str, str]:
        return self.engines.s3.env if self.engines is not None else {}


EMBEDDED: Backend = Backend("embedded")

#: For tests whose subject does not depend on where the server keeps its
#: data (the HTTP layer's limits, what a browser does with the pages): they
#: run on the embedded store only (``pytestmark = EMBEDDED_ONLY``, or on one
#: test), where every other server test runs on both backends.
EMBEDDED_ONLY = pytest.mark.parametrize("backend", ["embedded"], indirect=True)


@dataclass
class RunningServer:
    data: Path
    port: int
    profile_path: Path
    options: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | LaunchedProcess | None = None
    log_path: Path | None = None
    backend: Backend = EMBEDDED
    #: ``--db`` and ``--blobs`` of a shared store (kept across restarts, and by siblings).
    store_options: list[str] = field(default_factory=list)
    #: How long the server may take to answer /health (a server loading a large schema set takes longer;
    #: a loaded machine starts Python slowly).
    startup: float = 90.0
    _started: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def profile(self) -> Profile:
        return Profile.load(self.profile_path)

    def start(self) -> RunningServer:
        """Start the server and wait until it answers. The first start of a
        server whose port another process took since :func:`free_port` chose
        it moves to another free port (a restart keeps its port)."""
        for _ in range(5):
            try:
                return self._start()
            except PortTaken:
                if self._started:
                    raise
                self.port = free_port()
        raise RuntimeError("no free port for the server")

    def _start(self) -> RunningServer:
        self.log_path = self.data.parent / f"server-{self.port}.log"
        log = open(self.log_path, "ab")
        begin = log.tell()
        env = {**os.environ, **self.backend.env, "HVGEN_PROFILE": str(self.profile_path)}
        args = [
            "serve",
            "--data",
            str(self.data),
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            *self.store_options,
            *self.options,
        ]
        if Launcher.wanted():
            self.process = Launcher.spawn(args, env, log.fileno())
        else:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hvgen_cli", *args], stdout=log, stderr=subprocess.STDOUT, env=env
            )
        log.close()  # the server holds its own copy
        deadline = time.monotonic() + self.startup
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                said = self.log_path.read_bytes()[begin:].decode(errors="replace")
                if "already in use" in said:
                    raise PortTaken(said)
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200 and listens(
                    self.process.pid, self.port
                ):
                    self._started = True
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, **kwargs: object) -> HealthVaultClient:
        return HealthVaultClient.from_profile(self.profile, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    # -- the server's store, as tests look into it -------------------------------------

    @property
    def shared(self) -> bool:
        return bool(self.store_options)

    @property
    def store_args(self) -> list[str]:
        """Where ``hvgen person``, ``record`` and ``app`` find the server's store:
        its data folder, and the database of a shared store."""
        named = dict(zip(self.store_options[::2], self.store_options[1::2], strict=True))
        return ["--data", str(self.data), *(["--db", named["--db"]] if "--db" in named else [])]

    def another_process(self, base: Path) -> RunningServer:
        """Another server process on the same store: on the same data folder
        (an embedded store), else in a folder of its own (a shared one)."""
        if self.shared:
            return self.sibling(base)
        base.mkdir(parents=True, exist_ok=True)
        other = RunningServer(data=self.data, port=free_port(), profile_path=base / "profile.json")
        return other.start()

    def config(self) -> ServerConfig:
        """The configuration of the server's store (for opening it beside the server)."""
        named = dict(zip(self.store_options[::2], self.store_options[1::2], strict=True))
        return ServerConfig(data_dir=self.data, database_url=named.get("--db"), blobs_url=named.get("--blobs"))

    def open_store(self) -> Store:
        with environment(self.backend.env):
            return open_store(self.config())

    def open_blob_files(self) -> BlobFiles:
        with environment(self.backend.env):
            return open_blob_files(self.config())

    def token_key(self) -> bytes:
        """The key that seals the server's blob tokens."""
        if not self.shared:
            return (self.data / "server.key").read_bytes()
        store = self.open_store()
        try:
            return bytes.fromhex(store.meta("token_key") or "")
        finally:
            store.close()

    def blob_id(self, url: str) -> str:
        """The blob a blob URL of this server names."""
        found = tokens.blob_id_of(self.token_key(), url.split("blob-ref-token=")[1])
        assert found
        return found

    def blob_ids(self) -> set[str]:
        """The blobs whose bytes the server holds (complete or being uploaded)."""
        if not self.shared:
            return {p.name for p in (self.data / "blobs").rglob("*") if p.is_file()}
        files = self.open_blob_files()
        assert isinstance(files, S3BlobFiles)
        listed = files.client.get_paginator("list_objects_v2").paginate(Bucket=files.bucket, Prefix=files.prefix)
        return {
            obj["Key"].split("/")[-1 if "/blobs/" in obj["Key"] else -2]
            for page in listed
            for obj in page.get("Contents", [])
        }

    def flip_byte(self, blob_id: str, offset: int) -> None:
        """Change one byte of a complete blob's stored bytes (behind the server's back)."""
        if not self.shared:
            with open(self.data / "blobs" / blob_id[:2] / blob_id, "r+b") as f:
                f.seek(offset)
                byte = f.read(1)
                f.seek(offset)
                f.write(bytes([byte[0] ^ 0xFF]))
            return
        files = self.open_blob_files()
        assert isinstance(files, S3BlobFiles)
        key = files.key(blob_id)
        data = bytearray(files.client.get_object(Bucket=files.bucket, Key=key)["Body"].read())
        data[offset] ^= 0xFF
        files.client.put_object(Bucket=files.bucket, Key=key, Body=bytes(data))

    def sibling(self, base: Path, *options: str) -> RunningServer:
        """Another server process on the same store (a new data folder and port)."""
        base.mkdir(parents=True, exist_ok=True)
        other = RunningServer(
            data=base / "data",
            port=free_port(),
            profile_path=base / "profile.json",
            options=list(options or self.options),
            backend=self.backend,
            store_options=list(self.store_options),
        )
        return other.start()


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def hvgen(server: RunningServer, *args: str, stdin: str = "") -> str:
    """Set-up: an ``hvgen`` command (``person``, ``record``, ``app`` ...) on
    the server's store, run in this process (as click's test runner runs a
    command: a process of its own costs half a second, and set-up runs some
    hundred of them); its output. The commands themselves are tested as a
    user runs them, in processes of their own (``test_cli_*.py``)."""
    from click.testing import CliRunner

    from hvgen_cli import main

    with environment(server.backend.env):
        done = CliRunner().invoke(main, [*args, *server.store_args], input=stdin, catch_exceptions=False)
    assert done.exit_code == 0, done.output
    return done.stdout


def start_server(base: Path, *options: str, backend: Backend = EMBEDDED, startup: float = 90.0) -> RunningServer:
    base.mkdir(parents=True, exist_ok=True)
    server = RunningServer(
        data=base / "data",
        port=free_port(),
        profile_path=base / "profile.json",
        options=list(options),
        backend=backend,
        store_options=backend.options(),
        startup=startup,
    )
    return server.start()
