"""What applications see of a record: the flags of things, and the filter
every application-facing read calls.

A thing's ``flags`` (thing.xsd) are: Personal (0x1, the record's custodian
deemed it personal: applications never see it), Downversioned (0x2) and
Upversioned (0x4, set only on what GetThings returns transformed to another
version of the type), HiddenFromEPrep (0x8, left out of the emergency
profile) and ReadOnly (0x10: no update or removal).

Who sets which (the thing types' seed: "Applications can set the ReadOnly
flag, and the other flags can be set by the record custodian through the
HealthVault Shell or automatically applied by HealthVault"): an application
may set ReadOnly when it writes a thing (the other bits it sends are not
taken); the person sets and clears Personal and HiddenFromEPrep in the
viewer; an application's update keeps what the person set. A personal
thing is, for an application, not there: GetThings neither returns nor
counts it (the store leaves it out of the query, so ``max``, paging and
``unprocessed-thing-key-info`` behave as without it), PutThings and
RemoveThings answer as for an unknown thing id, and DICOMweb neither finds
nor serves its study.

Every read path that answers an application (GetThings, DICOMweb's QIDO
and WADO, the FHIR views) selects through :func:`for_applications` /
:func:`dicom_for_applications`, or checks a single thing with
:func:`visible_to_applications`.
"""

from __future__ import annotations

import dataclasses

from lxml import etree

from healthvault.status import StatusCode

from .errors import PlatformError
from .store.rows import DicomQuery, ThingSelection, ThingVersion
from .thingxml import parse_stored

PERSONAL = 0x1
DOWNVERSIONED = 0x2
UPVERSIONED = 0x4
HIDDEN_FROM_EPREP = 0x8
READ_ONLY = 0x10

#: Flags an application sets on the things it writes.
APPLICATION_FLAGS = READ_ONLY
#: Flags the person sets in the viewer; an application's update keeps them.
PERSON_FLAGS = PERSONAL | HIDDEN_FROM_EPREP
#: Flags a stored thing can have (the versioning flags are only ever answered).
STORED_FLAGS = PERSONAL | HIDDEN_FROM_EPREP | READ_ONLY
#: Things with any of these are not there for applications.
HIDDEN_FROM_APPLICATIONS = PERSONAL


def visible_to_applications(flags: int) -> bool:
    """Whether an application may see a thing with these flags."""
    return not flags & HIDDEN_FROM_APPLICATIONS


def for_applications(selection: ThingSelection) -> ThingSelection:
    """A selection of things as an application may see them."""
    return dataclasses.replace(selection, hidden_flags=selection.hidden_flags | HIDDEN_FROM_APPLICATIONS)


def dicom_for_applications(query: DicomQuery) -> DicomQuery:
    """A DICOM index query as an application may see the studies."""
    return dataclasses.replace(query, hidden_flags=query.hidden_flags | HIDDEN_FROM_APPLICATIONS)


def parse_flags(text: str | None) -> int | None:
    """The value of a ``flags`` element's text (None when it is not an unsigned int)."""
    value = (text or "0").strip()
    if not value.isdigit() or len(value) > 10:
        return None
    number = int(value)
    return number if number < 2**32 else None


def flags_of(thing: etree._Element) -> int:
    """The flags a thing element carries (0 when absent or unreadable)."""
    flags = thing.find("flags")
    return (parse_flags(flags.text) or 0) if flags is not None else 0


def stored_flags(requested: int, previous: int | None) -> int:
    """The flags a version an application writes gets: the application's
    ReadOnly, and (on an update) what the person set."""
    flags = requested & APPLICATION_FLAGS
    return flags if previous is None else flags | (previous & PERSON_FLAGS)


def check_writable(thing_id: str, flags: int) -> None:
    """Refuse an application's update or removal of a thing it may not change.

    Raises:
        PlatformError: INVALID_THING for a personal thing (not there for
            applications), CANNOT_UPDATE_IMMUTABLE_THING for a read-only one.
    """
    if not visible_to_applications(flags):
        raise PlatformError(StatusCode.INVALID_THING, f"no thing {thing_id} in this record")
    if flags & READ_ONLY:
        raise PlatformError(
            StatusCode.CANNOT_UPDATE_IMMUTABLE_THING, f"thing {thing_id} is read-only: it cannot be updated or removed"
        )


def current_flags(version: ThingVersion) -> int:
    """The flags of a stored version: the thing's, and ReadOnly as its XML
    says (stores older than the flags column kept it only there)."""
    return version.flags | (flags_of(parse_stored(version.xml)) & READ_ONLY if version.xml else 0)
