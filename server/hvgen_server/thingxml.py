"""Things as the local platform stores and returns them.

A stored version is the thing's XML as the client sent it, with the fields
the platform owns set by the server (thing-id and version-stamp, type-id,
state, effective date, audits) and without its blob payload: blobs are rows
of ``version_blobs``, and the payload is written out per request, with fresh
URLs. Keeping the client's bytes for data-xml and signature-info keeps
signatures verifiable.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from collections.abc import Iterable

from lxml import etree

from .xmltime import iso

#: Children of <thing> in schema order.
ORDER = (
    "thing-id",
    "type-id",
    "thing-state",
    "flags",
    "eff-date",
    "created",
    "updated",
    "data-xml",
    "blob-payload",
    "eff-permissions",
    "tags",
    "signature-info",
    "updated-end-date",
)

#: Which children each GetThings section returns.
SECTIONS = {
    "core": {"thing-id", "type-id", "thing-state", "flags", "eff-date", "updated-end-date"},
    "audits": {"created", "updated"},
    "effectivepermissions": {"eff-permissions"},
    "digitalsignatures": {"signature-info"},
    "tags": {"tags"},
    "blobpayload": {"blob-payload"},
}


_PARSERS = threading.local()


def parse_stored(xml: bytes) -> etree._Element:
    """A stored version, parsed. The platform wrote these bytes itself after
    checking them, so they are parsed without the checks a stranger's
    document gets (still without entities, DTDs or network), with a parser
    kept per thread (lxml parsers are not shared between threads)."""
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = etree.XMLParser(
            resolve_entities=False,
            load_dtd=False,
            no_network=True,
            huge_tree=False,
            collect_ids=False,
            strip_cdata=False,  # what is written again keeps its CDATA sections (a CCR's, a CDA's)
        )
    return etree.fromstring(xml, parser)


def child(thing: etree._Element, name: str) -> etree._Element | None:
    for c in thing:
        if c.tag == name:
            return c
    return None


def set_child(thing: etree._Element, name: str, new: etree._Element | None) -> None:
    """Replace (or remove, with None) the child ``name``, keeping schema order."""
    old = child(thing, name)
    if old is not None:
        if new is None:
            thing.remove(old)
        else:
            thing.replace(old, new)
        return
    if new is None:
        return
    rank = ORDER.index(name)
    for i, c in enumerate(thing):
        if c.tag in ORDER and ORDER.index(c.tag) > rank:
            thing.insert(i, new)
            return
    thing.append(new)


def element(tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    """A new unqualified element; attribute names use _ for -."""
    el = etree.Element(tag, {k.replace("_", "-"): v for k, v in attrib.items()})
    el.text = text
    return el


def audit(
    name: str,
    timestamp: float,
    app_id: str,
    app_name: str,
    person_id: str,
    person_name: str,
    action: str,
    avenue: str = "Offline",
) -> etree._Element:
    el = element(name)
    el.append(element("timestamp", iso(timestamp)))
    el.append(element("app-id", app_id, name=app_name))
    el.append(element("person-id", person_id, name=person_name))
    el.append(element("access-avenue", avenue))
    el.append(element("audit-action", action))
    return el


_DATE_PARTS = ("y", "m", "d")


def effective_date(data_root: etree._Element | None, fallback: float) -> str:
    """The thing's effective date: its data's ``when`` when it has one (as
    medical image studies and blood pressure readings do), else ``fallback``."""
    when = data_root.find("when") if data_root is not None else None
    date = when.find("date") if when is not None else None
    if when is not None and date is not None:
        try:
            y, m, d = (int((date.findtext(p) or "").strip()) for p in _DATE_PARTS)
            time_el = when.find("time")
            h = mi = s = ms = 0
            if time_el is not None:
                h = int((time_el.findtext("h") or "0").strip())
                mi = int((time_el.findtext("m") or "0").strip())
                s = int((time_el.findtext("s") or "0").strip())
                ms = int((time_el.findtext("f") or "0").strip())
            moment = dt.datetime(y, m, d, h, mi, s, ms * 1000, tzinfo=dt.UTC)
            return iso(moment.timestamp())
        except (ValueError, OverflowError):
            pass
    return iso(fallback)


def clean_copy(el: etree._Element, keep_below: etree._Element | None = None) -> etree._Element:
    """A standalone copy of ``el`` without namespace declarations it does
    not use, but for those declared in ``keep_below`` (a document kept as
    given: its unused declarations are part of its bytes)."""
    dup = copy.deepcopy(el)
    kept: set[str] = set()
    for node in keep_below.iter(etree.Element) if keep_below is not None else ():
        above = node.getparent()
        kept.update(p for p, uri in node.nsmap.items() if p and (above is None or above.nsmap.get(p) != uri))
    etree.cleanup_namespaces(dup, keep_ns_prefixes=sorted(kept) or None)
    return dup


def kept(sections: Iterable[str], xml: bool) -> frozenset[str]:
    """The children of <thing> GetThings returns for ``sections`` (and
    data-xml when ``xml``): thing-id and type-id always."""
    keep = {"thing-id", "type-id"}
    for section in sections:
        keep |= SECTIONS.get(section, set())
    if xml:
        keep.add("data-xml")
    return frozenset(keep)


def permissions_element(permissions: Iterable[str] = ("All",)) -> etree._Element:
    perms = element("eff-permissions")
    for p in permissions:
        perms.append(element("permission", p))
    return perms


def render(
    stored: bytes | etree._Element,
    sections: set[str],
    xml: bool,
    blob_payload: etree._Element | None,
    permissions: Iterable[str] = ("All",),
) -> etree._Element:
    """A stored version as GetThings returns it for the requested sections
    (an element given is changed in place).

    thing-id and type-id are always returned. :func:`cut` gives the same
    bytes from a version's :func:`layout` without parsing it.
    """
    thing = parse_stored(stored) if isinstance(stored, bytes) else stored
    keep = kept(sections, xml)
    for c in list(thing):
        if c.tag not in keep:
            thing.remove(c)
    if "blobpayload" in sections and blob_payload is not None and len(blob_payload):
        set_child(thing, "blob-payload", blob_payload)
    if "effectivepermissions" in sections:
        set_child(thing, "eff-permissions", permissions_element(permissions))
    return thing


#: Name of a top-level node that is not an element (a comment, a processing instruction) in a layout.
_OTHER = "#"
_CLOSING = b"</thing>"


def serialize(thing: etree._Element) -> tuple[bytes, str | None]:
    """A version's bytes as the store keeps them, and their :func:`layout`."""
    xml = bytes(etree.tostring(thing, encoding="utf-8"))
    return xml, layout(thing, xml)


