"""Blob names as people read them.

A thing's blobs are named; one may be unnamed, the *default blob* (its name
is the empty string, as ``hvgen blob put`` stores a file). Messages name it
``the default blob`` rather than ``''``.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["blob_label", "blob_names"]


def blob_label(name: str) -> str:
    """A blob as people read it: ``blob 'NAME'``, or ``the default blob``."""
    return "the default blob" if name == "" else f"blob {name!r}"


def blob_names(names: Iterable[str]) -> str:
    """Blob names as a list people read (``the default blob, 'scan'``), or ``none``."""
    unique = sorted(set(names))
    return ", ".join("the default blob" if n == "" else repr(n) for n in unique) or "none"
