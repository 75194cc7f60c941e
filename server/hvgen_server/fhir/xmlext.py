"""The thing-XML extension: a thing's data XML, carried whole in its FHIR resource.

FHIR has no element for much of what a thing holds (a reading's measurement
method, a blood pressure's irregular heartbeat, a time zone's name, the
lexical form of a value…). The resource carries the data-xml root element
as stored, base64 (``valueBase64Binary``), so that importing it back makes
the same bytes; the values FHIR does carry win over it when they differ.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from lxml import etree

from healthvault.errors import HealthVaultXmlError
from healthvault.safexml import parse

from .errors import FhirError

#: The extension's URL.
THING_XML = "urn:hvgen:fhir:extension:thing-data-xml"
#: The identifier system of a thing id, and of a client thing id with no system of its own.
THING_ID_SYSTEM = "urn:hvgen:fhir:thing-id"
CLIENT_ID_SYSTEM = "urn:hvgen:fhir:client-thing-id"


def extension(data_xml: bytes) -> dict[str, Any]:
    return {"url": THING_XML, "valueBase64Binary": base64.b64encode(data_xml).decode("ascii")}


def carried(resource: dict[str, Any]) -> bytes | None:
    """The data XML a resource carries, or None."""
    for ext in resource.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == THING_XML:
            try:
                return base64.b64decode(str(ext.get("valueBase64Binary") or ""), validate=True)
            except (binascii.Error, ValueError):
                raise FhirError(422, f"the extension {THING_XML} does not hold base64") from None
    return None


def carried_root(resource: dict[str, Any], root: str) -> etree._Element | None:
    """The carried data XML parsed, when it holds a ``root`` element; else None."""
    data = carried(resource)
    if data is None:
        return None
    try:
        el = parse(data, what=f"the extension {THING_XML}")
    except HealthVaultXmlError as exc:
        raise FhirError(422, str(exc)) from None
    return el if el.tag == root else None
