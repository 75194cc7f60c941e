"""The audit ids of a stored thing version, kept in columns for GetThings filters."""

from __future__ import annotations

from lxml import etree

#: (column, path in the stored version's XML) of each audit id.
AUDIT_COLUMNS = (
    ("created_app_id", "created/app-id"),
    ("created_person_id", "created/person-id"),
    ("updated_app_id", "updated/app-id"),
    ("updated_person_id", "updated/person-id"),
)


def audit_values(xml: bytes) -> tuple[str | None, ...]:
    """The audit ids of a stored version, in the order of the audit columns."""
    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False))
    return tuple(((root.findtext(path) or "").strip().lower() or None) for _, path in AUDIT_COLUMNS)
