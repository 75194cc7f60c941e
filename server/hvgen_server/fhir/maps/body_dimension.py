"""Body dimension (thing type dd710b31-2b6f-45bd-9552-253562b9a7c1) as an Observation.

Sources: the HealthVault FHIR mapping library's body dimension transformer
(https://github.com/microsoft/healthvault-fhir-library, BodyDimensionToFhir:
category vital-signs, the code is the thing's measurement name, the value
a length), FHIR R4 Observation (http://hl7.org/fhir/R4/observation.html),
UCUM ``cm`` (imports also take ``m``, ``mm``, ``[in_i]``, ``[ft_i]``), and
HealthVault's body dimension schema (body-dimension.xsd: ``when``
(approximate: descriptive text travels in the thing-XML extension only),
``measurement-name`` (vocabularies body-dimension-measurement-names and
-pediatric), ``value/m``, ``value/display``). Imports take Observations
coded in those vocabularies, or LOINC 8280-0 "Waist Circumference at
umbilicus by Tape measure" and 9843-4 "Head Occipital-frontal
circumference" (the vital-signs head circumference profile).
"""

from ..mapping import CATEGORY, LOINC, Measure
from .fields import ElementMapping, Field

VITAL_SIGNS = [{"coding": [{"system": CATEGORY, "code": "vital-signs", "display": "Vital Signs"}]}]

MAPPING = ElementMapping(
    resource_type="Observation",
    type_ids=("dd710b31-2b6f-45bd-9552-253562b9a7c1",),
    root="body-dimension",
    source=__doc__ or "",
    fixed=(("status", "final"), ("category", VITAL_SIGNS)),
    fields=(
        Field("when", ("effectiveDateTime",), "approx", required=True),
        Field("measurement-name", ("code",), "concept", required=True),
        Field(
            "value",
            ("valueQuantity",),
            "quantity",
            required=True,
            measure=Measure("value/m", "", "Body dimension", "m", "cm", "length", display_path="value/display"),
        ),
    ),
    order=("when", "measurement-name", "value"),
    by_codes=((LOINC, "8280-0"), (LOINC, "9843-4")),
    by_systems=(
        "urn:healthvault:wc:body-dimension-measurement-names",
        "urn:healthvault:wc:body-dimension-measurement-names-pediatric",
    ),
)
