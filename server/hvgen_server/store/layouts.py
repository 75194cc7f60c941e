"""Layouts of thing versions stored before versions kept one: found when
a store is brought up to the schema that has them (see
:func:`..thingxml.layout`)."""

from __future__ import annotations

from lxml import etree

from .. import thingxml

#: Versions read per batch while filling in layouts.
BATCH = 500


def layout_of(xml: bytes) -> str | None:
    """The layout of a stored version (None when it has none: it is then
    parsed when read, as before)."""
    try:
        thing = thingxml.parse_stored(xml)
    except etree.XMLSyntaxError:
        return None
    return thingxml.layout(thing, xml)
