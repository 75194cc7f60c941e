"""The root of the imaging package's exceptions.

Every exception this package raises on purpose derives from
:class:`ImagingError` (the package docstring draws the tree). It imports
nothing, so that :mod:`.results`, which the server uses without the imaging
extra, can derive from it too.
"""

from __future__ import annotations


class ImagingError(Exception):
    """Base class of every error the imaging package raises on purpose."""
