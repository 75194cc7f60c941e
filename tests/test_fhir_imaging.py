"""ImagingStudy with its series and instances from the DICOM index: over
hypothesis-generated studies (series the thing names or not, instance
numbers or none), a search and a read list every indexed image under its
series (SOP instance UID, SOP class as urn:oid:, number), with the index's
counts and modalities and the study's contained dicom-wado-rs Endpoint, as
valid R4; a study the index does not know yet keeps what its XML says."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from hvgen_server.fhir import reading, search
from hvgen_server.fhir.access import Caller
from hvgen_server.store import SqliteStore
from hvgen_server.store.rows import DicomInstance

from .fhirthings import FHIR
from .test_fhir_stored import put

construct = pytest.importorskip("fhir.resources").construct_fhir_element
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def image(study: str, series: str, sop: str, number: int | None, modality: str, series_number: int) -> DicomInstance:
    return DicomInstance(
        study, series, sop, CT_IMAGE, "1.2.840.10008.1.2.1", f"b-{sop}", str(uuid.uuid4()), 10, None,
        "Doe^J", "P1", "20240301", "080000", "", "", "", "", modality, series_number, f"series {series_number}",
        number, "{}", "{}", "{}",
    )  # fmt: skip


@st.composite
def studies(draw: st.DrawFn) -> tuple[str, list[tuple[str, str, bool, list[int | None]]]]:
    """A study UID and its series: (UID, modality, named in the thing's XML, instance numbers)."""
    base = f"2.25.{uuid.uuid4().int}"  # a study of its own: the index answers a UID with its first thing
    series = []
    for s in range(draw(st.integers(1, 3))):
        numbers = draw(st.lists(st.one_of(st.none(), st.integers(1, 500)), min_size=1, max_size=4))
        series.append((f"{base}.{s + 1}", draw(st.sampled_from(["CT", "MR", "US"])), draw(st.booleans()), numbers))
    return base, series


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    store = SqliteStore(Path(tmp_path_factory.mktemp("imaging")) / "store.sqlite")
    yield store, store.add_record("r", [store.add_application("a", "-", "T")])[0]
    store.close()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(study=studies(), indexed=st.booleans())
def test_a_study_lists_the_instances_the_dicom_index_holds(sqlite_store: Any, study: Any, indexed: bool) -> None:
    store, record = sqlite_store
    study_uid, series = study
    root = etree.Element("medical-image-study")
    etree.SubElement(etree.SubElement(etree.SubElement(root, "when"), "date"), "y").text = "2024"
    for uid, modality, named, numbers in series:
        if named:
            el = etree.SubElement(root, "series")
            for n in range(len(numbers)):
                etree.SubElement(etree.SubElement(el, "images"), "image-blob-name").text = f"image-{n}"
            etree.SubElement(etree.SubElement(el, "modality"), "text").text = modality
            etree.SubElement(el, "series-instance-uid").text = uid
    etree.SubElement(root, "study-instance-uid").text = study_uid
    for date in root.iter("date"):
        etree.SubElement(date, "m").text, etree.SubElement(date, "d").text = "3", "1"
    thing_id = put(store, record, root)
    images = [
        image(study_uid, uid, f"{uid}.{k}", number, modality, s + 1)
        for s, (uid, modality, _named, numbers) in enumerate(series)
        for k, number in enumerate(numbers)
    ]
    if indexed:
        with store.write() as tx:
            stamp = tx.things.current(record, thing_id).version_stamp
            tx.dicom.replace(record, thing_id, stamp, images)
    platform: Any = SimpleNamespace(store=store, fhir=FHIR)
    caller = Caller(record, None)
    parsed = search.parse("ImagingStudy", [("_id", thing_id)], record)
    (entry,) = reading.find(platform, caller, "ImagingStudy", parsed, "http://h/fhir")["entry"]
    found = entry["resource"]
    assert reading.read(platform, caller, "ImagingStudy", thing_id) == found
    construct("ImagingStudy", found)  # raises on anything R4 does not allow
    assert found["contained"][0]["connectionType"]["code"] == "dicom-wado-rs"
    assert found["endpoint"] == [{"reference": "#dicomweb"}]
    listed = {s["uid"]: s for s in found.get("series", [])}
    if not indexed:  # what the XML says only
        assert set(listed) == {uid for uid, _m, named, _n in series if named}
        assert all("instance" not in s for s in listed.values())
        return
    assert set(listed) == {uid for uid, *_ in series}
    assert found["numberOfSeries"] == len(series) and found["numberOfInstances"] == len(images)
    assert {m["code"] for m in found["modality"]} >= {m for _u, m, *_ in series}
    for uid, modality, _named, numbers in series:
        got = listed[uid]
        assert got["modality"]["code"] == modality and got["numberOfInstances"] == len(numbers)
        assert sorted(i["uid"] for i in got["instance"]) == sorted(f"{uid}.{k}" for k in range(len(numbers)))
        assert {i["sopClass"]["code"] for i in got["instance"]} == {f"urn:oid:{CT_IMAGE}"}
        assert sorted(i.get("number", -1) for i in got["instance"]) == sorted(
            n if n is not None else -1 for n in numbers
        )
