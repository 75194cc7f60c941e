"""Deflated Explicit VR Little Endian files (PS3.5 A.5) read in bounded memory.

pydicom inflates the whole data set of such a file in memory, and finds
positions in the inflated bytes, not in the file. Here the data set is
inflated chunk by chunk into a temporary copy: a Part 10 file with the same
file meta information but for its transfer syntax, Explicit VR Little
Endian, which is what the data set is once inflated. Whatever reads a
deflated file (the scan, previews) reads that copy; the stored file stays
the one that was sent, byte for byte. Inflation stops with
:class:`InflateError` past :data:`MAX_INFLATED_BYTES`, and a deflate stream
cut short is said to be.
"""

from __future__ import annotations

import os
import struct
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydicom.dataset import FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR

from .errors import ImagingError

#: The largest data set a deflated file may inflate to (written to a temporary file, not held in memory).
MAX_INFLATED_BYTES = 4 * 1024**3
_CHUNK = 1024 * 1024
#: File meta information within this many bytes of the file's start is walked before it is parsed.
_QUICK_META = 64 * 1024
_DEFLATED = str(DeflatedExplicitVRLittleEndian).encode("ascii")
_VRS = frozenset(str(v) for v in VR)
_LONG_VRS = frozenset(str(v) for v in EXPLICIT_VR_LENGTH_32)


class InflateError(ImagingError):
    """A deflated data set that cannot be inflated (damaged, or larger than the limit)."""


@dataclass(frozen=True)
class Inflated:
    """The inflated copy of a deflated file."""

    path: Path
    size: int  # bytes of the copy
    complete: bool  # the deflate stream ended (False: the file is cut short)


def file_meta(f: BinaryIO) -> tuple[FileMetaDataset, int] | None:
    """The file meta information of a Part 10 file and where it ends, or None
    when the file has no preamble and DICM prefix. Leaves ``f`` anywhere."""
    f.seek(0)
    try:
        read_preamble(f, force=False)
        meta = _read_file_meta_info(f)
    except (InvalidDicomError, EOFError, ValueError, KeyError):
        return None
    return meta, f.tell()


def _surely_not_deflated(f: BinaryIO) -> bool:
    """Whether ``f``'s file meta information, walked element by element in
    its first :data:`_QUICK_META` bytes (explicit VR little endian, as PS3.10
    has it), ends there and names no transfer syntax holding the deflated
    one's UID: then it is not deflated, without parsing it. False when that
    cannot be told so (the meta information is then parsed)."""
    f.seek(0)
    head = f.read(_QUICK_META)
    if head[128:132] != b"DICM":
        return False
    at = 132
    while at + 8 <= len(head):
        group, element = struct.unpack_from("<HH", head, at)
        if group != 2:
            return at > 132  # (the meta information ended)
        vr = head[at + 4 : at + 6].decode("latin-1")
        if vr not in _VRS:
            return False
        if vr in _LONG_VRS:
            if at + 12 > len(head):
                return False
            (length,) = struct.unpack_from("<L", head, at + 8)
            start = at + 12
        else:
            (length,) = struct.unpack_from("<H", head, at + 6)
            start = at + 8
        if length == 0xFFFFFFFF or start + length > len(head):
            return False
        if element == 0x0010 and _DEFLATED in head[start : start + length]:
            return False
        at = start + length
    return False


def is_deflated(f: BinaryIO) -> bool:
    """Whether ``f`` is a Part 10 file in the deflated transfer syntax."""
    if _surely_not_deflated(f):
        return False
    found = file_meta(f)
    if found is None:
        return False
    try:
        return str(found[0].get("TransferSyntaxUID", "")).strip() == DeflatedExplicitVRLittleEndian
    except Exception:
        return False


@contextmanager
def inflated_copy(f: BinaryIO, *, limit: int | None = None, folder: Path | None = None) -> Iterator[Inflated]:
    """The inflated copy of the deflated Part 10 file ``f`` (at most ``limit``
    bytes, by default :data:`MAX_INFLATED_BYTES`), removed on exit."""
    limit = MAX_INFLATED_BYTES if limit is None else limit
    found = file_meta(f)
    if found is None:
        raise InflateError("not a Part 10 file")
    meta, start = found
    copy_meta = FileMetaDataset(meta)
    copy_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    handle, name = tempfile.mkstemp(prefix=".hvgen-inflated-", suffix=".dcm", dir=folder)
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(b"\x00" * 128 + b"DICM")
            write_file_meta_info(out, copy_meta, enforce_standard=False)  # type: ignore[arg-type]
            f.seek(start)
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            written = 0
            while not inflater.eof:
                data = inflater.unconsumed_tail or f.read(_CHUNK)
                if not data:
                    break
                try:
                    piece = inflater.decompress(data, _CHUNK)
                except zlib.error as exc:
                    raise InflateError(f"the deflated data set is damaged ({exc})") from None
                written += len(piece)
                if written > limit:
                    raise InflateError(
                        f"the deflated data set inflates to more than {limit // 1024**2} MiB (the limit)"
                    )
                out.write(piece)
            size = out.tell()
        yield Inflated(path, size, inflater.eof)
    finally:
        path.unlink(missing_ok=True)
