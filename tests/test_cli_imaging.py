"""The study commands run as a user runs them: a separate process, default
flags, in a pseudo-terminal (progress bars on) and with output piped (bars
off), on real folders holding DICOM files and files that are not."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pydicom
import pytest
from click.testing import CliRunner

from healthvault import codec, crypto
from hvgen_cli import main
from hvgen_imaging import dicom, study

from .dicomgen import make_study, pydicom_file
from .localserver import RunningServer, start_server
from .terminal import assert_clean, hvgen_env, in_terminal, invoke, piped


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory):
    running = start_server(tmp_path_factory.mktemp("cli-platform"))
    yield running
    running.stop()


@pytest.fixture
def env(platform: RunningServer, tmp_path: Path) -> dict[str, str]:
    return hvgen_env(tmp_path / "home", platform.profile_path)


def sop_of(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def signer_files(folder: Path) -> list[str]:
    key, cert = crypto.make_key_and_certificate("Radiologist")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "key.pem").write_bytes(crypto.key_pem(key))
    (folder / "cert.pem").write_bytes(crypto.cert_pem(cert))
    return ["--sign", "--key", str(folder / "key.pem"), "--cert", str(folder / "cert.pem")]


def listed(env: dict[str, str], uid: str) -> list[dict[str, Any]]:
    run = invoke(["study", "list", "--json"], env)
    assert run.code == 0, run.stderr
    return [s for s in json.loads(run.output) if s["study_uid"] == uid]


def test_upload_download_add_series_in_a_terminal(env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "CT"
    uids = make_study(folder, series=2, images=3, size=256, seed=11)
    originals = sorted(folder.rglob("*.dcm"))
    cut = folder / "cut.dcm"
    whole = originals[0].read_bytes()
    at = whole.index(b"\x20\x00\x0d\x00UI")  # Study Instance UID (0020,000D), explicit VR: its length follows
    needs = at + 8 + int.from_bytes(whole[at + 6 : at + 8], "little")
    cut.write_bytes(whole[: needs - 20])  # cut inside its value (UIDs differ in length from run to run)
    (folder / "notes.txt").write_text("not an image\n")
    os.mkfifo(folder / "pipe")
    (folder / "gone.dcm").symlink_to(folder / "nowhere.dcm")
    shutil.copy(pydicom_file("SC_rgb_jpeg.dcm"), folder / "odd.dcm")  # pydicom warns reading it

    run = in_terminal(["study", "upload", str(folder)], env)
    assert run.code == 0, run.output
    assert_clean(run)
    uid = str(uids["study_uid"])
    assert run.has_bar("uploading") and run.has_bar("scanning")
    assert f"study {uid}: 6 images, 773.8 KiB" in run.lines, "the whole UID, on its own line"
    assert f"skipped {cut}: truncated: element (0020,000D) needs {needs} bytes, the file has {needs - 20}" in run.lines
    assert f"skipped {folder / 'notes.txt'}: not a DICOM file" in run.lines
    assert f"skipped {folder / 'pipe'}: not a regular file (a device, pipe or socket)" in run.lines
    assert f"skipped {folder / 'gone.dcm'}: cannot read it: it is gone (a broken link?)" in run.lines
    assert (
        len([line for line in run.lines if line.startswith(f"note: {folder / 'odd.dcm'}: Expected explicit VR")]) == 1
    )
    (created,) = [line for line in run.lines if line.startswith(f"{uid}: created thing ")]
    assert created.endswith("(patient DOE JANE, 2 series, 6 images; 12 blobs sent)")

    out = tmp_path / "copy"
    run = in_terminal(["study", "download", uid, str(out)], env, columns=0)  # a terminal without a size
    assert run.code == 0, run.output
    assert_clean(run)
    assert run.has_bar("downloading")
    assert run.lines[-1] == f"6 files, 773.8 KiB in {out} (hashes checked)"
    for original in originals:
        assert (
            out / str(uids["series_uids"][originals.index(original) // 3]) / f"{sop_of(original)}.dcm"
        ).read_bytes() == original.read_bytes()

    more = tmp_path / "more"
    make_study(more, series=1, images=2, size=64, study_uid=uid, seed=12)
    run = in_terminal(["study", "add-series", uid, str(more)], env)
    assert run.code == 0, run.output
    assert_clean(run)
    assert run.has_bar("uploading")
    assert run.lines[-1].startswith(f"{uid}: now 3 series, 8 images (thing ")

    thing_id = listed(env, uid)[0]["thing_id"]
    blob = tmp_path / "one.dcm"
    run = in_terminal(["blob", "get", str(thing_id), str(blob), "--blob", sop_of(originals[1])], env)
    assert run.code == 0, run.output
    assert run.has_bar("downloading one.dcm")
    assert blob.read_bytes() == originals[1].read_bytes()
    assert run.lines[-1] == f"{originals[1].stat().st_size} bytes written to {blob} (hash checked)"


def test_piped_output_has_no_bars_and_json_is_pure(env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "CT"
    uids = make_study(folder, series=1, images=2, size=64, seed=21)
    (folder / "README").write_text("hello")
    uid = str(uids["study_uid"])
    run = piped(["study", "upload", str(folder)], env)
    assert run.code == 0, run.stderr
    assert_clean(run)
    assert run.output.splitlines() == [run.output.splitlines()[0]] and run.output.startswith(f"{uid}: created thing ")
    assert run.stderr.splitlines() == [f"skipped {folder / 'README'}: not a DICOM file"]
    run = piped(["study", "download", uid, str(tmp_path / "out")], env)
    assert run.code == 0 and run.stderr == "" and run.output.startswith("2 files, ")
    # --json in a terminal: no bars, no notes, only the JSON
    run = in_terminal(["study", "upload", str(folder), "--json"], env)
    assert run.code == 0, run.output
    data = json.loads(run.output)
    assert data["studies"][0]["status"] == "unchanged" and data["skipped"] == [
        {"path": str(folder / "README"), "reason": "not a DICOM file"}
    ]
    run = in_terminal(["study", "download", uid, str(tmp_path / "out2"), "--json"], env)
    assert run.code == 0 and json.loads(run.output)["files"] == 2
    run = in_terminal(["study", "list", "--wide"], env)
    header = run.lines[0].split()
    assert header[:3] == ["DATE", "PATIENT", "MODALITY"] and "THING" in header and "UID" in header
    (row,) = [line for line in run.lines if uid in line]
    assert "  1       2  " in row and " no " in row


def test_duplicate_studies_are_never_picked_silently(
    env: dict[str, str], platform: RunningServer, tmp_path: Path
) -> None:
    folder = tmp_path / "CT"
    uids = make_study(folder, series=1, images=2, size=64, seed=31)
    uid = str(uids["study_uid"])
    assert invoke(["study", "upload", str(folder)], env).code == 0
    with platform.client() as client:  # another client writes a second study with the same UID
        duplicate = client.put_thing(study.build(dicom.scan(folder).studies[0], previews=False).thing).value
    original = next(s["thing_id"] for s in listed(env, uid) if s["thing_id"] != duplicate)
    for args in (
        ["study", "show", uid],
        ["study", "download", uid, str(tmp_path / "out")],
        ["study", "delete", uid],
        ["study", "remove-series", uid, str(uids["series_uids"][0])],
    ):
        run = invoke(args, env)
        assert run.code == 1, args
        assert_clean(run)
        assert f"the record holds 2 studies with Study Instance UID {uid}" in run.stderr
        assert duplicate in run.stderr and original in run.stderr and "--thing THING_ID" in run.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.dcm"))
    run = invoke(["study", "upload", str(folder)], env)
    assert run.code == 1 and "hvgen study delete UID --thing THING_ID" in run.stderr
    assert len(listed(env, uid)) == 2, "nothing deleted, nothing added"
    run = invoke(["study", "delete", uid, "--thing", duplicate], env)
    assert run.code == 0, run.stderr
    assert run.output.strip() == f"deleted study {uid}: thing {duplicate} (1 series, 2 images, 0 bytes)"
    assert [s["thing_id"] for s in listed(env, uid)] == [original]
    run = invoke(["study", "show", uid, "--thing", original], env)
    assert run.code == 0 and run.output.startswith(f"study {uid}  (thing {original}")
    run = invoke(["study", "show", uid, "--thing", duplicate], env)
    assert run.code == 1 and f"no thing {duplicate} in the record" in run.stderr


def test_add_series_refuses_another_study_or_patient(env: dict[str, str], tmp_path: Path) -> None:
    mine = make_study(tmp_path / "mine", series=1, images=2, size=64, seed=41, patient="DOE^JANE")
    other = make_study(tmp_path / "other", series=1, images=1, size=64, seed=42, patient="ROE^RICHARD")
    same_uid = make_study(
        tmp_path / "same-uid",
        series=1,
        images=1,
        size=64,
        seed=43,
        patient="ROE^RICHARD",
        study_uid=str(mine["study_uid"]),
    )
    uid = str(mine["study_uid"])
    assert invoke(["study", "upload", str(tmp_path / "mine")], env).code == 0
    run = invoke(["study", "add-series", uid, str(tmp_path / "other")], env)
    assert run.code == 1
    assert f"not all of study {uid} (patient DOE JANE)" in run.stderr
    assert f"study {other['study_uid']} (patient ROE RICHARD)" in run.stderr and "--allow-other-study" in run.stderr
    run = invoke(["study", "add-series", uid, str(tmp_path / "same-uid")], env)
    assert run.code == 1 and "patient ROE RICHARD (same Study Instance UID)" in run.stderr
    assert listed(env, uid)[0]["images"] == 2, "nothing was added"
    run = invoke(["study", "add-series", uid, str(tmp_path / "other"), "--force"], env)  # the former spelling
    assert run.code == 0, run.stderr
    assert f"note: added study {other['study_uid']} (patient ROE RICHARD) to study {uid}" in run.stderr
    run = invoke(["study", "add-series", uid, str(tmp_path / "same-uid"), "--allow-other-study"], env)
    assert run.code == 0, run.stderr
    assert listed(env, uid)[0]["images"] == 4
    assert same_uid["study_uid"] == uid


def test_a_signed_study_is_not_changed_without_a_word(env: dict[str, str], tmp_path: Path) -> None:
    sign = signer_files(tmp_path / "keys")
    uids = make_study(tmp_path / "CT", series=2, images=1, size=64, seed=51)
    uid = str(uids["study_uid"])
    assert invoke(["study", "upload", str(tmp_path / "CT")], env).code == 0
    run = invoke(["study", "upload", str(tmp_path / "CT"), *sign], env)
    assert run.code == 0, run.stderr
    assert run.output.strip().endswith("; signed it")
    assert listed(env, uid)[0]["signed"] is True
    run = invoke(["study", "upload", str(tmp_path / "CT"), *sign], env)
    assert "nothing to do (signed)" in run.output
    make_study(tmp_path / "more", series=1, images=1, size=64, seed=52, study_uid=uid)
    for args in (
        ["study", "add-series", uid, str(tmp_path / "more")],
        ["study", "remove-series", uid, str(uids["series_uids"][0])],
    ):
        run = invoke(args, env)
        assert run.code == 1, args
        assert "is signed" in run.stderr and "--sign" in run.stderr and "--unsigned-ok" in run.stderr
    (state,) = listed(env, uid)
    assert (state["series"], state["signed"]) == (2, True), "refused before anything changed"
    run = invoke(["study", "add-series", uid, str(tmp_path / "more"), *sign], env)
    assert run.code == 0 and run.output.rstrip().endswith("signed)")
    run = invoke(["study", "download", uid, str(tmp_path / "out")], env)
    assert run.code == 0 and "signature: valid" in run.output
    run = invoke(["study", "remove-series", uid, str(uids["series_uids"][0]), "--unsigned-ok"], env)
    assert run.code == 0, run.stderr
    assert run.output.rstrip().endswith("signature removed)")
    assert (listed(env, uid)[0]["series"], listed(env, uid)[0]["signed"]) == (2, False)


def test_unreadable_and_empty_folders_are_one_line_errors(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "nothing"
    empty.mkdir()
    (empty / "a.txt").write_text("text")
    run = piped(["study", "upload", str(empty)], env)
    assert run.code == 1
    assert run.stderr.splitlines() == [
        f"skipped {empty / 'a.txt'}: not a DICOM file",
        f"Error: no DICOM files under {empty} (1 file skipped, see above)",
    ]
    locked = tmp_path / "locked"
    locked.mkdir()
    real_scandir = os.scandir

    def guarded(path=".", *args):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path, *args)

    monkeypatch.setattr(os, "scandir", guarded)
    result = CliRunner().invoke(main, ["study", "upload", str(locked)], env=env)
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: cannot read {locked}: permission denied"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files and folders whatever their mode")
def test_unreadable_files_and_folders_without_permission(env: dict[str, str], tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    make_study(locked, series=1, images=2, size=16)
    secret = sorted(locked.rglob("*.dcm"))[0]
    secret.chmod(0)
    try:
        run = piped(["study", "upload", str(locked)], env)
    finally:
        secret.chmod(0o644)
    assert run.code == 0 and f"skipped {secret}: cannot read it: permission denied" in run.stderr.splitlines()
    locked.chmod(0)
    try:
        run = piped(["study", "upload", str(locked)], env)
    finally:
        locked.chmod(0o755)
    assert run.code == 1 and run.stderr.strip() == f"Error: cannot read {locked}: permission denied"


def test_delete_removes_the_blobs_from_disk(new_server, tmp_path: Path) -> None:
    server = new_server()
    env = hvgen_env(tmp_path / "home", server.profile_path)
    keep = make_study(tmp_path / "keep", series=1, images=1, size=64, seed=61)
    gone = make_study(tmp_path / "gone", series=2, images=2, size=64, seed=62)

    def stored() -> int:
        return len(server.blob_ids())

    assert invoke(["study", "upload", str(tmp_path / "keep"), "--no-previews"], env).code == 0
    before = stored()
    assert invoke(["study", "upload", str(tmp_path / "gone"), "--no-previews"], env).code == 0
    assert stored() == before + 4
    run = invoke(["study", "delete", str(gone["study_uid"])], env)
    assert run.code == 0 and "(2 series, 4 images, " in run.output
    assert stored() == before, "the deleted study's blobs are gone; the other study's stay"
    assert invoke(["study", "download", str(keep["study_uid"]), str(tmp_path / "out")], env).code == 0


def test_uploading_again_with_previews_names_each_image_s_preview(env: dict[str, str], tmp_path: Path) -> None:
    """A study uploaded with --no-previews, then again with previews: each image names its
    preview (the blobs alone were stored before, and a third run said there was nothing to do)."""
    made = make_study(tmp_path / "np", series=2, images=2, size=64, seed=64)
    uid = str(made["study_uid"])
    assert invoke(["study", "upload", str(tmp_path / "np"), "--no-previews"], env).code == 0
    run = invoke(["study", "upload", str(tmp_path / "np")], env)
    assert run.code == 0 and "updated thing" in run.output, run.output
    shown = json.loads(invoke(["study", "show", uid, "--json"], env).output)
    images = [i for s in shown["series_list"] for i in s["images"]]
    assert len(images) == 4 and all(i["preview"] for i in images), images
    again = invoke(["study", "upload", str(tmp_path / "np")], env)
    assert again.code == 0 and "nothing to do" in again.output, again.output


def test_a_study_thing_without_its_files_is_shown_so_and_not_downloaded(env: dict[str, str], tmp_path: Path) -> None:
    """A second study thing another client wrote with the study's data but no blobs: `show`
    says which files are missing, `download` says so in one line (it was a traceback)."""
    made = make_study(tmp_path / "whole", series=1, images=2, size=32, seed=65)
    uid = str(made["study_uid"])
    assert invoke(["study", "upload", str(tmp_path / "whole")], env).code == 0
    first = json.loads(invoke(["study", "show", uid, "--json"], env).output)["thing_id"]
    xml_path = tmp_path / "copy.xml"
    assert invoke(["thing", "get", first, "-o", str(xml_path)], env).code == 0
    thing = codec.read_thing(xml_path.read_bytes())
    thing.thing_id, thing.blob_payload = None, None
    xml_path.write_bytes(codec.write_thing(thing))
    copy = json.loads(invoke(["thing", "put", str(xml_path), "--json"], env).output)["thing_id"]
    shown = invoke(["study", "show", uid, "--thing", copy], env)
    assert shown.code == 0 and shown.output.count("missing: the thing holds no blob of this name") == 2, shown.output
    images = [i for s in json.loads(invoke(["study", "show", uid, "--thing", copy, "--json"], env).output)[
        "series_list"] for i in s["images"]]  # fmt: skip
    assert [i["missing"] for i in images] == [True, True]
    run = piped(["study", "download", uid, str(tmp_path / "out"), "--thing", copy], env)
    assert run.code == 1
    assert_clean(run)
    assert "names 2 file(s) it holds no blob of" in run.stderr and "nothing was downloaded" in run.stderr
    assert not list((tmp_path / "out").rglob("*.dcm"))
    assert invoke(["study", "download", uid, str(tmp_path / "good"), "--thing", first], env).code == 0


def test_files_without_a_study_uid_are_skipped_and_the_rest_uploaded(env: dict[str, str], tmp_path: Path) -> None:
    """A file without a Study Instance UID is skipped as other unusable files are (a study is
    found again by its UID), named with the reason; the rest is uploaded, exit 0."""
    made = make_study(tmp_path / "mixed" / "good", series=1, images=2, size=16, seed=67)
    odd = make_study(tmp_path / "mixed" / "odd", series=1, images=1, size=16, seed=68)
    lone = next((tmp_path / "mixed" / "odd").rglob("*.dcm"))
    ds = pydicom.dcmread(lone)
    del ds.StudyInstanceUID
    ds.save_as(lone)
    run = piped(["study", "upload", str(tmp_path / "mixed")], env)
    assert run.code == 0, run.stderr
    assert_clean(run)
    assert f"skipped {lone}: no Study Instance UID (0020,000D)" in run.stderr, run.stderr
    assert "grouped under" not in run.stderr and "Error" not in run.stderr
    assert str(made["study_uid"]) in run.output and str(odd["study_uid"]) not in run.output
    run = piped(["study", "upload", str(tmp_path / "mixed" / "odd")], env)
    assert run.code == 1 and "has a Study Instance UID; nothing was uploaded" in run.stderr, run.stderr


def test_download_to_a_folder_that_cannot_be_made(env: dict[str, str], tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("x")
    for out, message in (
        ("/proc/hvgen-test/copy", "cannot create folder /proc/hvgen-test: no such file or folder"),
        (str(plain / "copy"), f"cannot write to {plain / 'copy'}: {plain} is not a folder"),
    ):
        run = piped(["study", "download", "1.2.3.4", out], env)
        assert run.code == 1
        assert_clean(run)
        assert run.stderr.strip() == f"Error: {message}"
