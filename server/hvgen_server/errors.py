"""The error every platform method answers with a status code."""

from __future__ import annotations

from collections.abc import Callable

from healthvault.errors import HealthVaultXmlError
from healthvault.protocol import write_ok, write_status
from healthvault.status import HealthVaultStatusError, StatusCode


class PlatformError(HealthVaultStatusError):
    """An error answered with a platform status code and message.

    The protocol core raises the same family (:class:`HealthVaultStatusError`)
    for envelopes it refuses; the server answers both alike.
    """

    def __init__(self, code: StatusCode, message: str) -> None:
        super().__init__(message, int(code))


def as_response(run: Callable[[], object]) -> Callable[[], bytes]:
    """``run`` as a whole response: a status-0 response around what it
    returns (a response info, or bytes already written), or the status it raised."""

    def serve() -> bytes:
        try:
            result = run()
        except HealthVaultStatusError as exc:
            return write_status(exc.code, exc.message)
        except HealthVaultXmlError as exc:
            return write_status(StatusCode.INVALID_XML, str(exc))
        return result if isinstance(result, bytes) else write_ok(result)

    return serve
