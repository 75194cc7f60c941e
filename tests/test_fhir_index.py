"""The FHIR index (store/sql/fhirindex.py) on every backend: facts written
with a version are found by code, category, date and id, a page at a time,
newest first; only current versions of active things are found; things with
no facts yet are listed to be indexed."""

from __future__ import annotations

from typing import Any

from hvgen_server.store.rows import ACTIVE, DELETED, FhirFact, FhirQuery

WEIGHT, BP = "http://loinc.org|29463-7", "http://loinc.org|85354-9"


def add(
    store, record: str, thing_id: str, stamp: str, type_id: str, facts: list[FhirFact], *, new: bool = True
) -> None:
    with store.write() as tx:
        if new:
            tx.things.add(record, thing_id, type_id, stamp, None, "2024-01-01T00:00:00.000Z", 1.0)
        else:
            tx.things.update(thing_id, stamp, None, "2024-01-01T00:00:00.000Z", 2.0)
        tx.things.add_version(thing_id, stamp, 2 if not new else 1, ACTIVE, b"<thing/>", 1.0, [])
        tx.fhir.replace(record, thing_id, stamp, facts)


def obs(code: str, date: str) -> list[FhirFact]:
    return [
        FhirFact("Observation", c, k, date)
        for c in (code, code.split("|")[1])
        for k in ("vital-signs", "x|vital-signs")
    ]


def fresh(new_store) -> tuple[Any, str]:
    store = new_store()
    app = store.add_application("a", "-", "T")
    return store, store.add_record("r", [app])[0]


def search(store, record: str, **kwargs: object) -> tuple[list[str], int]:
    with store.read() as tx:
        return tx.fhir.search(record, FhirQuery("Observation", **kwargs))  # type: ignore[arg-type]


def test_facts_are_found_by_code_date_and_id_newest_first_a_page_at_a_time(new_store) -> None:
    store, r = fresh(new_store)
    for day in range(1, 21):
        add(store, r, f"w{day:02d}", f"sw{day}", "weight", obs(WEIGHT, f"2024-03-{day:02d}T08:00:00"))
    add(store, r, "bp1", "sbp1", "bp", obs(BP, "2024-03-10T08:00:00"))
    assert search(store, r, limit=100)[1] == 21
    ids, total = search(store, r, codes=(WEIGHT,), limit=5)
    assert total == 20 and ids == ["w20", "w19", "w18", "w17", "w16"]
    assert search(store, r, codes=("29463-7",), limit=5, offset=15) == (["w05", "w04", "w03", "w02", "w01"], 20)
    ranged = search(store, r, codes=(WEIGHT, BP), dates=((">=", "2024-03-09T00:00:00"), ("<", "2024-03-11T00:00:00")))
    assert ranged == (["bp1", "w10", "w09"], 3)  # the same date: by id
    assert search(store, r, categories=("vital-signs",), ids=("bp1", "w01")) == (["bp1", "w01"], 2)
    assert search(store, r, codes=("http://other|29463-7",)) == ([], 0)


def test_only_current_versions_of_active_things_are_found(new_store) -> None:
    store, r = fresh(new_store)
    add(store, r, "t1", "s1", "weight", obs(WEIGHT, "2024-03-01T08:00:00"))
    add(store, r, "t1", "s2", "weight", obs(BP, "2024-03-02T08:00:00"), new=False)
    assert search(store, r, codes=(WEIGHT,)) == ([], 0)
    assert search(store, r, codes=(BP,)) == (["t1"], 1)
    with store.write() as tx:
        tx.things.add_version("t1", "s3", 3, DELETED, b"<thing/>", 3.0, [])
        tx.things.mark_deleted("t1", "s3", 3.0)
    assert search(store, r) == ([], 0)


def test_things_without_facts_are_listed_to_be_indexed(new_store) -> None:
    store, r = fresh(new_store)
    with store.write() as tx:
        tx.things.add(r, "old", "weight", "s0", None, "2024-01-01T00:00:00.000Z", 1.0)
        tx.things.add_version("old", "s0", 1, ACTIVE, b"<thing/>", 1.0, [])
    add(store, r, "new", "s1", "weight", obs(WEIGHT, "2024-03-01T08:00:00"))
    with store.read() as tx:
        assert tx.fhir.stale(r, ["weight"], 10) == [("old", "s0")]
        assert tx.fhir.stale(r, ["other"], 10) == []
