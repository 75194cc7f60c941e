"""Medical image study version 1 ↔ version 2, written by hand.

The versions' elements do not all correspond (PROTOCOL.md §7): version 2
makes a series' ``acquisition-datetime`` optional, moves
``referring-physician`` from each series to the study, and adds the study's
``accession-number``. So:

- 1 → 2: the first referring physician a series names becomes the
  study's; the series lose theirs. Declared: the other series' physicians
  are dropped (and back in version 1 every series names the study's).
- 2 → 1: the study's referring physician becomes each series'; the
  ``accession-number`` is dropped (declared); a series without an
  acquisition date-time, which version 1 requires, gets the study's
  ``when`` (declared as filled: the series was acquired during the study).
"""

from __future__ import annotations

import copy

from lxml import etree

from .derive import Loss

V1 = "c75651c8-548e-449f-8942-9e6379b0b88a"
V2 = "cdfc0a9b-6d3b-4d16-afa8-02b86d621a8d"

#: The study's children in version 2's order; a series' in version 1's.
_STUDY_V2 = (
    "when",
    "patient-name",
    "description",
    "series",
    "reason",
    "preview-blob-name",
    "key-images",
    "study-instance-uid",
    "referring-physician",
    "accession-number",
)
_SERIES_V1 = (
    "acquisition-datetime",
    "description",
    "images",
    "institution-name",
    "referring-physician",
    "modality",
    "body-part",
    "preview-blob-name",
    "series-instance-uid",
)

LOSSES_1_TO_2 = (
    Loss(
        "series/referring-physician",
        "moved",
        note="to the study: the first one a series names; the others are dropped (back in version 1, "
        "every series names that one)",
    ),
)
LOSSES_2_TO_1 = (
    Loss("accession-number", "element"),
    Loss("referring-physician", "moved", note="to every series"),
    Loss("series/acquisition-datetime", "filled", note="from the study's when, where a series has none"),
)


def _insert(parent: etree._Element, child: etree._Element, order: tuple[str, ...]) -> None:
    """Insert ``child`` after the last child that comes before it in ``order``."""
    rank = order.index(str(child.tag))
    position = 0
    for index, existing in enumerate(parent):
        if isinstance(existing.tag, str) and existing.tag in order and order.index(existing.tag) <= rank:
            position = index + 1
    parent.insert(position, child)


def to_v2(root: etree._Element) -> None:
    """A version 1 study's data-xml root, made version 2 in place."""
    first: etree._Element | None = None
    for series in root.findall("series"):
        for physician in series.findall("referring-physician"):
            series.remove(physician)
            physician.tail = None
            if first is None:
                first = physician
    if first is not None:
        _insert(root, first, _STUDY_V2)


def to_v1(root: etree._Element) -> None:
    """A version 2 study's data-xml root, made version 1 in place."""
    for accession in root.findall("accession-number"):
        root.remove(accession)
    physicians = root.findall("referring-physician")
    for physician in physicians:
        root.remove(physician)
    when = root.find("when")
    for series in root.findall("series"):
        if physicians:
            moved = copy.deepcopy(physicians[0])
            moved.tail = None
            _insert(series, moved, _SERIES_V1)
        if series.find("acquisition-datetime") is None and when is not None:
            filled = copy.deepcopy(when)
            filled.tag = "acquisition-datetime"
            filled.tail = None
            series.insert(0, filled)
