"""Errors of the store and of blob bytes backends."""

from __future__ import annotations

from ..errors import ServerError


class StoreError(ServerError):
    """The store cannot be opened or used as configured (a message for people)."""
