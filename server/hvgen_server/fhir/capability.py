"""The CapabilityStatement: exactly what this server's FHIR service does.

Its resource types are those of the mappings offered (the thing types the
server serves), each with the interactions and search parameters the
service implements (http://hl7.org/fhir/R4/capabilitystatement.html).
"""

from __future__ import annotations

from typing import Any

from .registry import FhirTypes
from .search import BY_TYPE

_PARAM_TYPES = {"patient": "reference", "subject": "reference", "date": "date", "code": "token", "category": "token"}
_PARAM_TYPES |= {"vaccine-code": "token", "effective": "date"}
_COMMON = [("_id", "token"), ("_lastUpdated", "date"), ("_count", "number")]


def capability_statement(fhir: FhirTypes, base: str, version: str) -> dict[str, Any]:
    resources = []
    for kind in fhir.resource_types():
        writable = any(m.imports for m in fhir.mappings if m.resource_type == kind)
        versioned = ["vread"] if kind != "Patient" else []  # the current version only (no history)
        interactions = ["read", *versioned, "search-type"] + (["create"] if writable else [])
        params = [(n, t) for n, t in _COMMON] + [(n, _PARAM_TYPES[n]) for n in sorted(BY_TYPE.get(kind, ()))]
        entry: dict[str, Any] = {
            "type": kind,
            "interaction": [{"code": code} for code in interactions],
            "searchParam": [{"name": n, "type": t} for n, t in params],
        }
        profiles = sorted(
            {p for m in fhir.mappings if m.resource_type == kind for p in [getattr(m, "profile", None)] if p}
        )
        if profiles:
            entry["supportedProfile"] = profiles
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-01-01",
        "kind": "instance",
        "software": {"name": "hvgen", "version": version},
        "implementation": {"description": "hvgen local platform: the HealthVault record as FHIR", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "Authorization: Bearer TOKEN (a token of `hvgen token`), or the viewer's "
                    "signed-in browser session (reads)"
                },
                "resource": resources,
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
                "operation": [
                    {"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"}
                ],
            }
        ],
    }
