"""`hvgen serve --dicom-port` as a query/retrieve SCP, as dcmtk sees it:
character sets of C-FIND answers (ISO_IR 100, 126, 192 and a patient whose
studies differ), optional matching keys, return keys the index holds,
C-MOVE and C-GET of compressed and big endian instances to peers that take
only uncompressed little endian, a destination that cannot be reached, and
a C-GET without its unique key (getscu must release cleanly)."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from hvgen_imaging import webpeer
from hvgen_server.store.rows import DIMSE, DicomNode

from . import dcmtk
from .dicomgen import pydicom_file
from .localserver import EMBEDDED, free_port
from .test_dicom_listen import data_set_bytes
from .test_dicomweb import cli, parts, token_of
from .test_serve_dicom import serve_with_dicom

pynetdicom = pytest.importorskip("pynetdicom")


def image(
    path: Path,
    study: str,
    *,
    patient: str,
    pid: str,
    charset: str | None = None,
    sex: str = "F",
    birth: str = "19700101",
    date: str = "20240517",
    seed: int = 0,
) -> str:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    if charset:
        ds.SpecificCharacterSet = charset
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, generate_uid()
    ds.PatientName, ds.PatientID, ds.PatientSex, ds.PatientBirthDate = patient, pid, sex, birth
    ds.StudyDate, ds.StudyTime, ds.Modality, ds.StudyID, ds.AccessionNumber = date, "101500", "CT", "1", pid
    ds.SeriesNumber, ds.InstanceNumber, ds.ProtocolName = 1, 1, f"PROTO-{pid}"
    ds.Rows = ds.Columns = 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelData = np.random.default_rng(seed).integers(0, 999, (8, 8)).astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return sop


def stored_as(name: str, path: Path, patient: str, pid: str) -> tuple[str, str]:
    """One of pydicom's test files as a study of its own: (Study, SOP Instance UID)."""
    ds = pydicom.dcmread(pydicom_file(name))
    ds.StudyInstanceUID, ds.PatientName, ds.PatientID = generate_uid(), patient, pid
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return str(ds.StudyInstanceUID), str(ds.SOPInstanceUID)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    for tool in ("findscu", "getscu", "movescu", "storescp"):
        dcmtk.require(tool)
    base = tmp_path_factory.mktemp("qrinterop")
    server, port = serve_with_dicom(base / "platform", EMBEDDED)
    up = base / "up"
    studies: dict[str, str] = {name: generate_uid() for name in ("latin", "greek", "mix1", "mix2", "doe", "smith")}
    image(up / "latin.dcm", studies["latin"], patient="MÜLLER^JÜRGEN", pid="P-MUL", charset="ISO_IR 100")
    image(up / "greek.dcm", studies["greek"], patient="ΔΙΟΝΥΣΙΟΣ", pid="P-GRK", charset="ISO_IR 126")
    image(up / "mix1.dcm", studies["mix1"], patient="GÖRAN^ÅSA", pid="P-MIX", charset="ISO_IR 100", seed=1)
    image(up / "mix2.dcm", studies["mix2"], patient="GÖRAN^ÅSA", pid="P-MIX", charset="ISO_IR 192", seed=2)
    image(up / "doe.dcm", studies["doe"], patient="DOE^JANE", pid="P-DOE", sex="F", birth="19700101")
    image(up / "smith.dcm", studies["smith"], patient="SMITH^JOHN", pid="P-SMITH", sex="M", birth="19800202")
    studies["rle"], rle_sop = stored_as("MR_small_RLE.dcm", up / "rle.dcm", "RLE^ONE", "P-RLE")
    studies["be"], be_sop = stored_as("MR_small_bigendian.dcm", up / "be.dcm", "BIG^ENDIAN", "P-BE")
    code, out = cli(server, "study", "upload", str(up), "--no-progress", cache=base / "cache")
    assert code == 0, out
    stowed = base / "stow.dcm"  # stored over STOW-RS: its metadata is kept with the index
    studies["stow"] = generate_uid()
    image(stowed, studies["stow"], patient="STOW^ED", pid="P-STOW", sex="O")
    token = token_of(server)
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        + stowed.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    stored = httpx.post(
        f"{server.url}/dicomweb/studies",
        content=body,
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        },
        timeout=120,
    )
    assert stored.status_code == 200, stored.text
    sink_dir, sink_port, down_port = base / "sink", free_port(), free_port()
    sink_dir.mkdir()
    sink = subprocess.Popen(  # dcmtk's storescp takes uncompressed syntaxes only
        [dcmtk.require("storescp"), "-aet", "SINK", "-od", str(sink_dir), str(sink_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    store = server.open_store()
    try:
        with store.write() as tx:
            tx.dicom_nodes.put(DicomNode("SINK", DIMSE, ae_title="SINK", host="127.0.0.1", port=sink_port))
            tx.dicom_nodes.put(DicomNode("DOWN", DIMSE, ae_title="DOWN", host="127.0.0.1", port=down_port))
    finally:
        store.close()
    try:
        yield {
            "server": server,
            "port": port,
            "studies": studies,
            "sink": sink_dir,
            "base": base,
            "token": token,
            "rle": (rle_sop, pydicom_file("MR_small_RLE.dcm")),
            "rle_file": up / "rle.dcm",
            "be": (be_sop, pydicom_file("MR_small_bigendian.dcm")),
        }
    finally:
        sink.terminate()
        sink.wait(10)
        server.stop()


def run(tool: str, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [dcmtk.require(tool), "-aec", "HVTEST", *args, "127.0.0.1", str(port)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def findscu(setup: dict[str, Any], out: Path, *args: str) -> list[pydicom.Dataset]:
    out.mkdir()
    keys = [part for arg in args[1:] for part in ("-k", arg)]
    done = run("findscu", setup["port"], args[0], "-X", "-od", str(out), *keys)
    assert done.returncode == 0, done.stderr
    return [pydicom.dcmread(p) for p in sorted(out.glob("rsp*.dcm"))]


def test_patient_answers_name_the_character_set_of_their_values(setup: dict[str, Any], tmp_path: Path) -> None:
    counts = ["NumberOfPatientRelatedStudies", "NumberOfPatientRelatedSeries", "NumberOfPatientRelatedInstances"]
    for pid, name, charset in (
        ("P-GRK", "ΔΙΟΝΥΣΙΟΣ", "ISO_IR 126"),
        ("P-MUL", "MÜLLER^JÜRGEN", "ISO_IR 100"),
        ("P-MIX", "GÖRAN^ÅSA", "ISO_IR 192"),  # its studies were stored in different character sets
    ):
        (found,) = findscu(
            setup, tmp_path / pid, "-P", "QueryRetrieveLevel=PATIENT", f"PatientID={pid}", "PatientName", *counts
        )
        assert found.SpecificCharacterSet == charset and str(found.PatientName) == name
        studies = 2 if pid == "P-MIX" else 1
        assert [int(found.get(c)) for c in counts] == [studies, studies, studies]
    (ascii_only,) = findscu(setup, tmp_path / "doe", "-P", "QueryRetrieveLevel=PATIENT", "PatientID=P-DOE")
    assert "SpecificCharacterSet" not in ascii_only


def c_find(setup: dict[str, Any], identifier: Dataset) -> list[tuple[int, Dataset | None]]:
    ae = pynetdicom.AE(ae_title="TESTSCU")
    ae.add_requested_context(pynetdicom.sop_class.StudyRootQueryRetrieveInformationModelFind)
    assoc = ae.associate("127.0.0.1", setup["port"], ae_title="HVTEST")
    assert assoc.is_established
    try:
        model = pynetdicom.sop_class.StudyRootQueryRetrieveInformationModelFind
        return [(int(s.Status), i) for s, i in assoc.send_c_find(identifier, model)]
    finally:
        assoc.release()


def test_optional_keys_are_matched_or_answered_ff01(setup: dict[str, Any], tmp_path: Path) -> None:
    males = findscu(setup, tmp_path / "m", "-S", "QueryRetrieveLevel=STUDY", "PatientSex=M", "StudyInstanceUID")
    assert [str(d.StudyInstanceUID) for d in males] == [setup["studies"]["smith"]]
    born = findscu(
        setup, tmp_path / "b", "-S", "QueryRetrieveLevel=STUDY", "PatientBirthDate=19750101-", "PatientID=P-*"
    )
    assert {str(d.PatientID) for d in born} == {"P-SMITH"}
    patients = findscu(setup, tmp_path / "p", "-P", "QueryRetrieveLevel=PATIENT", "PatientSex=F", "PatientID=P-DOE")
    assert [str(d.PatientID) for d in patients] == ["P-DOE"]
    assert findscu(setup, tmp_path / "n", "-P", "QueryRetrieveLevel=PATIENT", "PatientSex=M", "PatientID=P-DOE") == []

    query = Dataset()
    query.QueryRetrieveLevel, query.PatientID, query.PatientSex, query.StudyInstanceUID = "STUDY", "P-SMITH", "M", ""
    answers = c_find(setup, query)
    assert [s for s, _ in answers] == [0xFF00, 0x0000]  # every key was matched
    code = Dataset()
    code.CodeValue = "CTHEAD"
    query.ProcedureCodeSequence = Sequence([code])  # sequence matching is not done: said with 0xFF01
    answers = c_find(setup, query)
    assert [s for s, _ in answers] == [0xFF01, 0x0000]


def test_return_keys_the_index_holds(setup: dict[str, Any], tmp_path: Path) -> None:
    studies = setup["studies"]
    (study,) = findscu(
        setup,
        tmp_path / "s",
        "-S",
        "QueryRetrieveLevel=STUDY",
        f"StudyInstanceUID={studies['doe']}",
        "SOPClassesInStudy",
    )
    assert str(study.SOPClassesInStudy) == CTImageStorage
    (one,) = findscu(
        setup,
        tmp_path / "i",
        "-S",
        "QueryRetrieveLevel=IMAGE",
        f"StudyInstanceUID={studies['doe']}",
        "SOPInstanceUID",
        "PhotometricInterpretation",
        "ImageComments",  # not kept by the index: returned empty
    )
    assert one.PhotometricInterpretation == "MONOCHROME2" and one.ImageComments in (None, "")

    base, auth = f"{setup['server'].url}/dicomweb", {"Authorization": f"Bearer {setup['token']}"}
    found = httpx.get(
        f"{base}/studies/{studies['stow']}/instances",
        params=[("includefield", "PhotometricInterpretation,ProtocolName"), ("includefield", "00204000")],
        headers=auth,
        timeout=60,
    )
    assert found.status_code == 200, found.text
    (instance,) = found.json()
    assert instance["00280004"]["Value"] == ["MONOCHROME2"] and instance["00181030"]["Value"] == ["PROTO-P-STOW"]
    assert instance["00204000"] == {"vr": "LT"} and "Warning" not in found.headers  # no comments: empty
    at_study = httpx.get(
        f"{base}/studies", params={"StudyInstanceUID": studies["doe"], "includefield": "Rows"}, headers=auth
    )
    assert at_study.status_code == 200 and "Rows" in at_study.headers["Warning"]
    assert "00280010" not in at_study.json()[0]
    bad = httpx.get(f"{base}/studies", params={"includefield": "NoSuchKeyword"}, headers=auth)
    assert bad.status_code == 400
    classes = httpx.get(
        f"{base}/studies",
        params={"StudyInstanceUID": studies["doe"], "includefield": "SOPClassesInStudy"},
        headers=auth,
    )
    assert classes.status_code == 200 and "Warning" not in classes.headers, classes.headers
    assert classes.json()[0]["00080062"] == {"vr": "UI", "Value": [CTImageStorage]}
    # a dictionary tag without a keyword: answered (empty) or named as ignored, never a 500
    nameless = httpx.get(
        f"{base}/studies", params={"StudyInstanceUID": studies["doe"], "includefield": "00280020"}, headers=auth
    )
    assert nameless.status_code == 200, nameless.text
    private = httpx.get(
        f"{base}/studies", params={"StudyInstanceUID": studies["doe"], "includefield": "00091010"}, headers=auth
    )
    assert private.status_code == 200 and "00091010" in private.headers["Warning"], private.headers


def pixels(path: Path) -> np.ndarray:
    return np.asarray(pydicom.dcmread(path).pixel_array)


def test_move_and_get_to_peers_that_take_uncompressed_only(setup: dict[str, Any], tmp_path: Path) -> None:
    studies, sink = setup["studies"], setup["sink"]
    for name in ("rle", "be"):
        study = ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={studies[name]}"]
        moved = run("movescu", setup["port"], "-S", *study, "-aem", "SINK")
        assert moved.returncode == 0 and "Failed" not in moved.stderr, moved.stderr
        sop, original = setup[name]
        (arrived,) = [p for p in sink.iterdir() if pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID == sop]
        assert np.array_equal(pixels(arrived), pixels(original))
        got = tmp_path / name
        got.mkdir()
        done = run("getscu", setup["port"], "-S", *study, "-od", str(got))
        assert done.returncode == 0 and "Failed" not in done.stderr, done.stderr
        (received,) = list(got.iterdir())
        assert pydicom.dcmread(received).file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert np.array_equal(pixels(received), pixels(original))
    study = ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={studies['doe']}"]
    nowhere = run("movescu", setup["port"], "-S", "-d", *study, "-aem", "DOWN")
    said = nowhere.stdout + nowhere.stderr
    assert "MoveDestinationUnknown" not in said and "OutOfResourcesSubOperations" in said
    assert "could not reach DOWN at 127.0.0.1" in said
    assert "Traceback" not in setup["server"].log()


def test_a_get_without_its_unique_key_fails_cleanly(setup: dict[str, Any], tmp_path: Path) -> None:
    done = run("getscu", setup["port"], "-S", "-d", "-k", "QueryRetrieveLevel=STUDY", "-od", str(tmp_path))
    said = done.stdout + done.stderr
    assert "DUL P-Data PDU arrived" not in said and "Abort" not in said, said
    assert "Releasing Association" in said and "needs StudyInstanceUID" in said
    assert "0xa900" in said.lower()
    moved = run("movescu", setup["port"], "-S", "-d", "-k", "QueryRetrieveLevel=STUDY", "-aem", "SINK")
    said = moved.stdout + moved.stderr
    assert "DUL P-Data PDU arrived" not in said and "Abort" not in said, said
    assert "Releasing Association" in said and "needs StudyInstanceUID" in said and "0xa900" in said.lower()
    assert "Traceback" not in setup["server"].log()


def test_wado_rs_defaults_to_explicit_little_endian_and_star_is_as_stored(
    setup: dict[str, Any], tmp_path: Path
) -> None:
    url = f"{setup['server'].url}/dicomweb/studies/{setup['studies']['rle']}"
    auth = {"Authorization": f"Bearer {setup['token']}"}
    stored = setup["rle_file"]
    dicom = 'multipart/related; type="application/dicom"'
    (plain,) = parts(httpx.get(url, headers={**auth, "Accept": dicom}, timeout=60))
    ds = pydicom.dcmread(io.BytesIO(plain))
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert np.array_equal(ds.pixel_array, pixels(stored))
    (as_stored,) = parts(httpx.get(url, headers={**auth, "Accept": dicom + "; transfer-syntax=*"}, timeout=60))
    assert as_stored == stored.read_bytes()
    # hvgen's own retrieval over DICOMweb keeps the stored bytes
    node = webpeer.WebNode(f"{setup['server'].url}/dicomweb", setup["token"])
    transfer = webpeer.get_matching(node, {"StudyInstanceUID": setup["studies"]["rle"]}, tmp_path)
    (got,) = [Path(o.path) for o in transfer.outcomes if o.state == "received"]
    assert data_set_bytes(got) == data_set_bytes(stored)


def test_the_listener_knows_which_keys_the_index_matches() -> None:
    from hvgen_imaging.qrfind import INDEX_KEYS
    from hvgen_server.dicomweb.qido import KEYS

    assert INDEX_KEYS == set(KEYS)
