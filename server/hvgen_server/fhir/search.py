"""FHIR search parameters as an index query, and searchset Bundles.

Supported (R4 §3.1.1 search): ``patient`` and ``subject`` (the record's
Patient), ``date`` with the prefixes ``eq``, ``ge``, ``le``, ``gt``,
``lt`` (a value's precision makes its range: ``2020-05`` is the month),
``code`` and ``category`` (tokens ``system|code`` or ``code``; a comma
between values means any of them), ``_id``, ``_lastUpdated`` (prefixes as
``date``), ``_count`` (page size, at most :data:`MAX_COUNT`) and
``_offset`` (where a page starts: the next/previous links use it).
Every other parameter is refused (400), so that no search silently
matches more than asked for.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from ..store.rows import FhirQuery
from .errors import FhirError

DEFAULT_COUNT = 50
MAX_COUNT = 1000
#: Parameters of every resource type, and those of each type.
COMMON = frozenset({"_id", "_lastUpdated", "_count", "_offset", "_format"})
BY_TYPE = {
    "Observation": frozenset({"patient", "subject", "date", "code", "category"}),
    "Patient": frozenset(),
    "ImagingStudy": frozenset({"patient", "subject"}),
    "Condition": frozenset({"patient", "subject", "code", "category"}),
    "DocumentReference": frozenset({"patient", "subject", "date"}),
    "Immunization": frozenset({"patient", "date", "vaccine-code"}),
    "AllergyIntolerance": frozenset({"patient", "code"}),
    "Procedure": frozenset({"patient", "subject", "date", "code"}),
    "MedicationStatement": frozenset({"patient", "subject", "effective", "code"}),
}
#: The R4 names of ``code`` and ``date`` where a type names them otherwise.
ALIASES = {"vaccine-code": "code", "effective": "date"}
_PREFIXES = ("eq", "ge", "le", "gt", "lt")
_VALUE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?(Z|[+-]\d{2}:\d{2})?)?)?)?"
)


@dataclass(frozen=True)
class Search:
    """A parsed search: the index query, and whether it can match the record at all."""

    query: FhirQuery
    patient_ok: bool
    params: tuple[tuple[str, str], ...]


def _range(value: str, name: str) -> tuple[dt.datetime, dt.datetime]:
    found = _VALUE.fullmatch(value)
    if found is None:
        raise FhirError(400, f"{name}: {value!r} is not a date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime)")
    y, m, d, h, mi, s, zone = found.groups()
    try:
        start = dt.datetime(int(y), int(m or 1), int(d or 1), int(h or 0), int(mi or 0), int(s or 0))
    except ValueError:
        raise FhirError(400, f"{name}: {value!r} is not a date") from None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        start -= dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])) * sign
    if h is not None:
        end = start + (dt.timedelta(seconds=1) if s is not None else dt.timedelta(minutes=1))
    elif d is not None:
        end = start + dt.timedelta(days=1)
    elif m is not None:
        end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    else:
        end = start.replace(year=start.year + 1)
    return start, end


def _bounds(values: Sequence[str], name: str) -> list[tuple[str, dt.datetime]]:
    """(operator, moment) conditions of ``name``'s values (each AND-ed)."""
    out: list[tuple[str, dt.datetime]] = []
    for raw in values:
        if "," in raw:
            raise FhirError(400, f"{name}: several values in one ({raw!r}) are not supported; repeat the parameter")
        prefix = raw[:2] if raw[:2].isalpha() else "eq"
        value = raw[2:] if raw[:2].isalpha() else raw
        if prefix not in _PREFIXES:
            raise FhirError(400, f"{name}: the prefix {prefix!r} is not supported (only {', '.join(_PREFIXES)})")
        start, end = _range(value, name)
        out += {
            "eq": [(">=", start), ("<", end)],
            "ge": [(">=", start)],
            "gt": [(">=", end)],
            "le": [("<", end)],
            "lt": [("<", start)],
        }[prefix]
    return out


def parse(resource_type: str, params: Sequence[tuple[str, str]], record_id: str) -> Search:
    """A search of ``resource_type`` in the record; unknown parameters are refused."""
    allowed = COMMON | BY_TYPE.get(resource_type, frozenset())
    by: dict[str, list[str]] = {}
    for name, value in params:
        if name not in allowed:
            known = ", ".join(sorted(allowed))
            raise FhirError(400, f"the search parameter {name!r} is not supported for {resource_type} ({known})")
        by.setdefault(ALIASES.get(name, name), []).append(value)
    patient_ok = True
    for name in ("patient", "subject"):
        for value in by.get(name, []):
            patient_ok = patient_ok and value.removeprefix("Patient/") == record_id
    count = _number(by.get("_count", [str(DEFAULT_COUNT)])[-1], "_count", MAX_COUNT)
    offset = _number(by.get("_offset", ["0"])[-1], "_offset", None)
    dates = [(op, moment.strftime("%Y-%m-%dT%H:%M:%S")) for op, moment in _bounds(by.get("date", []), "date")]
    updated = [
        (op, moment.replace(tzinfo=dt.UTC).timestamp())
        for op, moment in _bounds(by.get("_lastUpdated", []), "_lastUpdated")
    ]
    query = FhirQuery(
        resource_type,
        codes=_tokens(by.get("code", [])),
        categories=_tokens(by.get("category", [])),
        ids=tuple(v.strip().lower() for raw in by.get("_id", []) for v in raw.split(",") if v.strip()),
        dates=tuple(dates),
        updated=tuple(updated),
        limit=count,
        offset=offset,
    )
    kept = [(n, v) for n, v in params if n not in ("_offset", "_format", "_count")]
    if "_count" in by:  # the count used (at most MAX_COUNT), as the links say it
        kept.append(("_count", str(count)))
    return Search(query, patient_ok, tuple(kept))


def _tokens(values: list[str]) -> tuple[str, ...]:
    if len(values) > 1:
        raise FhirError(400, "a token parameter given twice matches nothing; give its values as one, comma-separated")
    return tuple(v.strip() for raw in values for v in raw.split(",") if v.strip())


def _number(value: str, name: str, most: int | None) -> int:
    if not value.isdigit():
        raise FhirError(400, f"{name}: {value!r} is not a whole number")
    found = int(value)
    return min(found, most) if most is not None else found


def bundle(
    base: str, resource_type: str, search: Search, total: int, resources: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """A searchset Bundle of one page, with self, next and previous links."""
    q = search.query

    def link(relation: str, offset: int) -> dict[str, str]:
        params = [*search.params, ("_offset", str(offset))] if offset else list(search.params)
        return {"relation": relation, "url": f"{base}/{resource_type}" + (f"?{urlencode(params)}" if params else "")}

    links = [link("self", q.offset)]
    if q.offset + q.limit < total and q.limit:
        links.append(link("next", q.offset + q.limit))
    if q.offset > 0:
        links.append(link("previous", max(0, q.offset - q.limit)))
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
            for r in resources
        ],
    }
