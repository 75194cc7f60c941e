"""FHIR into the record: a resource, a Bundle or NDJSON lines become things.

Every resource is mapped before anything is stored; one that maps to no
thing type the server serves refuses the whole import (an OperationOutcome
naming it), and the things are then stored in one store transaction
(PutThings' own checks and writes), so an import is all or nothing. Patient
resources stand for the record itself and make no thing. A resource with
an identifier keeps it as its thing's client-thing-id (``system|value``):
importing it again updates that thing (or leaves it alone when nothing
changed) instead of adding another. A resource whose thing would not hold
all it says (:mod:`.keeping`: an element, a status, another patient) is
refused as one that does not map. Bundle entries are creates (POST): other
methods are refused, naming the entry; a batch is imported an entry at a
time (:func:`entry_resource`, :func:`plan` and :func:`store` per entry).
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
from ..limits import xml_limits
from ..methods.things import store_things
from ..store.rows import ThingSelection
from . import keeping, xmlext
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
    """The resources of a parsed document: one resource, or a transaction Bundle's entries."""
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise FhirError(400, "the body is not a FHIR resource (a JSON object with a resourceType)")
    if data["resourceType"] != "Bundle":
        return [data]
    kind = data.get("type")
    if kind not in ("transaction", "collection"):
        raise FhirError(422, f"a Bundle of type {kind!r} cannot be imported whole (transaction, collection)")
    entries = data.get("entry") or []
    if not isinstance(entries, list):
        raise FhirError(400, "the Bundle's entry is not a list")
    return [entry_resource(entry, i, kind) for i, entry in enumerate(entries)]


def entry_resource(entry: Any, i: int, kind: str) -> dict[str, Any]:
    """The resource of a Bundle entry to create (POST, the only method imports take)."""
    if not isinstance(entry, dict):
        raise FhirError(400, f"Bundle entry {i} is not an object")
    request = entry.get("request") if isinstance(entry.get("request"), dict) else None
    method = str((request or {}).get("method") or "POST").upper()
    if method != "POST":
        raise FhirError(
            422,
            f"Bundle entry {i}: {method} is not supported in a {kind} (only POST, which creates; a resource "
            "whose identifier was imported already updates its thing)",
            "not-supported",
        )
    if (request or {}).get("ifNoneExist"):
        raise FhirError(
            422,
            f"Bundle entry {i}: ifNoneExist (a conditional create) is not supported; use an identifier",
            "not-supported",
        )
    resource = entry.get("resource")
    if not isinstance(resource, dict):
        raise FhirError(400, f"Bundle entry {i} has no resource")
    return resource


def ndjson(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise FhirError(400, f"NDJSON line {number} is not JSON: {exc.msg}") from None
            except RecursionError:
                raise FhirError(400, f"NDJSON line {number} nests too deep: it is no FHIR resource") from None


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
    type_id: str,
    root: etree._Element,
    client_id: str | None,
    common: etree._Element | None,
    note: str | None,
    *,
    replace_note: bool = True,
) -> etree._Element:
    """The thing to put: the data root, and the common data kept from the
    thing it updates with the resource's client thing id and note."""
    thing = etree.Element("thing")
    etree.SubElement(thing, "type-id").text = type_id
    data = etree.SubElement(thing, "data-xml")
    data.append(root)
    common = copy.deepcopy(common) if common is not None else etree.Element("common")
    for tag in ("client-thing-id", "note") if replace_note else ("client-thing-id",):
        old = common.find(tag)
        if old is not None:
            common.remove(old)
    if note is not None:  # schema order: source, note, tags, extension, related-thing, client-thing-id
        el = etree.Element("note")
        el.text = note
        source = common.find("source")
        if source is not None:
            source.addnext(el)
        else:
            common.insert(0, el)
    if client_id is not None:
        etree.SubElement(common, "client-thing-id").text = client_id
    if len(common):
        data.append(common)
    return thing


