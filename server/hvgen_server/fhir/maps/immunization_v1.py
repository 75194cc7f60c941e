"""Immunization, version 1 (thing type 3d817dbe-af42-4a9d-a553-d1298b4d08fc), as an Immunization.

Sources: FHIR R4 Immunization (http://hl7.org/fhir/R4/immunization.html)
and HealthVault's first immunization schema (immunization.1.xsd: as
version 2 (:mod:`.immunization`, whose fields this mapping shares) but
``administration-date`` is required and ``manufacturer`` is a string; it
travels in the thing-XML extension). Imports make version 2 things when
the server serves version 2, these when it serves only version 1.
"""

from .fields import ElementMapping, Field
from .immunization import MAPPING as VERSION_2
from .immunization import ORDER

FIELDS = tuple(
    Field(f.tag, f.path, f.kind, required=True, choice=True) if f.tag == "administration-date" else f
    for f in VERSION_2.fields
)

MAPPING = ElementMapping(
    resource_type="Immunization",
    type_ids=("3d817dbe-af42-4a9d-a553-d1298b4d08fc",),
    root="immunization",
    source=__doc__ or "",
    fixed=VERSION_2.fixed,
    fields=FIELDS,
    order=ORDER,
)
