"""The in-process ingest (hvgen_server.ingest): the thing it writes is the one
`hvgen study upload` writes through the protocol, byte for byte but for ids
and times; the DICOM index is current as soon as a study is stored."""

from __future__ import annotations

import dataclasses
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from healthvault import blobhash
from hvgen_imaging import dicom
from hvgen_imaging.study import build
from hvgen_server.context import Platform
from hvgen_server.dicomweb.gateway import ensure_gateway
from hvgen_server.dicomweb.index import STUDY_TYPES, index_version, refresh
from hvgen_server.ingest import Ingest, blobwrite
from hvgen_server.ingest.blobwrite import stage, staged_of, unstage
from hvgen_server.store.rows import (
    INSTANCE,
    DicomInstance,
    DicomQuery,
    StudyListQuery,
    ThingFilter,
    ThingSelection,
)

from .dicomgen import make_study
from .localserver import Backend, RunningServer, environment, start_server
from .test_dicomweb import cli, multipart_body, token_of


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, backend: Backend):
    running = start_server(tmp_path_factory.mktemp("ingest") / "server", backend=backend)
    yield running
    running.stop()


def study_xml(server: RunningServer, study_uid: str) -> list[bytes]:
    """The current XML of the record's active studies with this UID."""
    store = server.open_store()
    try:
        with store.read() as tx:
            found = [
                m.version.xml
                for m in tx.things.select(
                    server.profile.record_id, ThingSelection(), [ThingFilter(type_ids=STUDY_TYPES)], with_xml=True
                )
            ]
    finally:
        store.close()
    return [x for x in found if study_uid.encode() in x]


#: What differs between two writes of one study: ids, version stamps, times, the application.
_VOLATILE = [
    (re.compile(rb'<thing-id version-stamp="[^"]+">[^<]+</thing-id>'), b"<thing-id/>"),
    (re.compile(rb"<timestamp>[^<]+</timestamp>"), b"<timestamp/>"),
    (re.compile(rb'<app-id name="[^"]*">[^<]+</app-id>'), b"<app-id/>"),
]


def normalized(xml: bytes, *, updated: bool = False) -> bytes:
    """``xml`` without what differs between two writes (and, with ``updated``,
    without the action of its last update: the previews are added by an update)."""
    for pattern, replacement in _VOLATILE:
        xml, count = pattern.subn(replacement, xml)
        assert count, pattern
    if updated:
        xml, count = re.subn(rb"(<updated>.*)<audit-action>\w+</audit-action>(</updated>)", rb"\1\2", xml)
        assert count == 1
    return xml


def stow(server: RunningServer, files: list[Path]) -> httpx.Response:
    body, content_type = multipart_body([f.read_bytes() for f in files])
    token = token_of(server)
    return httpx.post(
        f"{server.url}/dicomweb/studies",
        content=body,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {token}", "Accept": "application/dicom+json"},
        timeout=120,
    )


def versions(server: RunningServer, study_uid: str) -> list[bytes]:
    """Every version of the record's one active study with this UID, oldest first."""
    store = server.open_store()
    try:
        with store.read() as tx:
            current = [
                m.version
                for m in tx.things.select(
                    server.profile.record_id, ThingSelection(), [ThingFilter(type_ids=STUDY_TYPES)], with_xml=True
                )
                if study_uid.encode() in m.version.xml
            ]
            assert len(current) == 1
            every = tx.things.select(
                server.profile.record_id,
                ThingSelection(thing_ids=(current[0].thing_id,), all_versions=True),
                [ThingFilter(type_ids=STUDY_TYPES)],
                with_xml=True,
            )
            return [v.xml for v in sorted((m.version for m in every), key=lambda v: v.seq)]
    finally:
        store.close()


def previews_made(server: RunningServer, study_uid: str, timeout: float = 120) -> list[bytes]:
    """The versions of a study once its previews were added (in a later version)."""
    deadline = time.monotonic() + timeout
    while len(found := versions(server, study_uid)) < 2:
        assert time.monotonic() < deadline, "the previews were not added"
        time.sleep(0.2)
    return found


