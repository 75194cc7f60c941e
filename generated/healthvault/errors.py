"""Exceptions raised by the healthvault runtime."""

from __future__ import annotations


class HealthVaultError(Exception):
    """Base class of every error this package raises."""


class HealthVaultXmlError(HealthVaultError, ValueError):
    """XML that is malformed, hostile, or does not fit the bindings.

    The message names what was wrong and, when known, where (line and
    column of the input).
    """


class HealthVaultDecodeWarning(UserWarning):
    """Content that could not be decoded into a typed class and was kept as raw XML."""
