"""The study list's index refresh is skipped while the record's study things
are as they were at the last refresh (one fingerprint query instead of
reading every study thing), and follows every change: a study added, a new
version, a deletion; a thing of another type changes nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest

from hvgen_imaging import dicom, study, workflow
from hvgen_server.context import Platform
from hvgen_server.dicomweb.index import STUDY_TYPES, Freshness
from hvgen_server.store.rows import ACTIVE, StudyListQuery
from hvgen_server.store.sql.dicomindex import DicomIndex

from .dicomgen import make_study
from .localserver import Backend, hvgen, start_server
from .viewerdata import PASSWORD


@pytest.fixture
def stored(tmp_path: Any, backend: Backend) -> Iterator[tuple[Platform, str, str]]:
    """A stopped server's store with one uploaded study: (platform, record id, thing id)."""
    server = start_server(tmp_path / "server", backend=backend)
    try:
        hvgen(server, "person", "passwd", "local", "--password-stdin", stdin=PASSWORD + "\n")
        make_study(tmp_path / "study", series=1, images=2, size=16, seed=5, patient="FRESH^ONE")
        built = study.build(dicom.scan(tmp_path / "study").studies[0], previews=False)
        with server.client() as client:
            thing_id = workflow.Studies(client, journal_dir=tmp_path / "journal").upload(built).thing_id
    finally:
        server.stop()
    store = server.open_store()
    try:
        platform = cast(Platform, SimpleNamespace(store=store, files=server.open_blob_files()))
        yield platform, server.profile.record_id, thing_id
    finally:
        store.close()


def test_the_index_is_read_again_only_when_the_records_studies_changed(
    stored: tuple[Platform, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    platform, record, first = stored
    store = platform.store
    reads: list[str] = []
    stale = DicomIndex.stale

    def counted(self: DicomIndex, record_id: str, type_ids: Any) -> list[tuple[str, str]]:
        reads.append(record_id)
        return stale(self, record_id, type_ids)

    monkeypatch.setattr(DicomIndex, "stale", counted)

    def listed() -> dict[str, str]:
        with store.read() as tx:
            return {r.thing_id: r.version_stamp for r in tx.dicom.study_list(record, StudyListQuery())[1]}

    fresh = Freshness()
    fresh.refresh(platform, record)
    assert list(listed()) == [first] and len(reads) == 1
    for _ in range(3):
        fresh.refresh(platform, record)
    assert len(reads) == 1, "nothing changed: the study things are not read again"

    with store.read() as tx:
        template = tx.things.current(record, first)
        assert template is not None
        xml, refs = tx.things.xml(template.version_stamp), tx.things.blob_refs(template.version_stamp)

    def write(change: Any) -> None:
        with store.write() as tx:
            change(tx, time.time())
        fresh.refresh(platform, record)

    # a study added
    other, stamp = str(uuid.uuid4()), str(uuid.uuid4())

    def add(tx: Any, now: float) -> None:
        tx.things.add(record, other, STUDY_TYPES[0], stamp, None, "2020-01-01T00:00:00", now)
        tx.things.add_version(other, stamp, 1, ACTIVE, xml, now, refs)

    write(add)
    assert listed() == {first: template.version_stamp, other: stamp} and len(reads) == 2
    # a new version of it
    newer = str(uuid.uuid4())

    def update(tx: Any, now: float) -> None:
        tx.things.update(other, newer, None, "2020-01-01T00:00:00", now)
        tx.things.add_version(other, newer, 2, ACTIVE, xml, now, refs)

    write(update)
    assert listed()[other] == newer and len(reads) == 3
    # a thing of another type: the study list's things are as they were
    write(lambda tx, now: tx.things.add(record, str(uuid.uuid4()), str(uuid.uuid4()), "x", None, "2020", now))
    assert len(reads) == 3
    # the study deleted
    write(lambda tx, now: tx.things.mark_deleted(other, str(uuid.uuid4()), now))
    assert list(listed()) == [first] and len(reads) == 4
    fresh.refresh(platform, record)
    assert len(reads) == 4