def uploaded(server: RunningServer, folder: Path, uid: str, *options: str) -> bytes:
    """The thing `hvgen study upload` writes for the study in ``folder`` (deleted again)."""
    code, out = cli(server, "study", "upload", str(folder), *options)
    assert code == 0, out
    (xml,) = study_xml(server, uid)
    code, out = cli(server, "study", "delete", uid)
    assert code == 0, out
    assert study_xml(server, uid) == []
    return xml


def test_ingest_writes_the_thing_study_upload_writes(server: RunningServer, tmp_path: Path) -> None:
    made = make_study(tmp_path / "study", series=2, images=3, size=32, seed=7, patient="ROE^ANNA")
    uid = str(made["study_uid"])
    without_previews = uploaded(server, tmp_path / "study", uid, "--no-previews")
    with_previews = uploaded(server, tmp_path / "study", uid)

    response = stow(server, sorted((tmp_path / "study").rglob("*.dcm")))
    assert response.status_code == 200, response.text
    first, ingested = previews_made(server, uid)
    assert b"hvgen DICOM gateway" in ingested  # written by the in-process ingest, as the gateway
    # stored at once as `study upload --no-previews` stores it; then with the previews `study upload` makes
    assert normalized(first) == normalized(without_previews)
    assert normalized(ingested, updated=True) == normalized(with_previews, updated=True)
    # the index followed the previews' version in the same transaction, each row with its preview
    store = server.open_store()
    try:
        with store.read() as tx:
            assert tx.dicom.stale(server.profile.record_id, STUDY_TYPES) == []
            hits = tx.dicom.search(server.profile.record_id, DicomQuery(level=INSTANCE))
    finally:
        store.close()
    rows = [h.instance for h in hits if h.instance.study_uid == uid]
    assert len(rows) == 6 and all(r.preview_blob_id for r in rows)

    # sent again: nothing is stored twice, the study is not even rewritten
    assert stow(server, sorted((tmp_path / "study").rglob("*.dcm"))[:2]).status_code == 200
    assert study_xml(server, uid) == [ingested]


def test_index_is_current_when_ingest_returns(server: RunningServer, tmp_path: Path) -> None:
    """No catch-up left for the first query: the ingest transaction wrote the
    index rows, and they are those re-reading the stored blobs gives."""
    make_study(tmp_path / "study", series=1, images=3, size=32, seed=8)
    scanned = dicom.scan(tmp_path / "study")
    with environment(server.backend.env):
        platform = Platform.open(server.config())
    try:
        gateway = ensure_gateway(platform)
        record_id = server.profile.record_id
        done = Ingest(platform, gateway.app_id, record_id).store(build(scanned.studies[0]))
        assert done.status == "created" and done.images == 3
        with platform.store.read() as tx:
            assert tx.dicom.stale(record_id, STUDY_TYPES) == []
        indexed = {r.sop_uid: r for r in _rows(platform, record_id, scanned.studies[0].uid)}
        reparsed = {r.sop_uid: r for r in index_version(platform, done.version_stamp)}
        assert len(indexed) == 3
        assert indexed == reparsed
    finally:
        platform.close()


