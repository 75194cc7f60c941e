"""The in-process ingest's fast path: a received file is parsed once and
adopted by the blob store (not copied); the studies an association brings are
written in one transaction, a failing study failing alone."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset

from healthvault import filemodes
from hvgen_imaging import dicom
from hvgen_imaging.listener import Listener
from hvgen_imaging.results import StudyError, UploadResult
from hvgen_imaging.spool import Spool
from hvgen_imaging.study import build
from hvgen_imaging.uploader import Failed, Uploader
from hvgen_server.context import Actor, Platform
from hvgen_server.dicomweb.bulkdata import metadata
from hvgen_server.dicomweb.gateway import ensure_gateway
from hvgen_server.dicomweb.index import (
    INSTANCE_ATTRIBUTES,
    SERIES_ATTRIBUTES,
    STUDY_ATTRIBUTES,
    STUDY_TYPES,
    _each_json,
    subset_json,
)
from hvgen_server.dicomweb.media import Urls
from hvgen_server.ingest import Ingest, Ingested
from hvgen_server.ingest.previews import Previews
from hvgen_server.ingest.studies import write_things
from hvgen_server.store import files as files_module
from hvgen_server.store.files import LocalBlobFiles
from hvgen_server.store.rows import INSTANCE, DicomMatch, DicomQuery, ThingFilter, ThingSelection

from . import dcmtk
from .dicomgen import make_study
from .localserver import Backend, RunningServer, environment, start_server
from .test_dicomweb import cli


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("batch") / "server", backend=backend)
    yield running
    running.stop()


@contextlib.contextmanager
def platform_of(server: RunningServer) -> Iterator[Platform]:
    with environment(server.backend.env):
        platform = Platform.open(server.config())
    try:
        yield platform
    finally:
        platform.close()


def count_writes(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the store's write transactions from now on (one number in a list)."""
    count = [0]
    write = platform.store.write

    def counted() -> Any:
        count[0] += 1
        return write()

    monkeypatch.setattr(platform.store, "write", counted)
    return count


def studies_with(platform: Platform, record_id: str, uid: str) -> int:
    with platform.store.read() as tx:
        found = tx.things.select(record_id, ThingSelection(), [ThingFilter(type_ids=STUDY_TYPES)], with_xml=True)
        return sum(uid.encode() in m.version.xml for m in found)


