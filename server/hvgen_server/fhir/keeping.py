"""What an import keeps: every element of a resource, or the resource is refused.

A resource is made into a thing by its mapping; the thing is then read back
as FHIR (the mapping's own :meth:`~.mapping.Mapping.to_fhir`) and every
value the resource gave is looked for there, at the same place. A value
the thing does not hold (an element the thing type has no place for, a
second reaction where it holds one, a status it cannot say) refuses the
resource with 422 naming each such element and value: nothing is dropped
or changed silently. What is compared: strings exactly (a date or
dateTime by the moment it says, so a time zone written as UTC passes), and
numbers and booleans by their place (a Quantity is converted into the
thing's unit, so its number, unit and code may change; its comparator may
not).

Accepted and not kept, as they carry no clinical data: ``resourceType``,
``id``, ``meta``, ``text`` (the narrative), ``language``, ``identifier``
(kept as the client thing id), the thing-XML extension, a coding's
``display`` (the code system's name of its code) and a category's ``text``
(its label: the category's codes are compared), and ``subject`` or
``patient`` when it references the record imported into
(:func:`check_patient`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from . import xmlext
from .datatypes import index_date
from .errors import FhirError

#: Top-level elements accepted and not kept (no clinical data).
NOT_DATA = frozenset({"resourceType", "id", "meta", "text", "language", "identifier", "subject", "patient"})
#: Resource types with ``note`` (Annotations): the first one's text is the thing's common note.
NOTED = frozenset(
    {
        "Observation",
        "Condition",
        "Immunization",
        "AllergyIntolerance",
        "Procedure",
        "MedicationStatement",
        "ImagingStudy",
    }
)
#: At most this many elements are named in a refusal.
NAMED = 30
_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2})?)?)?)?")
_CODING_DISPLAY = re.compile(r"(^|\.)coding\[\d+\]\.display$|^category\[\d+\]\.text$")
_QUANTITY_PARTS = ("unit", "code", "system")


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, value) of every primitive in JSON data: ``a.b[0].c``."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from leaves(item, f"{path}[{i}]")
    elif value is not None:
        yield path, value


def _same(path: str, given: Any, held: Any, parent: Any) -> bool:
    if not isinstance(given, str):
        return True  # numbers (converted) and booleans: by their place
    if given == held:
        return True
    if isinstance(parent, dict) and "value" in parent and path.rsplit(".", 1)[-1] in _QUANTITY_PARTS:
        return True  # a Quantity's unit, converted with its value
    if isinstance(held, str) and _DATE.fullmatch(given) and _DATE.fullmatch(held):
        return len(given[:10]) == len(held[:10]) and index_date(given) == index_date(held)
    return False


def _parent(resource: Any, path: str) -> Any:
    head = path.rsplit(".", 1)[0] if "." in path else ""
    at = resource
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", head):
        if part.startswith("["):
            index = int(part[1:-1])
            at = at[index] if isinstance(at, list) and index < len(at) else None
        else:
            at = at.get(part) if isinstance(at, dict) else None
    return at


def unkept(resource: dict[str, Any], held: dict[str, Any]) -> list[str]:
    """The elements of ``resource`` (as :func:`leaves` names them) that
    ``held`` (the resource its thing makes) does not hold, each with what
    it says when it holds something else."""
    found = dict(leaves(_aligned(resource, held)))
    places = {p for path in found for p in _prefixes(path)}
    lost: list[str] = []
    for key, value in resource.items():
        if key in NOT_DATA:
            continue
        if key == "extension" and isinstance(value, list):
            for i, ext in enumerate(value):
                if not (isinstance(ext, dict) and ext.get("url") == xmlext.THING_XML):
                    url = ext.get("url") if isinstance(ext, dict) else None
                    lost.append(f"extension[{i}] ({url})" if url else f"extension[{i}]")
            continue
        for path, given in leaves(value, key):
            if _CODING_DISPLAY.search(path):
                continue
            if path not in found:
                lost.append(next(p for p in _prefixes(path) if p not in places))
            elif not _same(path, given, found[path], _parent(resource, path)):
                lost.append(f"{path} {given!r} (the thing holds {found[path]!r})")
    return list(dict.fromkeys(lost))


def _prefixes(path: str) -> list[str]:
    """``a.b[0].c`` → ``a``, ``a.b``, ``a.b[0]``, ``a.b[0].c``."""
    ends = [m.start() for m in re.finditer(r"[.\[]", path)]
    return [path[:end] for end in ends if end] + [path]


def _codes(item: Any) -> set[tuple[Any, Any]]:
    """What a component is known by: its codings, else its code's text."""
    code = item.get("code") if isinstance(item, dict) else None
    if not isinstance(code, dict):
        return set()
    found = {(c.get("system"), c.get("code")) for c in code.get("coding") or [] if isinstance(c, dict)}
    return found or ({("text", code["text"])} if code.get("text") else set())


def _aligned(resource: dict[str, Any], held: dict[str, Any]) -> dict[str, Any]:
    """``held`` with its components in the order of the resource's, each
    found by its code (an Observation's components are known by their
    codes, not by their places)."""
    given, made = resource.get("component"), held.get("component")
    if not isinstance(given, list) or not isinstance(made, list):
        return held
    left = list(made)
    order: list[Any] = []
    for item in given:
        codes = _codes(item)
        match = next((m for m in left if codes & _codes(m)), None)
        if match is not None:
            left.remove(match)
        order.append(match if match is not None else {})
    return {**held, "component": order + left}


def refusal(lost: list[str], what: str) -> str:
    named = ", ".join(lost[:NAMED]) + (f" and {len(lost) - NAMED} more" if len(lost) > NAMED else "")
    return f"{what} cannot hold {named}: remove them to import the rest (nothing was stored)"


def check_patient(resource: dict[str, Any], record_id: str, base: str) -> None:
    """Refuse a resource whose ``subject`` or ``patient`` is another patient
    than the record imported into (``Patient/RECORD-ID``, relative or
    under this server's ``base``); one with neither is the record's."""
    for name in ("subject", "patient"):
        if name not in resource:
            continue
        value = resource[name]
        reference = value.get("reference") if isinstance(value, dict) else None
        wanted = f"Patient/{record_id}"
        if isinstance(reference, str) and reference.lower() in (wanted.lower(), f"{base}/{wanted}".lower()):
            extra = sorted(set(value) - {"reference", "display", "type"})
            if not extra and value.get("type", "Patient") == "Patient":
                continue
        raise FhirError(
            422,
            f"{name} {value!r} is not the patient of the record imported into: reference {wanted}, or leave {name} out",
        )
