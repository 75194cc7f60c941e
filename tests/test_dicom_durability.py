"""What the DICOM listener and its spool acknowledge is on disk first: the
answer to a C-STORE waits for the received file's flush (made by a thread of
its own while the file is checked) and for its names; a file the disk does
not take is refused (0xA700) and not kept; the spool's folders and its
set-aside entries are flushed before anything relies on them."""

from __future__ import annotations

import errno
import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pydicom
import pytest
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage  # type: ignore[attr-defined]

from healthvault import filemodes
from hvgen_imaging import dicom, listener, retrieving, spool
from hvgen_imaging.listener import Listener
from hvgen_imaging.peers import Transfer
from hvgen_imaging.results import StudyError, UploadResult
from hvgen_imaging.spool import file_name

from .dicomgen import make_study

FLUSH_TAKES = 0.4


def folder_flushes(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[Path]:
    """The folders flushed through ``module.name`` from now on, in order."""
    flushed: list[Path] = []
    flush = getattr(module, name)

    def noted(folder: Path) -> None:
        flush(folder)
        flushed.append(Path(folder))

    monkeypatch.setattr(module, name, noted)
    return flushed


def test_the_answer_waits_for_the_flush_and_a_failed_flush_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_study(tmp_path / "send", series=1, images=2, size=16, seed=910)
    first, second = (pydicom.dcmread(p) for p in sorted((tmp_path / "send").rglob("*.dcm")))
    flushes: list[tuple[str, str, float]] = []  # (thread, file, when it ended)
    flush = listener._flush

    def slow_or_failing(path: Path) -> None:
        if path.stem == Path(file_name(str(second.SOPInstanceUID))).stem:
            raise OSError(errno.EIO, "Input/output error")
        time.sleep(FLUSH_TAKES)  # (the disk is slow: the check is done long before)
        flush(path)
        flushes.append((threading.current_thread().name, path.name, time.monotonic()))

    monkeypatch.setattr(listener, "_flush", slow_or_failing)
    stored: list[list[dicom.DicomStudy]] = []
    done = threading.Event()

    def store_studies(studies: list[dicom.DicomStudy]) -> list[UploadResult | Exception]:
        stored.append(studies)
        done.set()
        return [StudyError("kept in the spool") for _ in studies]

    receiver = Listener(None, tmp_path / "spool", port=0, store_studies=store_studies, retry=3600)
    receiver.start()
    try:
        ae = AE(ae_title="SENDER")
        ae.add_requested_context(CTImageStorage, str(first.file_meta.TransferSyntaxUID))
        assoc = ae.associate("127.0.0.1", receiver.port, ae_title="HVGEN")
        assert assoc.is_established
        try:
            answer = assoc.send_c_store(first)
            answered = time.monotonic()
            refused = assoc.send_c_store(second)
            # (looked at before the association ends, which would remove what was cut off)
            left = list((tmp_path / "spool").rglob(Path(file_name(str(second.SOPInstanceUID))).stem + "*"))
        finally:
            assoc.release()
        assert done.wait(30)
    finally:
        receiver.stop()
    assert answer.Status == 0x0000
    ((thread, name, ended),) = flushes
    assert thread.startswith("dicom-flush")  # not the association's own thread
    assert Path(name).stem == Path(file_name(str(first.SOPInstanceUID))).stem
    assert answered >= ended  # Success only once the bytes were on disk
    assert refused.Status == 0xA700
    assert "cannot write to the spool" in str(refused.ErrorComment)
    assert "Input/output error" in str(refused.ErrorComment)
    ((study,),) = stored  # what was handed on: the first instance only, no partial file
    assert [i.sop_instance_uid for i in study.images] == [str(first.SOPInstanceUID)]
    assert left == []  # the refused file is not kept, not even as a partial one


def test_a_file_received_as_the_listener_stops_is_flushed_in_the_association_s_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[str] = []
    flush = listener._flush

    def noted(path: Path) -> None:
        flush(path)
        threads.append(threading.current_thread().name)

    monkeypatch.setattr(listener, "_flush", noted)
    receiver = Listener(None, tmp_path / "spool", port=0, store_studies=lambda studies: [], retry=3600)
    receiver.start()
    received = tmp_path / "received.part"
    received.write_bytes(b"DICM")
    receiver._flushing(received).result()  # noqa: SLF001
    receiver.stop()  # its flushing threads are gone: a flush still asked for is made here
    receiver._flushing(received).result()  # noqa: SLF001
    assert threads[0].startswith("dicom-flush")
    assert threads[1] == threading.current_thread().name
    broken = tmp_path / "missing.part"
    with pytest.raises(OSError):  # (the handler refuses it with 0xA700)
        receiver._flushing(broken).result()  # noqa: SLF001


def test_a_folder_s_name_is_flushed_before_its_first_instance_is_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushed = folder_flushes(monkeypatch, listener, "fsync_folder")
    for n in range(2):
        make_study(tmp_path / "send" / f"s{n}", series=1, images=2, size=16, seed=920 + n)
    files = sorted((tmp_path / "send").rglob("*.dcm"))
    receiver = Listener(
        None, tmp_path / "spool", port=0, store_studies=lambda s: [StudyError("kept")] * len(s), split_studies=True
    )
    receiver.start()
    incoming = receiver.spool.incoming
    seen: list[list[Path]] = []
    try:
        ae = AE(ae_title="SENDER")
        ae.add_requested_context(CTImageStorage, str(pydicom.dcmread(files[0]).file_meta.TransferSyntaxUID))
        assoc = ae.associate("127.0.0.1", receiver.port, ae_title="HVGEN")
        assert assoc.is_established
        try:
            for path in files:  # two studies of two instances: two parts, each in a folder of its own
                assert assoc.send_c_store(pydicom.dcmread(path)).Status == 0x0000
                seen.append(list(flushed))
        finally:
            assoc.release()
    finally:
        receiver.stop()
    # the first answer of each part came after ``incoming`` itself was flushed (the new folder's name)
    assert seen[0].count(incoming) == 1 and seen[0][-1] == incoming
    assert seen[1].count(incoming) == 1  # not again for the part's second instance
    assert seen[2].count(incoming) == 2 and seen[2][-1] == incoming
    assert seen[3].count(incoming) == 2
    folders = [f for f in seen[3] if f != incoming]
    assert len(set(folders)) == 2 and all(f.parent == incoming for f in folders)


def test_the_spool_s_new_folders_have_their_names_flushed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flushed = folder_flushes(monkeypatch, filemodes, "flush_folder")
    root = tmp_path / "cache" / "spool"
    spool.Spool(root).create()
    # "cache" in tmp_path, "spool" in "cache", then each of its folders in "spool"
    assert flushed == [tmp_path, tmp_path / "cache", root, root, root]
    flushed.clear()
    spool.Spool(root).create()  # all there: nothing to flush
    assert flushed == []


def test_a_set_aside_entry_and_its_retry_are_on_disk_before_their_sources_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushed = folder_flushes(monkeypatch, spool, "fsync_folder")
    kept = spool.Spool(tmp_path / "spool")
    kept.create()
    source = kept.ready / "association"
    source.mkdir()
    (source / "a.dcm").write_bytes(b"DICM")
    flushed.clear()
    entry = kept.set_aside([source / "a.dcm"], "the platform refused it", calling="CT1", sops=["1.2.3"])
    folder = kept.rejected / entry.id
    assert flushed == [folder, kept.rejected]  # the files' and the reason's names, then the entry's
    assert json.loads((folder / spool.REASON).read_text())["reason"] == "the platform refused it"
    assert not list(folder.glob("*.part"))
    flushed.clear()
    again = kept.retry(entry.id)
    assert flushed == [again, kept.ready]  # (then the entry is removed)
    assert (again / "a.dcm").read_bytes() == b"DICM" and not folder.exists()


def test_an_instance_retrieved_is_flushed_then_named_and_one_the_disk_refuses_is_not_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``hvgen dicom retrieve``'s receiver (C-GET and C-MOVE) answers Success only once the
    file's bytes and then its name are on disk; a flush that fails is 0xA700 and leaves nothing."""
    out = tmp_path / "out"
    out.mkdir()
    steps: list[tuple[str, str]] = []
    flush_file = filemodes.flush_file

    def noted_file(path: Path) -> None:
        if Path(path).name.startswith(file_name("1.2.3.2")[:40]):
            raise OSError(errno.EIO, "Input/output error")
        flush_file(path)
        steps.append(("file", Path(path).name))

    def noted_folder(folder: Path) -> None:
        filemodes.flush_folder(folder)
        steps.append(("folder", sorted(p.name for p in Path(folder).iterdir())[0]))

    monkeypatch.setattr(filemodes, "flush_file", noted_file)
    monkeypatch.setattr(retrieving, "fsync_folder", noted_folder)
    transfer = Transfer()
    on_store = retrieving._receiver(out, transfer, None)

    def event(sop: str) -> Any:
        received = tmp_path / f"received-{sop}"
        received.write_bytes(b"DICM" * 100)
        request = SimpleNamespace(AffectedSOPInstanceUID=sop)
        return SimpleNamespace(request=request, dataset_path=str(received))

    assert on_store(event("1.2.3.1")) == 0x0000
    kept = file_name("1.2.3.1")
    assert steps == [("file", kept.replace(".dcm", ".part")), ("folder", kept)]  # bytes, then the name
    assert (out / kept).read_bytes() == b"DICM" * 100

    assert on_store(event("1.2.3.2")) == 0xA700
    assert sorted(p.name for p in out.iterdir()) == [kept]  # no partial file of the refused one
    assert [(o.sop_instance_uid, o.state, o.status) for o in transfer.outcomes] == [
        ("1.2.3.1", "received", None),
        ("1.2.3.2", "failed", 0xA700),
    ]
    assert "Input/output error" in (transfer.outcomes[1].reason or "")
