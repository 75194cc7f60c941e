"""A method's work as a whole response: status 0 around its result, or the status it raised."""

from __future__ import annotations

from collections.abc import Callable

from healthvault.errors import HealthVaultXmlError
from healthvault.protocol import write_ok, write_status
from healthvault.status import HealthVaultStatusError, StatusCode


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
