"""What `hvgen dicom listen` acknowledges is what it stores: statuses as real
senders see them (pynetdicom's SCU and dcmtk's storescu), deflated
instances, look-alike UIDs, aborts, allow-lists, idle connections, retries
that end, and `hvgen dicom rejected`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, generate_uid

from . import dcmtk
from .dicomgen import make_study, pydicom_file
from .localserver import RunningServer, start_server
from .terminal import hvgen_env, in_terminal
from .test_dicom_listen import Listening, cli, data_set_bytes, wait_for_study

pynetdicom = pytest.importorskip("pynetdicom")
from pynetdicom import AE, _config  # noqa: E402
from pynetdicom.sop_class import CTImageStorage, MRImageStorage  # type: ignore[attr-defined]  # noqa: E402


@contextmanager
def association(port: int, contexts: list[tuple[str, list[str]]], *, calling: str = "TESTSCU") -> Iterator:
    ae = AE(ae_title=calling)
    for sop_class, syntaxes in contexts:
        ae.add_requested_context(sop_class, syntaxes)
    assoc = ae.associate("127.0.0.1", port, ae_title="HVTEST")
    assert assoc.is_established
    try:
        yield assoc
    finally:
        if assoc.is_established:
            assoc.release()


@contextmanager
def sending_files() -> Iterator[None]:
    """pynetdicom sends a file's bytes as they are (not re-encoded from a Dataset)."""
    before = _config.STORE_SEND_CHUNKED_DATASET
    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        yield
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = before


def rejected(base: Path) -> dict:
    code, out = cli_local(base, "dicom", "rejected", "--json")
    assert code == 0, out
    return json.loads(out)


def cli_local(base: Path, *args: str) -> tuple[int, str]:
    run = subprocess.run(
        [sys.executable, "-m", "hvgen_cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_CACHE_HOME": str(base / "cache")},
        cwd=base,
        timeout=60,
    )
    return run.returncode, run.stdout + run.stderr


def closed_by_peer(s: socket.socket, wait: float) -> bool:
    """Whether the listener closed (or aborted) this connection within ``wait`` seconds."""
    s.settimeout(wait)
    try:
        while data := s.recv(4096):
            del data  # an A-ABORT before the close
        return True
    except TimeoutError:
        return False
    except OSError:
        return True


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[RunningServer]:
    server = start_server(tmp_path / "platform")
    try:
        yield server
    finally:
        server.stop()


def test_only_what_will_be_stored_is_acknowledged(platform: RunningServer, tmp_path: Path) -> None:
    listening = Listening(platform, tmp_path, "--ae-title", "HVTEST", "--retry", "0.5")
    try:
        made = make_study(tmp_path / "ct", series=1, images=3, size=32, seed=21)
        files = sorted((tmp_path / "ct").rglob("*.dcm"))
        # no Study Instance UID
        no_study = pydicom.dcmread(files[1])
        del no_study.StudyInstanceUID
        no_study.save_as(files[1])
        # cut short inside its pixel data
        files[2].write_bytes(files[2].read_bytes()[:-300])
        # an MR data set sent as CT (its file meta names CT: so does the request)
        mr = tmp_path / "mr.dcm"
        other = pydicom.dcmread(files[0])
        other.SOPClassUID, other.SOPInstanceUID = pydicom.uid.UID(MRImageStorage), generate_uid()
        other.file_meta.MediaStorageSOPInstanceUID = other.SOPInstanceUID
        other.save_as(mr)
        deflated = pydicom_file("image_dfl.dcm")
        statuses = {}
        with (
            sending_files(),
            association(
                listening.port,
                [
                    (CTImageStorage, [ExplicitVRLittleEndian]),
                    (str(pydicom.dcmread(deflated).SOPClassUID), [DeflatedExplicitVRLittleEndian]),
                ],
            ) as assoc,
        ):
            for name, path in (("good", files[0]), ("no study", files[1]), ("cut", files[2]), ("mr as ct", mr)):
                status = assoc.send_c_store(path)
                statuses[name] = (status.Status, str(status.get("ErrorComment", "")))
            status = assoc.send_c_store(deflated)
            statuses["deflated"] = (status.Status, str(status.get("ErrorComment", "")))
        assert statuses["good"] == (0x0000, "")
        assert statuses["deflated"] == (0x0000, "")
        assert statuses["no study"] == (0xA900, "no Study Instance UID (0020,000D)")
        assert statuses["cut"][0] == 0xC000 and statuses["cut"][1].startswith("truncated")
        assert statuses["mr as ct"][0] == 0xA900 and "SOP Class UID" in statuses["mr as ct"][1]

        wait_for_study(platform, tmp_path / "cache", str(made["study_uid"]), 1)
        deflated_study = str(pydicom.dcmread(deflated).StudyInstanceUID)
        wait_for_study(platform, tmp_path / "cache", deflated_study, 1)
        # the deflated instance comes back as it was sent: the same deflated data set bytes
        code, out = cli(platform, tmp_path / "cache", "study", "download", deflated_study, str(tmp_path / "copy"))
        assert code == 0, out
        copy = next((tmp_path / "copy").rglob("*.dcm"))
        assert data_set_bytes(copy) == data_set_bytes(deflated)
        assert pydicom.dcmread(copy).file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian

        listed = rejected(tmp_path)
        refused = {tuple(e["sop_instance_uids"]): e for e in listed["rejected"]}
        assert len(refused) == 3 and all(e["kind"] == "refused" for e in refused.values())
        assert refused[(str(no_study.SOPInstanceUID),)]["status"] == "0xA900"
        assert refused[(str(no_study.SOPInstanceUID),)]["calling_ae_title"] == "TESTSCU"
        time.sleep(1.5)  # three retry periods: nothing is tried again, nothing set aside
        err = listening.err.read_text()
        assert "trying again" not in err and "set aside" not in err and "Traceback" not in err
        assert err.count("refused ") == 3
    finally:  # stopped whatever happened; judged after (an assert here would hide the first failure)
        stopped = listening.stop()
    assert stopped == 0


