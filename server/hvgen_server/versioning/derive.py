"""Transforms derived from the content models of two versions of a type.

Two versions of a thing type share their data-xml root element; where their
elements correspond (the same element name at the same place, recursively),
data moves from one version to the other unchanged. The derivation reads the
compiled binding classes of both versions (their fields: element names,
occurrences, order, child classes), so it needs no code per type:

- an element the target version has keeps its content (and lexical form),
  in the target's order;
- an element or attribute the target lacks is dropped, and so are repeats
  beyond the target's maximum: what is dropped is declared (:class:`Loss`),
  computed from the classes before any data is seen;
- an element the target requires that the source may lack makes an instance
  without it untransformable (:data:`Loss.kind` ``"required"`` declares it);
  an element whose content differs (a value in one version, elements in
  the other) is dropped, or, when the target requires it, makes every
  instance untransformable (``"incompatible"``) -- except a value that
  becomes a codable value (elements of which only ``text`` is required):
  the value is its ``text`` (``"moved"``), and back, the ``text`` is the
  value (its codes are dropped, declared).

The result is checked against the target version's schema by the caller: an
instance the target cannot hold is not transformed (:class:`Untransformable`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from ..errors import ServerError


class Untransformable(ServerError):
    """An instance that the other version of its type cannot hold."""


@dataclass(frozen=True, order=True)
class Loss:
    """Something a transform drops or changes, declared with the transform.

    ``path`` is relative to the data-xml root (``series/referring-physician``,
    ``@attr`` for an attribute); ``kind``: ``element`` (dropped),
    ``repeats`` (occurrences beyond ``limit`` dropped), ``attribute``
    (dropped), ``required`` (the target requires it: an instance without it
    is not transformed), ``incompatible`` (the target requires it with
    other content: no instance is transformed), ``moved`` / ``filled`` (hand-written transforms:
    moved elsewhere, or filled in from another element).
    """

    path: str
    kind: str
    limit: int | None = None
    note: str = ""


#: Apply a transform to a data-xml root element in place (raises Untransformable).
Apply = Callable[[etree._Element], None]


def _children(cls: type[Any]) -> dict[str, Any]:
    found: dict[str, Any] = getattr(cls, "_CHILDREN", {})
    return found


def _child_cls(field: Any) -> type[Any] | None:
    """The class of a field's elements (None for simple values); by kind, as
    the classes of another generated package have their own field classes."""
    item = field.item
    return item.cls if getattr(item, "kind", "") == "child" else None


def _text_holder(cls: type[Any] | None) -> bool:
    """Whether elements of ``cls`` are a codable value: a required ``text`` value, nothing else required."""
    if cls is None:
        return False
    children = _children(cls)
    text = children.get("text")
    if text is None or _child_cls(text) is not None or text.min < 1:
        return False
    return all(f.min == 0 for tag, f in children.items() if tag != "text")


def _as_text(src: Any, dst: Any) -> str:
    """How an element whose content differs moves: ``"wrap"`` (a value becomes a codable
    value's text), ``"unwrap"`` (a codable value's text becomes the value), or ``""`` (it does not)."""
    src_cls, dst_cls = _child_cls(src), _child_cls(dst)
    if src_cls is None and _text_holder(dst_cls):
        return "wrap"
    if dst_cls is None and _text_holder(src_cls):
        return "unwrap"
    return ""


def losses(source: type[Any], target: type[Any]) -> tuple[Loss, ...]:
    """What moving an instance of ``source`` to ``target`` drops, from the classes."""
    found: set[Loss] = set()
    seen: set[tuple[type[Any], type[Any], str]] = set()

    def walk(src: type[Any], dst: type[Any], prefix: str) -> None:
        if (src, dst, prefix) in seen or prefix.count("/") > 12:
            return
        seen.add((src, dst, prefix))
        for name in getattr(src, "_ATTRIBUTES", {}):
            if name not in getattr(dst, "_ATTRIBUTES", {}):
                found.add(Loss(f"{prefix}@{name}", "attribute"))
        dst_children = _children(dst)
        for tag, field in _children(src).items():
            path = f"{prefix}{tag}"
            other = dst_children.get(tag)
            if other is None:
                if not getattr(dst, "_WILDCARDS", ()):
                    found.add(Loss(path, "element"))
                continue
            if (_child_cls(field) is None) != (_child_cls(other) is None):  # a value in one, elements in the other
                how = _as_text(field, other)
                if how == "wrap":
                    found.add(Loss(path, "moved", note="the value is the codable value's text"))
                    continue
                if how == "unwrap":
                    found.add(Loss(path, "moved", note="the codable value's text is the value"))
                    for tag_in in _children(_child_cls(field) or object):
                        if tag_in != "text":
                            found.add(Loss(f"{path}/{tag_in}", "element", note="only the codable value's text is kept"))
                    continue
                kind = "incompatible" if other.min > 0 else "element"
                found.add(Loss(path, kind, note="its content differs between the versions"))
                continue
            if other.max is not None and (field.max is None or field.max > other.max):
                found.add(Loss(path, "repeats", other.max))
            src_cls, dst_cls = _child_cls(field), _child_cls(other)
            if src_cls is not None and dst_cls is not None:
                walk(src_cls, dst_cls, path + "/")
        if getattr(src, "_WILDCARDS", ()) and not getattr(dst, "_WILDCARDS", ()):
            found.add(Loss(f"{prefix}*", "element", note="elements a wildcard of the source allowed"))
        src_children = _children(src)
        for tag, field in dst_children.items():
            if field.min > 0 and (tag not in src_children or src_children[tag].min == 0):
                found.add(Loss(f"{prefix}{tag}", "required"))

    walk(source, target, "")
    return tuple(sorted(found))


def derived(source: type[Any], target: type[Any]) -> Apply:
    """The transform of ``source``'s instances to ``target``, derived from their fields."""

    def apply(root: etree._Element) -> None:
        _move(root, source, target, 0)

    return apply


