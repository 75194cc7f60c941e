"""Imaging ingest against Orthanc, in one run: C-STORE and STOW-RS of a
study of ``--images`` 512 x 512 x 16-bit CT images, ``--singles``
one-instance studies by C-STORE, then the first QIDO after the load, how
long the server works on after it (hvgen renders previews after answering),
and, once it is idle, study metadata, QIDO (every study, a name wildcard, a
date range; both servers must find the same studies) and WADO-RS of the
whole study (read by curl), and the first QIDO of every study after the
server was restarted (a new process: its first connections to its store);
each measure on hvgen (``hvgen serve --dicom-port``) and on
Orthanc (Debian's ``orthanc`` and ``orthanc-dicomweb``, its own configuration
in a temporary folder, loopback only), interleaved, ``--repeat`` times, with
the ratio. Senders: dcmtk's ``storescu`` and httpx (STOW-RS). Orthanc and
``storescu`` run with ``TCP_NODELAY=1`` (Debian's Orthanc otherwise waits
on its DICOM socket, see /work/shared/PEERS.md). Also: the peak RSS of each
server (with its child processes) during the loads, and the machine's limits measured in the same run
(writing with fsync, SHA-256).

    .venv/bin/python bench/ingest.py [--images 300] [--singles 100] [--repeat 3] [--shared]

``--shared`` runs hvgen on PostgreSQL + S3 (SeaweedFS), started as the
tests start them; the default is SQLite and a blob folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

import tests.conftest  # noqa: E402,F401  (first: the test helpers import each other through it)
from tests import dcmtk  # noqa: E402
from tests.dicomgen import make_study  # noqa: E402
from tests.localserver import EMBEDDED, Backend, RunningServer, free_port, start_server  # noqa: E402
from tests.test_dicomweb import token_of  # noqa: E402

NODELAY = {**os.environ, "TCP_NODELAY": "1"}
MULTIPART_DICOM = 'multipart/related; type="application/dicom"'
MIB = 1024 * 1024
#: The QIDO-RS queries measured (each server must find the same studies).
QUERIES: tuple[tuple[str, dict[str, str]], ...] = (
    ("QIDO every study (ms)", {}),
    ("QIDO PatientName=DOE* (ms)", {"PatientName": "DOE*"}),
    ("QIDO StudyDate range (ms)", {"StudyDate": "20240101-20241231"}),
)


def family(pid: int) -> list[int]:
    """A process and its children, and theirs (hvgen's DICOM service is a child of the server)."""
    found, at = [pid], 0
    while at < len(found):
        try:
            for task in os.listdir(f"/proc/{found[at]}/task"):
                children = Path(f"/proc/{found[at]}/task/{task}/children").read_text().split()
                found.extend(int(c) for c in children)
        except OSError:
            pass
        at += 1
    return found


def resident(pid: int) -> int:
    """Bytes resident of one process (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Peak:
    """The largest resident set of a process and its children, together, while they run (sampled every 20 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        members, found_at = [self.pid], 0.0
        while not self._stop.is_set():
            if time.monotonic() - found_at > 1.0:  # (walking every thread's children is not cheap)
                members, found_at = family(self.pid), time.monotonic()
            self.peak = max(self.peak, sum(resident(p) for p in members))
            self._stop.wait(0.02)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


class Target:
    """A server measured: its DICOM port and AE title, DICOMweb root, process."""

    name: str
    dicom_port: int
    aet: str
    web: httpx.Client
    pid: int

    def stop(self) -> None:
        raise NotImplementedError

    def restart(self) -> None:
        """Stop the server and start it again on the same data, until it answers."""
        raise NotImplementedError


class Hvgen(Target):
    name = "hvgen"

    def __init__(self, base: Path, backend: Backend) -> None:
        self.dicom_port, self.aet = free_port(), "HVGEN"
        self.server: RunningServer = start_server(
            base, "--dicom-port", str(self.dicom_port), "--log-level", "warning", backend=backend
        )
        assert self.server.process is not None
        self.pid = self.server.process.pid
        token = token_of(self.server)
        self.web = httpx.Client(
            base_url=f"{self.server.url}/dicomweb", headers={"Authorization": f"Bearer {token}"}, timeout=600
        )

    def stop(self) -> None:
        self.web.close()
        self.server.stop()

    def restart(self) -> None:
        self.server.stop()
        self.server.start()
        assert self.server.process is not None
        self.pid = self.server.process.pid


class Orthanc(Target):
    name = "Orthanc"

    def __init__(self, base: Path) -> None:
        base.mkdir(parents=True, exist_ok=True)
        http_port, self.dicom_port, self.aet = free_port(), free_port(), "ORTHANC"
        config = {
            "Name": "bench",
            "HttpPort": http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "StorageDirectory": str(base / "storage"),
            "IndexDirectory": str(base / "index"),
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "Plugins": ["/usr/share/orthanc/plugins"],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        }
        (base / "orthanc.json").write_text(json.dumps(config))
        self.base, self.http_port = base, http_port
        self.log = open(base / "orthanc.log", "wb")
        self.web = httpx.Client(base_url=f"http://127.0.0.1:{http_port}/dicom-web", timeout=600)
        self._start()

    def _start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("Orthanc") or "/usr/sbin/Orthanc", str(self.base / "orthanc.json")],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=NODELAY,
        )
        self.pid = self.process.pid
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{self.http_port}/system", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("Orthanc did not start; see " + str(self.base / "orthanc.log"))

    def _end(self) -> None:
        self.process.terminate()
        self.process.wait(30)

    def stop(self) -> None:
        self.web.close()
        self._end()
        self.log.close()

    def restart(self) -> None:
        self._end()
        self._start()


