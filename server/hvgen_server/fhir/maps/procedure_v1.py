"""Procedure, version 1 (thing type 0a5f9a43-dc88-4e9f-890f-1f9159b76e7b), as a Procedure.

Sources: FHIR R4 Procedure (http://hl7.org/fhir/R4/procedure.html: status
``completed``, code, performedDateTime, bodySite, performer.actor) and
HealthVault's first procedure schema (procedure.1.xsd: ``when`` (a
date-time, required), ``title`` (the code), ``primary-provider`` (a
person: their full name), ``anatomic-location``; ``secondary-provider``
travels in the thing-XML extension). Imports make version 2 things
(:mod:`.procedure`) when the server serves version 2, these when it
serves only version 1.
"""

from .fields import ElementMapping, Field

MAPPING = ElementMapping(
    resource_type="Procedure",
    type_ids=("0a5f9a43-dc88-4e9f-890f-1f9159b76e7b",),
    root="procedure",
    source=__doc__ or "",
    fixed=(("status", "completed"),),
    fields=(
        Field("when", ("performedDateTime",), "datetime", required=True),
        Field("title", ("code",), "concept"),
        Field("primary-provider", ("performer", 0, "actor"), "person"),
        Field("anatomic-location", ("bodySite", 0), "concept"),
    ),
    order=("when", "title", "primary-provider", "anatomic-location", "secondary-provider"),
)
