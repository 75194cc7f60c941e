"""The FHIR R4 specification's own examples (tests/fhir_r4_examples, see its
README) imported as things: each that fits a mapping makes the thing with
the example's values (converted into the thing's units), served back as a
valid R4 resource; each that does not is refused with the OperationOutcome
that names why."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from hvgen_server.fhir.errors import FhirError

from .fhirthings import FHIR, resource_of

construct = pytest.importorskip("fhir.resources").construct_fhir_element
EXAMPLES = Path(__file__).with_name("fhir_r4_examples")
UCUM = "http://unitsofmeasure.org"


def example(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return found


def imported(name: str) -> etree._Element:
    resource = example(name)
    construct(resource["resourceType"], copy.deepcopy(resource))  # the example is R4 as given
    thing = FHIR.mapping_for(resource).to_thing(resource, None)
    served = resource_of(thing)
    construct(served["resourceType"], copy.deepcopy(served))
    return thing


def values(thing: etree._Element, *paths: str) -> list[str | None]:
    return [thing.findtext(p) for p in paths]


def test_the_examples_are_r4_from_the_specification() -> None:
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    assert "4.0.1" in readme and "CC0" in readme
    names = sorted(p.name for p in EXAMPLES.glob("*.json"))
    assert len(names) == 16 and all(name in readme for name in names)


@pytest.mark.parametrize(
    ("name", "root", "expected"),
    [
        # 185 [lb_av] is 83.91458845 kg exactly
        ("observation-example.json", "weight", {"when/date/y": "2016", "value/kg": "83.91458845"}),
        # 66.9 [in_i] (written 66.89999999999999) in metres
        ("observation-example-body-height.json", "height", {"value/m": "1.69926"}),
        ("observation-example-heart-rate.json", "heart-rate", {"value": "44", "when/date/d": "2"}),
        ("observation-example-bloodpressure.json", "blood-pressure", {"systolic": "107", "diastolic": "60"}),
        # 95 % is the fraction 0.95; 09:30:10+01:00 is 08:30:10 in the platform's UTC
        ("observation-example-satO2.json", "blood-oxygen-saturation", {"value": "0.95", "when/time/h": "8"}),
        ("observation-example-f001-glucose.json", "blood-glucose",
         {"value/mmolPerL": "6.3", "glucose-measurement-type/code/value": "wb", "when/time/m": "30"}),
        ("observation-example-body-temperature.json", "vital-signs",
         {"vital-signs-results/title/code/value": "8310-5", "vital-signs-results/value": "36.5",
          "vital-signs-results/unit/text": "C", "vital-signs-results/unit/code/value": "Cel"}),
        ("observation-example-respiratory-rate.json", "vital-signs",
         {"vital-signs-results/title/text": "Respiratory rate", "vital-signs-results/value": "26",
          "vital-signs-results/unit/code/value": "/min"}),
        ("observation-example-bmi.json", "vital-signs",
         {"vital-signs-results/title/code/value": "39156-5", "vital-signs-results/value": "16.2",
          "vital-signs-results/unit/text": "kg/m2"}),
        ("condition-example.json", "condition",
         {"name/text": "Burnt Ear", "name/code/value": "39065001", "onset-date/structured/date/d": "24"}),
        ("allergyintolerance-example.json", "allergy",
         {"name/text": "Cashew nuts", "reaction/text": "Anaphylactic reaction", "first-observed/structured/date/y": "2004"}),
        ("procedure-example.json", "procedure",
         {"name/text": "Appendectomy", "when/structured/date/m": "4", "primary-provider/name/full": "Dr Cecil Surgeon"}),
        # the medication is the contained Medication; the reason and route are the dosage's and reasonCode's;
        # its effectiveDateTime (a moment, not a period) is the date started
        ("medicationstatementexample1.json", "medication",
         {"name/text": "Tylenol PM", "name/code/value": "50580-506-02", "indication/text": "Restless Legs",
          "route/text": "Oral Route", "date-started/structured/date/d": "23"}),
    ],
)  # fmt: skip
def test_an_example_that_fits_makes_the_thing_with_its_values(name: str, root: str, expected: dict[str, str]) -> None:
    thing = imported(name)
    assert thing.tag == root
    assert dict(zip(expected, values(thing, *expected), strict=True)) == expected


def test_a_vital_sign_example_comes_back_as_the_same_observation() -> None:
    given = example("observation-example-body-temperature.json")
    served = resource_of(imported("observation-example-body-temperature.json"))
    for name in ("status", "effectiveDateTime", "valueQuantity"):
        assert served[name] == given[name], name
    # a HealthVault code has no display of its own: the coding comes back without it, the text with it
    assert served["code"] == {"text": "Body temperature", "coding": [{"system": "http://loinc.org", "code": "8310-5"}]}
    assert Decimal(str(served["valueQuantity"]["value"])) == Decimal("36.5")


@pytest.mark.parametrize(
    ("name", "status", "said"),
    [
        # the panel of R4 links separate Observations; a vital signs thing holds its results itself
        ("observation-example-vitals-panel.json", 422, "hasMember references are not imported"),
        # the performer is a reference with no name: HealthVault's administrator is a person's name
        ("immunization-example.json", 422, "performer.0.actor: a Reference with a display"),
        # the record's person is the record's own: a Patient is not made into a thing
        ("patient-example.json", 422, "Patient is served but not imported"),
    ],
)
def test_an_example_that_does_not_fit_is_refused_naming_why(name: str, status: int, said: str) -> None:
    resource = example(name)
    construct(resource["resourceType"], copy.deepcopy(resource))
    with pytest.raises(FhirError) as refused:
        FHIR.mapping_for(resource).to_thing(resource, None)
    outcome = refused.value.outcome()
    construct("OperationOutcome", copy.deepcopy(outcome))
    assert refused.value.status == status and outcome["issue"][0]["severity"] == "error"
    assert said in outcome["issue"][0]["diagnostics"]
