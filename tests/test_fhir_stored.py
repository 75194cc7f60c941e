"""Resources kept with the FHIR index: each indexed version's resource is
stored as JSON when it is written, and searches and exports send that
instead of reading the thing's XML. What is served from the kept JSON is
the resource made from the XML (valid R4), an export's line spliced from the
kept JSON is that resource too, versions whose resource was made
in another form of the mappings are made again, and an export can ask for
things updated after a time (``_since``)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree

from hvgen_server.fhir import exporting, reading, registry
from hvgen_server.fhir.access import Caller
from hvgen_server.store import SqliteStore
from hvgen_server.store.rows import ACTIVE, FhirQuery, ThingSelection

from .fhirthings import FHIR, roots, stored

WEIGHT = "3d34d87e-7fc1-4153-800f-f56592cb0d17"
construct = pytest.importorskip("fhir.resources").construct_fhir_element


def put(store: Any, record: str, root: etree._Element, updated: float = 2.0, client_id: str | None = None) -> str:
    """A thing holding ``root``, written and indexed as PutThings does."""
    thing_id, stamp = str(uuid.uuid4()), str(uuid.uuid4())
    type_id = next(m for m in registry.all_mappings() if m.root == root.tag).type_ids[0]
    xml = stored(root, client_id).replace(b'"v1">t1<', f'"{stamp}">{thing_id}<'.encode())
    with store.write() as tx:
        tx.things.add(record, thing_id, type_id, stamp, None, "2024-01-01T00:00:00.000Z", updated)
        tx.things.add_version(thing_id, stamp, 1, ACTIVE, xml, updated, [])
        FHIR.index(tx, record, thing_id, stamp, type_id, etree.fromstring(xml).find(f"data-xml/{root.tag}"))
    return thing_id


def from_xml(store: Any, record: str, thing_id: str) -> dict[str, Any]:
    with store.read() as tx:
        (current,) = [m.version for m in tx.things.select(record, ThingSelection(thing_ids=(thing_id,)), with_xml=True)]
    return FHIR.resource(record, current)


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    store = SqliteStore(Path(tmp_path_factory.mktemp("stored")) / "store.sqlite")
    yield store, store.add_record("r", [store.add_application("a", "-", "T")])[0]
    store.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(root=roots())
def test_the_kept_resource_is_the_one_made_from_the_xml_and_valid_r4(sqlite_store: Any, root: etree._Element) -> None:
    store, record = sqlite_store
    thing_id = put(store, record, root, client_id="urn:example|k-1")
    kind = next(m for m in registry.all_mappings() if m.root == root.tag).resource_type
    with store.read() as tx:
        (row,), total = tx.fhir.page(record, FhirQuery(kind, ids=(thing_id,)))
    assert total == 1 and row.resource and row.form == registry.FORM
    kept = FHIR.from_row(record, row)
    assert kept == from_xml(store, record, thing_id)
    assert kept is not None and kept["meta"]["versionId"] == row.version_stamp and kept["id"] == thing_id
    construct(kind, kept)  # raises on anything R4 does not allow
    line = FHIR.line(record, row)  # an export's line, spliced from the kept JSON
    if kind in ("ImagingStudy", "DocumentReference"):  # more is added to these as they are served
        assert line is None
    else:
        assert line is not None and line.endswith(b"\n") and line.count(b"\n") == 1
        assert json.loads(line) == kept


def test_resources_of_another_form_are_made_again(new_store, monkeypatch: pytest.MonkeyPatch) -> None:
    store = new_store()
    record = store.add_record("r", [store.add_application("a", "-", "T")])[0]
    weight = etree.fromstring(
        b"<weight><when><date><y>2024</y><m>3</m><d>1</d></date></when>"
        b'<value><kg>70.5</kg><display units="kg">70.5</display></value></weight>'
    )
    thing_id = put(store, record, weight)
    with store.read() as tx:
        assert tx.fhir.stale(record, [WEIGHT], 10, registry.FORM) == []
        (row,), _ = tx.fhir.page(record, FhirQuery("Observation"))
    monkeypatch.setattr(registry, "FORM", "next")  # the mappings changed what they make
    with store.read() as tx:
        assert tx.fhir.stale(record, [WEIGHT], 10, "next") == [(thing_id, row.version_stamp)]
        (row,), _ = tx.fhir.page(record, FhirQuery("Observation"))
    assert FHIR.from_row(record, row) is None  # not served in the old form
    platform: Any = SimpleNamespace(store=store, fhir=FHIR)
    FHIR.refreshed.discard(record)
    reading.refresh(platform, record)
    with store.read() as tx:
        assert tx.fhir.stale(record, [WEIGHT], 10, "next") == []
        (row,), _ = tx.fhir.page(record, FhirQuery("Observation"))
    assert row.form == "next" and FHIR.from_row(record, row) == from_xml(store, record, thing_id)


def test_an_export_since_a_time_has_only_things_updated_after_it(new_store) -> None:
    store = new_store()
    record = store.add_record("r", [store.add_application("a", "-", "T")])[0]
    made = {}
    for day, updated in ((1, 100.0), (2, 200.0), (3, 300.0)):
        root = etree.fromstring(
            f"<heart-rate><when><date><y>2024</y><m>3</m><d>{day}</d></date></when><value>{60 + day}</value>"
            "</heart-rate>".encode()
        )
        made[updated] = put(store, record, root, updated=updated)
    platform: Any = SimpleNamespace(store=store, fhir=FHIR)
    caller = Caller(record, None)
    ids = [line.split(b'"id":"')[1][:36].decode() for line in exporting.lines(platform, caller, "Observation", 150.0)]
    assert sorted(ids) == sorted([made[200.0], made[300.0]])
    assert len(list(exporting.lines(platform, caller, "Observation"))) == 3
    assert list(exporting.lines(platform, caller, "Observation", 300.0)) == []
