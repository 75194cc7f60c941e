"""The tables of the store, written once (store/sql), on every backend: the
same calls give the same answers on SQLite and on PostgreSQL (each test
runs on both through ``new_store``)."""

from __future__ import annotations

import uuid

from hvgen_server.store.rows import (
    COMMITTED,
    PACKAGE_BLOB,
    PENDING,
    RECORD_BLOB,
    UPLOADING,
    BlobRow,
    DicomInstance,
    DicomQuery,
    PackageContent,
)


def blob(
    blob_id: str, created: float, *, kind: str = PACKAGE_BLOB, state: str = COMMITTED, record: str | None = None
) -> BlobRow:
    return BlobRow(blob_id, record, kind, None, state, 0, None, None, 1, b"", None, created, created + 10)


def test_a_packages_blobs_are_listed_oldest_first(new_store) -> None:
    store = new_store()
    app = store.add_application("a", "-", "T")
    with store.write() as tx:
        tx.packages.create("P", app, PackageContent("f", "q", "x", b"<p/>"), 1.0, 1e12)
        for blob_id, created in (("a", 3.0), ("b", 1.0), ("c", 2.0), ("d", 1.0)):
            tx.blobs.add(blob(blob_id, created))
            tx.packages.add_blob("P", blob_id)
    with store.read() as tx:
        assert [b.blob_id for b in tx.packages.blobs("P")] == ["b", "d", "c", "a"]


def test_counted_answers_come_back_as_counted(new_store) -> None:
    """reserve_attempt and record_wrong give the count they made (RETURNING, or a read after the write)."""
    store = new_store()
    app = store.add_application("a", "-", "T")
    with store.write() as tx:
        tx.packages.create("P", app, PackageContent(None, None, None, b"<p/>"), 1.0, 1e12)
        assert [tx.packages.reserve_attempt("P", 3) for _ in range(4)] == [1, 2, 3, None]
        assert [tx.packages.record_wrong("P", 2) for _ in range(3)] == [1, 2, None]  # locked at the second
        package = tx.packages.get("P")
    assert package is not None and package.state != PENDING and package.wrong_answers == 2


def test_a_request_is_noted_again_once_its_validity_ended(new_store) -> None:
    """Expired requests are forgotten a batch per write; one a cleanup left
    behind is noted again all the same, and its kept answer is gone."""
    store = new_store()
    digests = [f"d{i:03d}" for i in range(150)]
    with store.write() as tx:
        assert all(tx.requests.remember(d, 10.0, 0.0) for d in digests)
        tx.requests.keep_answer("d149", b"<answer/>")
        assert not tx.requests.remember("d149", 20.0, 5.0)  # still valid: a replay
    with store.write() as tx:
        assert [tx.requests.remember(d, 30.0, 15.0) for d in reversed(digests)] == [True] * 150
        assert tx.requests.answer("d149") is None


def test_expired_uploads_are_dropped_unless_something_holds_them(new_store) -> None:
    store = new_store()
    record, _ = store.add_record("r", [])
    app = store.add_application("a", "-", "T")
    with store.write() as tx:
        tx.blobs.add(blob("gone", 0.0, kind=RECORD_BLOB, state=UPLOADING, record=record))
        tx.blobs.add(blob("packaged", 0.0, state=UPLOADING))
        tx.blobs.add(blob("fresh", 100.0, kind=RECORD_BLOB, state=UPLOADING, record=record))
        tx.packages.create("P", app, PackageContent(None, None, None, b"<p/>"), 1.0, 1e12)
        tx.packages.add_blob("P", "packaged")
    with store.write() as tx:
        assert tx.blobs.drop_expired(50.0) == ["gone"]
        assert tx.blobs.ids() == {"packaged", "fresh"}


def instance(sop: str, series: str, number: int | None, **kw: str) -> DicomInstance:
    values = {
        "study_uid": "1.2",
        "series_uid": series,
        "sop_uid": sop,
        "sop_class_uid": "1.2.840.10008.5.1.4.1.1.7",
        "transfer_syntax": "1.2.840.10008.1.2.1",
        "blob_name": sop,
        "blob_id": sop,
        "size": 10,
        "preview_blob_id": None,
        "patient_name": "Doe^Jane",
        "patient_id": "P1",
        "study_date": "20240101",
        "study_time": "",
        "accession_number": "",
        "study_id": "",
        "referring_physician": "",
        "study_description": "",
        "modality": "CT",
        "series_number": number,
        "series_description": "",
        "instance_number": None,
        "study_json": "{}",
        "series_json": "{}",
        "instance_json": "{}",
        **kw,
    }
    return DicomInstance(**values)  # type: ignore[arg-type]


def test_dicom_groups_are_represented_by_their_first_instance_and_ordered_alike(new_store) -> None:
    store = new_store()
    record, _ = store.add_record("r", [])
    thing, stamp = str(uuid.uuid4()), str(uuid.uuid4())
    rows = [
        instance("1.2.3.9", "1.2.3", 2, modality="MR", study_json='{"first": true}'),
        instance("1.2.3.1", "1.2.3", 2),
        instance("1.2.10.1", "1.2.10", None),  # no series number: first
        instance("1.2.9.1", "1.2.9", 1, modality="SR"),
    ]
    with store.write() as tx:
        tx.things.add(record, thing, "study", stamp, None, "2024-01-01T00:00:00.000Z", 1.0)
        tx.things.add_version(thing, stamp, 1, "Active", b"<thing/>", 1.0, [])
        tx.dicom.replace(record, thing, stamp, rows)
    with store.read() as tx:
        (study,) = tx.dicom.search(record, DicomQuery("study"))
        series = tx.dicom.search(record, DicomQuery("series"))
        paged = tx.dicom.search(record, DicomQuery("series", limit=None, offset=1))
    assert study.instance.sop_uid == "1.2.3.9" and study.instance.study_json == '{"first": true}'
    assert (study.series, study.instances, study.modalities) == (3, 4, ("CT", "MR", "SR"))
    assert [s.instance.series_uid for s in series] == ["1.2.10", "1.2.9", "1.2.3"]
    assert [s.instance.series_uid for s in paged] == ["1.2.9", "1.2.3"]
    assert series[2].instance.sop_uid == "1.2.3.9" and series[2].instances == 2
