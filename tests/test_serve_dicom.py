"""`hvgen serve --dicom-port`: the DICOM storage service inside the server,
storing through the in-process ingest. dcmtk's storescu and pynetdicom's push
studies; what was acknowledged survives a SIGKILL of the server."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hvgen_imaging import dicom
from hvgen_imaging.study import build
from hvgen_server.context import Platform
from hvgen_server.dicomweb.gateway import ensure_gateway
from hvgen_server.dicomweb.index import STUDY_TYPES
from hvgen_server.ingest import Ingest

from . import dcmtk
from .dicomgen import make_study
from .localserver import Backend, RunningServer, environment, free_port, start_server
from .test_dicom_listen import cli, scu, wait_for_study
from .test_dicomweb import with_previews

pytest.importorskip("pynetdicom")


def serve_with_dicom(base: Path, backend: Backend, *options: str) -> tuple[RunningServer, int]:
    port = free_port()
    return start_server(base, "--dicom-port", str(port), "--dicom-ae-title", "HVTEST", *options, backend=backend), port


def stale(server: RunningServer) -> list[tuple[str, str]]:
    """Study versions the DICOM index has not caught up with (none: it is current)."""
    store = server.open_store()
    try:
        with store.read() as tx:
            return tx.dicom.stale(server.profile.record_id, STUDY_TYPES)
    finally:
        store.close()


def test_storescu_into_the_server(tmp_path: Path, backend: Backend) -> None:
    server, port = serve_with_dicom(tmp_path / "platform", backend)
    cache = tmp_path / "cache"
    try:
        assert scu("echoscu", port, "-aec", "HVTEST").returncode == 0
        made = make_study(tmp_path / "ct", series=2, images=2, size=32, seed=21)
        sent = scu("storescu", port, str(tmp_path / "ct"), "-r", "-xe", "-aec", "HVTEST")
        assert sent.returncode == 0, sent.stderr
        stored = wait_for_study(server, cache, str(made["study_uid"]), 4)
        assert stored["series"] == 2
        assert stale(server) == []  # indexed in the transaction that stored it: nothing to catch up

        storescu = dcmtk.tool("storescu")
        if storescu is not None:  # dcmtk's sender too, with a new series of the same study
            more = make_study(tmp_path / "more", series=1, images=2, size=32, seed=22, study_uid=str(made["study_uid"]))
            files = [str(p) for p in sorted((tmp_path / "more").rglob("*.dcm"))]
            done = subprocess.run(
                [storescu, "-aec", "HVTEST", "127.0.0.1", str(port), *files],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stderr
            again = wait_for_study(server, cache, str(made["study_uid"]), 6)
            assert again["series"] == 3 and again["thing_id"] == stored["thing_id"]
            assert more["series_uids"][0] in cli(server, cache, "study", "show", str(made["study_uid"]))[1]
        assert "Traceback" not in server.log()
    finally:
        server.stop()


def test_what_was_acknowledged_survives_a_kill(tmp_path: Path, backend: Backend) -> None:
    server, port = serve_with_dicom(tmp_path / "platform", backend)
    cache = tmp_path / "cache"
    try:
        made = make_study(tmp_path / "ct", series=1, images=3, size=32, seed=23)
        assert scu("storescu", port, str(tmp_path / "ct"), "-r", "-aec", "HVTEST").returncode == 0
        server.kill()  # acknowledged: stored by now, or in the spool
        # and instances an association had acknowledged when the server was killed in its middle
        late = make_study(tmp_path / "late", series=1, images=2, size=32, seed=24)
        cut = server.data / "dicom" / "spool" / "incoming" / "cut-association"
        cut.mkdir(parents=True)
        for path in (tmp_path / "late").rglob("*.dcm"):
            shutil.copyfile(path, cut / path.name)
        # and a study stored whose previews were not made yet
        waiting = make_study(tmp_path / "waiting", series=1, images=2, size=32, seed=25)
        with environment(server.backend.env):
            platform = Platform.open(server.config())
        try:
            scanned = dicom.scan(tmp_path / "waiting").studies[0]
            Ingest(platform, ensure_gateway(platform).app_id, server.profile.record_id).store(
                build(scanned, previews=False)
            )
        finally:
            platform.close()
        marker = server.data / "ingest" / "previews" / "waiting.json"
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"record": server.profile.record_id, "study": str(waiting["study_uid"])}))
        server.start()
        wait_for_study(server, cache, str(made["study_uid"]), 3)
        wait_for_study(server, cache, str(late["study_uid"]), 2)
        with_previews(server, str(waiting["study_uid"]))
        deadline = time.monotonic() + 60  # unmarked once its version with previews is stored
        while marker.exists():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert stale(server) == []
    finally:
        server.stop()


def test_an_unknown_record_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "platform"
    port = free_port()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hvgen_cli",
            "serve",
            "--data",
            str(base / "data"),
            "--port",
            str(free_port()),
            "--no-profile",
            "--dicom-port",
            str(port),
            "--dicom-record",
            "00000000-0000-0000-0000-000000000000",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "--dicom-record: record 00000000-0000-0000-0000-000000000000 is not in the store" in done.stderr
    assert "Traceback" not in done.stderr
