"""An ImagingStudy's series and instances from the store's DICOM index.

The study thing's XML names its series but not its images; the DICOM
index (``dicom_instances``, filled as studies are stored) knows every
image. A served ImagingStudy lists, per series, its instances (SOP
instance UID, SOP class as ``urn:oid:`` in the ``urn:ietf:rfc:3986``
system, instance number), and takes its counts from the index; a series
the index knows but the thing does not is added with the index's number,
modality and description. A study not indexed yet keeps what its XML says.
The index answers a study UID with the first thing that holds it: a study
stored in two things lists its images under the first only.
"""

from __future__ import annotations

from typing import Any

from ..store.base import Transaction
from ..store.rows import INSTANCE, DicomInstance, DicomMatch, DicomQuery
from .maps.imaging_study import DCM

#: The system of a SOP class (R4 ImagingStudy.series.instance.sopClass: a URI).
URI = "urn:ietf:rfc:3986"


def add_instances(tx: Transaction, record_id: str, resource: dict[str, Any]) -> dict[str, Any]:
    """``resource`` (an ImagingStudy) with the series and instances the DICOM index holds of its thing."""
    thing_id = str(resource.get("id", ""))
    uids = [
        str(i["value"]).removeprefix("urn:oid:")
        for i in resource.get("identifier") or []
        if i.get("system") == "urn:dicom:uid"
    ]
    if not uids:
        return resource
    query = DicomQuery(INSTANCE, (DicomMatch("study_uid", "uids", tuple(uids)),))
    found = [h.instance for h in tx.dicom.search(record_id, query) if h.instance.thing_id == thing_id]
    if not found:
        return resource
    by_series: dict[str, list[DicomInstance]] = {}
    for image in found:
        by_series.setdefault(image.series_uid, []).append(image)
    series = list(resource.get("series") or [])
    known = {s["uid"] for s in series}
    for uid, images in by_series.items():
        if uid not in known:
            first = images[0]
            added: dict[str, Any] = {"uid": uid, "modality": {"system": DCM, "code": first.modality or "OT"}}
            if first.series_number is not None:
                added["number"] = first.series_number
            if first.series_description:
                added["description"] = first.series_description
            series.append(added)
    for item in series:
        images = by_series.get(item["uid"], [])
        if images:
            item["numberOfInstances"] = len(images)
            item["instance"] = [_instance(i) for i in sorted(images, key=_order)]
    resource["series"] = series
    resource["numberOfSeries"] = max(len(by_series), int(resource.get("numberOfSeries") or 0))
    resource["numberOfInstances"] = len(found)
    modalities = {m["code"]: m for m in resource.get("modality") or []}
    for image in found:
        if image.modality and image.modality not in modalities:
            modalities[image.modality] = {"system": DCM, "code": image.modality}
    if modalities:
        resource["modality"] = list(modalities.values())
    return resource


def _order(image: DicomInstance) -> tuple[int, str]:
    return (image.instance_number if image.instance_number is not None else 1 << 31, image.sop_uid)


def _instance(image: DicomInstance) -> dict[str, Any]:
    found: dict[str, Any] = {
        "uid": image.sop_uid,
        "sopClass": {"system": URI, "code": f"urn:oid:{image.sop_class_uid}"},
    }
    if image.instance_number is not None:
        found["number"] = image.instance_number
    return found
