"""FHIR search and bulk export, in process (no HTTP), against baselines measured in the same run.

    .venv/bin/python bench/fhir.py [--observations N] [--things N] [--rounds N]

Search: N blood pressure things (default 10,000) over a year; a search by
code and a one-month date range (what ``GET /fhir/Observation?code=…&date=ge…
&date=lt…`` runs: the index, then the page's versions made into resources).
The resources come from the JSON the index keeps with each version.
Baselines: the same page with each thing's XML read and made into a
resource (how resources were made before the index kept them), and the
same answer without the index (every thing of the type made into a
resource, then filtered). Target: p50 ≤ 20 ms.

Export: N things (default 100,000) written as NDJSON lines as ``$export``
does, resources per second, with the RSS after each tenth (flat: the rows are
streamed), from the JSON the index keeps. Baseline: the same things read
with their XML and made into resources. Target: ≥ 5,000 resources/s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hvgen_server.fhir import exporting, reading, search  # noqa: E402
from hvgen_server.fhir.access import Caller  # noqa: E402
from hvgen_server.fhir.registry import FhirTypes  # noqa: E402
from hvgen_server.store import SqliteStore, Store  # noqa: E402
from hvgen_server.store.rows import ThingFilter, ThingSelection  # noqa: E402
from hvgen_server.thingtypes import ThingTypes  # noqa: E402

BP = "ca3c57f4-f4c1-4e15-be67-0a3caf5414ed"
BATCH = 5000


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def thing_xml(thing_id: str, stamp: str, moment: dt.datetime, i: int) -> bytes:
    return (
        f'<thing><thing-id version-stamp="{stamp}">{thing_id}</thing-id><type-id>{BP}</type-id>'
        f"<data-xml><blood-pressure><when><date><y>{moment.year}</y><m>{moment.month}</m><d>{moment.day}</d></date>"
        f"<time><h>{moment.hour}</h><m>{moment.minute}</m><s>0</s></time></when>"
        f"<systolic>{100 + i % 60}</systolic><diastolic>{60 + i % 30}</diastolic><pulse>{50 + i % 50}</pulse>"
        "</blood-pressure></data-xml></thing>"
    ).encode()


def fill(store: Store, fhir: FhirTypes, count: int) -> str:
    """``count`` blood pressure things over the year 2024, written as PutThings writes them (facts too)."""
    record, _ = store.add_record("bench", [])
    start = dt.datetime(2024, 1, 1)
    step = dt.timedelta(days=365) / max(count, 1)
    from lxml import etree

    for first in range(0, count, BATCH):
        with store.write() as tx:
            for i in range(first, min(count, first + BATCH)):
                thing_id, stamp = str(uuid.uuid4()), str(uuid.uuid4())
                moment = start + step * i
                xml = thing_xml(thing_id, stamp, moment, i)
                eff = moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
                tx.things.add(record, thing_id, BP, stamp, None, eff, float(i))
                tx.things.add_version(thing_id, stamp, 1, "Active", xml, float(i), [])
                root = etree.fromstring(xml).find("data-xml/blood-pressure")
                fhir.index(tx, record, thing_id, stamp, BP, root)
    return record


def timed(work: Any, rounds: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, result


def bench_search(folder: Path, count: int, rounds: int) -> None:
    store = SqliteStore(folder / "search.sqlite")
    fhir = FhirTypes(ThingTypes())
    platform: Any = SimpleNamespace(store=store, fhir=fhir)
    record = fill(store, fhir, count)
    caller = Caller(record, "bench")
    params = [
        ("code", "http://loinc.org|85354-9"),
        ("date", "ge2024-06-01"),
        ("date", "lt2024-07-01"),
        ("_count", "50"),
    ]
    parsed = search.parse("Observation", params, record)

    def indexed() -> Any:
        return reading.find(platform, caller, "Observation", parsed, "http://bench/fhir")

    def from_xml() -> Any:  # the index's page, each thing read with its XML and made into a resource
        with store.read() as tx:
            ids, _ = tx.fhir.search(record, parsed.query)
            selection = ThingSelection(thing_ids=tuple(ids))
            versions = {m.version.thing_id: m.version for m in tx.things.select(record, selection, with_xml=True)}
        return [fhir.resource(record, versions[i]) for i in ids]

    def unindexed() -> Any:  # the baseline: every thing of the type made into a resource, then filtered
        found = []
        with store.read() as tx:
            for match in tx.things.select(record, ThingSelection(), [ThingFilter(type_ids=(BP,))], with_xml=True):
                resource = fhir.resource(record, match.version)
                if "2024-06-01" <= resource["effectiveDateTime"] < "2024-07-01":
                    found.append(resource)
        return found

    got, bundle = timed(indexed, rounds)
    made, page = timed(from_xml, rounds)
    assert [r["id"] for r in page] == [e["resource"]["id"] for e in bundle["entry"]]
    assert page == [e["resource"] for e in bundle["entry"]]  # the same resources, whichever way made
    base, everything = timed(unindexed, max(3, rounds // 10))
    assert bundle["total"] == len(everything), (bundle["total"], len(everything))
    print(f"search: {count} blood pressure observations, code + one month ({bundle['total']} match, 50 a page)")
    print(f"  indexed   p50 {got:8.2f} ms   (target <= 20 ms: {'met' if got <= 20 else 'NOT met'})")
    print(f"  from XML  p50 {made:8.2f} ms   (the index's page, each thing's XML made into a resource)")
    print(f"  baseline  p50 {base:8.2f} ms   (no index: every thing made into a resource, then filtered)")
    print(f"  ratio from XML / indexed: {made / got:7.1f}   baseline / indexed: {base / got:7.1f}")
    store.close()


def bench_export(folder: Path, count: int) -> None:
    store = SqliteStore(folder / "export.sqlite")
    fhir = FhirTypes(ThingTypes())
    platform: Any = SimpleNamespace(store=store, fhir=fhir)
    record = fill(store, fhir, count)
    caller = Caller(record, "bench")
    reading.refresh(platform, record)  # what an export does first (nothing to do: every thing is indexed)
    started = time.perf_counter()
    rows = 0
    with store.read() as tx, open(os.devnull, "wb") as sink:
        for match in tx.things.select(record, ThingSelection(), [ThingFilter(type_ids=(BP,))], with_xml=True):
            sink.write(json.dumps(fhir.resource(record, match.version)).encode() + b"\n")
            rows += 1
    base = time.perf_counter() - started
    samples = []
    written = 0
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        for line in exporting.lines(platform, caller, "Observation"):
            sink.write(line)
            written += 1
            if written % max(1, count // 10) == 0:
                samples.append(rss_mib())
    took = time.perf_counter() - started
    assert written == rows == count
    rate = written / took
    print(f"export: {count} things as NDJSON Observations")
    print(f"  {rate:10.0f} resources/s  ({took:.1f} s; target >= 5,000/s: {'met' if rate >= 5000 else 'NOT met'})")
    print(
        f"  baseline: each thing's XML made into a resource {rows / base:10.0f} resources/s; ratio {base / took:6.1f}"
    )
    print(
        f"  RSS after each tenth (MiB): {' '.join(f'{s:.0f}' for s in samples)}  (growth {samples[-1] - samples[0]:+.1f} MiB)"
    )
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--observations", type=int, default=10_000)
    ap.add_argument("--things", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench_search(Path(tmp), args.observations, args.rounds)
        bench_export(Path(tmp), args.things)


if __name__ == "__main__":
    main()
