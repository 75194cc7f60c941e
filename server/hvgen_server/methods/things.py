"""PutThings and RemoveThings: writing things and their versions.

GetThings is :mod:`.query`.
"""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lxml import etree

from healthvault import verification
from healthvault.errors import HealthVaultXmlError
from healthvault.schema import PutThings2Params, PutThingsResult, RemoveThingsParams, Thing2, ThingKey
from healthvault.status import StatusCode

from .. import appview, thingxml
from ..clinicaldocs import DOCUMENT_TYPES
from ..context import Actor, Context
from ..errors import PlatformError
from ..store import Transaction
from ..store.rows import ACTIVE, DELETED, BlobRef, BlobRow, ThingVersion
from .blobs import attach_payload, prepare_inline

log = logging.getLogger("hvgen_server")


def is_guid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _data_root(thing_el: etree._Element) -> etree._Element | None:
    data_xml = thingxml.child(thing_el, "data-xml")
    if data_xml is None:
        return None
    roots = [c for c in data_xml if isinstance(c.tag, str) and c.tag != "common"]
    return roots[0] if roots else None


def _validate_data(ctx: Actor, thing_el: etree._Element, type_id: str) -> etree._Element:
    known = ctx.platform.thing_types.get(type_id)
    if known is None:
        named = thing_el.find("type-id")
        name = (named.get("name") or "").strip() if named is not None else ""
        raise PlatformError(
            StatusCode.INVALID_THING_TYPE,
            f"the local platform does not know the thing type {type_id}{f' ({name})' if name else ''}; "
            "start it with `hvgen serve --schemas DIR` to teach it more types",
        )
    data_sections = [c for c in thing_el if c.tag == "data-xml"]
    if len(data_sections) != 1:
        raise PlatformError(StatusCode.INVALID_XML, "a thing must have exactly one data-xml section")
    root = _data_root(thing_el)
    if root is None or root.tag != known.element:
        raise PlatformError(
            StatusCode.INVALID_XML,
            f"data-xml of a {known.name or type_id} thing must hold <{known.element}>",
        )
    try:
        known.check(root)
    except HealthVaultXmlError as exc:
        raise PlatformError(StatusCode.INVALID_XML, str(exc)) from None
    return root


def _count_things(ctx: Context, name: str) -> None:
    count = sum(1 for c in ctx.request.info_element if c.tag == name)
    if count > ctx.config.max_things_per_request:
        raise PlatformError(
            StatusCode.TOO_MANY_THINGS_SPECIFIED,
            f"{count} things in one request; at most {ctx.config.max_things_per_request}",
        )


def put_things(ctx: Context) -> PutThingsResult:
    _count_things(ctx, "thing")
    info = ctx.request.info()
    assert isinstance(info, PutThings2Params)
    thing_els = [c for c in ctx.request.info_element if c.tag == "thing"]
    if len(thing_els) != len(info.thing):
        raise PlatformError(StatusCode.INVALID_XML, "info holds elements other than things")
    keys = store_things(ctx, list(zip(info.thing, thing_els, strict=False)))
    if ctx.platform.after_put:
        types = {(t.type_id.value if t.type_id else "").strip().lower() for t in info.thing}
        for then in ctx.platform.after_put:
            try:
                then(ctx.platform, ctx.record_id, types)
            except Exception:  # stored all the same: what follows catches up later
                log.exception("after PutThings in record %s", ctx.record_id)
    return PutThingsResult(thing_id=keys)


@dataclass
class _Prepared:
    """A thing checked and made ready outside any transaction."""

    thing: Thing2
    stored: etree._Element  # the version to store, but for its ids and audits
    type_id: str
    data_root: etree._Element | None
    inline: dict[int, BlobRow]
    #: Blob ids by name the signature was checked with (None: not signed).
    signed_blobs: dict[str, str] | None = None


