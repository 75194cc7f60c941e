"""Imaging workflows on real and generated DICOM files, against the local platform."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner
from PIL import Image

from healthvault import blobs as hvblobs
from healthvault import codec, crypto, safexml, validation
from healthvault.bindings.things import medical_image_study as v1
from healthvault.bindings.things import medical_image_study_2 as v2
from healthvault.client import HealthVaultTransportError
from hvgen_cli import main
from hvgen_imaging import dicom, study, workflow

from .dicomgen import StudyUids, make_study
from .localserver import RunningServer

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def decodable(path: Path) -> bool:
    """pydicom decodes it, or it is 12-bit JPEG Extended that libjpeg-turbo (imagecodecs) decodes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path, force=True)
            _ = ds.pixel_array
        except Exception:
            try:
                import imagecodecs
                from pydicom.encaps import get_frame

                assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.51"
                imagecodecs.jpeg8_decode(get_frame(ds.PixelData, 0, number_of_frames=1))
            except Exception:
                return False
    return True


# -- every DICOM file pydicom ships ------------------------------------------------------------


@pytest.fixture(scope="module")
def pydicom_scan() -> dicom.ScanResult:
    return dicom.scan(PYDICOM_FILES)


def test_bundled_files_scan_and_build_without_crashing(pydicom_scan: dicom.ScanResult) -> None:
    files = [p for p in PYDICOM_FILES.rglob("*") if p.is_file()]
    seen = {im.path for s in pydicom_scan.studies for im in s.images} | {p for p, _ in pydicom_scan.skipped}
    assert seen == set(files), "every file is either read or skipped with a note"
    dicomdir = "a DICOMDIR: the index of a medium's files, not an image"
    assert {why for _, why in pydicom_scan.skipped} <= {
        "not a DICOM file",
        "no SOP Instance UID (0008,0018)",
        dicomdir,
    } | {why for _, why in pydicom_scan.skipped if why.startswith(("same SOP Instance UID", "truncated: "))}
    assert {p.name for p, why in pydicom_scan.skipped if why == dicomdir} >= {"DICOMDIR"}
    assert any(p.name == "README.txt" for p, _ in pydicom_scan.skipped)
    truncated = {p.name for p, why in pydicom_scan.skipped if why.startswith("truncated: ")}
    assert {"MR_truncated.dcm", "rtplan_truncated.dcm"} <= truncated
    previewed = 0
    for scanned in pydicom_scan.studies:
        built = study.build(scanned)
        root = safexml.parse(codec.write_data(built.data))
        validation.validate_data(root, built.data.TYPE_ID)  # schema-valid despite odd files
        for image in scanned.images:
            name = image.sop_instance_uid + study.PREVIEW_SUFFIX
            if decodable(image.path):
                assert name in built.previews, f"{image.path.name} decodes but got no preview"
                previewed += 1
            else:
                assert name not in built.previews
                assert any(image.path.name in w for w in built.warnings)
    assert previewed >= 40


def test_previews_are_windowed_jpegs_of_at_least_500_pixels(tmp_path: Path) -> None:
    preview = study.make_preview(PYDICOM_FILES / "CT_small.dcm", "x_preview")
    image = Image.open(io.BytesIO(preview.data))
    assert image.format == "JPEG" and min(image.size) >= 500
    histogram = image.convert("L").histogram()
    assert sum(histogram[:10]) > 0 and sum(histogram[245:]) > 0, "the values span black to white"
    multi = study.make_preview(PYDICOM_FILES / "examples_ybr_color.dcm", "m_preview")  # 30 YBR frames
    multi_image = Image.open(io.BytesIO(multi.data))
    assert multi_image.mode == "RGB" and min(multi_image.size) >= 500


def test_window_settings_are_applied(tmp_path: Path) -> None:
    """The same pixels with a narrow window give a higher-contrast preview."""
    folder = tmp_path / "w"
    make_study(folder, series=1, images=1, size=64)
    path = next(folder.rglob("*.dcm"))
    wide = Image.open(io.BytesIO(study.make_preview(path, "a").data)).convert("L")
    ds = pydicom.dcmread(path)
    ds.WindowCenter, ds.WindowWidth = 40, 20  # pixels span about -24..+75 HU
    ds.save_as(path)
    narrow = Image.open(io.BytesIO(study.make_preview(path, "b").data)).convert("L")
    saturated = lambda im: sum(im.histogram()[:5]) + sum(im.histogram()[250:])  # noqa: E731
    assert saturated(narrow) > saturated(wide)


