"""Warnings of pydicom and its plugins, kept as notes that name their file.

pydicom warns (``UserWarning``) about odd files; printed raw they would say
neither which file nor what to do. Inside :func:`collecting`, a warning
raised while a thread works on a file (see :func:`working_on`) becomes the
note ``FILE: message`` in that file's list. The warning machinery is global
to the process, so :func:`collecting` is entered once, around the work.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_current = threading.local()


def one_line(message: str, limit: int = 200) -> str:
    """The message on one line; a long one is cut at a word boundary, but a
    message that says what to install is kept whole."""
    text = " ".join(str(message).split())
    if len(text) <= limit or "install" in text.lower():
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:-") + " ..."


@contextmanager
def collecting(unattributed: list[str] | None = None) -> Iterator[None]:
    """Turn warnings into notes while the block runs (warnings raised outside
    :func:`working_on` go to ``unattributed``, or are dropped)."""

    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        sink = getattr(_current, "notes", None)
        path = getattr(_current, "path", None)
        if sink is not None:
            sink.append(f"{path}: {one_line(str(message))}")
        elif unattributed is not None:
            unattributed.append(one_line(str(message)))

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        yield


@contextmanager
def working_on(path: Path | str, notes: list[str]) -> Iterator[None]:
    """Attribute the warnings this thread raises in the block to ``path``."""
    before = getattr(_current, "notes", None), getattr(_current, "path", None)
    _current.notes, _current.path = notes, path
    try:
        yield
    finally:
        _current.notes, _current.path = before