def layout(thing: etree._Element, xml: bytes) -> str | None:
    """Where each top-level node of a stored version is in its bytes
    ``xml`` (``thing`` serialized), so that GetThings can cut a version to
    the requested sections without parsing it (:func:`cut`).

    The text is the nodes' names (``#`` for comments and processing
    instructions), then ``|`` and the byte offsets where each node starts
    (its tail included) and where the last one ends. None when the nodes
    written one by one are not the bytes of the whole (a namespace declared
    on <thing>, which each would declare again) or a child is unknown to a
    thing: such versions are parsed instead.
    """
    if thing.tag != "thing" or not len(thing) or not xml.startswith(b"<thing") or not xml.endswith(_CLOSING):
        return None
    names: list[str] = []
    parts: list[bytes] = []
    for node in thing:
        tag = node.tag
        if not isinstance(tag, str):
            names.append(_OTHER)
        elif tag in ORDER:
            names.append(tag)
        else:
            return None
        parts.append(bytes(etree.tostring(node, encoding="utf-8", with_tail=True)))
    end = len(xml) - len(_CLOSING)
    body = b"".join(parts)
    start = end - len(body)
    if start <= len(b"<thing") or xml[start:end] != body:
        return None
    offsets = [start]
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    return ",".join(names) + "|" + ",".join(map(str, offsets))


#: A cut: what goes between the head and the end of <thing>, in order: runs
#: of nodes kept (first and end index into the offsets, None) and elements
#: put in between (0, 0, their name).
_Plan = tuple[tuple[int, int, "str | None"], ...]
_PLANS: dict[tuple[str, frozenset[str], tuple[str, ...]], _Plan | None] = {}
_PLANS_KEPT = 4096


