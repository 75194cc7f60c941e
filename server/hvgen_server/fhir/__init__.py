"""FHIR R4 for the HealthVault record: ``/fhir`` in ``hvgen serve``, import and bulk export.

The record's things are served as FHIR resources (the record's person as
Patient); each mapped thing type has a module of its own in :mod:`.maps`
that says, as data, which resource it becomes, with which codes and units,
and which published mapping it follows. What FHIR has no element for
travels in an extension holding the thing's original data XML
(:data:`.xmlext.THING_XML`), so a thing served and imported back is the
same bytes.

Modules:

    errors.py      FhirError (an HTTP status and an OperationOutcome)
    datatypes.py   HealthVault dates and codable values as FHIR's, and back
    units.py       UCUM units and conversions between units of one quantity
    xmlext.py      the thing-XML extension
    mapping.py     Mapping (what every type module gives) and the quantity-observation engine
    maps/          one module per thing type
    registry.py    the mappings of the types the server serves; index facts of a thing
    search.py      search parameters → an index query; searchset Bundles
    reading.py     a resource by id, a search's page (from the JSON the index keeps)
    imaging.py     an ImagingStudy's series and instances from the DICOM index
    capability.py  the CapabilityStatement
    importing.py   FHIR (resource, Bundle, NDJSON) → things, stored in one transaction
    keeping.py     what an import keeps: every element of a resource held by its thing, or a 422 naming what is not
    exporting.py   NDJSON of the whole record, streamed
    bulk.py        $export jobs, kept in the store
    routes.py      the HTTP routes under /fhir
"""