def store_things(
    ctx: Actor,
    things: list[tuple[Thing2, etree._Element]],
    also: Callable[[Transaction, list[ThingKey]], None] | None = None,
    blobs: Sequence[BlobRow] = (),
) -> list[ThingKey]:
    """Create or update things in one transaction (with ``also`` run inside
    it, given the new things' keys).

    The core of PutThings, called by the method (``ctx`` a request's
    :class:`Context`) and by the platform's in-process ingest
    (:mod:`hvgen_server.ingest`, an :class:`Actor`): ``blobs`` are rows of
    complete blobs whose bytes are already in the blob store, added in the
    same transaction before the things that name them (by blob URL).

    What takes time (checking data against its schema, writing inline
    blobs, verifying signatures) is done first, outside the write
    transaction; the transaction only checks versions and blob states and
    writes rows.
    """
    with ctx.store.read() as tx:
        app = tx.applications.get(ctx.app_id)
        person_id = ctx.person_id or tx.records.person_of(ctx.record_id)
    app_name = app.name if app else ctx.app_id
    prepared = [_prepare(ctx, thing, thing_el) for thing, thing_el in things]
    if any(p.signed_blobs is not None for p in prepared):
        with ctx.store.read() as tx:
            for p in prepared:
                if p.signed_blobs is not None:
                    p.signed_blobs = _check_signature(ctx, tx, p)
    keys: list[ThingKey] = []
    replaced: list[str] = []
    with ctx.store.write() as tx:
        for row in blobs:
            tx.blobs.add(row)
        for p in prepared:
            keys.append(_store_thing(ctx, tx, p, app_name, person_id, replaced))
        if also is not None:
            also(tx, keys)
        unreferenced = tx.blobs.drop_unreferenced(replaced)
    for blob_id in unreferenced:  # only once the transaction is committed
        ctx.files.delete(blob_id)
    return keys


def _prepare(ctx: Actor, thing: Thing2, thing_el: etree._Element) -> _Prepared:
    type_id = (thing.type_id.value if thing.type_id else "").strip()
    if not type_id:
        raise PlatformError(StatusCode.INVALID_THING_TYPE, "a thing must name its type-id")
    type_id = str(uuid.UUID(type_id)) if is_guid(type_id) else type_id
    data_root = _validate_data(ctx, thing_el, type_id)
    as_given = data_root if type_id in DOCUMENT_TYPES else None  # a CCR or CDA: every declaration kept
    stored = thingxml.clean_copy(thing_el, as_given)
    thingxml.set_child(stored, "blob-payload", None)
    signed = thingxml.child(stored, "signature-info") is not None
    inline = prepare_inline(ctx, thing.blob_payload)
    return _Prepared(thing, stored, type_id, data_root, inline, {} if signed else None)


def _check_signature(ctx: Actor, tx: Transaction, p: _Prepared) -> dict[str, str]:
    """Verify a signed thing against the blobs it will have (read in ``tx``);
    returns those blobs' ids by name."""
    previous = _previous(ctx, tx, p.thing, p.type_id)
    old_blobs = {r.name: r for r in tx.things.blob_refs(previous.version_stamp)} if previous is not None else {}
    refs = attach_payload(ctx, tx, p.thing.blob_payload, old_blobs, p.inline, add_rows=False)
    inline_rows = {row.blob_id: row for row in p.inline.values()}
    rows = {ref.blob_id: inline_rows.get(ref.blob_id) or tx.blobs.get(ref.blob_id) for ref in refs}
    _verify_signature(ctx, p.stored, refs, rows)
    return {ref.name: ref.blob_id for ref in refs}


def _previous(ctx: Actor, tx: Transaction, thing: Thing2, type_id: str) -> ThingVersion | None:
    """The current version an update replaces (None for a new thing)."""
    if thing.thing_id is None:
        return None
    thing_id = thing.thing_id.value.strip()
    previous = tx.things.current(ctx.record_id, thing_id) if is_guid(thing_id) else None
    if previous is None:
        raise PlatformError(StatusCode.INVALID_THING, f"no thing {thing_id} in this record")
    appview.check_writable(thing_id, appview.current_flags(previous))  # before anything tells it is there
    stamp = (thing.thing_id.version_stamp or "").strip()
    if not stamp:
        raise PlatformError(StatusCode.VERSION_STAMP_MISSING, f"update of {thing_id} names no version-stamp")
    if stamp != previous.version_stamp:
        raise PlatformError(
            StatusCode.VERSION_STAMP_MISMATCH,
            f"thing {thing_id} is at version {previous.version_stamp}, not {stamp}",
        )
    if previous.type_id != type_id:
        _check_version_change(ctx, previous.type_id, type_id)
    return previous


