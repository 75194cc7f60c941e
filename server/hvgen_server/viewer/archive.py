"""A study as a ZIP of its DICOM files, written while it is sent.

The standard library's :mod:`zipfile` writes into :class:`_Pipe`, which
hands on what was written after every piece read, so a download holds one
piece of one file (1 MiB) however large the study. Entries are stored, not
compressed (DICOM pixel data is often compressed already, and storing costs
the server no CPU); their sizes are known before they are written, so a
file over 4 GiB gets ZIP64 fields and the rest stay plain.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """One file of the archive: its path inside it, its size and its bytes."""

    path: str
    size: int
    read: Callable[[], Iterable[bytes]]


class _Pipe:
    """A write-only stream that keeps what was written until it is taken."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self._pieces.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> list[bytes]:
        pieces, self._pieces = self._pieces, []
        return pieces


def zip_stream(entries: Iterable[Entry], modified: dt.datetime | None = None) -> Iterator[bytes]:
    """The bytes of a ZIP archive of ``entries``, piece by piece.

    Raises:
        ValueError: an entry's bytes were not as long as its size said.
    """
    stamp = (modified or dt.datetime.now()).timetuple()[:6]
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for entry in entries:
            info = zipfile.ZipInfo(entry.path, date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED
            info.file_size = entry.size
            info.external_attr = 0o644 << 16
            written = 0
            with archive.open(info, "w") as member:
                for piece in entry.read():
                    member.write(piece)
                    written += len(piece)
                    yield from pipe.take()
            if written != entry.size:
                raise ValueError(f"{entry.path}: {written} bytes, expected {entry.size}")
            yield from pipe.take()
    yield from pipe.take()


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_part(name: str, fallback: str) -> str:
    """``name`` as one path part of an archive: letters, digits, ``.``, ``_``
    and ``-`` (others become ``_``), never empty, ``.`` or ``..``."""
    cleaned = _UNSAFE.sub("_", name).strip("._")[:120]
    return cleaned or fallback


def unique_paths(paths: Iterable[str]) -> list[str]:
    """``paths`` with a number added before the extension of repeats (``a.dcm``, ``a-2.dcm``)."""
    seen: set[str] = set()
    out = []
    for path in paths:
        stem, dot, ext = path.rpartition(".") if "." in path.rsplit("/", 1)[-1] else (path, "", "")
        candidate, n = path, 1
        while candidate in seen:
            n += 1
            candidate = f"{stem}-{n}{dot}{ext}"
        seen.add(candidate)
        out.append(candidate)
    return out