# -- a generated multi-series study -----------------------------------------------------------------


@pytest.fixture
def generated(tmp_path: Path) -> tuple[Path, StudyUids]:
    folder = tmp_path / "study"
    uids = make_study(folder, series=3, images=4, size=64)
    (folder / "notes.txt").write_text("not DICOM")
    return folder, uids


def test_tags_map_to_the_study(generated: tuple[Path, dict[str, object]]) -> None:
    folder, uids = generated
    scanned = dicom.scan(folder)
    assert [p.name for p, _ in scanned.skipped] == ["notes.txt"]
    assert len(scanned.studies) == 1
    built = study.build(scanned.studies[0])
    data = built.data
    assert isinstance(data, v2.MedicalImageStudy)
    assert (data.when.date.y, data.when.date.m, data.when.date.d) == (2024, 5, 17)
    assert (data.when.time.h, data.when.time.m, data.when.time.s, data.when.time.f) == (10, 15, 30, 250)
    assert data.patient_name == "DOE JANE"
    assert data.description == "CT HEAD"
    assert data.reason.text == "headache"
    assert data.study_instance_uid == uids["study_uid"]
    assert data.referring_physician.name.full == "SMITH JOHN" and data.referring_physician.name.last == "SMITH"
    assert data.accession_number == "ACC00000"
    assert [s.series_instance_uid for s in data.series] == uids["series_uids"]
    first = data.series[0]
    assert first.description == "Axial 1" and first.modality.text == "CT" and first.body_part.text == "HEAD"
    assert first.modality.code[0].type_value == "modality"
    assert first.institution_name.name == "General Hospital"
    assert (first.acquisition_datetime.time.h, first.acquisition_datetime.time.m) == (10, 16)
    sops = [i.image_blob_name for s in data.series for i in s.images]
    assert sops == uids["sops"]
    assert all(i.image_preview_blob_name == i.image_blob_name + "_preview" for s in data.series for i in s.images)
    assert all(s.preview_blob_name in built.previews for s in data.series)
    assert data.preview_blob_name == data.series[0].preview_blob_name
    assert set(built.images) == set(sops)
    assert all(min(p.width, p.height) >= 500 for p in built.previews.values())


def test_version_1(generated: tuple[Path, dict[str, object]]) -> None:
    folder, _ = generated
    built = study.build(dicom.scan(folder).studies[0], version=1)
    assert isinstance(built.data, v1.MedicalImageStudy)
    assert built.data.series[0].referring_physician.name.full == "SMITH JOHN"
    validation.validate_data(safexml.parse(codec.write_data(built.data)), built.data.TYPE_ID)


