"""GetThings: selecting things by id, key and filters, and the response.

The store selects by thing id, client id and key and matches the filters
of a group (type, state, dates, audits) in its query, newest first, reading
no more than the group's ``max``; XPath filters (a cost-bounded subset,
:mod:`..xpathfilter`) run here on what the store found. Things go into the
response as the stored XML, cut to the requested sections; matches beyond
the full-thing limit go in as keys (``unprocessed-thing-key-info``). A
response that would grow past ``max_response_bytes`` is refused with
RESPONSE_TOO_LONG before it is built.

GetThings version 1 (older clients) takes the same groups without a blob
payload request and answers with things in the original ``Thing`` format
(:func:`thingxml.as_thing_v1`), in the ``...response.GetThings`` namespace;
its ``otherdata`` section returns a thing's default blob as ``data-other``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeAlias

from lxml import etree

from healthvault import wire
from healthvault.bindings.methods.method_getthings import ThingRequestGroup
from healthvault.protocol import write_ok_info
from healthvault.schema import GetThings3Params, GetThingsParams, ThingFilterSpec, ThingRequestGroup2
from healthvault.status import StatusCode

from .. import appview, thingxml, xpathfilter
from ..context import Context
from ..errors import PlatformError
from ..store import Transaction
from ..store.rows import ACTIVE, ThingFilter, ThingSelection, ThingVersion
from ..xmltime import iso, timestamp
from .blobs import data_other, payload_for
from .things import is_guid

#: Namespace of the GetThings response info.
RESPONSE_NS = wire.RESPONSE_NS_PREFIX + "GetThings3"
#: Namespace of the GetThings version 1 response info.
RESPONSE_NS_V1 = wire.RESPONSE_NS_PREFIX + "GetThings"

#: A request group of GetThings version 3 or 1 (the same fields, but the blob payload request).
Group: TypeAlias = ThingRequestGroup2 | ThingRequestGroup

#: Audit filter fields (the same names on the binding and on ThingFilter).
_AUDITS = ("created_app_id", "created_person_id", "updated_app_id", "updated_person_id")


def _selection(ctx: Context, group: Group) -> ThingSelection:
    named = len(group.id) + len(group.client_thing_id) + len(group.key)
    if named > ctx.config.max_things_per_request:
        raise PlatformError(
            StatusCode.TOO_MANY_THINGS_SPECIFIED,
            f"a group names {named} things; at most {ctx.config.max_things_per_request}",
        )
    return ThingSelection(
        thing_ids=tuple(i.strip().lower() for i in group.id),
        client_thing_ids=tuple(c.strip() for c in group.client_thing_id),
        keys={k.value.strip().lower(): (k.version_stamp or "").strip().lower() for k in group.key},
        all_versions=group.current_version_only is False,
    )


def _bound(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return timestamp(value)
    except (ValueError, OverflowError, AttributeError, TypeError):
        raise PlatformError(StatusCode.INVALID_FILTER, f"{value!s} is not a usable date-time") from None


def _store_filter(spec: ThingFilterSpec, expand: Callable[[tuple[str, ...]], tuple[str, ...]]) -> ThingFilter:
    """The part of a filter the store matches: all of it but the XPath (its
    type-ids with the other versions ``expand`` adds)."""
    eff_min, eff_max = _bound(spec.eff_date_min), _bound(spec.eff_date_max)
    audits = {
        name: (str(getattr(spec, name)).strip().lower() if getattr(spec, name, None) else None) for name in _AUDITS
    }
    return ThingFilter(
        type_ids=expand(tuple(str(uuid.UUID(t.strip())) for t in spec.type_id if is_guid(t.strip())))
        or (
            ("-",) if spec.type_id else ()  # only unknown types named: nothing matches
        ),
        states=tuple(sorted({s.value for s in spec.thing_state})) or (ACTIVE,),
        eff_date_min=None if eff_min is None else iso(eff_min),
        eff_date_max=None if eff_max is None else iso(eff_max),
        created_min=_bound(spec.created_date_min),
        created_max=_bound(spec.created_date_max),
        updated_min=_bound(spec.updated_date_min),
        updated_max=_bound(spec.updated_date_max),
        **audits,
    )


def select(
    ctx: Context, tx: Transaction, group: Group, budget: xpathfilter.Budget, wanted: frozenset[str] = frozenset()
) -> Iterator[ThingVersion]:
    """The versions a group asks for, in response order, at most ``max``; a
    version matches when it matches any of the group's filters. The store
    matches all but XPath filters; those run here, on the store's matches,
    within ``budget``. A filter's type-id matches every version of the type
    when the application supports (``wanted``) the version it names."""
    versions = ctx.platform.thing_types.versions
    filters = list(group.filter)
    xpaths = [xpathfilter.compile_filter(f.xpath) if f.xpath else None for f in filters]
    limit = int(group.max) if group.max is not None else None
    if limit is not None and limit <= 0:
        return
    found = tx.things.select(
        ctx.record_id,
        appview.for_applications(_selection(ctx, group)),  # personal things are not there
        [_store_filter(f, lambda ids: versions.expand(ids, wanted)) for f in filters],
        limit=None if any(xpaths) else limit,
        with_xml=True,  # read with the row: one query, not one per thing
    )
    count = 0
    filtered = any(xpaths)
    for match in found:
        if filtered:
            root = thingxml.parse_stored(match.version.xml)
            if not any(xpaths[i] is None or budget.matches(xpaths[i], root) for i in match.filters):
                continue
        yield match.version
        count += 1
        if limit is not None and count >= limit:
            return


def _unprocessed_key(version: ThingVersion) -> etree._Element:
    key = thingxml.element("unprocessed-thing-key-info")
    key.append(thingxml.element("thing-id", version.thing_id, version_stamp=version.version_stamp))
    key.append(thingxml.element("type-id", version.type_id))
    key.append(thingxml.element("eff-date", version.eff_date))
    return key


#: Things parsed and written per call: few calls, none holding the interpreter long.
_BATCH = 64


class _Size:
    """The bytes a response has grown to, against the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0

    def add(self, n: int) -> None:
        self.total += n
        if self.total > self.limit:
            raise PlatformError(
                StatusCode.RESPONSE_TOO_LONG,
                f"the response would be over {self.limit} bytes; ask for fewer things or sections per request",
            )


