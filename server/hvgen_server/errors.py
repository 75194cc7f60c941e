"""The root of the server's exceptions, and the error a platform method answers with a status code.

Every exception the server raises on purpose derives from :class:`ServerError`
(the package docstring draws the tree). This module imports nothing of the
server, so that every part of it, the store included, can derive from it.
"""

from __future__ import annotations

from healthvault.status import HealthVaultStatusError, StatusCode


class ServerError(Exception):
    """Base class of every error the server raises on purpose."""


class PlatformError(ServerError, HealthVaultStatusError):
    """An error answered with a platform status code and message.

    The protocol core raises the same family (:class:`HealthVaultStatusError`)
    for envelopes it refuses; the server answers both alike.
    """

    def __init__(self, code: StatusCode, message: str) -> None:
        super().__init__(message, int(code))
