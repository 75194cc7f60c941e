"""De-identification on the way out: the basic profile on data sets, `study
download --anonymize`, `package create --anonymize`, and the zip writer."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner

from hvgen_cli import main

from .dicomgen import StudyUids, make_study
from .localserver import Backend, RunningServer, start_server

pytest.importorskip("dicomanonymizer")

from healthvault import filemodes  # noqa: E402
from hvgen_imaging.anonymize import Anonymizer, anonymize_tree  # noqa: E402
from hvgen_imaging.export import study_entries, write_zip  # noqa: E402
from hvgen_imaging.workflow import Studies  # noqa: E402

#: Attributes PS3.15 Table E.1-1 removes, empties or replaces, and values to plant in them.
IDENTIFYING = {
    "PatientName": "SECRET^PATIENT",
    "PatientID": "MRN-12345",
    "PatientBirthDate": "19700203",
    "PatientAddress": "1 Secret Road",
    "OtherPatientIDs": "OTHER-999",
    "AccessionNumber": "ACC-SECRET",
    "InstitutionName": "Secret Hospital",
    "ReferringPhysicianName": "DR^SECRET",
    "StudyID": "STUDY-SECRET",
    "StudyDate": "20240517",
    "OperatorsName": "OPERATOR^SECRET",
}


def plant(folder: Path) -> StudyUids:
    made = make_study(folder, series=2, images=2, size=16, seed=21)
    for path in folder.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        for keyword, value in IDENTIFYING.items():
            setattr(ds, keyword, value)
        ds.add_new(0x00091010, "LO", "private secret")
        ds.private_block(0x0011, "SECRET CREATOR", create=True).add_new(0x01, "LO", "more secrets")
        ds.save_as(path)
    return made


def everything(paths: list[Path]) -> bytes:
    return b"".join(p.read_bytes() for p in paths)


def check_deidentified(files: dict[str, bytes], made: StudyUids) -> list[pydicom.FileDataset]:
    """Every planted value and original UID is gone from ``files`` (name -> bytes); UIDs are consistent."""
    blob = b"".join(files.values()) + "".join(files).encode()
    for value in [*IDENTIFYING.values(), "private secret", "more secrets", "SECRET CREATOR"]:
        if value != IDENTIFYING["StudyDate"]:
            assert value.encode() not in blob, value
    for uid in [made["study_uid"], *made["series_uids"], *made["sops"]]:
        assert str(uid).encode() not in blob, uid
    sets = [pydicom.dcmread(io.BytesIO(data)) for name, data in files.items() if name.endswith(".dcm")]
    assert len({ds.StudyInstanceUID for ds in sets}) == 1
    assert len({ds.SeriesInstanceUID for ds in sets}) == 2
    assert len({ds.SOPInstanceUID for ds in sets}) == 4
    for ds in sets:
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert "OtherPatientIDs" not in ds and "PatientAddress" not in ds
        assert not any(element.tag.is_private for element in ds)
        assert ds.StudyDate != "20240517"
    return sets


def test_profile_on_a_study_keeps_uids_consistent(tmp_path: Path) -> None:
    made = plant(tmp_path / "in")
    originals = {pydicom.dcmread(p).SOPInstanceUID: pydicom.dcmread(p) for p in (tmp_path / "in").rglob("*.dcm")}
    anonymizer = Anonymizer()
    written = anonymize_tree(tmp_path / "in", tmp_path / "out", anonymizer)
    assert len(written) == 4
    sets = check_deidentified({str(t.relative_to(tmp_path)): t.read_bytes() for _, t in written}, made)
    for source, target in written:  # pixels untouched; names follow the new UIDs
        before = pydicom.dcmread(source)
        after = pydicom.dcmread(target)
        assert after.PixelData == before.PixelData
        assert target.stem == after.SOPInstanceUID and target.parent.name != before.SeriesInstanceUID
    assert any("burned-in annotation" in note for note in anonymizer.summary())
    # a second export of the same study gets other UIDs
    again = anonymize_tree(tmp_path / "in", tmp_path / "again")
    assert {pydicom.dcmread(t).StudyInstanceUID for _, t in again}.isdisjoint({ds.StudyInstanceUID for ds in sets})
    assert set(originals) == set(made["sops"])


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, backend: Backend):
    base = tmp_path_factory.mktemp("anonymize")
    server = start_server(base / "server", backend=backend)
    made = plant(base / "study")
    code, out = cli(server, "study", "upload", str(base / "study"), "--no-progress")
    assert code == 0, out
    yield server, base, made
    server.stop()


def cli(server: RunningServer, *args: str) -> tuple[int, str]:
    env = {"HVGEN_PROFILE": str(server.profile_path), "XDG_CACHE_HOME": str(server.data.parent / "cache")}
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout if "--json" in args and result.exit_code == 0 else result.output


def test_study_download_anonymize(platform) -> None:
    server, base, made = platform
    out = base / "download"
    code, text = cli(
        server, "study", "download", str(made["study_uid"]), str(out), "--anonymize", "--previews", "--json"
    )
    assert code == 0, text
    result = json.loads(text)
    assert result["anonymized"] is True and result["files"] == 8 and result["folder"] == str(out)
    dicom_files = sorted(out.rglob("*.dcm"))
    assert len(dicom_files) == 4 and len(list(out.rglob("*_preview.jpg"))) == 4
    assert not [p for p in out.rglob("*") if p.name.startswith(".hvgen")]  # the originals are gone
    check_deidentified({str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}, made)


def test_study_download_anonymize_flushes_every_file_and_folder_it_wrote(platform, monkeypatch) -> None:
    """What ``--anonymize`` wrote is on disk (bytes, names, series folders) before it exits 0."""
    server, base, made = platform
    out = base / "flushed"
    flushed: list[tuple[list[Path], Path]] = []
    flush_written = filemodes.flush_written

    def noted(files, root) -> None:
        listed = [Path(f) for f in files]
        flushed.append((listed, Path(root)))
        flush_written(listed, root)

    monkeypatch.setattr(filemodes, "flush_written", noted)
    code, text = cli(server, "study", "download", str(made["study_uid"]), str(out), "--anonymize", "--json")
    assert code == 0, text
    assert len(flushed) == 1 and flushed[0][1] == out
    assert sorted(flushed[0][0]) == sorted(p for p in out.rglob("*") if p.is_file()) and len(flushed[0][0]) == 4


def test_zip_writer_plain_and_anonymized(platform) -> None:
    server, base, made = platform
    originals = {pydicom.dcmread(p).SOPInstanceUID: p.read_bytes() for p in (base / "study").rglob("*.dcm")}
    with server.client() as client:
        studies = Studies(client)
        plain = io.BytesIO()
        result = write_zip(study_entries(studies, str(made["study_uid"])), plain)
        assert result.files == 4 and not result.anonymized
        with zipfile.ZipFile(plain) as archive:
            names = archive.namelist()
            assert all(n.startswith(f"{made['study_uid']}/") and n.endswith(".dcm") for n in names)
            assert {n.rsplit("/", 1)[1][:-4]: archive.read(n) for n in names} == originals

        class Unseekable(io.RawIOBase):  # an HTTP response body: written once, front to back
            def __init__(self) -> None:
                self.data = bytearray()

            def writable(self) -> bool:
                return True

            def write(self, b) -> int:
                self.data += bytes(b)
                return len(b)

        sink = Unseekable()
        result = write_zip(study_entries(studies, str(made["study_uid"]), previews=True), sink, anonymize=True)  # type: ignore[arg-type]
        assert result.files == 8 and result.anonymized and result.uids[str(made["study_uid"])]
    with zipfile.ZipFile(io.BytesIO(bytes(sink.data))) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    sets = check_deidentified({n: d for n, d in files.items() if n.endswith(".dcm")}, made)
    study = sets[0].StudyInstanceUID
    assert all(n.startswith(f"{study}/") for n in files)
    assert {n.rsplit("/", 1)[1].removesuffix("_preview.jpg") for n in files if n.endswith(".jpg")} == {
        ds.SOPInstanceUID for ds in sets
    }


def test_package_create_anonymize(platform, tmp_path: Path) -> None:
    server, base, made = platform
    code, text = cli(
        server,
        "package",
        "create",
        str(base / "study"),
        "--question",
        "Which?",
        "--answer",
        "secret answer",
        "--friendly-name",
        "shared",
        "--anonymize",
        "--json",
        "--no-progress",
    )
    assert code == 0, text
    created = json.loads(text)
    assert created["anonymized"] is True and created["studies"] != [made["study_uid"]] and created["images"] == 4
    code, text = cli(server, "package", "pickup", created["package_id"], "--answer", "secret answer", "--json")
    assert code == 0, text
    code, text = cli(server, "study", "show", created["studies"][0], "--json")
    assert code == 0, text
    shown = json.loads(text)
    assert shown["patient"] in (None, "") and shown["series"] == 2 and shown["images"] == 4
    out = tmp_path / "picked"
    code, text = cli(server, "study", "download", created["studies"][0], str(out))
    assert code == 0, text
    check_deidentified({str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*.dcm")}, made)