def plan(
    platform: Platform, record_id: str, resources: list[dict[str, Any]], hidden: int = 0, first: int = 0
) -> list[Planned]:
    """Map every resource (refusing the whole import at the first that does
    not map, or whose thing would not hold all it says: :mod:`.keeping`).
    Things with any of the ``hidden`` flags are not there (an application's
    view). XML inside the resources is parsed with the limits of a request's
    XML. Errors name a resource by its place, counted from ``first``."""
    with xmlext.limited(xml_limits(platform.config), platform.config.max_request_bytes):
        return _plan(platform, record_id, resources, hidden, first)


def _plan(
    platform: Platform, record_id: str, resources: list[dict[str, Any]], hidden: int, first: int
) -> list[Planned]:
    if len(resources) > MAX_RESOURCES:
        raise FhirError(413, f"{len(resources)} resources in one import; at most {MAX_RESOURCES}")
    fhir = platform.fhir
    mapped: list[tuple[dict[str, Any], Mapping | None, str | None]] = []
    seen: dict[str, int] = {}
    for i, resource in enumerate(resources, first):
        kind = resource.get("resourceType")
        if kind == "Patient":
            mapped.append((resource, None, None))
            continue
        try:
            keeping.check_patient(resource, record_id, platform.config.url + "/fhir")
            found_mapping = fhir.mapping_for(resource)
        except FhirError as exc:
            raise FhirError(exc.status, f"{_named(i, resource)}: {exc.message}", exc.code) from None
        client_id = _client_id(resource)
        if client_id is not None and seen.setdefault(client_id, i) != i:
            raise FhirError(
                422, f"{_named(i, resource)}: resource {seen[client_id]} has the same identifier {client_id!r}"
            )
        mapped.append((resource, found_mapping, client_id))
    wanted = tuple({c for _, _, c in mapped if c})
    existing: dict[str, tuple[str, str, str, bytes]] = {}
    if wanted:
        selection = ThingSelection(client_thing_ids=wanted, hidden_flags=hidden)
        with platform.store.read() as tx:
            for match in tx.things.select(record_id, selection, with_xml=True):
                v = match.version
                client = (thingxml.parse_stored(v.xml).findtext("data-xml/common/client-thing-id") or "").strip()
                existing[client] = (v.thing_id, v.version_stamp, v.type_id, v.xml)
    planned: list[Planned] = []
    for i, (resource, maybe, client_id) in enumerate(mapped, first):
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
            held = mapping.to_fhir(root)
            # the thing's common note holds the first note, unless the mapping holds notes itself
            noted = mapping.resource_type in keeping.NOTED and "note" not in held
            note = _note(resource) if noted else None
        except FhirError as exc:
            raise FhirError(exc.status, f"{_named(i, resource)}: {exc.message}", exc.code) from None
        if note is not None:
            held["note"] = [{"text": note}]
        lost = keeping.unkept(mapping.normal(resource), held)
        if lost:
            raise FhirError(422, f"{_named(i, resource)}: " + keeping.refusal(lost, f"the thing type {mapping.root}"))
        blob = mapping.payload(resource)
        type_id = found[2] if found and found[2] in mapping.type_ids else _served(platform, mapping)
        common = before.find("data-xml/common") if before is not None else None
        if before is not None and found is not None:
            old_root = before.find(f"data-xml/{mapping.root}")
            if (
                old_root is not None
                and etree.tostring(old_root, with_tail=False) == etree.tostring(root, with_tail=False)
                and (not noted or _text(common, "note") == note)
                and (blob is None or _same_blob(platform, found[1], blob[1]))
            ):
                planned.append(Planned(mapping.resource_type, None, found[0]))
                continue
        thing = _thing_element(type_id, root, client_id, common, note, replace_note=noted)
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


def _named(i: int, resource: dict[str, Any]) -> str:
    return f"resource {i} ({resource.get('resourceType')}/{resource.get('id', '')})"


def _text(el: etree._Element | None, tag: str) -> str | None:
    found = el.find(tag) if el is not None else None
    return found.text or "" if found is not None else None


def _note(resource: dict[str, Any]) -> str | None:
    """The text of a resource's first note (the thing's common note), None for none."""
    notes = resource.get("note")
    first = notes[0] if isinstance(notes, list) and notes else None
    if isinstance(first, dict) and isinstance(first.get("text"), str) and first["text"]:
        return str(first["text"])
    return None  # anything else is found not kept (keeping.unkept)


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
