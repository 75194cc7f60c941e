"""`hvgen dicom listen` end to end: pynetdicom's echoscu and storescu push
studies to the listener, which stores them on a platform server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner

from hvgen_cli import main

from .dicomgen import make_study
from .localserver import Backend, RunningServer, start_server

pytest.importorskip("pynetdicom")


def cli(server: RunningServer, cache: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, list(args), env={"HVGEN_PROFILE": str(server.profile_path), "XDG_CACHE_HOME": str(cache)}
    )
    return result.exit_code, result.output


def scu(tool: str, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pynetdicom", tool, "127.0.0.1", str(port), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


class Listening:
    """`hvgen dicom listen` as a subprocess, its stdout and stderr in files."""

    def __init__(self, server: RunningServer, base: Path, *options: str) -> None:
        self.out, self.err = base / "listen.out", base / "listen.err"
        env = {**os.environ, "HVGEN_PROFILE": str(server.profile_path), "XDG_CACHE_HOME": str(base / "cache")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hvgen_cli", "dicom", "listen", "--port", "0", *options],
            stdout=open(self.out, "w"),
            stderr=open(self.err, "w"),
            env=env,
        )
        found = self.wait_for(r"on [0-9.]+:(\d+)")
        self.port = int(found.group(1))

    def wait_for(self, pattern: str, timeout: float = 60, where: str = "err") -> re.Match[str]:
        path = self.err if where == "err" else self.out
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, path.read_text())
            if found:
                return found
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} in {where}: {self.err.read_text()} {self.out.read_text()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(30)


def data_set_bytes(path: Path) -> bytes:
    """A DICOM file's bytes after its file meta header (preamble, DICM, group 0002)."""
    data = path.read_bytes()
    assert data[128:132] == b"DICM" and data[132:136] == b"\x02\x00\x00\x00"  # (0002,0000) group length first
    return data[132 + 12 + int.from_bytes(data[140:144], "little") :]


def wait_for_study(server: RunningServer, cache: Path, uid: str, images: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code, out = cli(server, cache, "study", "list", "--json")
        if code == 0:
            found = [s for s in json.loads(out) if s["study_uid"] == uid]
            assert len(found) <= 1, found  # never twice
            if found and found[0]["images"] == images:
                return found[0]
        time.sleep(0.3)
    raise AssertionError(f"study {uid} with {images} images did not arrive")


def test_storescu_pushes_studies_that_are_stored_like_study_upload(tmp_path: Path, backend: Backend) -> None:
    server = start_server(tmp_path / "platform", backend=backend)
    cache = tmp_path / "cache"
    listening = Listening(server, tmp_path, "--ae-title", "HVTEST", "--require-called-ae", "--retry", "0.5", "--json")
    try:
        assert scu("echoscu", listening.port, "-aec", "HVTEST").returncode == 0
        wrong = scu("echoscu", listening.port, "-aec", "SOMEONE")
        assert "rejected" in (wrong.stdout + wrong.stderr).lower()

        made = make_study(tmp_path / "ct", series=2, images=2, size=32, seed=11)
        # -xe: the files' own transfer syntax (explicit VR little endian), so the sender sends them unchanged
        sent = scu("storescu", listening.port, str(tmp_path / "ct"), "-r", "-xe", "-aec", "HVTEST")
        assert sent.returncode == 0, sent.stderr
        listening.wait_for(r"received 4 instance\(s\) from STORESCU")
        stored = wait_for_study(server, cache, str(made["study_uid"]), 4)
        assert stored["series"] == 2
        line = json.loads(listening.wait_for(r"(\{.*\"created\".*\})", where="out").group(1))
        assert line["study_uid"] == made["study_uid"] and line["previews"] == 4
        assert line["calling_ae_title"] == "STORESCU"

        # the data sets are the bytes that were sent (a network transfer carries no file meta
        # header: the receiver writes its own, with the negotiated transfer syntax and the same UIDs)
        code, out = cli(server, cache, "study", "download", str(made["study_uid"]), str(tmp_path / "copy"))
        assert code == 0, out
        originals = {pydicom.dcmread(p).SOPInstanceUID: p for p in (tmp_path / "ct").rglob("*.dcm")}
        copies = {p.stem: p for p in (tmp_path / "copy").rglob("*.dcm")}
        assert set(copies) == set(originals)
        for sop, path in originals.items():
            assert data_set_bytes(copies[sop]) == data_set_bytes(path)
            received, original = pydicom.dcmread(copies[sop]).file_meta, pydicom.dcmread(path).file_meta
            for keyword in ("TransferSyntaxUID", "MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID"):
                assert received[keyword].value == original[keyword].value

        # sent again with a new series of the same study: merged, nothing twice
        more = make_study(tmp_path / "more", series=1, images=1, size=32, seed=12, study_uid=str(made["study_uid"]))
        for folder in ("ct", "more"):
            assert scu("storescu", listening.port, str(tmp_path / folder), "-r", "-aec", "HVTEST").returncode == 0
        again = wait_for_study(server, cache, str(made["study_uid"]), 5)
        assert again["series"] == 3 and again["thing_id"] == stored["thing_id"]
        assert more["series_uids"][0] in cli(server, cache, "study", "show", str(made["study_uid"]))[1]

        # the platform down: acknowledged instances wait in the spool, and are stored when it is back
        server.stop()
        late = make_study(tmp_path / "late", series=1, images=2, size=32, seed=13)
        assert scu("storescu", listening.port, str(tmp_path / "late"), "-r", "-aec", "HVTEST").returncode == 0
        listening.wait_for(r"warning: .*trying again")
        server.start()
        wait_for_study(server, cache, str(late["study_uid"]), 2)
        spool = tmp_path / "cache" / "hvgen" / "dicom-spool" / "ready"
        deadline = time.monotonic() + 10
        while any(spool.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(spool.iterdir())  # nothing left behind
    finally:  # stopped whatever happened; judged after (an assert here would hide the first failure)
        stopped = listening.stop()
        server.stop()
    assert stopped == 0
    assert "stopping" in listening.err.read_text()
    assert "Traceback" not in listening.err.read_text()


def test_listen_refuses_bad_options(tmp_path: Path) -> None:
    # The options are refused before anything reaches the store: the embedded one is enough.
    server = start_server(tmp_path / "platform")
    try:
        code, out = cli(server, tmp_path, "dicom", "listen", "--ae-title", "A" * 17)
        assert code != 0 and "is not an AE title" in out
        with __import__("socket").socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            code, out = cli(server, tmp_path, "dicom", "listen", "--port", str(port))
        assert code != 0 and f"cannot listen on 127.0.0.1:{port}" in out and "Traceback" not in out
    finally:
        server.stop()
