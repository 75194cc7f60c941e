"""De-identification in bounded memory: a DICOM file's header de-identified,
its pixel data copied through untouched.

:func:`deidentify` reads a file's data set up to its pixel data (the header:
everything the basic profile acts on) from a seekable source, de-identifies
it with an :class:`~.anonymize.Anonymizer` and writes it anew; the pixel
data element (Pixel Data, Float or Double Float Pixel Data) is then copied
from the source as it is, in pieces. So a file of any size is held as its
header plus one piece. Elements after the pixel data (trailing padding,
digital signatures, which the profile removes) are left out.

A deflated file (its data set compressed as one stream) is read through
its bounded inflated copy (:mod:`.inflate`) and written uncompressed
(Explicit VR Little Endian: the same data, losslessly); one that inflates
too far, or is damaged, raises :class:`~.inflate.InflateError`. A file
whose header is over ``max_header`` bytes, or that is big endian and would
need its pixel data byte-swapped, is refused with :class:`TooLarge` or
:class:`Unsupported`, saying why.
"""

from __future__ import annotations

import contextlib
import io
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, cast

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID

from .anonymize import Anonymizer
from .errors import ImagingError
from .inflate import InflateError, inflated_copy, is_deflated

__all__ = ["MAX_HEADER", "Deidentified", "InflateError", "RangeSource", "TooLarge", "Unsupported", "deidentify"]

#: Largest header (the data set before its pixel data) de-identified, by default.
MAX_HEADER = 64 * 1024 * 1024
#: Bytes read at a time.
PIECE = 1024 * 1024
#: Pixel data elements (the profile keeps them; they are copied as they are).
_PIXEL_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009}
_ITEM, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF


class TooLarge(ImagingError, ValueError):
    """A file whose header cannot be de-identified within the memory allowed."""


class Unsupported(ImagingError, ValueError):
    """A file whose encoding this module cannot copy through."""


class RangeSource(io.RawIOBase):
    """A seekable, read-only file over ``read(first, length)`` (a blob store's
    ranged reads), reading ahead :data:`PIECE` bytes at a time."""

    def __init__(self, size: int, read: Callable[[int, int], Iterable[bytes]]) -> None:
        super().__init__()
        self.size = size
        self._read = read
        self._pos = 0
        self._cache_at = 0
        self._cache = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self.size - self._pos
        size = min(size, self.size - self._pos)
        if size <= 0:
            return b""
        at = self._pos - self._cache_at
        if not (0 <= at and at + size <= len(self._cache)):
            wanted = min(max(size, PIECE), self.size - self._pos)
            self._cache_at, self._cache = self._pos, b"".join(self._read(self._pos, wanted))
            at = 0
        data = self._cache[at : at + size]
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def pieces(self, first: int, length: int) -> Iterator[bytes]:
        yield from self._read(first, length)


