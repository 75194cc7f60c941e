"""The thing-XML extension: a thing's data XML, carried whole in its FHIR resource.

FHIR has no element for much of what a thing holds (a reading's measurement
method, a blood pressure's irregular heartbeat, a time zone's name, the
lexical form of a value…). The resource carries the data-xml root element
as stored, base64 (``valueBase64Binary``), so that importing it back makes
the same bytes; the values FHIR does carry win over it when they differ.

XML that comes in inside FHIR (this extension, a DocumentReference's CCR
or CDA attachment) is parsed by :func:`parse_base64`: with the platform's
limits on a request's XML (:func:`limited`, set for an import by
:func:`.importing.plan`), and once per base64 text, however many mappings
look at it.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from lxml import etree

from healthvault.errors import HealthVaultXmlError
from healthvault.safexml import Limits, parse

from .errors import FhirError

#: The extension's URL.
THING_XML = "urn:hvgen:fhir:extension:thing-data-xml"
#: The identifier system of a thing id, and of a client thing id with no system of its own.
THING_ID_SYSTEM = "urn:hvgen:fhir:thing-id"
CLIENT_ID_SYSTEM = "urn:hvgen:fhir:client-thing-id"
#: The limits XML inside FHIR is parsed with, and its largest size in bytes.
_LIMITS: ContextVar[tuple[Limits, int]] = ContextVar("fhir_xml_limits", default=(Limits(), 32 * 1024 * 1024))
#: Per thread, the last base64 text parsed and what it made (an element or the error).
_LAST = threading.local()


@contextmanager
def limited(limits: Limits, max_bytes: int) -> Iterator[None]:
    """XML inside FHIR is parsed with these limits while in the block; what was parsed is forgotten after it."""
    token = _LIMITS.set((limits, max_bytes))
    try:
        yield
    finally:
        _LIMITS.reset(token)
        forget()


def forget() -> None:
    """Drop the element :func:`parse_base64` keeps (its caller takes it, or the import ended)."""
    _LAST.found = None


def parse_base64(source: Any, what: str) -> etree._Element:
    """The XML document base64 text ``source`` holds, parsed with the limits
    of :func:`limited`: parsed once, however often it is asked for (the same
    text object) until :func:`forget`.

    Raises:
        HealthVaultXmlError: it is not base64, not XML, or over the limits.
    """
    found = getattr(_LAST, "found", None)
    if found is not None and found[0] is source:
        if isinstance(found[1], HealthVaultXmlError):
            raise found[1]
        return found[1]
    limits, max_bytes = _LIMITS.get()
    try:
        data = base64.b64decode("".join(str(source).split()), validate=True)
        if not data:
            raise HealthVaultXmlError(f"{what} is empty")
        made: etree._Element | HealthVaultXmlError = parse(data, what=what, max_bytes=max_bytes, limits=limits)
    except (binascii.Error, ValueError) as exc:
        made = exc if isinstance(exc, HealthVaultXmlError) else HealthVaultXmlError(f"{what} is not base64")
    _LAST.found = (source, made)
    if isinstance(made, HealthVaultXmlError):
        raise made
    return made


def extension(data_xml: bytes) -> dict[str, Any]:
    return {"url": THING_XML, "valueBase64Binary": base64.b64encode(data_xml).decode("ascii")}


def _carried(resource: dict[str, Any]) -> dict[str, Any] | None:
    for ext in resource.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == THING_XML:
            return ext
    return None


def carried(resource: dict[str, Any]) -> bytes | None:
    """The data XML a resource carries, or None."""
    ext = _carried(resource)
    if ext is None:
        return None
    try:
        return base64.b64decode(str(ext.get("valueBase64Binary") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise FhirError(422, f"the extension {THING_XML} does not hold base64") from None


def carried_root(resource: dict[str, Any], root: str) -> etree._Element | None:
    """The carried data XML parsed, when it holds a ``root`` element; else None."""
    ext = _carried(resource)
    if ext is None:
        return None
    try:
        el = parse_base64(ext.get("valueBase64Binary") or "", what=f"the extension {THING_XML}")
    except HealthVaultXmlError as exc:
        raise FhirError(422, str(exc)) from None
    return el if el.tag == root else None
