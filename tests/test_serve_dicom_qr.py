"""`hvgen serve --dicom-port` answers C-FIND, C-GET and C-MOVE over its
record's DICOM index in process: dcmtk's findscu, getscu and movescu (to a
`storescp` registered with `hvgen dicom node`), files back byte for byte."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pydicom
import pytest

from hvgen_server.store.rows import DIMSE, DicomNode

from . import dcmtk
from .dicomgen import make_study
from .localserver import Backend, free_port
from .test_dicom_listen import data_set_bytes, scu, wait_for_study
from .test_serve_dicom import serve_with_dicom

pytest.importorskip("pynetdicom")


def data_sets(paths: list[Path]) -> dict[str, bytes]:
    return {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): data_set_bytes(p) for p in paths}


def test_find_get_and_move_from_the_server(tmp_path: Path, backend: Backend) -> None:
    findscu, getscu, movescu, storescp = (dcmtk.require(t) for t in ("findscu", "getscu", "movescu", "storescp"))
    server, port = serve_with_dicom(tmp_path / "platform", backend)
    sink_dir, sink_port = tmp_path / "sink", free_port()
    sink_dir.mkdir()
    sink = subprocess.Popen(
        [storescp, "-aet", "SINK", "-od", str(sink_dir), str(sink_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cache = tmp_path / "cache"
    try:
        made = make_study(tmp_path / "ct", series=2, images=2, size=32, seed=31, patient="SERVE^QR", patient_id="SQ-1")
        sent = scu("storescu", port, str(tmp_path / "ct"), "-r", "-xe", "-aec", "HVTEST")
        assert sent.returncode == 0, sent.stderr
        wait_for_study(server, cache, str(made["study_uid"]), 4)
        want = data_sets(sorted((tmp_path / "ct").rglob("*.dcm")))

        rsp = tmp_path / "rsp"
        rsp.mkdir()
        found = subprocess.run(
            [findscu, "-aec", "HVTEST", "-S", "-X", "-od", str(rsp), "-k", "QueryRetrieveLevel=STUDY"]
            + ["-k", "PatientID=SQ-*", "-k", "StudyInstanceUID", "-k", "NumberOfStudyRelatedInstances"]
            + ["127.0.0.1", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert found.returncode == 0, found.stderr
        (answer,) = [pydicom.dcmread(p) for p in rsp.glob("rsp*.dcm")]
        assert str(answer.StudyInstanceUID) == made["study_uid"] and int(answer.NumberOfStudyRelatedInstances) == 4

        got = tmp_path / "got"
        got.mkdir()
        study_key = ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={made['study_uid']}"]
        done = subprocess.run(
            [getscu, "-aec", "HVTEST", "-S", *study_key, "-od", str(got), "127.0.0.1", str(port)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert data_sets(list(got.iterdir())) == want

        store = server.open_store()  # as `hvgen dicom node add SINK --ae SINK ...` writes it (either backend)
        try:
            with store.write() as tx:
                tx.dicom_nodes.put(DicomNode("SINK", DIMSE, ae_title="SINK", host="127.0.0.1", port=sink_port))
        finally:
            store.close()
        moved = subprocess.run(
            [movescu, "-aec", "HVTEST", "-S", *study_key, "-aem", "SINK", "127.0.0.1", str(port)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert moved.returncode == 0, moved.stderr
        assert data_sets(list(sink_dir.iterdir())) == want
        nowhere = subprocess.run(
            [movescu, "-aec", "HVTEST", "-S", *study_key, "-aem", "NOWHERE", "127.0.0.1", str(port)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert nowhere.returncode != 0 and "MoveDestinationUnknown" in nowhere.stderr
        assert "Traceback" not in server.log()
    finally:
        sink.terminate()
        sink.wait(10)
        server.stop()


def test_beyond_loopback_the_server_wants_an_allow_list(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hvgen_cli import main

    args = ["serve", "--data", str(tmp_path / "data"), "--dicom-port", str(free_port()), "--dicom-host", "0.0.0.0"]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 2 and "--dicom-allow-any-ae" in refused.output and not (tmp_path / "data").exists()