def test_missing_and_malformed_tags_warn_and_omit(tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    make_study(folder, series=1, images=1)
    path = next(folder.rglob("*.dcm"))
    ds = pydicom.dcmread(path)
    ds.StudyTime = "25XX"
    ds.AcquisitionDate = "2024-13-45"
    del ds.Modality
    del ds.StudyDescription
    ds.PatientName = ""
    ds.save_as(path)
    built = study.build(dicom.scan(folder).studies[0])
    text = "\n".join(built.warnings)
    assert "malformed time '25XX'" in text and "malformed date '2024-13-45'" in text
    assert built.data.when.time is None and built.data.when.date.y == 2024
    assert built.data.series[0].modality is None and built.data.description is None and built.data.patient_name is None
    validation.validate_data(safexml.parse(codec.write_data(built.data)), built.data.TYPE_ID)


# -- the full loop against the local platform --------------------------------------------------------------


def cli(server: RunningServer, *args: str, cache: Path | None = None) -> tuple[int, str]:
    env = {"HVGEN_PROFILE": str(server.profile_path)}
    if cache is not None:
        env["XDG_CACHE_HOME"] = str(cache)
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output


def test_upload_list_download_verify(new_server, generated, tmp_path: Path) -> None:
    server = new_server()
    folder, uids = generated
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    k, c = crypto.make_key_and_certificate("Radiologist")
    key.write_bytes(crypto.key_pem(k))
    cert.write_bytes(crypto.cert_pem(c))
    code, out = cli(
        server,
        "study",
        "upload",
        str(folder),
        "--sign",
        "--key",
        str(key),
        "--cert",
        str(cert),
        "--json",
        cache=tmp_path,
    )
    assert code == 0, out
    result = json.loads(out)["studies"][0]
    assert result["created"] and result["signed"] and result["images"] == 12 and result["uploaded_blobs"] == 24
    code, out = cli(server, "study", "list", "--json")
    listing = json.loads(out)
    assert [s["study_uid"] for s in listing] == [uids["study_uid"]] and listing[0]["signed"]
    code, out = cli(server, "study", "show", str(uids["study_uid"]), "--json")
    shown = json.loads(out)
    assert [s["series_uid"] for s in shown["series_list"]] == uids["series_uids"]
    assert all(i["bytes"] > 0 for s in shown["series_list"] for i in s["images"])
    out_dir = tmp_path / "copy"
    code, out = cli(server, "study", "download", str(uids["study_uid"]), str(out_dir), "--json", "--no-progress")
    assert code == 0, out
    downloaded = json.loads(out)
    assert downloaded["files"] == 12 and downloaded["signature"] == "valid"
    originals = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: p for p in folder.rglob("*.dcm")}
    for sop, original in originals.items():
        copies = list(out_dir.rglob(f"{sop}.dcm"))
        assert len(copies) == 1 and copies[0].read_bytes() == original.read_bytes()
    # again: nothing to do, no second study
    code, out = cli(server, "study", "upload", str(folder), "--json", cache=tmp_path)
    again = json.loads(out)["studies"][0]
    assert not again["created"] and again["uploaded_blobs"] == 0
    code, out = cli(server, "study", "list", "--json")
    assert len(json.loads(out)) == 1


def test_interrupted_upload_resumes_without_duplicates(new_server, tmp_path: Path) -> None:
    server = new_server("--chunk-size", str(2 * 1024 * 1024))
    folder = tmp_path / "big"
    make_study(folder, series=2, images=3, size=512)  # ~512 KiB per file
    built = study.build(dicom.scan(folder).studies[0])
    journal = tmp_path / "journal"
    with server.client(retries=0) as client:
        sent: list[int] = []

        def kill_after_some(done: int, total: int | None) -> None:
            sent.append(done)
            if done > 2_000_000 and server.process.poll() is None:
                server.kill()

        studies = workflow.Studies(client, progress=kill_after_some, journal_dir=journal)
        with pytest.raises((hvblobs.BlobUploadInterrupted, HealthVaultTransportError)):
            studies.upload(built)
    assert list(journal.glob("*.jsonl")), "the journal remembers finished blobs"
    server.start()
    with server.client() as client:
        studies = workflow.Studies(client, journal_dir=journal)
        assert studies.find(str(built.data.study_instance_uid)) is None, "nothing half-visible"
        result = studies.upload(study.build(dicom.scan(folder).studies[0]))
        assert result.created and result.resumed_blobs >= 3
        assert result.uploaded_blobs + result.resumed_blobs == 12
        assert not list(journal.glob("*.jsonl"))
        (listed,) = studies.summaries()
        assert (listed.study_uid, listed.thing_id, listed.series, listed.images) == (
            built.data.study_instance_uid,
            result.thing_id,
            2,
            6,
        )
        assert listed.bytes == sum(image.path.stat().st_size for image in built.dicom.images)
        shown = workflow.details(studies.require(str(built.data.study_instance_uid)))
        assert [len(s.images) for s in shown.series_list] == [3, 3]
        assert sum(s.bytes for s in shown.series_list) == listed.bytes
        assert set(shown.as_dict()["series_list"][0]["images"][0]) == {"name", "bytes", "preview", "missing"}
        out = tmp_path / "back"
        got = studies.download(str(built.data.study_instance_uid), out)
        assert (got.files, got.bytes, got.signature, got.signature_valid) == (6, listed.bytes, None, True)
        assert "signature" not in got.as_dict() and got.as_dict()["folder"] == str(out)
        for image in built.dicom.images:
            assert next(out.rglob(f"{image.sop_instance_uid}.dcm")).read_bytes() == image.path.read_bytes()


