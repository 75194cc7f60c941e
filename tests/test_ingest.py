"""The in-process ingest (hvgen_server.ingest): the thing it writes is the one
`hvgen study upload` writes through the protocol, byte for byte but for ids
and times; the DICOM index is current as soon as a study is stored."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import httpx
import pytest

from hvgen_imaging import dicom
from hvgen_imaging.study import build
from hvgen_server.context import Platform
from hvgen_server.dicomweb.gateway import ensure_gateway
from hvgen_server.dicomweb.index import STUDY_TYPES, index_version
from hvgen_server.ingest import Ingest
from hvgen_server.store.rows import INSTANCE, DicomInstance, DicomQuery, ThingFilter, ThingSelection

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


def normalized(xml: bytes) -> bytes:
    for pattern, replacement in _VOLATILE:
        xml, count = pattern.subn(replacement, xml)
        assert count, pattern
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


def test_ingest_writes_the_thing_study_upload_writes(server: RunningServer, tmp_path: Path) -> None:
    made = make_study(tmp_path / "study", series=2, images=3, size=32, seed=7, patient="ROE^ANNA")
    uid = str(made["study_uid"])
    code, out = cli(server, "study", "upload", str(tmp_path / "study"))
    assert code == 0, out
    (uploaded,) = study_xml(server, uid)
    code, out = cli(server, "study", "delete", uid)
    assert code == 0, out
    assert study_xml(server, uid) == []

    response = stow(server, sorted((tmp_path / "study").rglob("*.dcm")))
    assert response.status_code == 200, response.text
    (ingested,) = study_xml(server, uid)
    assert b"hvgen DICOM gateway" in ingested  # written by the in-process ingest, as the gateway
    assert normalized(ingested) == normalized(uploaded)

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


def _rows(platform: Platform, record_id: str, study_uid: str) -> list[DicomInstance]:
    with platform.store.read() as tx:
        hits = tx.dicom.search(record_id, DicomQuery(level=INSTANCE))
    return [dataclasses.replace(h.instance, thing_id="") for h in hits if h.instance.study_uid == study_uid]
