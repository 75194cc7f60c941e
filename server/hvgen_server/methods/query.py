"""GetThings: selecting things by id, key and filters, and the response.

The store selects by thing id, client id and key; the filters of a group
(type, state, dates, audits, XPath) are matched here. Things go into the
response as the stored XML, cut to the requested sections; matches beyond
the full-thing limit go in as keys (``unprocessed-thing-key-info``).
"""

from __future__ import annotations

import uuid
from typing import Any

from lxml import etree

from healthvault import wire
from healthvault.schema import GetThings3Params, ThingFilterSpec, ThingRequestGroup2
from healthvault.status import StatusCode

from .. import thingxml
from ..context import Context
from ..errors import PlatformError
from ..store import Transaction
from ..store.rows import ACTIVE, ThingSelection, ThingVersion
from ..xmltime import iso, timestamp
from .blobs import payload_for
from .things import is_guid

#: Filter bounds on dates: (filter field, ThingVersion field, lower bound?).
_DATE_BOUNDS = (
    ("eff_date_min", "eff_date", True),
    ("eff_date_max", "eff_date", False),
    ("created_date_min", "created", True),
    ("created_date_max", "created", False),
    ("updated_date_min", "updated", True),
    ("updated_date_max", "updated", False),
)

#: Filter fields on audits and where the stored thing has them.
_AUDIT_FIELDS = (
    ("created_app_id", "created/app-id"),
    ("created_person_id", "created/person-id"),
    ("updated_app_id", "updated/app-id"),
    ("updated_person_id", "updated/person-id"),
)

#: Namespace of the GetThings response info.
RESPONSE_NS = wire.RESPONSE_NS_PREFIX + "GetThings3"


def _selection(group: ThingRequestGroup2) -> ThingSelection:
    return ThingSelection(
        thing_ids=tuple(i.strip().lower() for i in group.id),
        client_thing_ids=tuple(c.strip() for c in group.client_thing_id),
        keys={k.value.strip().lower(): (k.version_stamp or "").strip().lower() for k in group.key},
        all_versions=group.current_version_only is False,
    )


def _audits_match(version: ThingVersion, spec: ThingFilterSpec) -> bool:
    wanted = [(getattr(spec, name, None), path) for name, path in _AUDIT_FIELDS if getattr(spec, name, None)]
    if not wanted:
        return True
    root = thingxml.parse_stored(version.xml)
    return all((root.findtext(path) or "").strip().lower() == str(v).strip().lower() for v, path in wanted)


def _dates_match(version: ThingVersion, spec: ThingFilterSpec) -> bool:
    for name, field_name, lower in _DATE_BOUNDS:
        value = getattr(spec, name, None)
        if value is None:
            continue
        bound: Any = timestamp(value)
        if field_name == "eff_date":  # stored as ISO text, which sorts like time
            bound = iso(bound)
        have = getattr(version, field_name)
        if not (have >= bound if lower else have <= bound):
            return False
    return True


def _matches(version: ThingVersion, spec: ThingFilterSpec, xpath: etree.XPath | None) -> bool:
    if spec.type_id:
        type_ids = {str(uuid.UUID(t.strip())) for t in spec.type_id if is_guid(t.strip())}
        if version.type_id not in type_ids:
            return False
    states = {s.value for s in spec.thing_state} or {ACTIVE}
    if version.state not in states:
        return False
    if not _dates_match(version, spec) or not _audits_match(version, spec):
        return False
    return xpath is None or thingxml.xpath_matches(xpath, version.xml)


def select(ctx: Context, tx: Transaction, group: ThingRequestGroup2) -> list[ThingVersion]:
    """The versions a group asks for, in response order; a version matches
    when it matches any of the group's filters."""
    versions = tx.things.select(ctx.record_id, _selection(group))
    filters = group.filter
    if not any(f.thing_state for f in filters):
        versions = [v for v in versions if v.state == ACTIVE]
    if not filters:
        return versions
    compiled = [(f, thingxml.compile_xpath(f.xpath) if f.xpath else None) for f in filters]
    return [v for v in versions if any(_matches(v, spec, xpath) for spec, xpath in compiled)]


def _unprocessed_key(version: ThingVersion) -> etree._Element:
    key = thingxml.element("unprocessed-thing-key-info")
    key.append(thingxml.element("thing-id", version.thing_id, version_stamp=version.version_stamp))
    key.append(thingxml.element("type-id", version.type_id))
    key.append(thingxml.element("eff-date", version.eff_date))
    return key


def _group(ctx: Context, tx: Transaction, group: ThingRequestGroup2) -> etree._Element:
    fmt = group.format
    sections = {s.value for s in fmt.section} or {"core"}
    blob_request = fmt.blob_payload_request
    blob_format = blob_request.blob_format.blob_format_spec.value if blob_request else "streamed"
    blob_names = (
        {f.blob_name for f in blob_request.blob_filters.blob_filter}
        if blob_request and blob_request.blob_filters
        else None
    )
    versions = select(ctx, tx, group)
    if group.max is not None:
        versions = versions[: int(group.max)]
    full_cap = ctx.config.max_full_things
    if group.max_full is not None:
        full_cap = min(full_cap, int(group.max_full))
    out = thingxml.element("group", "")  # written <group></group> when empty, as before
    if group.name is not None:
        out.set("name", group.name)
    for version in versions[:full_cap]:
        payload = None
        if "blobpayload" in sections:
            payload = payload_for(ctx, tx, version.version_stamp, blob_format, blob_names)
        out.append(thingxml.render(version.xml, sections, bool(fmt.xml), payload))
    for version in versions[full_cap:]:
        out.append(_unprocessed_key(version))
    return out


def get_things(ctx: Context) -> etree._Element:
    info = ctx.request.info()
    assert isinstance(info, GetThings3Params)
    if len(info.group) > ctx.config.max_groups:
        raise PlatformError(StatusCode.TOO_MANY_GROUPS_IN_QUERY, f"at most {ctx.config.max_groups} groups per request")
    result = etree.Element(etree.QName(RESPONSE_NS, "info"), nsmap={"wc": RESPONSE_NS})
    result.text = ""
    with ctx.store.read() as tx:
        for group in info.group:
            result.append(_group(ctx, tx, group))
    return result
