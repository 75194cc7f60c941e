"""`hvgen dicom listen` as a query/retrieve SCP: dcmtk's findscu, getscu and
movescu (study and patient root), pynetdicom at every level, and Orthanc
querying us and moving a study to itself; files come back byte for byte."""

from __future__ import annotations

import subprocess
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
from .localserver import free_port, start_server
from .test_dicom_listen import Listening, data_set_bytes

pytest.importorskip("pynetdicom")


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("qr")
    server = start_server(base / "platform")
    peer = orthanc.start(base / "orthanc")
    folder = base / "study"
    made = make_study(folder / "ct", series=2, images=2, patient="QR^ANNE", patient_id="QR-1", study_date="20220202")
    other = make_study(
        folder / "other", series=1, images=1, patient="QR^BEN", patient_id="QR-2", study_date="20190101", seed=3
    )
    ds = pydicom.dcmread(pydicom_file("MR_small_RLE.dcm"))  # a compressed file: it must go back as stored
    ds.StudyInstanceUID, ds.PatientName, ds.PatientID = made["study_uid"], "QR^ANNE", "QR-1"
    ds.StudyDate = "20220202"  # one study, one date
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(folder / "rle.dcm", enforce_file_format=True)
    env = {"HVGEN_PROFILE": str(server.profile_path), "XDG_CACHE_HOME": str(base / "cache")}
    result = CliRunner().invoke(main, ["study", "upload", str(folder), "--no-progress"], env=env)
    assert result.exit_code == 0, result.output
    node = [
        "dicom",
        "node",
        "add",
        "ORTH",
        "--ae",
        peer.ae_title,
        "--host",
        "127.0.0.1",
        "--port",
        str(peer.dicom_port),
    ]
    result = CliRunner().invoke(main, [*node, "--data", str(server.data)], env=env)
    assert result.exit_code == 0, result.output
    sink_port = free_port()
    sink_dir = base / "sink"
    sink_dir.mkdir()
    sink = subprocess.Popen(
        [dcmtk.require("storescp"), "-aet", "SINK", "-od", str(sink_dir), "-uf", str(sink_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    listening = Listening(
        server,
        base,
        "--ae-title",
        "HVQR",
        "--move-to",
        f"SINK@127.0.0.1:{sink_port}",
        "--data",  # Orthanc is a destination as a node of the store
        str(server.data),
    )
    try:
        yield {
            "server": server,
            "peer": peer,
            "port": listening.port,
            "made": made,
            "other": other,
            "folder": folder,
            "sink": sink_dir,
            "rle": str(ds.SOPInstanceUID),
        }
    finally:
        listening.stop()
        sink.terminate()
        sink.wait(10)
        peer.stop()
        server.stop()


def data_sets(paths: Iterator[Path] | list[Path]) -> dict[str, bytes]:
    return {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): data_set_bytes(p) for p in paths}


def findscu(port: int, out: Path, *args: str) -> list[pydicom.Dataset]:
    out.mkdir()
    done = subprocess.run(
        [dcmtk.require("findscu"), "-aec", "HVQR", "-X", "-od", str(out), *args, "127.0.0.1", str(port)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


def test_findscu_study_root_and_patient_root(setup: dict[str, Any], tmp_path: Path) -> None:
    port, made = setup["port"], setup["made"]
    found = findscu(
        port,
        tmp_path / "a",
        "-S",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        "PatientName=QR^A*",
        "-k",
        "StudyDate=20220101-20221231",
        "-k",
        "StudyInstanceUID",
        "-k",
        "PatientID",
        "-k",
        "NumberOfStudyRelatedInstances",
    )
    assert [str(d.StudyInstanceUID) for d in found] == [made["study_uid"]]
    assert str(found[0].PatientID) == "QR-1" and int(found[0].NumberOfStudyRelatedInstances) == 5
    assert findscu(port, tmp_path / "b", "-S", "-k", "QueryRetrieveLevel=STUDY", "-k", "StudyDate=20230101-") == []
    series = findscu(
        port,
        tmp_path / "c",
        "-S",
        "-k",
        "QueryRetrieveLevel=SERIES",
        "-k",
        f"StudyInstanceUID={made['study_uid']}",
        "-k",
        "SeriesInstanceUID",
        "-k",
        "Modality",
    )
    assert set(made["series_uids"]) <= {str(d.SeriesInstanceUID) for d in series} and len(series) == 3
    patients = findscu(
        port, tmp_path / "d", "-P", "-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID", "-k", "PatientName=QR^*"
    )
    assert sorted(str(d.PatientID) for d in patients) == ["QR-1", "QR-2"]
    images = findscu(
        port,
        tmp_path / "e",
        "-S",
        "-k",
        "QueryRetrieveLevel=IMAGE",
        "-k",
        f"StudyInstanceUID={made['study_uid']}",
        "-k",
        f"SeriesInstanceUID={made['series_uids'][0]}",
        "-k",
        "SOPInstanceUID",
    )
    assert sorted(str(d.SOPInstanceUID) for d in images) == sorted(made["sops"][:2])


def test_getscu_gets_the_files_as_stored(setup: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "got"
    out.mkdir()
    done = subprocess.run(
        [
            dcmtk.require("getscu"),
            "-aec",
            "HVQR",
            "-S",
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            f"StudyInstanceUID={setup['made']['study_uid']}",
            "-od",
            str(out),
            "127.0.0.1",
            str(setup["port"]),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    got = data_sets(list(out.iterdir()))
    want = data_sets([p for p in setup["folder"].rglob("*.dcm") if "other" not in p.parts])
    rle = setup["rle"]
    assert {k: v for k, v in got.items() if k != rle} == {k: v for k, v in want.items() if k != rle}
    # getscu accepts no RLE: that instance comes decompressed, its pixels those pydicom decodes
    (sent,) = [p for p in out.iterdir() if str(pydicom.dcmread(p).SOPInstanceUID) == rle]
    back = pydicom.dcmread(sent)
    assert back.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert (back.pixel_array == pydicom.dcmread(setup["folder"] / "rle.dcm").pixel_array).all()


def test_movescu_to_a_known_destination_and_an_unknown_one(setup: dict[str, Any]) -> None:
    movescu = dcmtk.require("movescu")
    series = setup["made"]["series_uids"][1]
    args = [
        "-aec",
        "HVQR",
        "-S",
        "-k",
        "QueryRetrieveLevel=SERIES",
        "-k",
        f"StudyInstanceUID={setup['made']['study_uid']}",
    ]
    args += ["-k", f"SeriesInstanceUID={series}"]
    done = subprocess.run(
        [movescu, *args, "-aem", "SINK", "127.0.0.1", str(setup["port"])], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    moved = data_sets(list(setup["sink"].iterdir()))
    want = data_sets([p for p in setup["folder"].rglob("*.dcm") if p.parent.name == "s1" and "ct" in p.parts])
    assert moved == want
    unknown = subprocess.run(
        [movescu, *args, "-aem", "NOWHERE", "127.0.0.1", str(setup["port"])],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert unknown.returncode != 0 and "MoveDestinationUnknown" in unknown.stderr  # 0xA801


def test_orthanc_queries_us_and_moves_a_study_to_itself(setup: dict[str, Any]) -> None:
    peer: orthanc.Orthanc = setup["peer"]
    other = setup["other"]
    httpx.put(
        f"{peer.url}/modalities/HV", json={"AET": "HVQR", "Host": "127.0.0.1", "Port": setup["port"]}, timeout=30
    ).raise_for_status()
    query = peer.post(
        "/modalities/HV/query", {"Level": "Study", "Query": {"PatientID": "QR-2", "StudyInstanceUID": ""}}
    )
    answers = peer.get(f"/queries/{query['ID']}/answers?expand")
    assert [a["0020,000d"]["Value"] for a in answers] == [other["study_uid"]]
    peer.post(f"/queries/{query['ID']}/retrieve", {"TargetAet": peer.ae_title, "Synchronous": True})
    (sop,) = other["sops"]
    (path,) = [p for p in setup["folder"].rglob("*.dcm") if "other" in p.parts]
    assert peer.file_of(sop).endswith(data_set_bytes(path))


def test_pynetdicom_find_at_every_level_and_a_bad_identifier(setup: dict[str, Any]) -> None:
    from hvgen_imaging import peers

    node = peers.Node("HVQR", "127.0.0.1", setup["port"])
    studies = peers.find(node, "STUDY", {"PatientID": "QR-*"})
    assert {str(d.StudyInstanceUID) for d in studies} == {setup["made"]["study_uid"], setup["other"]["study_uid"]}
    assert peers.present(node, setup["made"]["study_uid"]) == {*setup["made"]["sops"], setup["rle"]}
    with pytest.raises(peers.PeerError, match="query level"):
        peers.find(node, "WARD", {})
