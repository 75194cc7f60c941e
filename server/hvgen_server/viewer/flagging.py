"""The person's flags of a thing (Personal, HiddenFromEPrep), set and
cleared in the viewer.

A change is a new version of the thing, as any update is: its version
stamp changes (an application holding the old one must read it again), its
``updated`` audit names the person and the viewer, and the thing keeps its
data and blobs. ReadOnly is the application's to set; the person sees it but
a read-only thing's person flags may still change (they do not change its data).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from .. import appview, thingxml
from ..context import Platform
from ..store.rows import ACTIVE

#: The application id the viewer's changes are audited with (the platform itself, not an application).
VIEWER_APP_ID = "00000000-0000-0000-0000-000000000000"
VIEWER_APP_NAME = "Local platform viewer"


@dataclass(frozen=True)
class Flagged:
    """A thing after its person flags were set: its new version stamp and flags."""

    thing_id: str
    version_stamp: str
    flags: int


def set_person_flags(
    platform: Platform, record_id: str, thing_id: str, person_id: str, personal: bool, hidden: bool, now: float
) -> Flagged | None:
    """Give the record's active thing the person's flags (a new version when
    they change); None when the record has no such active thing."""
    wanted = (appview.PERSONAL if personal else 0) | (appview.HIDDEN_FROM_EPREP if hidden else 0)
    with platform.store.write() as tx:
        current = tx.things.current(record_id, thing_id)
        if current is None or current.state != ACTIVE:
            return None
        flags = appview.current_flags(current)
        new_flags = (flags & ~appview.PERSON_FLAGS) | wanted
        if new_flags == flags:
            return Flagged(thing_id, current.version_stamp, flags)
        stamp = str(uuid.uuid4())
        stored = thingxml.parse_stored(current.xml)
        thingxml.set_child(stored, "thing-id", thingxml.element("thing-id", thing_id, version_stamp=stamp))
        thingxml.set_child(stored, "flags", thingxml.element("flags", str(new_flags)))
        person = tx.persons.get(person_id)
        thingxml.set_child(
            stored,
            "updated",
            thingxml.audit(
                "updated",
                now,
                VIEWER_APP_ID,
                VIEWER_APP_NAME,
                person_id,
                person.name if person is not None else "record owner",
                "Updated",
                "Online",
            ),
        )
        xml, layout = thingxml.serialize(stored)
        blobs = tx.things.blob_refs(current.version_stamp)
        tx.things.add_version(thing_id, stamp, current.seq + 1, ACTIVE, xml, now, blobs, layout)
        root = platform.fhir.data_root(current)  # data unchanged: the FHIR index follows the new version
        platform.fhir.index(tx, record_id, thing_id, stamp, current.type_id, root)
        client_id = (stored.findtext("data-xml/common/client-thing-id") or "").strip() or None
        tx.things.update(thing_id, stamp, client_id, current.eff_date, now)
        tx.things.set_flags(thing_id, new_flags)
    return Flagged(thing_id, stamp, new_flags)