def _check_version_change(ctx: Actor, stored: str, written: str) -> None:
    """An update may move a thing to a newer version of its type, never to
    an older one (it would drop what the newer version holds) nor to another type."""
    family = ctx.platform.thing_types.family(written)
    if stored not in family:
        raise PlatformError(StatusCode.INVALID_THING_TYPE, "an update cannot change the thing type")
    if family.index(written) < family.index(stored):
        raise PlatformError(
            StatusCode.INVALID_THING_TYPE_VERSION,
            f"the thing is stored in a newer version of its type ({stored}) than the update ({written}); "
            "read it in that version (type-version-format) and update it in that version",
        )


def _store_thing(
    ctx: Actor, tx: Transaction, p: _Prepared, app_name: str, person_id: str, replaced: list[str]
) -> ThingKey:
    previous = _previous(ctx, tx, p.thing, p.type_id)
    thing_id = previous.thing_id if previous is not None else str(uuid.uuid4())
    version_stamp = str(uuid.uuid4())

    stored = copy.deepcopy(p.stored)
    thingxml.set_child(stored, "thing-id", thingxml.element("thing-id", thing_id, version_stamp=version_stamp))
    known = ctx.platform.thing_types.get(p.type_id)
    type_name = known.name if known is not None else ""
    thingxml.set_child(stored, "type-id", thingxml.element("type-id", p.type_id, name=type_name))
    thingxml.set_child(stored, "thing-state", thingxml.element("thing-state", ACTIVE))
    flags = _set_flags(stored, previous)
    created_at = previous.created if previous is not None else ctx.now
    eff_date = thingxml.effective_date(p.data_root, created_at)
    thingxml.set_child(stored, "eff-date", thingxml.element("eff-date", eff_date))
    if previous is not None:
        created_el = thingxml.child(thingxml.parse_stored(previous.xml), "created")
        thingxml.set_child(stored, "created", copy.deepcopy(created_el) if created_el is not None else None)
    else:
        thingxml.set_child(
            stored,
            "created",
            thingxml.audit("created", ctx.now, ctx.app_id, app_name, person_id, "record owner", "Created", ctx.avenue),
        )
    thingxml.set_child(
        stored,
        "updated",
        thingxml.audit(
            "updated",
            ctx.now,
            ctx.app_id,
            app_name,
            person_id,
            "record owner",
            "Updated" if previous is not None else "Created",
            ctx.avenue,
        ),
    )

    old_blobs = {r.name: r for r in tx.things.blob_refs(previous.version_stamp)} if previous is not None else {}
    blob_refs = attach_payload(ctx, tx, p.thing.blob_payload, old_blobs, p.inline)
    if p.signed_blobs is not None and p.signed_blobs != {ref.name: ref.blob_id for ref in blob_refs}:
        raise PlatformError(
            StatusCode.CONCURRENCY_VIOLATION, f"thing {thing_id} changed while its signature was being checked"
        )
    kept = {ref.blob_id for ref in blob_refs}
    replaced.extend(ref.blob_id for ref in old_blobs.values() if ref.blob_id not in kept)

    xml, layout = thingxml.serialize(stored)
    client_id = (stored.findtext("data-xml/common/client-thing-id") or "").strip() or None
    if previous is None:
        tx.things.add(ctx.record_id, thing_id, p.type_id, version_stamp, client_id, eff_date, ctx.now)
    else:
        tx.things.update(thing_id, version_stamp, client_id, eff_date, ctx.now)
    if flags or previous is not None:
        tx.things.set_flags(
            thing_id, flags, p.type_id if previous is not None and previous.type_id != p.type_id else None
        )
    seq = previous.seq + 1 if previous is not None else 1
    tx.things.add_version(thing_id, version_stamp, seq, ACTIVE, xml, ctx.now, blob_refs, layout)
    # the FHIR index (and the resource, made of the version as stored), in the same transaction
    ctx.platform.fhir.index(tx, ctx.record_id, thing_id, version_stamp, p.type_id, _data_root(stored))
    for ref in blob_refs:
        tx.blobs.mark_committed(ref.blob_id)
    return ThingKey(value=thing_id, version_stamp=version_stamp)


