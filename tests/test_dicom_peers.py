"""Other DICOM nodes: `hvgen dicom node`, `send`, `query` and `retrieve`
against Orthanc (Debian's, with its DICOMweb plugin), by DIMSE and by
DICOMweb, as a user runs them; and per-instance results against a peer
that refuses one instance."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest
from click.testing import CliRunner

from hvgen_cli import main

from . import dcmtk, orthanc
from .dicomgen import make_study, pydicom_file
from .localserver import RunningServer, free_port, start_server
from .test_dicom_listen import data_set_bytes

pytest.importorskip("pynetdicom")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("platform"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[orthanc.Orthanc]:
    running = orthanc.start(tmp_path_factory.mktemp("orthanc"))
    try:
        yield running
    finally:
        running.stop()


def cli(server: RunningServer, *args: str) -> tuple[int, str, str]:
    env = {"HVGEN_PROFILE": str(server.profile_path), "XDG_CACHE_HOME": str(server.data.parent / "cache")}
    result = CliRunner().invoke(main, [*args, "--data", str(server.data)] if _takes_data(args) else list(args), env=env)
    return result.exit_code, result.stdout, result.stderr if result.stderr_bytes is not None else ""


def _takes_data(args: tuple[str, ...]) -> bool:
    return args[:2] in (("dicom", "node"), ("dicom", "send"), ("dicom", "query"), ("dicom", "retrieve"))


@pytest.fixture(scope="module")
def study(platform: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A study of the record: 2 generated CT series of 3 images."""
    folder = tmp_path_factory.mktemp("study")
    made = make_study(
        folder / "ct", series=2, images=3, patient="PEERS^ANN", patient_id="PEER-1", study_date="20230304"
    )
    code, out, err = cli(platform, "study", "upload", str(folder), "--no-progress", "--json")
    assert code == 0, out + err
    return {"folder": folder, **made}


def originals(folder: Path) -> dict[str, bytes]:
    return {
        str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): data_set_bytes(p)
        for p in folder.rglob("*.dcm")
    }


def test_nodes_are_added_listed_checked_and_removed(
    platform: RunningServer, peer: orthanc.Orthanc, tmp_path: Path
) -> None:
    code, out, err = cli(
        platform,
        "dicom",
        "node",
        "add",
        "PACS",
        "--ae",
        peer.ae_title,
        "--host",
        "127.0.0.1",
        "--port",
        str(peer.dicom_port),
    )
    assert code == 0 and out.startswith("added PACS"), out + err
    token = tmp_path / "token"
    token.write_text("secret-token\n")
    code, out, err = cli(
        platform, "dicom", "node", "add", "WEB", "--url", peer.dicomweb, "--token-file", str(token), "--json"
    )
    assert code == 0, out + err
    assert json.loads(out) == {
        "name": "WEB",
        "kind": "dicomweb",
        "url": peer.dicomweb,
        "token_file": str(token.resolve()),
    }
    code, out, _ = cli(platform, "dicom", "node", "list", "--json")
    listed = {n["name"]: n for n in json.loads(out)}
    assert listed["PACS"] == {
        "name": "PACS",
        "kind": "dimse",
        "ae_title": "ORTHANC",
        "host": "127.0.0.1",
        "port": peer.dicom_port,
    }
    assert "secret-token" not in out  # the token stays in its file
    code, out, err = cli(platform, "dicom", "node", "echo", "PACS", "--json")
    assert code == 0 and json.loads(out)["ok"] is True, out + err
    code, out, err = cli(platform, "dicom", "node", "echo", "WEB")
    assert code == 0 and "answers" in out, out + err
    # mistakes get one line each
    for args, expected in (
        (("add", "X", "--ae", "A\\B", "--host", "h", "--port", "1"), "AE title"),
        (("add", "X", "--ae", "A", "--host", "h"), "needs --port"),
        (("add", "X", "--url", "http://x", "--ae", "A"), "not both"),
        (("add", "X", "--url", "notaurl"), "not a usable URL"),
        (("remove", "NOSUCH"), "no DICOM node named 'NOSUCH'"),
        (("echo", "NOSUCH"), "no DICOM node named 'NOSUCH'"),
        (("echo", "NOBODY@127.0.0.1:1"), "cannot reach"),
    ):
        code, out, err = cli(platform, "dicom", "node", *args)
        assert code != 0 and expected in out + err and "Traceback" not in out + err, (args, out, err)
    code, out, _ = cli(platform, "dicom", "node", "remove", "WEB")
    assert code == 0
    code, out, _ = cli(platform, "dicom", "node", "list", "--json")
    assert [n["name"] for n in json.loads(out)] == ["PACS"]


