"""FHIR into the record: a resource, a Bundle or NDJSON lines become things.

Every resource is mapped before anything is stored; one that maps to no
thing type the server serves refuses the whole import (an OperationOutcome
naming it), and the things are then stored in one store transaction
(PutThings' own checks and writes), so an import is all or nothing. Patient
resources stand for the record itself and make no thing. A resource with
an identifier keeps it as its thing's client-thing-id (``system|value``):
importing it again updates that thing (or leaves it alone when nothing
changed) instead of adding another.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from lxml import etree

from healthvault import wire
from healthvault.errors import HealthVaultXmlError
from healthvault.schema import Thing2

from .. import thingxml
from ..context import Actor, Platform
from ..errors import PlatformError
from ..methods.things import store_things
from ..store.rows import ThingSelection
from . import xmlext
from .errors import FhirError
from .mapping import Mapping

#: Resources in one import, at most.
MAX_RESOURCES = 10_000


@dataclass
class Planned:
    """One resource of an import, mapped: its thing (None for a Patient or an unchanged thing)."""

    resource_type: str
    thing_el: etree._Element | None
    existing: str | None = None  # the thing id it updates or leaves alone


def resources_of(data: Any) -> list[dict[str, Any]]:
    """The resources of a parsed document: one resource, or a Bundle's entries."""
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise FhirError(400, "the body is not a FHIR resource (a JSON object with a resourceType)")
    if data["resourceType"] != "Bundle":
        return [data]
    kind = data.get("type")
    if kind not in ("transaction", "batch", "collection", "searchset"):
        raise FhirError(422, f"a Bundle of type {kind!r} cannot be imported (transaction, batch, collection)")
    found = []
    for i, entry in enumerate(data.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise FhirError(400, f"Bundle entry {i} has no resource")
        method = ((entry.get("request") or {}).get("method") or "POST").upper()
        if method not in ("POST", "PUT"):
            raise FhirError(422, f"Bundle entry {i}: {method} is not supported in an import (POST, PUT)")
        found.append(resource)
    return found


def ndjson(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise FhirError(400, f"NDJSON line {number} is not JSON: {exc.msg}") from None


def _client_id(resource: dict[str, Any]) -> str | None:
    for identifier in resource.get("identifier") or []:
        if not isinstance(identifier, dict) or not identifier.get("value"):
            continue
        system, value = str(identifier.get("system") or ""), str(identifier["value"])
        if system == xmlext.THING_ID_SYSTEM:
            continue
        return value if system in ("", xmlext.CLIENT_ID_SYSTEM) else f"{system}|{value}"
    return None


def _thing_element(
    type_id: str, root: etree._Element, client_id: str | None, common: etree._Element | None
) -> etree._Element:
    thing = etree.Element("thing")
    etree.SubElement(thing, "type-id").text = type_id
    data = etree.SubElement(thing, "data-xml")
    data.append(root)
    if common is not None:
        common = copy.deepcopy(common)
        old = common.find("client-thing-id")
        if old is not None:
            common.remove(old)
    elif client_id is not None:
        common = etree.Element("common")
    if client_id is not None and common is not None:
        etree.SubElement(common, "client-thing-id").text = client_id
    if common is not None:
        data.append(common)
    return thing


def plan(platform: Platform, record_id: str, resources: list[dict[str, Any]]) -> list[Planned]:
    """Map every resource (refusing the whole import at the first that does not map)."""
    if len(resources) > MAX_RESOURCES:
        raise FhirError(413, f"{len(resources)} resources in one import; at most {MAX_RESOURCES}")
    fhir = platform.fhir
    mapped: list[tuple[dict[str, Any], Mapping | None, str | None]] = []
    for i, resource in enumerate(resources):
        kind = resource.get("resourceType")
        if kind == "Patient":
            mapped.append((resource, None, None))
            continue
        try:
            found_mapping = fhir.mapping_for(resource)
        except FhirError as exc:
            raise FhirError(
                exc.status, f"resource {i} ({kind}/{resource.get('id', '')}): {exc.message}", exc.code
            ) from None
        mapped.append((resource, found_mapping, _client_id(resource)))
    wanted = tuple({c for _, _, c in mapped if c})
    existing: dict[str, tuple[str, str, str, bytes]] = {}
    if wanted:
        with platform.store.read() as tx:
            for match in tx.things.select(record_id, ThingSelection(client_thing_ids=wanted), with_xml=True):
                v = match.version
                client = (thingxml.parse_stored(v.xml).findtext("data-xml/common/client-thing-id") or "").strip()
                existing[client] = (v.thing_id, v.version_stamp, v.type_id, v.xml)
    planned: list[Planned] = []
    for i, (resource, maybe, client_id) in enumerate(mapped):
        if maybe is None:
            planned.append(Planned("Patient", None))
            continue
        mapping = maybe
        found = existing.get(client_id) if client_id else None
        before = thingxml.parse_stored(found[3]) if found else None
        base = xmlext.carried_root(resource, mapping.root)
        if base is None and before is not None:
            base = before.find(f"data-xml/{mapping.root}")
        try:
            root = mapping.to_thing(resource, base)
        except FhirError as exc:
            raise FhirError(exc.status, f"resource {i} ({resource['resourceType']}): {exc.message}", exc.code) from None
        blob = mapping.payload(resource)
        type_id = found[2] if found and found[2] in mapping.type_ids else _served(platform, mapping)
        common = before.find("data-xml/common") if before is not None else None
        if before is not None and found is not None:
            old_root = before.find(f"data-xml/{mapping.root}")
            if (
                old_root is not None
                and etree.tostring(old_root, with_tail=False) == etree.tostring(root, with_tail=False)
                and (blob is None or _same_blob(platform, found[1], blob[1]))
            ):
                planned.append(Planned(mapping.resource_type, None, found[0]))
                continue
        thing = _thing_element(type_id, root, client_id, common)
        if blob is not None:  # the default blob, inline (PutThings checks and writes it)
            item = etree.SubElement(etree.SubElement(thing, "blob-payload"), "blob")
            info = etree.SubElement(item, "blob-info")
            etree.SubElement(info, "name")
            etree.SubElement(info, "content-type").text = blob[0]
            etree.SubElement(item, "base64data").text = blob[1]
        if found is not None:
            thing.insert(0, thingxml.element("thing-id", found[0], version_stamp=found[1]))
        planned.append(Planned(mapping.resource_type, thing, found[0] if found else None))
    return planned


def _same_blob(platform: Platform, version_stamp: str, data: str) -> bool:
    """Whether a version's default blob holds the bytes of ``data`` (base64), read a piece at a time."""
    with platform.store.read() as tx:
        ref = next((r for r in tx.things.blob_refs(version_stamp) if r.name == ""), None)
    if ref is None:
        return False
    held = hashlib.sha256()
    for piece in platform.files.read(ref.blob_id):
        held.update(piece)
    return held.digest() == hashlib.sha256(base64.b64decode(data)).digest()


def _served(platform: Platform, mapping: Mapping) -> str:
    for type_id in mapping.type_ids:
        if platform.thing_types.get(type_id) is not None:
            return type_id
    raise FhirError(422, f"{mapping.root} is not a thing type this server serves")


def store(
    platform: Platform, record_id: str, app_id: str, planned: list[Planned]
) -> list[tuple[str, str | None, str | None, bool]]:
    """Store the planned things in one transaction; per resource (resource
    type, thing id, version stamp, created) — a Patient's id is the record's."""
    writes = [p for p in planned if p.thing_el is not None]
    ctx = Actor(platform, app_id=app_id, record_id=record_id)  # the platform writes, with no request
    things = []
    for p in writes:
        assert p.thing_el is not None
        try:
            things.append((wire.from_element(copy.deepcopy(p.thing_el), Thing2, what="thing"), p.thing_el))
        except HealthVaultXmlError as exc:
            raise FhirError(422, f"{p.resource_type}: {exc}") from None
    try:
        keys = iter(store_things(ctx, things)) if things else iter([])
    except PlatformError as exc:
        status = 409 if "version" in exc.message else 422
        raise FhirError(status, exc.message) from None
    out: list[tuple[str, str | None, str | None, bool]] = []
    for p in planned:
        if p.resource_type == "Patient":
            out.append(("Patient", record_id, None, False))
        elif p.thing_el is None:
            out.append((p.resource_type, p.existing, None, False))
        else:
            key = next(keys)
            out.append((p.resource_type, key.value, key.version_stamp, p.existing is None))
    return out