def test_storescu_sees_the_failure_status(platform: RunningServer, tmp_path: Path) -> None:
    storescu = dcmtk.require("storescu")
    listening = Listening(platform, tmp_path, "--ae-title", "HVTEST")
    try:
        make_study(tmp_path / "ct", series=1, images=1, size=32, seed=22)
        path = next((tmp_path / "ct").rglob("*.dcm"))
        ds = pydicom.dcmread(path)
        del ds.StudyInstanceUID
        ds.save_as(path)
        sent = subprocess.run(
            [storescu, "-d", "-aec", "HVTEST", "127.0.0.1", str(listening.port), str(path)],
            capture_output=True,
            text=True,
            env={**os.environ, "TCP_NODELAY": "1"},
            timeout=60,
        )
        output = sent.stdout + sent.stderr
        assert "DIMSE Status                  : 0xa900: Error: Data Set does not match SOP Class" in output, output
        assert "(0000,0902) LO [no Study Instance UID (0020,000D)]" in output, output
    finally:  # stopped whatever happened; judged after (an assert here would hide the first failure)
        stopped = listening.stop()
    assert stopped == 0


def test_look_alike_uids_are_two_instances_and_an_abort_hands_on_at_once(
    platform: RunningServer, tmp_path: Path
) -> None:
    listening = Listening(platform, tmp_path, "--ae-title", "HVTEST")
    try:
        make_study(tmp_path / "ct", series=1, images=2, size=32, seed=23)
        first, second = (pydicom.dcmread(p) for p in sorted((tmp_path / "ct").rglob("*.dcm")))
        study = str(first.StudyInstanceUID)
        for ds, uid in ((first, "1.2.3.4+5.6"), (second, "1.2.3.4_5.6")):  # one spool name before
            ds.SOPInstanceUID = uid
            ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.UID(uid)
        with association(listening.port, [(CTImageStorage, [ExplicitVRLittleEndian])]) as assoc:
            assert assoc.send_c_store(first).Status == 0
            assert assoc.send_c_store(second).Status == 0
            assoc.abort()  # fully received before the abort: stored now, not at the next start
        stored = wait_for_study(platform, tmp_path / "cache", study, 2, timeout=30)
        assert stored["images"] == 2
        code, out = cli(platform, tmp_path / "cache", "study", "show", study)
        assert "1.2.3.4+5.6" in out and "1.2.3.4_5.6" in out
        # an association left open does not hold up a stop
        ae = AE(ae_title="IDLESCU")
        ae.add_requested_context("1.2.840.10008.1.1")
        assert ae.associate("127.0.0.1", listening.port, ae_title="HVTEST").is_established
        started = time.monotonic()
        assert listening.stop() == 0
        assert time.monotonic() - started < 10
    finally:  # stopped whatever happened; judged after (an assert here would hide the first failure)
        stopped = listening.stop()
    assert stopped == 0


