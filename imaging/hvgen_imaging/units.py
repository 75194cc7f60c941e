"""Sizes as people read them, one convention for the command line and the
viewer: binary units (KiB, MiB, GiB, TiB: powers of 1024), as the progress
bars count them too."""

from __future__ import annotations

__all__ = ["size_text"]

_UNITS = ("KiB", "MiB", "GiB", "TiB")


def size_text(count: int) -> str:
    """``0 bytes``, ``1 byte``, ``1023 bytes``, ``773.8 KiB``, ``12.5 MiB``, ``1.2 GiB``."""
    if count < 1024:
        return f"{count} byte{'' if count == 1 else 's'}"
    value = float(count)
    for unit in _UNITS:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")
