"""Picking up a study the record already holds.

A packaged medical image study whose Study Instance UID names a study of the
record (an active thing of either version of the type) is not added as a
second study thing. When the record's study already has every image of the
packaged one, nothing of it is stored and its blobs are not even decrypted
(:data:`UNCHANGED`). Otherwise the images it lacks are added to it, in their
series (a series it lacks comes whole), with their blobs and previews: a
new version of the record's study (:data:`MERGED`). A signed study cannot
keep a signature that does not cover what was added: the new version is
unsigned, and the outcome says so (:data:`MERGED_UNSIGNED`). Other things,
and studies the record does not hold, are added as new things
(:data:`CREATED`). The outcomes go back with the thing keys.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from lxml import etree

from healthvault.bindings.things import medical_image_study as v1
from healthvault.bindings.things import medical_image_study_2 as v2

from . import appview, thingxml
from .context import Context
from .store.rows import ThingFilter, ThingSelection, ThingVersion

CREATED, MERGED, MERGED_UNSIGNED, UNCHANGED = "created", "merged", "merged-signature-removed", "unchanged"
V1, V2 = str(v1.MedicalImageStudy.TYPE_ID), str(v2.MedicalImageStudy.TYPE_ID)
STUDY = "data-xml/medical-image-study"


@dataclass
class Plan:
    """What to do with one packaged thing."""

    outcome: str = CREATED
    target: ThingVersion | None = None  # the record's study, for MERGED and UNCHANGED
    blobs: set[str] = field(default_factory=set)  # the blobs to bring (MERGED)


def _uid(thing_el: etree._Element) -> str:
    return (thing_el.findtext(f"{STUDY}/study-instance-uid") or "").strip()


def _images(study: etree._Element) -> set[str]:
    return {(name.text or "").strip() for name in study.iterfind("series/images/image-blob-name")}


def plan(ctx: Context, thing_el: etree._Element) -> Plan:
    """How to pick up ``thing_el`` into the record of ``ctx``."""
    type_id = (thing_el.findtext("type-id") or "").strip().lower()
    uid = _uid(thing_el)
    new = thing_el.find(STUDY)
    if type_id not in (V1, V2) or not uid or new is None:
        return Plan()
    # a study the application may not see or change (personal, read-only) is not merged into: a new one is made
    selection = appview.for_applications(ThingSelection(hidden_flags=appview.READ_ONLY))
    with ctx.store.read() as tx:
        found = [
            m.version
            for m in tx.things.select(ctx.record_id, selection, [ThingFilter(type_ids=(V1, V2))], with_xml=True)
            if _uid(thingxml.parse_stored(m.version.xml)) == uid
        ]
    if not found:
        return Plan()
    target = max(found, key=lambda v: v.updated)  # (several already: the latest, not one more)
    existing = thingxml.parse_stored(target.xml).find(STUDY)
    held = _images(existing) if existing is not None else set()
    missing = _images(new) - held
    if not missing:
        return Plan(UNCHANGED, target)
    wanted = set(missing)
    for image in new.iterfind("series/images"):
        if (image.findtext("image-blob-name") or "").strip() in missing:
            preview = (image.findtext("image-preview-blob-name") or "").strip()
            if preview:
                wanted.add(preview)
    return Plan(MERGED, target, wanted)


def merged(target: ThingVersion, packaged: etree._Element) -> tuple[etree._Element, str]:
    """The record's study with the packaged study's new images, as a thing to
    put (its payload: the packaged blobs the plan kept); and the outcome."""
    thing = thingxml.parse_stored(target.xml)
    study = thing.find(STUDY)
    new = packaged.find(STUDY)
    assert study is not None and new is not None
    held = _images(study)
    series_by_uid = {
        (s.findtext("series-instance-uid") or "").strip(): s
        for s in study.findall("series")
        if s.find("series-instance-uid") is not None
    }
    version_1 = (thing.findtext("type-id") or "").strip().lower() == V1
    for series in new.findall("series"):
        images = [i for i in series.findall("images") if (i.findtext("image-blob-name") or "").strip() not in held]
        if not images:
            continue
        uid = (series.findtext("series-instance-uid") or "").strip()
        into = series_by_uid.get(uid) if uid else None
        if into is not None:
            last = into.findall("images")[-1]
            for image in reversed(images):
                last.addnext(copy.deepcopy(image))
            continue
        added = copy.deepcopy(series)
        for image in added.findall("images"):
            if (image.findtext("image-blob-name") or "").strip() in held:
                added.remove(image)
        _fit_series(added, version_1, study)
        study.findall("series")[-1].addnext(added)
    outcome = MERGED
    if thingxml.child(thing, "signature-info") is not None:
        thingxml.set_child(thing, "signature-info", None)
        outcome = MERGED_UNSIGNED
    thingxml.set_child(thing, "blob-payload", copy.deepcopy(packaged.find("blob-payload")))
    return thing, outcome


def _fit_series(series: etree._Element, version_1: bool, study: etree._Element) -> None:
    """A series of one version of the type made valid in the other."""
    if version_1 and series.find("acquisition-datetime") is None:  # required in version 1
        when = study.find("when")
        if when is not None:
            acquired = copy.deepcopy(when)
            acquired.tag = "acquisition-datetime"
            series.insert(0, acquired)
    if not version_1:
        for physician in series.findall("referring-physician"):  # version 1 only
            series.remove(physician)
