"""The root of the runtime's exceptions, and its XML errors.

Everything the runtime raises on purpose derives from
:class:`HealthVaultError`; the package docstring draws the whole tree.
"""

from __future__ import annotations


class HealthVaultError(Exception):
    """Base class of every error this package raises on purpose."""


class HealthVaultXmlError(HealthVaultError, ValueError):
    """XML that is malformed, hostile, or does not fit the bindings.

    The message names what was wrong and, when known, where (line and
    column of the input).
    """


class HealthVaultDecodeWarning(UserWarning):
    """Content that could not be decoded into a typed class and was kept as raw XML."""