def _set_flags(stored: etree._Element, previous: ThingVersion | None) -> int:
    """Give the version the flags it is stored with (:func:`appview.stored_flags`);
    the element is kept as written when its value stays."""
    element = thingxml.child(stored, "flags")
    requested = appview.parse_flags(element.text) or 0 if element is not None else 0
    flags = appview.stored_flags(requested, appview.current_flags(previous) if previous is not None else None)
    if flags != requested or (element is not None and appview.parse_flags(element.text) is None):
        written = element is not None or flags
        thingxml.set_child(stored, "flags", thingxml.element("flags", str(flags)) if written else None)
    return flags


def _verify_signature(ctx: Actor, stored: etree._Element, refs: list[BlobRef], rows: dict[str, BlobRow | None]) -> None:
    """Check a signed thing as the platform did at PutThings: the signature,
    and every blob against the hash in sig-data, using the hashes of the
    bytes the server holds."""
    candidate = copy.deepcopy(stored)
    payload = thingxml.element("blob-payload")
    hashes: dict[str, tuple[str, int]] = {}
    for ref in refs:
        row = rows.get(ref.blob_id)
        if row is None or row.hash is None:
            raise PlatformError(StatusCode.INVALID_BLOB_REF_URL, f"blob {ref.name!r} is not available")
        hashes[ref.name] = (row.hash, row.block_size)
        blob = thingxml.element("blob")
        info = thingxml.element("blob-info")
        info.append(thingxml.element("name", ref.name))
        info.append(thingxml.element("content-type", ref.content_type))
        blob.append(info)
        blob.append(thingxml.element("blob-ref-url", "urn:hvgen:stored-blob"))
        payload.append(blob)
    thingxml.set_child(candidate, "blob-payload", payload if len(payload) else None)
    try:
        result = verification.verify(candidate, blob_hashes=hashes, trust=ctx.config.signer_trust())
    except HealthVaultXmlError as exc:
        raise PlatformError(StatusCode.INVALID_XML, f"signature-info: {exc}") from None
    if result.valid:
        return
    parts = result.parts()
    message = "thing signature: " + "; ".join(str(p) for p in result.problems)
    if "algorithm" in parts:
        code = StatusCode.INVALID_SIGNATURE_ALGORITHM
    elif "certificate" in parts:
        code = StatusCode.BAD_CERT
    elif any(p.startswith("blob:") for p in parts) and not parts & {"signed-data", "signature-value", "structure"}:
        code = StatusCode.INVALID_BLOB_HASH
    else:
        code = StatusCode.BAD_SIG
    raise PlatformError(code, message)


def remove_things(ctx: Context) -> None:
    _count_things(ctx, "thing-id")
    info = ctx.request.info()
    assert isinstance(info, RemoveThingsParams)
    released: list[str] = []
    with ctx.store.write() as tx:
        for key in info.thing_id:
            thing_id = key.value.strip().lower()
            current = tx.things.current(ctx.record_id, thing_id) if is_guid(thing_id) else None
            if current is None or current.state != ACTIVE:
                raise PlatformError(StatusCode.INVALID_THING, f"no active thing {key.value} in this record")
            appview.check_writable(thing_id, appview.current_flags(current))
            if (key.version_stamp or "").strip().lower() != current.version_stamp:
                raise PlatformError(
                    StatusCode.VERSION_STAMP_MISMATCH,
                    f"thing {thing_id} is at version {current.version_stamp}, not {key.version_stamp}",
                )
            stamp = str(uuid.uuid4())
            stored = thingxml.parse_stored(current.xml)
            thingxml.set_child(stored, "thing-id", thingxml.element("thing-id", thing_id, version_stamp=stamp))
            thingxml.set_child(stored, "thing-state", thingxml.element("thing-state", DELETED))
            xml, layout = thingxml.serialize(stored)
            blobs = tx.things.blob_refs(current.version_stamp)
            released.extend(ref.blob_id for ref in blobs)
            tx.things.add_version(thing_id, stamp, current.seq + 1, DELETED, xml, ctx.now, blobs, layout)
            tx.things.mark_deleted(thing_id, stamp, ctx.now)
        unreferenced = tx.blobs.drop_unreferenced(released)  # blobs only the deleted things used
    for blob_id in unreferenced:  # only once the transaction is committed
        ctx.files.delete(blob_id)