def test_index_is_current_when_a_study_is_added_to(server: RunningServer, tmp_path: Path) -> None:
    """A study completed by a second ingest (a sender's second association, a
    part handed on): its index moves to the new version with the images it
    adds, as re-reading every stored blob gives it, with no catch-up left for
    the first query; the study list counts every image."""
    make_study(tmp_path / "study", series=2, images=3, size=32, seed=9)
    files = sorted((tmp_path / "study").rglob("*.dcm"))
    assert len(files) == 6
    for part, chosen in (("first", files[:3]), ("second", files[2:])):  # one image in both
        (tmp_path / part).mkdir()
        for f in chosen:
            (tmp_path / part / f.name).write_bytes(f.read_bytes())
    with environment(server.backend.env):
        platform = Platform.open(server.config())
    try:
        gateway = ensure_gateway(platform)
        record_id = server.profile.record_id
        ingest = Ingest(platform, gateway.app_id, record_id)
        first = ingest.store(build(dicom.scan(tmp_path / "first").studies[0]))
        second = ingest.store(build(dicom.scan(tmp_path / "second").studies[0]))
        assert (first.status, first.images, second.status, second.images) == ("created", 3, "updated", 6)
        assert second.thing_id == first.thing_id and second.version_stamp != first.version_stamp
        with platform.store.read() as tx:
            assert tx.dicom.stale(record_id, STUDY_TYPES) == []
            listed = [r for r in tx.dicom.study_list(record_id, StudyListQuery())[1] if r.thing_id == first.thing_id]
        study_uid = dicom.scan(tmp_path / "study").studies[0].uid
        indexed = {r.sop_uid: r for r in _rows(platform, record_id, study_uid)}
        reparsed = {r.sop_uid: r for r in index_version(platform, second.version_stamp)}
        assert len(indexed) == 6
        assert indexed == reparsed
        assert [(r.version_stamp, r.series, r.images) for r in listed] == [(second.version_stamp, 2, 6)]
        assert listed[0].size == sum(f.stat().st_size for f in files)
    finally:
        platform.close()


def _rows(platform: Platform, record_id: str, study_uid: str) -> list[DicomInstance]:
    with platform.store.read() as tx:
        hits = tx.dicom.search(record_id, DicomQuery(level=INSTANCE))
    return [dataclasses.replace(h.instance, thing_id="") for h in hits if h.instance.study_uid == study_uid]