def test_send_by_c_store_then_again_sends_nothing(
    platform: RunningServer, peer: orthanc.Orthanc, study: dict[str, Any]
) -> None:
    to = f"{peer.ae_title}@127.0.0.1:{peer.dicom_port}"
    code, out, err = cli(platform, "dicom", "send", study["study_uid"], "--to", to, "--json", "--no-progress")
    assert code == 0, out + err
    result = json.loads(out)
    assert result["sent"] == 6 and result["failed"] == 0 and result["present"] == 0
    want = originals(study["folder"])
    for sop, data in want.items():  # the data set Orthanc stored is the one sent, byte for byte
        stored = peer.file_of(sop)
        assert stored[128:132] == b"DICM"
        assert stored.endswith(data)
    code, out, err = cli(platform, "dicom", "send", study["study_uid"], "--to", to, "--no-progress")
    assert code == 0 and "sent 0 instances, 6 already there" in out, out + err
    # a node that is not there: said before the study is downloaded; --json names no temporary file
    code, out, err = cli(platform, "dicom", "send", study["study_uid"], "--to", "NOBODY@127.0.0.1:1", "--json")
    assert code == 1 and "cannot reach NOBODY@127.0.0.1:1" in err and "downloading" not in err, out + err
    assert all(not o.get("path") for o in result["instances"]), result


def test_send_by_stow_rs(platform: RunningServer, peer: orthanc.Orthanc, tmp_path: Path) -> None:
    folder = tmp_path / "web"
    made = make_study(folder, series=1, images=2, patient="WEB^SENT", seed=7)
    code, out, err = cli(platform, "study", "upload", str(folder), "--no-progress")
    assert code == 0, out + err
    code, out, err = cli(platform, "dicom", "send", made["study_uid"], "--to", peer.dicomweb, "--json", "--no-progress")
    assert code == 0, out + err
    assert json.loads(out)["sent"] == 2
    for sop, data in originals(folder).items():
        assert peer.file_of(sop).endswith(data)
    code, out, err = cli(platform, "dicom", "send", made["study_uid"], "--to", peer.dicomweb, "--no-progress")
    assert code == 0 and "2 already there" in out, out + err


def test_query_by_c_find_and_qido(platform: RunningServer, peer: orthanc.Orthanc, tmp_path: Path) -> None:
    folder = tmp_path / "q"
    made = make_study(folder, series=1, images=2, patient="QUERY^BOB", patient_id="Q-7", study_date="20210615", seed=11)
    for p in folder.rglob("*.dcm"):
        peer.upload(p)
    for node in (f"{peer.ae_title}@127.0.0.1:{peer.dicom_port}", peer.dicomweb):
        code, out, err = cli(
            platform, "dicom", "query", node, "--patient", "QUERY^*", "--date", "20210601-20210630", "--json"
        )
        assert code == 0, out + err
        found = [pydicom.Dataset.from_json(item) for item in json.loads(out)]
        assert [str(ds.StudyInstanceUID) for ds in found] == [made["study_uid"]]
        assert str(found[0].PatientID) == "Q-7"
        code, out, err = cli(platform, "dicom", "query", node, "--patient", "QUERY^*", "--date", "20220101-")
        assert code == 0 and out == "" and "no matches" in err, out + err
        code, out, err = cli(
            platform, "dicom", "query", node, "--level", "image", "--study", made["study_uid"], "--json"
        )
        assert code == 0, out + err
        assert {str(pydicom.Dataset.from_json(i).SOPInstanceUID) for i in json.loads(out)} == set(made["sops"])
    code, out, err = cli(
        platform,
        "dicom",
        "query",
        f"{peer.ae_title}@127.0.0.1:{peer.dicom_port}",
        "--model",
        "patient",
        "--level",
        "patient",
        "--patient-id",
        "Q-7",
    )
    assert code == 0 and "QUERY^BOB" in out and "Q-7" in out, out + err
    # as a table: a heading, one line a match, aligned columns, "-" for what is empty; ISO dates taken
    code, out, err = cli(
        platform, "dicom", "query", peer.dicomweb, "--patient", "QUERY^*", "--date", "2021-06-01-2021-06-30"
    )
    assert code == 0, out + err
    heading, *lines = out.splitlines()
    assert heading.split()[:4] == ["PATIENT", "ID", "DATE", "TIME"] and len(lines) == 1, out
    assert lines[0].split()[:3] == ["QUERY^BOB", "Q-7", "20210615"], out
    assert heading.index("DATE") == lines[0].index("20210615"), out