def test_studies_are_written_in_one_transaction_and_fail_alone(
    server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folders = [tmp_path / f"s{n}" for n in range(6)]
    uids = [str(make_study(f, series=1, images=1, size=16, seed=300 + n)["study_uid"]) for n, f in enumerate(folders)]
    builts = [build(dicom.scan(f).studies[0], previews=False) for f in folders]
    record_id = server.profile.record_id
    with platform_of(server) as platform:
        ingest = Ingest(platform, ensure_gateway(platform).app_id, record_id)
        writes = count_writes(platform, monkeypatch)
        done = ingest.store_many(builts[:4])
        assert [d.status for d in done if isinstance(d, Ingested)] == ["created"] * 4
        assert writes[0] == 1  # four studies, one commit
        with platform.store.read() as tx:
            assert tx.dicom.stale(record_id, STUDY_TYPES) == []  # indexed in that transaction
        assert all(studies_with(platform, record_id, uid) == 1 for uid in uids[:4])

        # the record holds the fifth study twice: it fails, alone; the others are stored
        actor = Actor(platform, app_id=ingest.app_id, record_id=record_id)
        write_things(actor, [builts[4].thing, builts[4].thing], lambda tx, keys: None, [])
        again = ingest.store_many([builts[5], builts[4], builts[0]])
        assert isinstance(again[1], StudyError) and "2 studies" in str(again[1])
        assert isinstance(again[0], Ingested) and again[0].status == "created"
        assert isinstance(again[2], Ingested) and again[2].status == "unchanged"
        assert studies_with(platform, record_id, uids[5]) == 1


def test_the_studies_marks_for_previews_are_on_disk_before_their_commit(
    server: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folders = [tmp_path / f"s{n}" for n in range(4)]
    uids = [str(make_study(f, series=1, images=1, size=16, seed=700 + n)["study_uid"]) for n, f in enumerate(folders)]
    builts = [build(dicom.scan(f).studies[0], previews=False) for f in folders]
    record_id = server.profile.record_id
    with platform_of(server) as platform:
        ingest = Ingest(platform, ensure_gateway(platform).app_id, record_id)
        flushed: list[str] = []
        fsync = os.fsync

        def noted(fd: int) -> None:
            fsync(fd)
            flushed.append(os.readlink(f"/proc/self/fd/{fd}"))

        monkeypatch.setattr(os, "fsync", noted)
        previews = Previews(platform, ingest.app_id)
        try:
            marked = previews.mark(record_id, *uids[:2])
            assert marked is not None
            seen: list[int] = []

            def before_commit() -> None:
                marked()
                seen.append(studies_with(platform, record_id, uids[0]))  # (not stored yet)

            done = ingest.store_many(builts[:2], before_commit)
            assert [d.status for d in done if isinstance(d, Ingested)] == ["created"] * 2
            assert seen == [0] and studies_with(platform, record_id, uids[0]) == 1
            markers = {str(previews._marker(record_id, u)) for u in uids[:2]}  # noqa: SLF001
            assert markers <= set(flushed) and str(previews.folder) in flushed
            assert previews.mark(record_id, *uids[:2]) is None  # marked and flushed already: nothing to wait for

            calls: list[int] = []

            def failing() -> None:  # (the marks could not be flushed: no study is stored)
                calls.append(1)
                raise OSError(5, "Input/output error")

            refused = ingest.store_many(builts[2:], failing)
            assert all(isinstance(r, OSError) for r in refused) and len(refused) == 2
            assert calls == [1]  # not tried again one by one (after writing their blobs again)
            assert studies_with(platform, record_id, uids[2]) == 0
        finally:
            previews.stop()


def test_a_mark_being_flushed_is_waited_for_and_one_that_failed_is_written_again(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_id, uid = server.profile.record_id, "1.2.3.4.5.6.7.8.9.0"
    with platform_of(server) as platform:
        previews = Previews(platform, ensure_gateway(platform).app_id)
        release, outcome = threading.Event(), ["ok"]
        flush_folder = filemodes.flush_folder

        def held(folder: Path) -> None:
            release.wait(10)
            if outcome[0] != "ok":
                raise OSError(5, "Input/output error")
            flush_folder(folder)

        monkeypatch.setattr(filemodes, "flush_folder", held)
        try:
            first = previews.mark(record_id, uid)
            second = previews.mark(record_id, uid)  # another store of the same study, meanwhile
            assert first is not None and second is not None
            waited = threading.Thread(target=second)
            waited.start()
            waited.join(0.3)
            assert waited.is_alive()  # (its mark is not on disk yet)
            release.set()
            waited.join(10)
            assert not waited.is_alive()
            assert previews.mark(record_id, uid) is None
            marker = previews._marker(record_id, uid)  # noqa: SLF001
            marker.unlink()
            release.clear()
            outcome[0] = "fail"
            failed = previews.mark(record_id, uid)
            assert failed is not None
            release.set()
            with pytest.raises(OSError, match="Input/output error"):
                failed()
            assert not marker.exists()  # (not on disk: removed, so that the next store writes it again)
            outcome[0] = "ok"
            again = previews.mark(record_id, uid)
            assert again is not None
            again()
            assert marker.exists()
        finally:
            marker_path = previews._marker(record_id, uid)  # noqa: SLF001
            marker_path.unlink(missing_ok=True)
            previews.stop()


def test_the_blob_store_adopts_a_file_without_copying_it(tmp_path: Path) -> None:
    files = LocalBlobFiles(tmp_path / "blobs")
    source = tmp_path / "spool.dcm"
    source.write_bytes(b"DICM" * 1000)
    old = time.time() - 7200
    os.utime(source, (old, old))  # received long ago (a spool that waited)
    blob_id = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
    assert files.adopt(blob_id, source)
    files.sync([blob_id])
    assert os.path.samefile(files.path(blob_id), source)  # the same bytes, a second name
    assert files.path(blob_id).stat().st_mode & 0o777 == 0o600
    # younger than the sweeper's age: not taken for an orphan before its row is committed
    files.remove_orphans(set(), time.time() - 3600)
    source.unlink()
    assert files.read_all(blob_id) == b"DICM" * 1000
    # another file system (here: a missing file) is not adopted: the caller copies
    assert not files.adopt("1f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", tmp_path / "missing.dcm")


def test_a_blob_folder_made_is_flushed_in_the_root_before_its_blobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushed: list[Path] = []
    fsync_folder = files_module._fsync_folder

    def noted(folder: Path) -> None:
        fsync_folder(folder)
        flushed.append(folder)

    monkeypatch.setattr(files_module, "_fsync_folder", noted)
    root = tmp_path / "blobs"
    files = LocalBlobFiles(root)
    first, second = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", "0f2e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
    files.put(first, [b"one"])
    assert flushed == [root, root / "0f"]  # the new folder "0f": its name first, then the blob's
    source = tmp_path / "spool.dcm"
    source.write_bytes(b"two")
    assert files.adopt(second, source)  # the same folder: not again
    files.sync([second])
    assert flushed == [root, root / "0f", root / "0f"]
    again = LocalBlobFiles(root)  # another run or process: a folder found made is flushed in the root once
    again.put("0f3e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", [b"three"])
    again.put("0f4e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", [b"four"])
    assert flushed == [root, root / "0f", root / "0f", root, root / "0f", root / "0f"]
    (root / "0f" / first).unlink()  # a folder removed by hand is made again
    (root / "0f" / second).unlink()
    (root / "0f" / "0f3e2d3c-4b5a-4978-8695-a4b3c2d1e0f9").unlink()
    (root / "0f" / "0f4e2d3c-4b5a-4978-8695-a4b3c2d1e0f9").unlink()
    (root / "0f").rmdir()
    again.put(first, [b"one"])
    assert again.read_all(first) == b"one" and flushed[-2:] == [root, root / "0f"]


def test_a_blob_written_whole_or_begun_has_its_name_flushed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    fsync_folder, replace = files_module._fsync_folder, Path.replace

    def noted(folder: Path) -> None:
        fsync_folder(folder)
        events.append(f"flush {folder.name}")

    def replaced(self: Path, target: Path) -> Path:
        events.append("rename")
        return replace(self, target)

    monkeypatch.setattr(files_module, "_fsync_folder", noted)
    monkeypatch.setattr(Path, "replace", replaced)
    files = LocalBlobFiles(tmp_path / "blobs")
    files.put("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", [b"whole"])
    assert events == ["flush blobs", "rename", "flush 0f"]  # the new name, after the rename
    events.clear()
    files.create("0f2e2d3c-4b5a-4978-8695-a4b3c2d1e0f9")  # an upload begun: its chunks go into this file
    assert events == ["flush 0f"]


def test_each_received_file_is_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storescu = dcmtk.require("storescu")
    for n in range(3):
        make_study(tmp_path / "send" / f"s{n}", series=1, images=2, size=16, seed=400 + n)
    parsed: list[Path] = []
    examine = dicom.examine

    def counted(path: Path) -> Any:
        parsed.append(path)
        return examine(path)

    monkeypatch.setattr(dicom, "examine", counted)
    stored: list[list[dicom.DicomStudy]] = []
    done = threading.Event()

    def store_studies(studies: list[dicom.DicomStudy]) -> list[UploadResult | Exception]:
        stored.append(studies)
        done.set()
        return [StudyError("kept in the spool") for _ in studies]  # (a failure that does not pass: set aside)

    listener = Listener(None, tmp_path / "spool", port=0, store_studies=store_studies, retry=3600)
    listener.start()
    try:
        sent = subprocess.run(
            [storescu, "+sd", "+r", "127.0.0.1", str(listener.port), str(tmp_path / "send")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert sent.returncode == 0, sent.stderr
        assert done.wait(60)
    finally:
        listener.stop()
    (studies,) = stored
    assert sorted(len(s.images) for s in studies) == [2, 2, 2]  # all three studies, in one call
    assert len(parsed) == 6  # each file once: when it was received, not again when it was stored
    assert all(image.header.SOPInstanceUID == image.sop_instance_uid for s in studies for image in s.images)


def test_a_study_upload_is_indexed_before_put_things_answers(server: RunningServer, tmp_path: Path) -> None:
    uid = str(make_study(tmp_path / "study", series=2, images=2, size=16, seed=500)["study_uid"])
    code, out = cli(server, "study", "upload", str(tmp_path / "study"))
    assert code == 0, out
    record_id = server.profile.record_id
    with platform_of(server) as platform, platform.store.read() as tx:
        assert tx.dicom.stale(record_id, STUDY_TYPES) == []  # nothing left for the first query to catch up
        hits = tx.dicom.search(record_id, DicomQuery(level=INSTANCE))
    assert len([h for h in hits if h.instance.study_uid == uid]) == 4


def test_associations_ready_together_are_stored_together(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.create()
    for n, name in enumerate(("first", "second")):
        make_study(tmp_path / name, series=1, images=2, size=16, seed=600 + n)
        folder = spool.ready / name
        folder.mkdir()
        for path in (tmp_path / name).rglob("*.dcm"):
            shutil.copy(path, folder / path.name)
    calls: list[list[str]] = []
    done = threading.Event()

    def store_studies(studies: list[dicom.DicomStudy]) -> list[UploadResult | Exception]:
        calls.append(sorted(s.uid for s in studies))
        done.set()
        return [StudyError("kept") for _ in studies]

    uploader = Uploader(None, spool, lambda event: None, store_studies=store_studies)
    uploader.put(spool.ready / "first")
    uploader.put(spool.ready / "second")  # both ready before the writer looks
    uploader.start()
    try:
        assert done.wait(60)
    finally:
        uploader.stop()
    assert len(calls[0]) == 2  # the two associations' studies in one call (one transaction)


def test_index_attributes_are_those_read_one_by_one(tmp_path: Path) -> None:
    make_study(tmp_path / "s", series=2, images=2, size=16, seed=700, patient="ROE^ANNA")
    headers = [h for p in sorted((tmp_path / "s").rglob("*.dcm")) if (h := dicom.examine(p)[0]) is not None]
    headers[0].PatientBirthDate = "not a date"  # (read as it is)
    for header in headers:
        for keywords in (STUDY_ATTRIBUTES, SERIES_ATTRIBUTES, INSTANCE_ATTRIBUTES):
            assert subset_json(header, keywords) == _each_json(header, keywords)


def test_stored_metadata_is_what_reading_the_file_gives(server: RunningServer, tmp_path: Path) -> None:
    made = make_study(tmp_path / "study", series=1, images=3, size=16, seed=800)
    first = sorted((tmp_path / "study").rglob("*.dcm"))[0]
    ds = pydicom.dcmread(first)
    ds.add_new(0x00090010, "LO", "HVGEN TEST")
    ds.add_new(0x00091010, "OB", bytes(range(256)) * 8)  # bulk data (longer than inlined)
    item = Dataset()
    item.add_new(0x00091010, "OB", b"\x07" * 2000)
    ds.add_new(0x00091011, "SQ", [item])  # bulk data inside a sequence
    ds.save_as(first)
    built = build(dicom.scan(tmp_path / "study").studies[0], previews=False)
    record_id = server.profile.record_id
    urls = Urls("http://127.0.0.1/dicomweb")
    with platform_of(server) as platform:
        Ingest(platform, ensure_gateway(platform).app_id, record_id).store(built)
        query = DicomQuery(INSTANCE, (DicomMatch("study_uid", "uids", (str(made["study_uid"]),)),), metadata=True)
        with platform.store.read() as tx:
            rows = [h.instance for h in tx.dicom.search(record_id, query)]
            plain = [h.instance for h in tx.dicom.search(record_id, dataclasses.replace(query, metadata=False))]
        assert len(rows) == 3 and all(r.metadata_json for r in rows)
        assert all(r.metadata_json is None for r in plain)  # (read only when asked)
        stored = metadata(platform, rows, urls)
        reread = metadata(platform, plain, urls)
    assert stored == reread
    uris = [v["BulkDataURI"] for m in stored for v in m.values() if "BulkDataURI" in v]
    assert any(u.endswith("/bulkdata/00091010") and u.startswith("http://127.0.0.1/dicomweb/") for u in uris)
    assert "BulkDataURI" in str([m["00091011"] for m in stored if "00091011" in m])


def test_a_batch_failing_unforeseen_is_tried_again_and_the_uploader_goes_on(tmp_path: Path) -> None:
    """An error nothing foresaw while storing (a defect, a store failing oddly) does not
    end the uploader: the folders wait as after a study's passing failure, are
    reported, and are stored at the next try; folders handed on later are stored too."""
    spool = Spool(tmp_path / "spool")
    spool.create()
    for n, name in enumerate(("first", "later")):
        make_study(tmp_path / name, series=1, images=1, size=16, seed=900 + n)
    folder = spool.ready / "first"
    folder.mkdir()
    for path in (tmp_path / "first").rglob("*.dcm"):
        shutil.copy(path, folder / path.name)
    calls: list[list[str]] = []
    events: list[object] = []
    stored = threading.Event()

    def store_studies(studies: list[dicom.DicomStudy]) -> list[UploadResult | Exception]:
        calls.append(sorted(s.uid for s in studies))
        if len(calls) == 1:
            raise RuntimeError("unforeseen")
        if len(calls) == 3:
            stored.set()
        return [StudyError("kept") for _ in studies]

    uploader = Uploader(None, spool, events.append, retry=0.1, store_studies=store_studies)
    uploader.start()
    try:
        uploader.put(folder)
        deadline = time.monotonic() + 30
        while len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        later = spool.ready / "later"
        later.mkdir()
        for path in (tmp_path / "later").rglob("*.dcm"):
            shutil.copy(path, later / path.name)
        uploader.put(later)
        assert stored.wait(30)
    finally:
        uploader.stop()
    assert calls[0] == calls[1] and len(calls) == 3  # tried again, then the later folder
    failed = [e for e in events if isinstance(e, Failed)]
    assert failed and "RuntimeError: unforeseen" in failed[0].message and failed[0].will_retry
