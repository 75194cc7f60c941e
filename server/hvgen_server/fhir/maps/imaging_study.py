"""Medical image study, versions 1 (c75651c8-548e-449f-8942-9e6379b0b88a) and
2 (cdfc0a9b-6d3b-4d16-afa8-02b86d621a8d), as an ImagingStudy (read only).

Sources: FHIR R4 ImagingStudy (http://hl7.org/fhir/R4/imagingstudy.html:
the study instance UID as an identifier ``urn:oid:UID`` of system
``urn:dicom:uid``, series by their UID, modality in the DICOM code system
http://dicom.nema.org/resources/ontology/DCM, counts of series and
instances, an Endpoint of connection type ``dicom-wado-rs``,
http://hl7.org/fhir/R4/endpoint.html) and HealthVault's medical image
study schemas (``when``, ``description``, ``series`` with
``series-instance-uid``, ``modality``, ``body-part``, ``images``;
``study-instance-uid``, ``reason``). A series without a UID (the schema
allows one) cannot be a FHIR series and is left out; its images still
count. Instances are not listed (the study's XML does not name their UIDs).
Studies come into the record as DICOM (`hvgen study upload`, STOW-RS,
C-STORE), never as FHIR: an imported ImagingStudy is refused.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from ..datatypes import child, concept, date_time, text
from ..errors import FhirError
from ..mapping import Mapping

DCM = "http://dicom.nema.org/resources/ontology/DCM"


class ImagingStudyMapping(Mapping):
    imports = False

    def to_fhir(self, root: etree._Element) -> dict[str, Any]:
        resource: dict[str, Any] = {"resourceType": "ImagingStudy", "status": "available"}
        uid = text(root, "study-instance-uid")
        if uid:
            resource["identifier"] = [{"system": "urn:dicom:uid", "value": f"urn:oid:{uid}"}]
        when = child(root, "when")
        if when is not None:
            resource["started"] = date_time(when)
        series_els = [c for c in root if c.tag == "series"]
        images = sum(1 for s in series_els for c in s if c.tag == "images")
        series = []
        modalities: dict[str, dict[str, str]] = {}
        for number, el in enumerate(series_els, 1):
            series_uid = text(el, "series-instance-uid")
            if not series_uid:
                continue
            modality = (text(el, "modality/text") or "OT").upper()
            coding = {"system": DCM, "code": modality}
            modalities[modality] = coding
            item: dict[str, Any] = {
                "uid": series_uid,
                "number": number,
                "modality": coding,
                "numberOfInstances": sum(1 for c in el if c.tag == "images"),
            }
            description = text(el, "description")
            if description:
                item["description"] = description
            body = child(el, "body-part")
            if body is not None:
                item["bodySite"] = {"display": text(body, "text") or ""}
            series.append(item)
        if modalities:
            resource["modality"] = list(modalities.values())
        resource["numberOfSeries"] = len(series_els)
        resource["numberOfInstances"] = images
        reason = child(root, "reason")
        if reason is not None:
            resource["reasonCode"] = [concept(reason)]
        description = text(root, "description")
        if description:
            resource["description"] = description
        if series:
            resource["series"] = series
        return resource

    def to_thing(self, resource: dict[str, Any], base: etree._Element | None) -> etree._Element:
        raise FhirError(422, "an ImagingStudy is not imported: studies come in as DICOM (hvgen study upload, STOW-RS)")


MAPPING = ImagingStudyMapping(
    resource_type="ImagingStudy",
    type_ids=("cdfc0a9b-6d3b-4d16-afa8-02b86d621a8d", "c75651c8-548e-449f-8942-9e6379b0b88a"),
    root="medical-image-study",
    source=__doc__ or "",
)