def test_add_and_remove_series_and_delete(new_server, generated, tmp_path: Path) -> None:
    server = new_server()
    folder, uids = generated
    assert cli(server, "study", "upload", str(folder), "--no-progress", cache=tmp_path)[0] == 0
    more = tmp_path / "more"
    extra = make_study(more, series=1, images=2, study_uid=str(uids["study_uid"]), seed=3)
    code, out = cli(
        server, "study", "add-series", str(uids["study_uid"]), str(more), "--json", "--no-progress", cache=tmp_path
    )
    assert code == 0, out
    assert json.loads(out)["series"] == 4 and json.loads(out)["images"] == 14
    removed = uids["series_uids"][0]
    code, out = cli(server, "study", "remove-series", str(uids["study_uid"]), removed, "--json")
    assert code == 0, out
    with server.client() as client:
        thing = workflow.Studies(client).require(str(uids["study_uid"]))
        data = workflow.study_of(thing)
        assert removed not in [s.series_instance_uid for s in data.series]
        names = {b.blob_info.name for b in thing.blob_payload.blob}
        assert not set(uids["sops"][:4]) & names
        assert set(extra["sops"]) <= names
    code, out = cli(server, "study", "remove-series", str(uids["study_uid"]), "1.2.3.nope")
    assert code == 1 and "has no series" in out
    code, out = cli(server, "study", "delete", str(uids["study_uid"]))
    assert code == 0
    assert json.loads(cli(server, "study", "list", "--json")[1]) == []
    code, out = cli(server, "study", "show", str(uids["study_uid"]))
    assert code == 1 and "no study" in out


def test_package_round_trip_with_wrong_answers(new_server, tmp_path: Path) -> None:
    server = new_server()
    folder = tmp_path / "pkg"
    uids = make_study(folder, series=1, images=2, size=32)
    code, out = cli(
        server,
        "package",
        "create",
        str(folder),
        "--question",
        "Clinic?",
        "--answer",
        "Saint Mary",
        "--name",
        "CT",
        "--json",
        "--no-progress",
    )
    assert code == 0, out
    package_id = json.loads(out)["package_id"]
    code, out = cli(server, "package", "pickup", package_id, "--answer", "saint marx")
    assert code == 1 and "wrong answer" in out
    assert json.loads(cli(server, "study", "list", "--json")[1]) == []
    code, out = cli(server, "package", "pickup", package_id, "--answer", "SAINT MARY", "--json", "--no-progress")
    assert code == 0, out
    assert len(json.loads(out)["things"]) == 1
    copy_dir = tmp_path / "copy"
    assert cli(server, "study", "download", str(uids["study_uid"]), str(copy_dir), "--no-progress")[0] == 0
    for original in folder.rglob("*.dcm"):
        sop = pydicom.dcmread(original, stop_before_pixels=True).SOPInstanceUID
        assert next(copy_dir.rglob(f"{sop}.dcm")).read_bytes() == original.read_bytes()
    # The person who picked it up may ask again (a retry after a timeout): the same things.
    code, again = cli(server, "package", "pickup", package_id, "--answer", "saint mary", "--json")
    assert code == 0, again
    assert json.loads(again)["things"] == json.loads(out)["things"]
    assert len(json.loads(cli(server, "study", "list", "--json")[1])) == 1  # nothing added twice
    code, other = cli(server, "package", "pickup", package_id, "--answer", "somebody else")
    assert code == 1 and "already picked up" in other


def test_package_locks_after_three_wrong_answers(new_server, tmp_path: Path) -> None:
    server = new_server()
    folder = tmp_path / "pkg"
    make_study(folder, series=1, images=1, size=16)
    code, out = cli(
        server,
        "package",
        "create",
        str(folder),
        "--question",
        "Q?",
        "--answer",
        "correct horse",
        "--name",
        "x",
        "--json",
        "--no-progress",
    )
    package_id = json.loads(out)["package_id"]
    for _ in range(3):
        assert cli(server, "package", "pickup", package_id, "--answer", "battery staple")[0] == 1
    code, out = cli(server, "package", "pickup", package_id, "--answer", "correct horse")
    assert code == 1 and "locked" in out
    assert json.loads(cli(server, "study", "list", "--json")[1]) == []
    short = cli(server, "package", "create", str(folder), "--question", "Q?", "--answer", "abc", "--name", "x")
    assert short[0] == 1 and "at least 6" in short[1]
