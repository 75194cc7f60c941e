"""Errors of the FHIR service: an HTTP status and an OperationOutcome."""

from __future__ import annotations

from typing import Any

from ..errors import ServerError

#: OperationOutcome issue codes by HTTP status (http://hl7.org/fhir/R4/valueset-issue-type.html).
_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    410: "deleted",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    501: "not-supported",
}


class FhirError(ServerError):
    """A request the FHIR service refuses: ``status`` and one line saying why
    (a 405 also the methods the path takes: ``allow``, its Allow header)."""

    def __init__(self, status: int, message: str, code: str | None = None, allow: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CODES.get(status, "exception")
        self.allow = allow

    def outcome(self) -> dict[str, Any]:
        return outcome("error", self.code, self.message)


def outcome(severity: str, code: str, message: str) -> dict[str, Any]:
    """An OperationOutcome of one issue."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": message}],
    }
