"""The error every platform method answers with a status code."""

from __future__ import annotations

from healthvault.status import HealthVaultStatusError, StatusCode


class PlatformError(HealthVaultStatusError):
    """An error answered with a platform status code and message.

    The protocol core raises the same family (:class:`HealthVaultStatusError`)
    for envelopes it refuses; the server answers both alike.
    """

    def __init__(self, code: StatusCode, message: str) -> None:
        super().__init__(message, int(code))