@pytest.mark.parametrize("way", ["dimse", "move", "dicomweb"])
def test_retrieve_into_the_record(platform: RunningServer, peer: orthanc.Orthanc, tmp_path: Path, way: str) -> None:
    folder = tmp_path / "r"
    made = make_study(
        folder / "ct",
        series=2,
        images=2,
        patient=f"RETRIEVE^{way.upper()}",
        seed={"dimse": 21, "move": 23, "dicomweb": 22}[way],
    )
    rle = folder / "rle.dcm"  # a compressed file keeps its transfer syntax all the way
    ds = pydicom.dcmread(pydicom_file("MR_small_RLE.dcm"))
    ds.StudyInstanceUID = made["study_uid"]
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(rle, enforce_file_format=True)
    for p in folder.rglob("*.dcm"):
        peer.upload(p)
    node = peer.dicomweb if way == "dicomweb" else f"{peer.ae_title}@127.0.0.1:{peer.dicom_port}"
    how: list[str] = []
    if way == "move":  # Orthanc moves to the AE title it knows at the port hvgen listens on meanwhile
        port = free_port()
        httpx.put(
            f"{peer.url}/modalities/HVMOVE", json={"AET": "HVMOVE", "Host": "127.0.0.1", "Port": port}, timeout=30
        ).raise_for_status()
        how = ["--move", "--port", str(port), "--calling-ae", "HVMOVE"]
    kept = tmp_path / "kept"
    code, out, err = cli(
        platform, "dicom", "retrieve", node, "--study", made["study_uid"], "--keep", str(kept), "--no-progress", *how
    )
    assert code == 0, out + err
    assert "retrieved 5 instances" in out
    code, out, err = cli(platform, "study", "list", "--json")
    listed = [s for s in json.loads(out) if s["study_uid"] == made["study_uid"]]
    assert len(listed) == 1 and listed[0]["images"] == 5, listed
    back = tmp_path / "back"
    code, out, err = cli(platform, "study", "download", made["study_uid"], str(back), "--no-progress")
    assert code == 0, out + err
    assert originals(back) == originals(kept)  # the record holds every data set as the node sent it
    sent = {str(d.SOPInstanceUID): d for d in map(pydicom.dcmread, folder.rglob("*.dcm"))}
    for path in back.rglob("*.dcm"):  # in the syntax the node stores it in, pixels untouched
        got = pydicom.dcmread(path)
        assert got.file_meta.TransferSyntaxUID == sent[str(got.SOPInstanceUID)].file_meta.TransferSyntaxUID
        assert got.PixelData == sent[str(got.SOPInstanceUID)].PixelData
    assert any(pydicom.dcmread(p).file_meta.TransferSyntaxUID == pydicom.uid.RLELossless for p in back.rglob("*.dcm"))
    # again: nothing new, still one study of five images
    code, out, err = cli(platform, "dicom", "retrieve", node, "--study", made["study_uid"], "--no-progress", *how)
    assert code == 0, out + err
    code, out, _ = cli(platform, "study", "list", "--json")
    listed = [s for s in json.loads(out) if s["study_uid"] == made["study_uid"]]
    assert len(listed) == 1 and listed[0]["images"] == 5