# -- the measures ----------------------------------------------------------------------------


def instances_of(target: Target, study_uid: str) -> int:
    answer = target.web.get("/studies", params={"StudyInstanceUID": study_uid})
    answer.raise_for_status()
    found = answer.json() if answer.content else []
    return int(found[0].get("00201208", {}).get("Value", [0])[0]) if found else 0


def until_queryable(target: Target, uids: list[str], each: int, started: float, timeout: float = 600) -> float:
    """Seconds from ``started`` until every study of ``uids`` answers QIDO with ``each`` instances."""
    pending = list(uids)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        if instances_of(target, pending[-1]) >= each:
            pending = [u for u in pending if instances_of(target, u) < each]
        else:
            time.sleep(0.02)
    if pending:
        raise RuntimeError(f"{target.name}: {len(pending)} studies were not queryable after {timeout} s")
    return time.perf_counter() - started


def cstore(target: Target, folder: Path) -> None:
    storescu = dcmtk.tool("storescu")
    assert storescu is not None, "dcmtk's storescu is needed (apt-get install dcmtk)"
    done = subprocess.run(
        [storescu, "-aec", target.aet, "+sd", "+r", "127.0.0.1", str(target.dicom_port), str(folder)],
        capture_output=True,
        text=True,
        env=NODELAY,
    )
    if done.returncode != 0:
        raise RuntimeError(f"storescu to {target.name}: {done.stderr[-500:]}")


def stow(target: Target, files: list[Path]) -> None:
    boundary = uuid.uuid4().hex

    def body() -> Iterator[bytes]:
        for path in files:
            yield f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
            with open(path, "rb") as f:
                while piece := f.read(MIB):
                    yield piece
            yield b"\r\n"
        yield f"--{boundary}--\r\n".encode()

    answer = target.web.post(
        "/studies",
        content=body(),
        headers={"Content-Type": f"{MULTIPART_DICOM}; boundary={boundary}", "Accept": "application/dicom+json"},
    )
    if answer.status_code != 200:
        raise RuntimeError(f"STOW-RS to {target.name}: {answer.status_code} {answer.text[:300]}")


