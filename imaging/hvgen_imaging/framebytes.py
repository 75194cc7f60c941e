"""The frames of a DICOM file, read from their place in the file.

What DICOMweb sends of an image (WADO-RS frames, bulk data, an instance in
another transfer syntax) is read here one frame at a time, never the whole
pixel data:

* uncompressed pixel data: frame ``i`` is the bytes at ``start + i × frame
  size`` (streamed in pieces; 1-bit frames that do not start on a byte are
  re-packed), byte-swapped when the file is big endian and little endian is
  wanted;
* encapsulated pixel data: frame ``i`` is found through the Basic (or
  Extended) Offset Table, or by walking the fragments' item headers, and read
  alone (:func:`pydicom.encaps.get_frame` over the open file);
* decoding a compressed frame (to send it uncompressed) goes through
  pydicom's decoders (:func:`.frames.coded_frame`) and holds a share of the
  process's decoding :mod:`.budget` while it runs (:class:`.budget.OverBudget`
  when it cannot be had).

A deflated file is read through its inflated copy (:mod:`.inflate`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from . import frames, inflate
from .budget import BUDGET
from .frames import FrameError, Geometry, Place

#: Bytes of uncompressed pixel data read from the file at a time.
PIECE = 1024 * 1024
#: Transfer syntaxes whose pixel data is uncompressed once read (deflated files are read inflated).
NATIVE = frozenset(frames.NATIVE)
#: Uncompressed transfer syntaxes a frame or an instance can be sent in.
UNCOMPRESSED = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian})


@dataclass
class PixelSource:
    """An open DICOM file, its header (the data set up to the pixel data) and where its pixel data is."""

    f: BinaryIO
    header: Dataset
    syntax: str  # the transfer syntax of the file as read (a deflated file's is Explicit VR Little Endian)
    stored_syntax: str  # the transfer syntax the file was stored in
    at: int  # where the header ends
    place: Place | None  # None: no (integer) pixel data

    @property
    def geometry(self) -> Geometry:
        return frames.geometry(self.header)

    @property
    def has_pixels(self) -> bool:
        return self.place is not None

    @property
    def encapsulated(self) -> bool:
        return self.place is not None and (self.place.length is None or self.syntax not in NATIVE)

    @property
    def frame_count(self) -> int:
        return self.geometry.frames if self.place is not None else 0

    def frame_size(self) -> int:
        """Bytes of one uncompressed frame (1-bit frames rounded up to a whole byte)."""
        geo = self.geometry
        if geo.bits_allocated == 1:
            return (geo.rows * geo.columns * geo.samples + 7) // 8
        return geo.frame_bytes

    def check_frame(self, index: int) -> None:
        if self.place is None:
            raise FrameError("the instance has no pixel data")
        if not 0 <= index < self.frame_count:
            raise FrameError(f"frame {index + 1} does not exist: the instance has {self.frame_count}")

    # -- as stored -----------------------------------------------------------------------------

    def native_pieces(self, index: int, piece: int = PIECE) -> Iterator[bytes]:
        """The bytes of uncompressed frame ``index`` as the file holds them, in pieces."""
        self.check_frame(index)
        assert self.place is not None and self.place.length is not None
        geo = self.geometry
        if geo.bits_allocated == 1:
            yield self._bit_frame(index)
            return
        size = geo.frame_bytes
        start = self.place.start + index * size
        if (index + 1) * size > self.place.length:
            raise FrameError("the pixel data is shorter than its rows, columns and frames say")
        done = 0
        while done < size:
            self.f.seek(start + done)
            data = self.f.read(min(piece, size - done))
            if not data:
                raise FrameError("the pixel data ends before its last frame")
            done += len(data)
            yield data

    def _bit_frame(self, index: int) -> bytes:
        """A 1-bit frame, re-packed to start on a byte (frames of 1-bit data follow one another bit by bit)."""
        assert self.place is not None
        geo = self.geometry
        bits = geo.rows * geo.columns * geo.samples
        first, last = index * bits, (index + 1) * bits
        self.f.seek(self.place.start + first // 8)
        raw = self.f.read((last + 7) // 8 - first // 8)
        unpacked = np.unpackbits(np.frombuffer(raw, np.uint8), bitorder="little")[first % 8 : first % 8 + bits]
        if unpacked.size != bits:
            raise FrameError("the pixel data ends before its last frame")
        return bytes(np.packbits(unpacked, bitorder="little").tobytes())

    def stored_frame(self, index: int) -> bytes:
        """Frame ``index`` as stored: its compressed bytes (encapsulated), else its uncompressed bytes."""
        self.check_frame(index)
        assert self.place is not None
        if not self.encapsulated:
            return b"".join(self.native_pieces(index))
        if self.geometry.frame_bytes > frames.MAX_DECODE_BYTES * 4:
            raise FrameError(f"a frame of {self.geometry.frame_bytes >> 20} MiB is more than is read at once")
        self.f.seek(self.place.start)
        offsets = None
        table = self.header.get("ExtendedOffsetTable")
        lengths = self.header.get("ExtendedOffsetTableLengths")
        if table is not None and lengths is not None:
            offsets = (bytes(table), bytes(lengths))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return frames.get_frame(self.f, index, number_of_frames=self.frame_count, extended_offsets=offsets)
            except (ValueError, KeyError, EOFError) as exc:
                raise FrameError(f"frame {index + 1} cannot be found in the encapsulated pixel data ({exc})") from None

    # -- uncompressed ---------------------------------------------------------------------------

    def decoded_photometric(self) -> str:
        """The photometric interpretation of the frames once decoded (pydicom gives YBR of JPEG as RGB)."""
        geo = self.geometry
        if self.encapsulated and geo.samples == 3 and geo.photometric.startswith("YBR"):
            return "RGB"
        return geo.photometric

    def uncompressed(self, index: int, *, big_endian: bool = False) -> Iterator[bytes]:
        """Frame ``index`` uncompressed (little endian unless ``big_endian``), in pieces.

        Encapsulated frames are decoded (within the decoding budget, interleaved colour)."""
        self.check_frame(index)
        geo = self.geometry
        swap = big_endian != (self.syntax == ExplicitVRBigEndian)
        if not self.encapsulated:
            if not swap or geo.bits_allocated <= 8:
                yield from self.native_pieces(index)
                return
            size = geo.bits_allocated // 8
            for piece in self.native_pieces(index, PIECE - PIECE % size):
                yield np.frombuffer(piece, f"u{size}").byteswap().tobytes()
            return
        if geo.frame_bytes > frames.MAX_DECODE_BYTES:
            raise FrameError(
                f"a compressed frame of {geo.columns} x {geo.rows} pixels decodes to {geo.frame_bytes >> 20} MiB; "
                f"at most {frames.MAX_DECODE_BYTES >> 20} MiB are decoded at once"
            )
        with BUDGET.reserve(geo.frame_bytes * 3):
            data = self.stored_frame(index)
            array = frames.coded_frame(self.header, data)
            dtype = np.dtype(
                f"{'>' if big_endian else '<'}{'i' if geo.signed else 'u'}{max(1, geo.bits_allocated // 8)}"
            )
            out = np.ascontiguousarray(array).astype(dtype, copy=False).tobytes()
        if len(out) != geo.frame_bytes:
            raise FrameError(f"frame {index + 1} decodes to {len(out)} bytes, not the {geo.frame_bytes} it should")
        yield out


@contextmanager
def pixel_source(f: BinaryIO) -> Iterator[PixelSource]:
    """The :class:`PixelSource` of the DICOM file ``f`` (a deflated one read through its inflated copy)."""
    if inflate.is_deflated(f):
        try:
            with inflate.inflated_copy(f) as copy, open(copy.path, "rb") as inflated:
                if not copy.complete:
                    raise FrameError("the deflated data set is cut short")
                with _source(inflated, stored=DeflatedExplicitVRLittleEndian) as source:
                    yield source
        except inflate.InflateError as exc:
            raise FrameError(str(exc)) from None
        return
    with _source(f, stored=None) as source:
        yield source


@contextmanager
def _source(f: BinaryIO, stored: str | None) -> Iterator[PixelSource]:
    f.seek(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            header = pydicom.dcmread(f, force=True, stop_before_pixels=True)
        except Exception as exc:
            raise FrameError(f"not a readable DICOM file ({exc})") from None
    at = f.tell()
    meta = getattr(header, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if not syntax:
        implicit, little = getattr(header, "original_encoding", (True, True))
        syntax = (
            ExplicitVRBigEndian if little is False else ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
        )
    place = frames.locate(f, header, at)
    if place is not None:
        try:
            frames.geometry(header)
        except FrameError:
            place = None
    yield PixelSource(f, header, syntax, stored or syntax, at, place)