def test_retrieve_of_an_unknown_study_and_unreachable_nodes(platform: RunningServer, peer: orthanc.Orthanc) -> None:
    for node in (f"{peer.ae_title}@127.0.0.1:{peer.dicom_port}", peer.dicomweb):
        code, out, err = cli(platform, "dicom", "retrieve", node, "--study", "1.2.3.999999", "--no-progress")
        assert code == 1 and "has no instances of study 1.2.3.999999" in out + err and "Traceback" not in out + err
    code, out, err = cli(platform, "dicom", "send", "1.2.3", "--to", "NOBODY@127.0.0.1:1", "--no-progress")
    assert code == 1 and "Traceback" not in out + err


def test_a_move_to_an_ae_title_the_node_does_not_know_says_what_to_do(
    platform: RunningServer, peer: orthanc.Orthanc, tmp_path: Path
) -> None:
    made = make_study(tmp_path / "m", series=1, images=1, patient="MOVE^UNKNOWN", seed=31)
    for p in (tmp_path / "m").rglob("*.dcm"):
        peer.upload(p)
    node = f"{peer.ae_title}@127.0.0.1:{peer.dicom_port}"
    how = ["--move", "--port", str(free_port()), "--calling-ae", "NOTKNOWN", "--no-progress"]
    code, out, err = cli(platform, "dicom", "retrieve", node, "--study", made["study_uid"], *how)
    assert code == 1 and "Traceback" not in out + err, out + err
    assert "does not know the move destination NOTKNOWN" in err and "list of DICOM peers" in err, err


class RefusingPeer:
    """A storage SCP (pynetdicom) that refuses one SOP instance with 0xA700 and keeps the others."""

    def __init__(self, refuse: str) -> None:
        from pynetdicom import AE, AllStoragePresentationContexts, evt

        self.kept: list[str] = []
        self.ae = AE(ae_title="REFUSER")
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:
                self.ae.add_supported_context(context.abstract_syntax)

        def on_store(event: Any) -> Any:
            sop = str(event.request.AffectedSOPInstanceUID)
            if sop == refuse:
                return 0xA700
            self.kept.append(sop)
            return 0x0000

        self.server = self.ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])
        self.port = self.server.server_address[1]

    def stop(self) -> None:
        self.server.shutdown()


def test_a_refused_instance_is_named_and_the_others_are_sent(platform: RunningServer, study: dict[str, Any]) -> None:
    refused = study["sops"][2]
    peer = RefusingPeer(refused)
    try:
        code, out, err = cli(
            platform, "dicom", "send", study["study_uid"], "--to", f"REFUSER@127.0.0.1:{peer.port}", "--no-progress"
        )
        assert code == 1, out + err
        assert f"failed: {refused}: 0xA700 (out of resources)" in err
        assert "sent 5 instances, 1 failed" in out
        assert sorted(peer.kept) == sorted(s for s in study["sops"] if s != refused)
    finally:
        peer.stop()


def test_dcmtk_storescp_receives_what_we_send(platform: RunningServer, study: dict[str, Any], tmp_path: Path) -> None:
    storescp = dcmtk.require("storescp")
    out = tmp_path / "received"
    out.mkdir()
    port = free_port()
    process = subprocess.Popen(
        [storescp, "-aet", "DCMTK", "-od", str(out), "-uf", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        for _ in range(50):
            code, text, err = cli(platform, "dicom", "node", "echo", f"DCMTK@127.0.0.1:{port}")
            if code == 0:
                break
            time.sleep(0.2)
        code, text, err = cli(
            platform,
            "dicom",
            "send",
            study["study_uid"],
            "--to",
            f"DCMTK@127.0.0.1:{port}",
            "--no-progress",
            "--resend",
        )
        assert code == 0 and "sent 6 instances" in text, text + err
    finally:
        process.terminate()
        process.wait(10)
    received = {
        str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): data_set_bytes(p) for p in out.iterdir()
    }
    assert received == originals(study["folder"])
