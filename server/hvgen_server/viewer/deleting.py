"""A study deleted from the viewer, as RemoveThings deletes a thing: a last
version in the deleted state, the thing marked deleted, and the bytes of
the blobs no active thing names any longer removed once that is committed.

The person confirms on a page that names the study (and says whether it
is signed, and by whom: the signature goes with it); the form carries the
version stamp the person saw, so that a study changed meanwhile is not
deleted unseen. A read-only study (an application's flag) is not deleted.
"""

from __future__ import annotations

import uuid

from .. import appview, thingxml
from ..context import Platform
from ..store.rows import ACTIVE, DELETED


def delete_study(platform: Platform, record_id: str, thing_id: str, version_stamp: str, now: float) -> str:
    """Delete the record's study thing at ``version_stamp``; "" when done, else why it was not."""
    released: list[str] = []
    with platform.store.write() as tx:
        current = tx.things.current(record_id, thing_id)
        if current is None or current.state != ACTIVE:
            return "The record holds no such study any longer (deleted meanwhile?)."
        if appview.current_flags(current) & appview.READ_ONLY:
            return "This study is read-only: the application that stored it does not let it be deleted."
        if current.version_stamp != version_stamp.strip().lower():
            return "The study changed since the confirmation page was shown; look at it again before deleting it."
        stamp = str(uuid.uuid4())
        stored = thingxml.parse_stored(current.xml)
        thingxml.set_child(stored, "thing-id", thingxml.element("thing-id", thing_id, version_stamp=stamp))
        thingxml.set_child(stored, "thing-state", thingxml.element("thing-state", DELETED))
        xml, layout = thingxml.serialize(stored)
        blobs = tx.things.blob_refs(current.version_stamp)
        released.extend(ref.blob_id for ref in blobs)
        tx.things.add_version(thing_id, stamp, current.seq + 1, DELETED, xml, now, blobs, layout)
        tx.things.mark_deleted(thing_id, stamp, now)
        unreferenced = tx.blobs.drop_unreferenced(released)
    for blob_id in unreferenced:  # only once the transaction is committed
        platform.files.delete(blob_id)
    return ""


__all__ = ["delete_study"]