def wado_mb_s(target: Target, study_uid: str) -> float:
    """MB/s of WADO-RS of a whole study, read by curl: a Python client (httpx parsing the
    chunked answer) is slower than either server here, and would measure itself."""
    curl = shutil.which("curl")
    assert curl is not None, "curl is needed (apt-get install curl)"
    url = f"{str(target.web.base_url).rstrip('/')}/studies/{study_uid}"
    headers = ["-H", f"Accept: {MULTIPART_DICOM}"]
    if "authorization" in target.web.headers:
        headers += ["-H", f"Authorization: {target.web.headers['authorization']}"]
    done = subprocess.run(
        [curl, "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", *headers, url],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"WADO-RS from {target.name}: {done.stderr[-300:]}")
    size, seconds = done.stdout.split()
    if int(size) < 512 * 512 * 2:
        raise RuntimeError(f"WADO-RS from {target.name}: only {size} bytes")
    return int(size) / MIB / float(seconds)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process and its living children have used so far."""
    total = 0.0
    for member in family(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def until_idle(target: Target, timeout: float = 600) -> float:
    """Seconds until the server has used under 5 % of a core for half a second
    (hvgen renders previews after acknowledging a study; reads are measured after)."""
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(target.pid)
        time.sleep(0.5)
        if cpu_seconds(target.pid) - before < 0.025:
            break
    return time.perf_counter() - started


def get_ms(target: Target, path: str, params: dict[str, str] | None = None) -> float:
    """Milliseconds of one DICOMweb GET (the whole answer read)."""
    started = time.perf_counter()
    target.web.get(path + query(params)).raise_for_status()
    return 1000 * (time.perf_counter() - started)


def query(params: dict[str, str] | None) -> str:
    """A query string with its values as given (``*``, ``^``, ``-`` are legal in one):
    Orthanc 1.10 does not percent-decode query values, so ``DOE%2A`` matches nothing there."""
    return "?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else ""


def matches(target: Target, params: dict[str, str]) -> int:
    """How many studies a QIDO-RS query finds."""
    answer = target.web.get("/studies" + query(params))
    answer.raise_for_status()
    return len(answer.json()) if answer.content else 0


def machine_limits(folder: Path, size: int = 256 * MIB) -> dict[str, float]:
    """Writing (in 1 MiB pieces, fsync at the end) and SHA-256, in MB/s, here and now."""
    data = os.urandom(MIB)
    path = folder / "limit.bin"
    started = time.perf_counter()
    with open(path, "wb") as f:
        for _ in range(size // MIB):
            f.write(data)
        f.flush()
        os.fsync(f.fileno())
    write = size / MIB / (time.perf_counter() - started)
    path.unlink()
    started = time.perf_counter()
    digest = hashlib.sha256()
    for _ in range(size // MIB):
        digest.update(data)
    sha = size / MIB / (time.perf_counter() - started)
    return {"disk write + fsync (MB/s)": write, "SHA-256 (MB/s)": sha}


# -- the run ---------------------------------------------------------------------------------


def run(args: argparse.Namespace, base: Path, backend: Backend) -> None:
    limits = machine_limits(base)
    figures: dict[str, dict[str, list[float]]] = {}

    def add(measure: str, server: str, value: float) -> None:
        figures.setdefault(measure, {}).setdefault(server, []).append(value)

    targets: list[Target] = [Hvgen(base / "hvgen", backend), Orthanc(base / "orthanc")]
    peaks = {t.name: 0 for t in targets}
    found: dict[str, dict[str, int]] = {}
    try:
        for rep in range(args.repeat):
            data = base / f"rep{rep}"
            big = make_study(data / "cstore", series=1, images=args.images, size=512, seed=rep * 3 + 1)
            posted = make_study(data / "stow", series=1, images=args.images, size=512, seed=rep * 3 + 2)
            singles = [
                str(
                    make_study(data / "singles" / f"s{n}", series=1, images=1, size=64, seed=1000 * rep + n)[
                        "study_uid"
                    ]
                )
                for n in range(args.singles)
            ]
            stow_files = sorted((data / "stow").rglob("*.dcm"))
            os.sync()  # (the generated files on disk first: their writing weighs on neither server's loads)
            for target in targets if rep % 2 == 0 else list(reversed(targets)):  # interleaved
                name = target.name
                with Peak(target.pid) as peak:
                    started = time.perf_counter()
                    cstore(target, data / "cstore")
                    add(
                        "C-STORE study until queryable (s)",
                        name,
                        until_queryable(target, [big["study_uid"]], args.images, started),
                    )
                    started = time.perf_counter()
                    stow(target, stow_files)
                    add(
                        "STOW-RS study until queryable (s)",
                        name,
                        until_queryable(target, [posted["study_uid"]], args.images, started),
                    )
                peaks[name] = max(peaks[name], peak.peak)
                started = time.perf_counter()
                cstore(target, data / "singles")
                add(
                    f"{args.singles} one-instance studies by C-STORE (s)",
                    name,
                    until_queryable(target, singles, 1, started),
                )
                add(
                    "first QIDO after the loads (ms)",
                    name,
                    get_ms(target, "/studies", {"limit": "1"}),
                )
                add("background work after the loads (s)", name, until_idle(target))
                uid = big["study_uid"]
                add(
                    "study metadata (ms)",
                    name,
                    get_ms(target, f"/studies/{uid}/metadata"),
                )
                for label, params in QUERIES:
                    add(
                        label,
                        name,
                        statistics.median(get_ms(target, "/studies", params) for _ in range(5)),
                    )
                    found.setdefault(label, {})[name] = matches(target, params)
                add("WADO-RS whole study (MB/s)", name, wado_mb_s(target, uid))
                target.restart()
                add("first QIDO after a restart (ms)", name, get_ms(target, "/studies"))
            for label, by in found.items():  # a comparison only where both servers find the same studies
                if len(set(by.values())) != 1:
                    raise RuntimeError(f"{label}: the servers found different numbers of studies: {by}")
            shutil.rmtree(data, ignore_errors=True)
            print(f"repetition {rep + 1} of {args.repeat} done", flush=True)
    finally:
        for target in targets:
            target.stop()
    report(figures, peaks, limits, args, backend)


def report(
    figures: dict[str, dict[str, list[float]]],
    peaks: dict[str, int],
    limits: dict[str, float],
    args: argparse.Namespace,
    backend: Backend,
) -> None:
    print(
        f"\nhvgen ({'PostgreSQL + S3' if backend.engines else 'SQLite + blob folder'}) and Orthanc; "
        f"{args.images} images of 512 x 512 x 16 bits, {args.singles} singles, median of {args.repeat} (each run)"
    )
    print(f"{'measure':44} {'hvgen':>22} {'Orthanc':>22} {'hvgen/Orthanc':>14}")
    for measure, by in figures.items():
        ours, theirs = statistics.median(by["hvgen"]), statistics.median(by["Orthanc"])
        runs = lambda v: ", ".join(f"{x:.3g}" for x in v)  # noqa: E731
        ratio = ours / theirs if theirs else float("nan")
        print(f"{measure:44} {ours:10.3g} ({runs(by['hvgen'])}) {theirs:8.3g} ({runs(by['Orthanc'])}) {ratio:10.2f}x")
    print(
        f"{'peak RSS during the loads (MB)':44} {peaks['hvgen'] / MIB:10.0f} {peaks['Orthanc'] / MIB:24.0f} "
        f"{peaks['hvgen'] / max(1, peaks['Orthanc']):14.2f}x"
    )
    study_mb = args.images * 512 * 512 * 2 / MIB
    for label, value in limits.items():
        print(f"machine: {label}: {value:.0f}  (the {study_mb:.0f} MB study: {study_mb / value:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--singles", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shared", action="store_true", help="hvgen on PostgreSQL + S3 instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        if not args.shared:
            run(args, Path(tmp), EMBEDDED)
            return
        from tests.engines import Engines

        engines = Engines().start()
        try:
            run(args, Path(tmp), Backend("shared", engines))
        finally:
            engines.stop()


if __name__ == "__main__":
    main()
