"""Files the tools write are on disk when they say so: the bytes flushed,
then the name given, then the folder's names flushed (and the names of the
folders made for them): what a crash right after could otherwise lose."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from healthvault import blobio, filemodes
from healthvault.profile import Profile


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What was flushed and renamed, in order (files by name, folders as ``folder NAME``)."""
    seen: list[str] = []
    fsync, replace = os.fsync, os.replace
    flush_folder = filemodes.flush_folder

    def fsynced(fd: int) -> None:
        fsync(fd)
        if not stat.S_ISDIR(os.fstat(fd).st_mode):  # (a folder's flush is told by flush_folder)
            seen.append("fsync " + Path(os.readlink(f"/proc/self/fd/{fd}")).name)

    def replaced(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        replace(src, dst)
        seen.append(f"rename {Path(dst).name}")

    def folder(path: Path | str) -> None:
        flush_folder(path)
        seen.append(f"folder {Path(path).name}")

    monkeypatch.setattr(os, "fsync", fsynced)
    monkeypatch.setattr(os, "replace", replaced)
    monkeypatch.setattr(filemodes, "flush_folder", folder)
    return seen


def test_write_private_writes_whole_then_names_then_flushes(tmp_path: Path, events: list[str]) -> None:
    target = tmp_path / "new" / "server.key"
    filemodes.write_private(target, b"k" * 32)
    temp = next(e for e in events if e.startswith("fsync ")).removeprefix("fsync ")
    assert temp.startswith(".server.key.") and temp.endswith(".part")  # the bytes, under another name
    assert events == [f"folder {tmp_path.name}", f"fsync {temp}", "rename server.key", "folder new"]
    assert target.read_bytes() == b"k" * 32 and target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["server.key"]


def test_private_dir_flushes_the_names_of_the_folders_it_makes(tmp_path: Path, events: list[str]) -> None:
    filemodes.private_dir(tmp_path / "a" / "b")
    assert events == [f"folder {tmp_path.name}", "folder a"]  # "a" in tmp_path, then "b" in "a"
    events.clear()
    filemodes.private_dir(tmp_path / "a" / "b")  # there already: nothing to flush
    assert events == []


def test_a_download_is_on_disk_under_its_name_when_its_block_ends(tmp_path: Path, events: list[str]) -> None:
    dest = tmp_path / "study.dcm"
    with blobio.replacing(dest) as f:
        f.write(b"DICM")
    assert events[0].startswith("fsync .study.dcm.") and events[1:] == ["rename study.dcm", f"folder {tmp_path.name}"]
    events.clear()
    with pytest.raises(RuntimeError), blobio.replacing(dest) as f:
        f.write(b"cut")
        raise RuntimeError("the connection dropped")
    assert dest.read_bytes() == b"DICM" and events == []  # the old file as it was; nothing renamed
    with blobio.replacing(dest, flush_name=False) as f:  # (one of many files: the caller flushes the folder)
        f.write(b"DICM2")
    assert [e.split(" ")[0] for e in events] == ["fsync", "rename"] and dest.read_bytes() == b"DICM2"


def test_files_written_under_a_folder_are_flushed_with_every_folder_up_to_it(tmp_path: Path, events: list[str]) -> None:
    out = tmp_path / "out"
    (out / "s1").mkdir(parents=True)
    (out / "s1" / "a.dcm").write_bytes(b"a")
    (out / "s1" / "b.dcm").write_bytes(b"b")
    (out / "c.dcm").write_bytes(b"c")
    filemodes.flush_written([out / "s1" / "a.dcm", out / "s1" / "b.dcm", out / "c.dcm"], out)
    assert events[:3] == ["fsync a.dcm", "fsync b.dcm", "fsync c.dcm"]
    assert events[3:] == ["folder s1", "folder out", f"folder {tmp_path.name}"]  # deepest first


def test_a_client_profile_is_saved_whole_and_durably(tmp_path: Path, events: list[str]) -> None:
    target = tmp_path / "profile.json"
    Profile(url="http://127.0.0.1:8080", app_id="a", record_id="r", key_path="k", cert_path="c").save(target)
    assert [e.split(" ")[0] for e in events] == ["fsync", "rename", "folder"]
    assert Profile.load(target).record_id == "r" and target.stat().st_mode & 0o777 == 0o600


def test_an_output_folder_made_has_its_name_flushed_and_keeps_the_umask_s_mode(
    tmp_path: Path, events: list[str]
) -> None:
    before = os.umask(0o022)
    try:
        folder = filemodes.make_folder(tmp_path / "retrieved" / "study")
    finally:
        os.umask(before)
    assert events == [f"folder {tmp_path.name}", "folder retrieved"]
    assert folder.is_dir() and folder.stat().st_mode & 0o777 == 0o755  # (an output folder: not made private)


@pytest.mark.parametrize("code", [errno.EINVAL, errno.ENOTSUP])
def test_a_file_system_that_cannot_flush_a_folder_is_left_to_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    fsync = os.fsync

    def refusing(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(code, os.strerror(code))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", refusing)
    filemodes.write_private(tmp_path / "share" / "key", b"k" * 32)  # (an SMB share, a FUSE file system)
    assert (tmp_path / "share" / "key").read_bytes() == b"k" * 32


def test_a_disk_error_while_flushing_a_folder_is_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fsync = os.fsync

    def failing(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EIO, "Input/output error")
        fsync(fd)

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(OSError, match="Input/output error"):
        filemodes.flush_folder(tmp_path)