def test_a_blob_made_ahead_is_used_only_while_its_file_is_unchanged(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A received file's blob made ahead (:func:`stage`) is what the stored study
    names, with the file's own hash; one whose file changed since is not used
    (the file is written again), and is removed with the unused ones when the
    study is stored; a blob being made when its study was stored is removed
    once made. A store that cannot adopt files (an object store) gets them
    uploaded ahead, used alike."""
    folder = server.data / "staging-test"  # (on the blob store's file system)
    make_study(folder, series=1, images=3, size=32, seed=12)
    with environment(server.backend.env):
        platform = Platform.open(server.config())
    try:
        study = dicom.scan(folder).studies[0]
        images = sorted(study.images, key=lambda i: i.path.name)
        for image in images:
            stage(platform, image.header, (folder / "gone" / image.path.name, image.path))  # the second is there
        staged = [staged_of(i.header) for i in images]

        def kept(blob_id: str) -> bool:
            try:
                platform.files.size(blob_id)
            except Exception:
                return False
            return True

        for image, made in zip(images, staged, strict=True):
            assert made is not None and made.copied == server.shared
            hasher = blobhash.SHA256Block(platform.config.block_size)
            hasher.update(image.path.read_bytes())
            assert (made.size, made.digest) == (image.size, hasher.b64digest())
        os.utime(images[2].path, ns=(1, 1))  # changed since it was adopted
        done = Ingest(platform, ensure_gateway(platform).app_id, server.profile.record_id).store(build(study))
        assert done.images == 3
        with platform.store.read() as tx:
            named = {r.name: r.blob_id for r in tx.things.blob_refs(done.version_stamp)}
        ids = [s.blob_id for s in staged if s is not None]
        assert ids[0] in named.values() and ids[1] in named.values() and ids[2] not in named.values()
        assert kept(ids[2])
        assert unstage(platform, [i.header for i in images]) == 1
        assert not kept(ids[2])
        assert platform.files.read_all(ids[0]) == images[0].path.read_bytes()
        stage(platform, images[0].header, (images[0].path,))  # its study was stored: not again
        assert staged_of(images[0].header) is None

        header = dicom.examine(images[1].path)[0]  # a study stored while its blob is made
        assert header is not None
        made_ids: list[str] = []
        real = blobwrite._made

        def made_as_its_study_is_stored(platform: Platform, paths: Any) -> Any:
            made = real(platform, paths)
            made_ids.append(made.blob_id)
            unstage(platform, [header])
            return made

        monkeypatch.setattr(blobwrite, "_made", made_as_its_study_is_stored)
        stage(platform, header, (images[1].path,))
        assert staged_of(header) is None and len(made_ids) == 1
        assert not kept(made_ids[0])
        monkeypatch.undo()

        header = dicom.examine(images[1].path)[0]  # staged too long ago: written again
        assert header is not None
        stage(platform, header, (images[1].path,))
        old = staged_of(header)
        assert old is not None
        monkeypatch.setattr(blobwrite, "STAGED_FOR", 0.0)
        row = blobwrite.write_file(platform, server.profile.record_id, images[1].path, old)
        assert row.blob_id != old.blob_id and row.hash == old.digest and not old.used
        monkeypatch.undo()

        header = dicom.examine(images[1].path)[0]  # its study stored while its blob is made: waited for
        assert header is not None
        entered = threading.Event()

        def slowly_made(platform: Platform, paths: Any) -> Any:
            entered.set()
            time.sleep(0.5)
            return real(platform, paths)

        monkeypatch.setattr(blobwrite, "_made", slowly_made)
        making = threading.Thread(target=stage, args=(platform, header, (images[1].path,)))
        making.start()
        assert entered.wait(10)
        assert staged_of(header) is None  # (not waited for)
        waited = staged_of(header, 10.0)
        making.join()
        assert waited is not None and waited is staged_of(header)
        monkeypatch.undo()

        header = dicom.examine(images[0].path)[0]  # its file replaced by another, same size and time
        assert header is not None
        stage(platform, header, (images[0].path,))
        old = staged_of(header)
        assert old is not None
        was, again = os.stat(images[0].path), images[0].path.with_suffix(".again")
        again.write_bytes(images[0].path.read_bytes())  # (as the listener replaces a file sent again)
        os.utime(again, ns=(was.st_atime_ns, was.st_mtime_ns))
        os.replace(again, images[0].path)
        row = blobwrite.write_file(platform, server.profile.record_id, images[0].path, old)
        assert row.blob_id != old.blob_id and not old.used

        def refused(blob_id: str) -> None:
            raise OSError("the blob store is down")

        monkeypatch.setattr(platform.files, "delete", refused)  # removing an unused one fails: left, not raised
        assert unstage(platform, [header]) == 0
    finally:
        platform.close()


def test_a_study_is_looked_up_by_its_uid_through_the_index(server: RunningServer, tmp_path: Path) -> None:
    """Storing into a study reads only the studies the DICOM index says may
    have its UID, not every study of the record; a study indexed without its
    UID known (before the index kept it) and one not indexed yet are read to
    be sure, and still found."""
    with environment(server.backend.env):
        platform = Platform.open(server.config())
    try:
        record_id = server.profile.record_id
        ingest = Ingest(platform, ensure_gateway(platform).app_id, record_id)
        stored = {}
        for n in range(3):
            make_study(tmp_path / f"s{n}", series=1, images=1, size=16, seed=60 + n)
            done = ingest.store(build(dicom.scan(tmp_path / f"s{n}").studies[0]))
            stored[done.study_uid] = done
        (a, first), (b, second), (c, third) = stored.items()

        def candidates(uid: str) -> set[str]:
            with platform.store.read() as tx:
                return set(tx.dicom.study_things(record_id, {uid}, STUDY_TYPES))

        found = candidates(a)
        assert first.thing_id in found and second.thing_id not in found and third.thing_id not in found
        with platform.store.write() as tx:
            tx.dicom.replace(record_id, second.thing_id, second.version_stamp, [])  # its UID not known
            tx.dicom.forget([third.thing_id])  # not indexed
        assert {second.thing_id, third.thing_id} <= candidates(a)
        for uid, done in stored.items():
            assert [v.thing_id for v in ingest.find(uid)] == [done.thing_id]
        assert second.thing_id not in candidates(a)  # its UID read once is kept
        again = ingest.store(build(dicom.scan(tmp_path / "s2").studies[0]))  # found: not stored twice
        assert (again.thing_id, again.status) == (third.thing_id, "unchanged")
        refresh(platform, record_id)
        assert third.thing_id not in candidates(a) and third.thing_id in candidates(c)
        assert second.thing_id in candidates(b)
    finally:
        platform.close()