class _FileSource:
    """A file (the inflated copy of a deflated one) read like a :class:`RangeSource`."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file

    def pieces(self, first: int, length: int) -> Iterator[bytes]:
        self.file.seek(first)
        while length > 0:
            data = self.file.read(min(PIECE, length))
            if not data:
                return
            length -= len(data)
            yield data


@dataclass
class Deidentified:
    """A de-identified file: its new header, then ``length`` bytes of the
    source from ``first`` (the pixel data element, re-headed when the
    encoding changed), written by :meth:`pieces`."""

    dataset: Dataset
    head: bytes
    source: Any
    first: int = 0
    length: int = 0
    owned: contextlib.ExitStack | None = None  # the inflated copy of a deflated file, and its reader

    @property
    def size(self) -> int:
        return len(self.head) + self.length

    def pieces(self) -> Iterator[bytes]:
        try:
            yield self.head
            if self.length:
                yield from self.source.pieces(self.first, self.length)
        finally:
            self.close()

    def close(self) -> None:
        if self.owned is not None:
            self.owned.close()
            self.owned = None


def deidentify(
    anonymizer: Anonymizer, source: RangeSource, where: str = "", max_header: int = MAX_HEADER
) -> Deidentified:
    """``source`` (a DICOM file) de-identified, its pixel data left in the source.

    Raises:
        TooLarge: its header is over ``max_header`` bytes.
        InflateError: a deflated data set that is damaged, cut short or inflates too far.
        Unsupported: big endian pixel data whose encoding would change.
        pydicom's errors for what is not a DICOM file.
    """
    reader: Any = source
    owned = contextlib.ExitStack()
    try:
        if is_deflated(cast(BinaryIO, source)):
            copy = owned.enter_context(inflated_copy(cast(BinaryIO, source)))
            if not copy.complete:
                raise InflateError("the deflated data set is cut short")
            reader = owned.enter_context(open(copy.path, "rb"))
        reader.seek(0)
        ds = pydicom.dcmread(reader, stop_before_pixels=True, defer_size=4096, force=True)
        at = reader.tell()
        end = source.size if reader is source else reader.seek(0, io.SEEK_END)
        at = min(at, end)  # a damaged length can send the reader past the end
        if at > max_header:
            raise TooLarge(f"its header is {at} bytes, over the {max_header} de-identified in memory")
        pixels = _pixel_element(reader, at, end, ds) if at < end else None
        implicit, little = (bool(flag) for flag in ds.original_encoding)
        anonymizer.dataset(ds, where)
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format="TransferSyntaxUID" in getattr(ds, "file_meta", {}))
        head = out.getvalue()
        result = Deidentified(ds, head, source if reader is source else _FileSource(reader), owned=owned)
        if pixels is not None:
            tag, vr, declared, value_at, span = pixels
            target = _encoding(ds, implicit, little)
            if target[1] != little:
                raise Unsupported("its pixel data would have to change byte order")
            if target == (implicit, little):  # the element as it is
                result.first, result.length = at, value_at + span - at
            else:  # the same value under the element header of the new encoding
                result.head += _element_header(tag, vr, declared, target[0])
                result.first, result.length = value_at, span
        return result
    except BaseException:
        owned.close()
        raise


def _encoding(ds: Dataset, implicit: bool, little: bool) -> tuple[bool, bool]:
    """(implicit VR, little endian) the header is written in: its transfer syntax's, if it names one."""
    syntax = getattr(ds, "file_meta", Dataset()).get("TransferSyntaxUID")
    if syntax is None:
        return implicit, little
    uid = UID(str(syntax))
    if not uid.is_transfer_syntax:
        return implicit, little
    return bool(uid.is_implicit_VR), bool(uid.is_little_endian)


def _pixel_element(reader: Any, at: int, end: int, ds: Dataset) -> tuple[int, str, int, int, int] | None:
    """(tag, VR, declared length, where its value starts, its bytes to the end of
    its value or last item) of the pixel data element at ``at``, or None when
    what is there is not one."""
    implicit, little = ds.original_encoding
    order = "<" if little else ">"
    reader.seek(at)
    head = reader.read(12)
    if len(head) < 8:
        return None
    group, element = struct.unpack(order + "HH", head[:4])
    tag = group << 16 | element
    if tag not in _PIXEL_TAGS:
        return None
    if implicit:
        (length,) = struct.unpack(order + "I", head[4:8])
        value_at = at + 8
        bits = int(ds.get("BitsAllocated", 16) or 16)
        vr = "OB" if length == _UNDEFINED or bits <= 8 else "OW"
        vr = {0x7FE00008: "OF", 0x7FE00009: "OD"}.get(tag, vr)
    else:
        vr = head[4:6].decode("ascii", "replace")
        (length,) = struct.unpack(order + "I", head[8:12])
        value_at = at + 12
    if length != _UNDEFINED:
        return tag, vr, length, value_at, min(length, end - value_at)
    position = value_at  # encapsulated: items up to the sequence delimiter
    while position + 8 <= end:
        reader.seek(position)
        item_group, item_element, item_length = struct.unpack(order + "HHI", reader.read(8))
        position += 8
        if (item_group << 16 | item_element) == _SEQUENCE_END:
            break
        position += item_length
    return tag, vr, length, value_at, min(position, end) - value_at


def _element_header(tag: int, vr: str, length: int, implicit: bool) -> bytes:
    """A little endian element header (the pixel data's VRs all take a 4-byte length)."""
    tag_bytes = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
    if implicit:
        return tag_bytes + struct.pack("<I", length)
    return tag_bytes + vr.encode("ascii")[:2] + b"\0\0" + struct.pack("<I", length)
