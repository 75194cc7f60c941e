"""Scanning and building tell which file is wrong and why, and go on with the rest."""

from __future__ import annotations

import builtins
import os
import shutil
from pathlib import Path

import pytest

from hvgen_imaging import dicom, study, workflow

from .dicomgen import make_study, pydicom_file


def test_a_truncated_file_is_named_and_the_study_is_uploaded_without_it(new_server, tmp_path: Path) -> None:
    folder = tmp_path / "study"
    uids = make_study(folder, series=1, images=4, size=64)
    files = sorted(folder.rglob("*.dcm"))
    for path, keep in ((files[1], 700), (files[2], files[2].stat().st_size - 100)):  # cut in the header, in the pixels
        path.write_bytes(path.read_bytes()[:keep])
    scanned = dicom.scan(folder)
    reasons = dict(scanned.skipped)
    assert set(reasons) == {files[1], files[2]}
    assert all(why.startswith("truncated: ") for why in reasons.values())
    assert "(7FE0,0010)" in reasons[files[2]], "the pixel data is what is cut"
    assert len(scanned.studies) == 1 and [im.path for im in scanned.studies[0].images] == [files[0], files[3]]
    built = study.build(scanned.studies[0])
    assert len(built.previews) == 2 and not built.warnings
    server = new_server()
    with server.client() as client:
        result = workflow.Studies(client, journal_dir=tmp_path / "journal").upload(built)
    assert result.created and result.images == 2 and result.study_uid == uids["study_uid"]


def test_unreadable_files_are_reported_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "study"
    make_study(folder, series=1, images=2, size=16)
    locked = sorted(folder.rglob("*.dcm"))[0]
    (folder / "gone.dcm").symlink_to(folder / "nowhere.dcm")
    real_open = builtins.open

    def guarded(file, *args, **kwargs):
        if Path(str(file)) == locked:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)
    scanned = dicom.scan(folder)
    reasons = {p.name: why for p, why in scanned.skipped}
    assert reasons == {
        locked.name: "cannot read it: permission denied",
        "gone.dcm": "cannot read it: it is gone (a broken link?)",
    }
    assert len(scanned.studies[0].images) == 1


def test_unreadable_folders_are_reported_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "study"
    make_study(folder, series=2, images=1, size=16)
    hidden = folder / "s1"
    real_scandir = os.scandir

    def guarded(path=".", *args):
        if Path(path) in (hidden, tmp_path / "locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path, *args)

    monkeypatch.setattr(os, "scandir", guarded)
    scanned = dicom.scan(folder)
    assert scanned.skipped == [(hidden, "cannot read folder: permission denied")]
    assert len(scanned.studies[0].images) == 1
    (tmp_path / "locked").mkdir()
    with pytest.raises(dicom.ScanError, match=r"cannot read .*locked: permission denied"):
        dicom.scan(tmp_path / "locked")


def test_pydicom_warnings_become_notes_naming_the_file(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    for name in ("SC_rgb_jpeg.dcm", "MR_small_padded.dcm"):  # wrong VR for reading; excess pixel padding
        shutil.copy(pydicom_file(name), folder / name)
    scanned = dicom.scan(folder)
    assert any(w.startswith(f"{folder / 'SC_rgb_jpeg.dcm'}: Expected explicit VR") for w in scanned.warnings)
    built = [study.build(s) for s in scanned.studies]
    notes = [w for b in built for w in b.warnings]
    assert any(w.startswith(f"{folder / 'MR_small_padded.dcm'}: The pixel data is 8320 bytes long") for w in notes)
    assert len({name for b in built for name in b.previews}) == 2
    assert all("\n" not in w for w in scanned.warnings + notes)
    out, err = capfd.readouterr()
    assert "Warning" not in err and "warn" not in err.lower(), err


def test_warnings_raised_while_grouping_name_their_file(tmp_path: Path) -> None:
    folder = tmp_path / "odd"
    folder.mkdir()
    shutil.copy(pydicom_file("bad_sequence.dcm"), folder / "bad_sequence.dcm")  # UIDs that are not UIDs
    scanned = dicom.scan(folder)
    assert scanned.warnings and all(
        w.startswith(f"{folder / 'bad_sequence.dcm'}: Invalid value for VR UI") for w in scanned.warnings
    )
