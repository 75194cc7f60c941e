"""Validate data-xml against its thing type's schema.

The bindings say what a document may hold; the schema also says what it
must hold (required elements, occurrence limits, patterns, ranges). The
package ships the schemas it was generated from, and lxml checks a data-xml
root against the one its type-id names.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from uuid import UUID

from lxml import etree

from . import registry
from .errors import HealthVaultXmlError

SCHEMA_DIR = Path(__file__).resolve().parent / "xsd"


@functools.cache
def _schema(relative: str) -> tuple[etree.XMLSchema, str]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    tree = etree.parse(str(SCHEMA_DIR / relative), parser)
    return etree.XMLSchema(tree), tree.getroot().get("targetNamespace", "")


def validate_data(element: etree._Element, type_id: UUID | str) -> None:
    """Check a data-xml root against its type's schema.

    Raises:
        HealthVaultXmlError: The type is unknown, or the data breaks its
            schema (the message lists the problems with their lines).
    """
    key = type_id if isinstance(type_id, UUID) else UUID(str(type_id).strip())
    relative = registry.SCHEMAS.get(key)
    if relative is None:
        raise HealthVaultXmlError(f"no schema for thing type {key}")
    schema, namespace = _schema(relative)
    # On the wire the root is unqualified; the schema declares it in its namespace.
    candidate = copy.deepcopy(element)
    if namespace and not etree.QName(candidate).namespace:
        candidate.tag = etree.QName(namespace, candidate.tag).text
    if schema.validate(candidate):
        return
    problems = [f"line {e.line}: {e.message}" for e in list(schema.error_log)[:5]]
    raise HealthVaultXmlError(f"<{etree.QName(element).localname}> does not match its schema: " + "; ".join(problems))