def test_allow_list_per_peer_limit_and_idle_timeout(platform: RunningServer, tmp_path: Path) -> None:
    listening = Listening(
        platform,
        tmp_path,
        "--ae-title",
        "HVTEST",
        "--allow-ae",
        "GOODSCU",
        "--idle-timeout",
        "20",
        "--max-per-peer",
        "4",
    )
    try:

        def echo(calling: str) -> bool:
            ae = AE(ae_title=calling)
            ae.add_requested_context("1.2.840.10008.1.1")
            ae.acse_timeout = 5
            assoc = ae.associate("127.0.0.1", listening.port, ae_title="HVTEST")
            if not assoc.is_established:
                return False
            ok = assoc.send_c_echo().Status == 0
            assoc.release()
            return ok

        assert not echo("STRANGER")
        assert echo("GOODSCU")
        # 16 silent connections from another address: 4 held, the rest closed at once
        idle = []
        for _ in range(16):
            s = socket.socket()
            s.bind(("127.0.0.2", 0))
            s.connect(("127.0.0.1", listening.port))
            idle.append(s)
        deadline = time.monotonic() + 8
        refused = 0
        while refused < 12 and time.monotonic() < deadline:
            refused = sum(closed_by_peer(s, 0.02) for s in idle)
            time.sleep(0.2)
        assert refused == 12
        started = time.monotonic()
        assert echo("GOODSCU")  # not locked out
        assert time.monotonic() - started < 3
        # the silent ones are dropped within the idle timeout
        deadline = time.monotonic() + 15
        still = [s for s in idle if not closed_by_peer(s, 0.01)]
        assert len(still) == 4
        while still and time.monotonic() < deadline:
            still = [s for s in still if not closed_by_peer(s, 0.5)]
        assert not still
        for s in idle:
            s.close()
    finally:  # stopped whatever happened; judged after (an assert here would hide the first failure)
        stopped = listening.stop()
    assert stopped == 0


def test_a_study_the_platform_never_takes_is_set_aside_once_and_can_be_retried(
    platform: RunningServer, tmp_path: Path
) -> None:
    platform.stop()
    listening = Listening(platform, tmp_path, "--ae-title", "HVTEST", "--retry", "0.2", "--attempts", "3")
    try:
        made = make_study(tmp_path / "ct", series=1, images=2, size=32, seed=24)
        with association(listening.port, [(CTImageStorage, [ExplicitVRLittleEndian])]) as assoc:
            for path in sorted((tmp_path / "ct").rglob("*.dcm")):
                assert assoc.send_c_store(pydicom.dcmread(path)).Status == 0
        listening.wait_for(r"set aside 2 file\(s\)", timeout=30)
        err = listening.err.read_text()
        assert "attempt 1 of 3, trying again in 0.2 s" in err and "attempt 2 of 3, trying again in 0.4 s" in err
        time.sleep(1)
        assert listening.err.read_text().count("set aside") == 1  # once, not again
        entries = rejected(tmp_path)["rejected"]
        assert len(entries) == 1 and entries[0]["kind"] == "set aside" and len(entries[0]["files"]) == 2
        assert "not stored after 3 attempts" in entries[0]["reason"]
        assert entries[0]["study_uid"] == made["study_uid"] and len(entries[0]["sop_instance_uids"]) == 2
    finally:  # stopped whatever happened; judged after (an assert here would hide the first failure)
        stopped = listening.stop()
    assert stopped == 0
    code, out = cli_local(tmp_path, "dicom", "rejected", "--retry", entries[0]["id"])
    assert code == 0 and "back in line" in out, out
    platform.start()
    again = Listening(platform, tmp_path, "--ae-title", "HVTEST")
    try:
        wait_for_study(platform, tmp_path / "cache", str(made["study_uid"]), 2)
        assert rejected(tmp_path)["rejected"] == []
    finally:
        assert again.stop() == 0


def test_study_upload_stores_a_deflated_file_byte_for_byte(platform: RunningServer, tmp_path: Path) -> None:
    folder = tmp_path / "dfl"
    folder.mkdir()
    shutil.copy(pydicom_file("image_dfl.dcm"), folder / "image_dfl.dcm")
    env = hvgen_env(tmp_path / "home", platform.profile_path)
    run = in_terminal(["study", "upload", str(folder)], env)
    assert run.code == 0 and "created" in run.output and "truncated" not in run.output, run.output
    study = str(pydicom.dcmread(folder / "image_dfl.dcm", stop_before_pixels=True).StudyInstanceUID)
    run = in_terminal(["study", "download", study, str(tmp_path / "copy"), "--previews"], env)
    assert run.code == 0, run.output
    assert next((tmp_path / "copy").rglob("*.dcm")).read_bytes()[128:] == (folder / "image_dfl.dcm").read_bytes()[128:]
    assert len(list((tmp_path / "copy").rglob("*_preview.jpg"))) == 1