def _group(
    ctx: Context,
    tx: Transaction,
    group: Group,
    budget: xpathfilter.Budget,
    size: _Size,
    v1: bool = False,
    registered: str = "",
) -> list[bytes]:
    """The group's response, serialized thing by thing (no call serializes
    the whole response at once, so none holds the interpreter for long);
    things in the original format for version 1, and in the versions the
    application supports (``registered``, and the format's type-version-format)."""
    fmt = group.format
    versions = ctx.platform.thing_types.versions
    wanted = versions.wanted(registered, fmt.type_version_format)
    sections = {s.value for s in fmt.section} or {"core"}
    with_data = bool(fmt.xml)
    blob_request = getattr(fmt, "blob_payload_request", None)
    blob_format = blob_request.blob_format.blob_format_spec.value if blob_request else "streamed"
    blob_names = (
        {f.blob_name for f in blob_request.blob_filters.blob_filter}
        if blob_request and blob_request.blob_filters
        else None
    )
    full_cap = ctx.config.max_full_things
    if group.max_full is not None:
        full_cap = min(full_cap, int(group.max_full))
    shell = thingxml.element("group", "")  # written <group></group> when empty, as before
    if group.name is not None:
        shell.set("name", group.name)
    opening = bytes(etree.tostring(shell, encoding="utf-8"))[: -len(b"</group>")]
    out = [opening]
    keep = thingxml.kept(sections, with_data)
    permissions = (
        {"eff-permissions": bytes(etree.tostring(thingxml.permissions_element(), encoding="utf-8"))}
        if "effectivepermissions" in sections
        else {}
    )
    with_payload = "blobpayload" in sections and not v1
    with_other = v1 and "otherdata" in sections
    batch: list[tuple[bytes, etree._Element | None, etree._Element | None]] = []

    def flush() -> None:
        """Parse and write a batch of things in one call each (not one per thing)."""
        if not batch:
            return
        things = thingxml.parse_many([xml for xml, _, _ in batch])
        for thing, (_, payload, other) in zip(things, batch, strict=True):
            thingxml.render(thing, sections, with_data, payload)
            if v1:
                thingxml.as_thing_v1(thing, other)
        out.append(thingxml.write_many(things))
        batch.clear()

    for n, version in enumerate(select(ctx, tx, group, budget, wanted)):
        if n >= full_cap:
            flush()
            size.add(200)
            out.append(bytes(etree.tostring(_unprocessed_key(version), encoding="utf-8")))
            continue
        xml = version.xml or tx.things.xml(version.version_stamp)
        layout = version.layout
        target = versions.target(version.type_id, wanted)
        if target is not None:  # in the version the application supports
            thing = thingxml.parse_stored(xml)
            if versions.convert(thing, version.type_id, target):
                xml, layout = bytes(etree.tostring(thing, encoding="utf-8")), None
        size.add(len(xml))
        payload = other = None
        if with_payload:
            payload = payload_for(ctx, tx, version.version_stamp, blob_format, blob_names, size.add)
        if with_other:
            other = data_other(ctx, tx, version.version_stamp, size.add)
        if layout is not None and not v1:
            inserted = permissions
            if payload is not None and len(payload):
                inserted = {"blob-payload": bytes(etree.tostring(payload, encoding="utf-8")), **permissions}
            written = thingxml.cut(xml, layout, keep, inserted)
            if written is not None:  # cut without parsing; the batch before it first
                if batch:
                    flush()
                out.append(written)
                continue
        batch.append((xml, payload, other))
        if len(batch) >= _BATCH:
            flush()
    flush()
    out.append(b"</group>")
    return out


def get_things(ctx: Context) -> bytes:
    info = ctx.request.info()
    assert isinstance(info, GetThings3Params)
    return _answer(ctx, list(info.group), RESPONSE_NS)


def get_things_v1(ctx: Context) -> bytes:
    info = ctx.request.info()
    assert isinstance(info, GetThingsParams)
    return _answer(ctx, list(info.group), RESPONSE_NS_V1, v1=True)


def _answer(ctx: Context, groups: list[Any], namespace: str, v1: bool = False) -> bytes:
    if len(groups) > ctx.config.max_groups:
        raise PlatformError(StatusCode.TOO_MANY_GROUPS_IN_QUERY, f"at most {ctx.config.max_groups} groups per request")
    shell = etree.Element(etree.QName(namespace, "info"), nsmap={"wc": namespace})
    shell.text = ""
    opening, closing = bytes(etree.tostring(shell, encoding="utf-8")).split(b"></", 1)
    budget = xpathfilter.Budget(ctx.config.xpath_budget)
    size = _Size(ctx.config.max_response_bytes)
    pieces = [opening + b">"]
    with ctx.store.read() as tx:
        app = tx.applications.get(ctx.app_id)
        registered = app.type_versions if app is not None else ""
        for group in groups:
            pieces.extend(_group(ctx, tx, group, budget, size, v1, registered))
    pieces.append(b"</" + closing)
    return write_ok_info(b"".join(pieces))