def _plan(names: list[str], keep: frozenset[str], inserted: tuple[str, ...]) -> _Plan | None:
    if any(name in names for name in inserted):
        return None  # replacing a stored child: left to render()
    kept_nodes = [i for i, name in enumerate(names) if name in keep]
    if not kept_nodes and not inserted:
        return None  # an empty <thing>, which lxml may write as <thing/>: left to render()
    rank = {name: i for i, name in enumerate(ORDER)}
    # (index of the node it goes before, 0 for an element put there / 1 for the node itself, name)
    items = [(i, 1, "") for i in kept_nodes]
    for name in inserted:
        # before the first kept element after it in schema order, as set_child() puts it
        at = next((i for i in kept_nodes if rank[names[i]] > rank[name]), len(names))
        items.append((at, 0, name))
    plan: list[tuple[int, int, str | None]] = []
    for at, is_node, name in sorted(items, key=lambda item: (item[0], item[1], rank.get(item[2], 0))):
        if not is_node:
            plan.append((0, 0, name))
        elif plan and plan[-1][2] is None and plan[-1][1] == at:
            plan[-1] = (plan[-1][0], at + 1, None)
        else:
            plan.append((at, at + 1, None))
    return tuple(plan)


def cut(xml: bytes, layout_text: str, keep: frozenset[str], inserted: dict[str, bytes]) -> bytes | None:
    """A stored version's bytes with only the children in ``keep`` and the
    serialized elements ``inserted`` (by name, put in schema order): the
    bytes :func:`render` writes, found from the version's :func:`layout`.
    None when the version has a child of an ``inserted`` name."""
    names, _, offsets_text = layout_text.partition("|")
    key = (names, keep, tuple(inserted))
    plan = _PLANS.get(key, ())
    if plan == ():
        plan = _plan(names.split(","), keep, key[2])
        if len(_PLANS) < _PLANS_KEPT:
            _PLANS[key] = plan
    if plan is None:
        return None
    offsets = offsets_text.split(",")
    pieces = [xml[: int(offsets[0])]]
    for first, end, name in plan:
        pieces.append(xml[int(offsets[first]) : int(offsets[end])] if name is None else inserted[name])
    pieces.append(xml[int(offsets[-1]) :])
    return b"".join(pieces)


#: Children of a Thing2 that the original Thing format does not have.
_NOT_IN_THING_V1 = ("blob-payload", "signature-info", "updated-end-date")


def as_thing_v1(thing: etree._Element, data_other: etree._Element | None) -> etree._Element:
    """A rendered thing in the original ``Thing`` format (GetThings version
    1): no blob payload, signature section or updated-end-date, audits
    without their master application, and the default blob as ``data-other``
    when given (after the data-xml)."""
    for name in _NOT_IN_THING_V1:
        set_child(thing, name, None)
    for name in ("created", "updated"):
        found = child(thing, name)
        master = found.find("master-app-id") if found is not None else None
        if found is not None and master is not None:
            found.remove(master)
    if data_other is not None:
        after = [c for c in thing if c.tag in ORDER[: ORDER.index("data-xml") + 1]]
        thing.insert(len(after), data_other)
    return thing


def parse_many(stored: list[bytes]) -> list[etree._Element]:
    """Several stored versions parsed in one call (their elements share a
    parent, which :func:`write_many` leaves out)."""
    parts = [b"<things>"]
    for xml in stored:
        if xml.startswith(b"<?xml"):  # a declaration cannot stand inside another document
            xml = xml[xml.index(b"?>") + 2 :]
        parts.append(xml)
    parts.append(b"</things>")
    return list(parse_stored(b"".join(parts)))


def write_many(things: list[etree._Element]) -> bytes:
    """The things of :func:`parse_many` (changed or replaced in place), written in one call."""
    if not things:
        return b""
    holder = things[0].getparent()
    if holder is None or any(t.getparent() is not holder for t in things) or len(holder) != len(things):
        return b"".join(bytes(etree.tostring(t, encoding="utf-8")) for t in things)
    written = bytes(etree.tostring(holder, encoding="utf-8"))
    return written[len(b"<things>") : -len(b"</things>")]
