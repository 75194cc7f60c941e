"""Resources made per second of each FHIR-mapped thing type, in process,
against blood pressure (the type `bench/fhir.py` exports) measured in the
same run
around each type.

    .venv/bin/python bench/fhir_types.py [--seconds S] [--things N]

Each type: N things drawn from the tests' hypothesis strategies (every
element the schema allows, varied lexical forms), each made into its
resource as a read, a search page and ``$export`` do (the thing parsed, the
mapping, the thing-XML extension) and written as JSON, for S seconds. A
type at a ratio near 1 or above costs the export no more than blood
pressure does; the things of the clinical types are larger (persons,
codes), so they cost more (``bench/fhir.py`` measures the export itself).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis.errors import NonInteractiveExampleWarning  # noqa: E402

from hvgen_server.fhir.registry import all_mappings  # noqa: E402
from hvgen_server.store.rows import ThingVersion  # noqa: E402
from tests import fhirthings, fhirthings_clinical  # noqa: E402

BP = "blood-pressure"


def rate(rows: list[ThingVersion], seconds: float) -> float:
    made, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for row in rows:
            json.dumps(fhirthings.FHIR.resource(fhirthings.RECORD, row))
            made += 1
    return made / (time.perf_counter() - start)


def row(type_id: str, xml: bytes) -> ThingVersion:
    return ThingVersion("0f0f0f0f-0000-0000-0000-000000000001", type_id, "v1", "Active", "", 1.0, 2.0, xml, 1, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--things", type=int, default=100)
    args = parser.parse_args()
    warnings.simplefilter("ignore", NonInteractiveExampleWarning)
    samples: dict[str, list[ThingVersion]] = {}
    for module, strategy in fhirthings_clinical.STRATEGIES.items():
        mapping = fhirthings_clinical.mapping(module)
        xml = [fhirthings_clinical.stored(module, strategy.example()) for _ in range(args.things)]
        samples[module] = [row(mapping.type_ids[0], x) for x in xml]
    for tag, strategy in fhirthings.STRATEGIES.items():
        mapping = next(m for m in all_mappings() if m.root == tag)
        samples[tag] = [row(mapping.type_ids[0], fhirthings.stored(strategy.example())) for _ in range(args.things)]
    print(f"{'type':28s} {'resources/s':>12s} {'blood pressure/s':>17s} {'ratio':>7s}")
    for name, rows in samples.items():
        if name != BP:  # the baseline measured around each type: the machine's load changes
            before = rate(samples[BP], args.seconds / 2)
            found = rate(rows, args.seconds)
            baseline = (before + rate(samples[BP], args.seconds / 2)) / 2
            print(f"{name:28s} {found:12.0f} {baseline:17.0f} {found / baseline:7.2f}")


if __name__ == "__main__":
    main()
