"""Procedure (thing type df4db479-a1ba-42a2-8714-2b083b88150f) as a Procedure.

Sources: FHIR R4 Procedure (http://hl7.org/fhir/R4/procedure.html: status
``completed``, code, performed[x] as dateTime or string, bodySite,
performer.actor) and HealthVault's procedure schema (procedure.xsd:
``when`` (approximate: structured or descriptive), ``name`` (its codes
keep their vocabulary: SNOMED CT as http://snomed.info/sct),
``anatomic-location``, ``primary-provider`` (a person: their full name);
``secondary-provider`` travels in the thing-XML extension). Every
Procedure maps, whatever its code system.
"""

from .fields import ElementMapping, Field

MAPPING = ElementMapping(
    resource_type="Procedure",
    type_ids=("df4db479-a1ba-42a2-8714-2b083b88150f",),
    root="procedure",
    source=__doc__ or "",
    fixed=(("status", "completed"),),
    fields=(
        Field("when", ("performed",), "approx", choice=True),
        Field("name", ("code",), "concept", required=True),
        Field("anatomic-location", ("bodySite", 0), "concept"),
        Field("primary-provider", ("performer", 0, "actor"), "person"),
    ),
    order=("when", "name", "anatomic-location", "primary-provider", "secondary-provider"),
)
