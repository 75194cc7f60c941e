"""Immunization (thing type cd3587b5-b6e1-4565-ab3b-1c3ad45eb04f) as an Immunization.

Sources: FHIR R4 Immunization (http://hl7.org/fhir/R4/immunization.html:
status ``completed``, vaccineCode, occurrence[x] as dateTime or string,
performer.actor, manufacturer, lotNumber, expirationDate, site, route,
protocolApplied.doseNumberString) and HealthVault's immunization schema
(immunization.xsd: ``name`` (vocabulary immunizations / immunizations-common,
whose codes are CVX codes: shown with the CVX system
http://hl7.org/fhir/sid/cvx, https://www2a.cdc.gov/vaccines/iis/iisstandards/vaccines.asp),
``administration-date`` (approximate: structured or descriptive),
``administrator`` (a person: their full name), ``manufacturer`` (its text;
the MVX code travels in the thing-XML extension), ``lot``, ``route``,
``expiration-date``, ``sequence``, ``anatomic-surface``; ``adverse-event``
and ``consent`` travel in the extension). A thing with no administration
date shows ``occurrenceString`` "unknown" (FHIR needs an occurrence).
Every Immunization maps, whatever its code system.
"""

from .fields import ElementMapping, Field

ORDER = (
    "name", "administration-date", "administrator", "manufacturer", "lot", "route",
    "expiration-date", "sequence", "anatomic-surface", "adverse-event", "consent",
)  # fmt: skip

MAPPING = ElementMapping(
    resource_type="Immunization",
    type_ids=("cd3587b5-b6e1-4565-ab3b-1c3ad45eb04f",),
    root="immunization",
    source=__doc__ or "",
    fixed=(("status", "completed"),),
    fields=(
        Field("name", ("vaccineCode",), "concept", required=True),
        Field("administration-date", ("occurrence",), "approx", choice=True, default={"String": "unknown"}),
        Field("administrator", ("performer", 0, "actor"), "person"),
        Field("lot", ("lotNumber",), "string"),
        Field("route", ("route",), "concept"),
        Field("expiration-date", ("expirationDate",), "date"),
        Field("sequence", ("protocolApplied", 0, "doseNumberString"), "string"),
        Field("anatomic-surface", ("site",), "concept"),
    ),
    order=ORDER,
)