def _move(element: etree._Element, src: type[Any] | None, dst: type[Any], depth: int) -> None:
    if depth > 64:
        raise Untransformable("the data is nested too deeply to transform")
    dst_attributes = getattr(dst, "_ATTRIBUTES", {})
    for name in list(element.attrib):
        if not name.startswith("{") and name not in dst_attributes:
            del element.attrib[name]
    src_children = _children(src) if src is not None else {}
    dst_children = _children(dst)
    wild = bool(getattr(dst, "_WILDCARDS", ()))
    counts: dict[str, int] = {}
    for child in list(element):
        if not isinstance(child.tag, str):
            continue
        field = dst_children.get(child.tag)
        if field is None:
            if not wild:
                element.remove(child)
            continue
        src_field = src_children.get(child.tag)
        if src_field is not None and (_child_cls(src_field) is None) != (_child_cls(field) is None):
            how = _as_text(src_field, field)
            if how == "wrap":  # the value, as the codable value's text (its lexical form kept)
                value, child.text = child.text, None
                etree.SubElement(child, "text").text = value
            elif how == "unwrap":  # the codable value's text, as the value
                value = child.findtext("text")
                for inner in list(child):
                    child.remove(inner)
                child.text = value
            else:
                element.remove(child)  # its content differs between the versions: not carried
                continue
        counts[child.tag] = counts.get(child.tag, 0) + 1
        if field.max is not None and counts[child.tag] > field.max:
            element.remove(child)
            continue
        dst_cls = _child_cls(field)
        if dst_cls is not None:
            _move(child, _child_cls(src_field) if src_field is not None else None, dst_cls, depth + 1)
    for tag, field in dst_children.items():
        if field.min > counts.get(tag, 0):
            raise Untransformable(f"<{etree.QName(element).localname}> has no <{tag}>, which the version requires")
    _reorder(element, getattr(dst, "_ORDERS", {}))


def _reorder(element: etree._Element, orders: dict[str, int]) -> None:
    """Put the children in the target's order (each keeps the comments and
    text before it); nothing moves when they already are."""
    ranks = [orders.get(c.tag, len(orders)) for c in element if isinstance(c.tag, str)]
    if ranks == sorted(ranks):
        return
    groups: list[list[etree._Element]] = []
    pending: list[etree._Element] = []
    for child in list(element):
        pending.append(child)
        if isinstance(child.tag, str):
            groups.append(pending)
            pending = []
    groups.sort(key=lambda g: orders.get(g[-1].tag, len(orders)))  # stable: equal ranks keep their order
    for child in list(element):
        element.remove(child)
    for group in [*groups, pending]:
        for child in group:
            element.append(child)
