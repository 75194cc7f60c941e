"""Instances sent in another transfer syntax than they are stored in (WADO-RS, WADO-URI).

An instance can be sent in any uncompressed transfer syntax (Explicit VR
Little Endian, Implicit VR Little Endian, Explicit VR Big Endian) whether it
is stored uncompressed or compressed in a syntax pydicom can decode. The
answer is written piece by piece: the header (the data set up to the pixel
data) encoded again by pydicom in the new syntax, then the pixel data element
of defined length, one frame at a time (:mod:`hvgen_imaging.framebytes`:
uncompressed frames read from the file, compressed ones decoded within the
decoding budget). Elements after the pixel data (trailing padding) are left
out. A decoded colour image is sent as RGB, its samples interleaved.

Compressing is not done: an instance is sent in a compressed syntax only
when it is stored in it (406 otherwise).
"""

from __future__ import annotations

import copy
import io
import struct
import warnings
from collections.abc import Iterator

from pydicom.filewriter import dcmwrite
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import UID, ExplicitVRBigEndian, ImplicitVRLittleEndian

from hvgen_imaging.framebytes import UNCOMPRESSED, PixelSource, pixel_source
from hvgen_imaging.frames import FrameError

from ..context import Platform
from ..store.rows import DicomInstance
from .index import open_blob

#: Elements that describe encapsulated pixel data only.
_ENCAPSULATION_ONLY = (0x7FE00001, 0x7FE00002, 0x7FE00003)


def decodable(syntax: str) -> bool:
    """Whether pixel data stored in ``syntax`` can be decoded here."""
    if syntax in UNCOMPRESSED or syntax == "1.2.840.10008.1.2.1.99":
        return True
    try:
        return bool(get_decoder(UID(syntax)).is_available)
    except (NotImplementedError, ValueError, KeyError):
        return False


def can_send(stored: str, target: str) -> bool:
    """Whether an instance stored in ``stored`` can be sent in ``target``."""
    return target == stored or (target in UNCOMPRESSED and decodable(stored))


def _header(source: PixelSource, target: str) -> bytes:
    """The preamble, file meta and data set up to the pixel data, written in ``target``."""
    ds = copy.deepcopy(source.header)  # the source's header keeps saying how its frames are encoded
    ds.file_meta.TransferSyntaxUID = UID(target)
    for tag in _ENCAPSULATION_ONLY:
        ds.pop(tag, None)
    if source.encapsulated and source.has_pixels:
        photometric = source.decoded_photometric()
        if photometric != source.geometry.photometric:
            ds.PhotometricInterpretation = photometric
        if source.geometry.samples > 1:
            ds.PlanarConfiguration = 0
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dcmwrite(
            out,
            ds,
            implicit_vr=target == ImplicitVRLittleEndian,
            little_endian=target != ExplicitVRBigEndian,
            enforce_file_format=True,
        )
    return out.getvalue()


def _pixel_header(source: PixelSource, target: str) -> tuple[bytes, bool]:
    """The pixel data element's tag, VR and length in ``target``, and whether a pad byte ends it."""
    geo = source.geometry
    if geo.bits_allocated == 1:
        length = (geo.rows * geo.columns * geo.samples * geo.frames + 7) // 8
        if geo.frames > 1 and (geo.rows * geo.columns * geo.samples) % 8:
            raise FrameError("multi-frame 1-bit pixel data whose frames do not end on a byte is sent as stored only")
    else:
        length = geo.frame_bytes * geo.frames
    pad = length % 2 == 1
    length += pad
    big = target == ExplicitVRBigEndian
    order = ">" if big else "<"
    tag = struct.pack(order + "HH", 0x7FE0, 0x0010)
    if target == ImplicitVRLittleEndian:
        return tag + struct.pack("<L", length), pad
    vr = b"OB" if geo.bits_allocated <= 8 else b"OW"
    return tag + vr + b"\0\0" + struct.pack(order + "L", length), pad


def check(platform: Platform, instance: DicomInstance, target: str) -> None:
    """Raise :class:`FrameError` now if the instance cannot be sent in ``target`` (before an answer starts)."""
    with open_blob(platform.files, instance.blob_id) as f, pixel_source(f) as source:
        if source.has_pixels:
            _pixel_header(source, target)
            if source.encapsulated and source.geometry.frame_bytes > 64 * 1024**2:
                raise FrameError("its compressed frames are too large to decode")


def transcoded(platform: Platform, instance: DicomInstance, target: str) -> Iterator[bytes]:
    """The instance as a Part 10 file in ``target``, in pieces."""
    with open_blob(platform.files, instance.blob_id) as f, pixel_source(f) as source:
        if not source.has_pixels:
            yield _header(source, target)
            return
        head, pad = _pixel_header(source, target)
        big = target == ExplicitVRBigEndian
        yield _header(source, target) + head
        geo = source.geometry
        if geo.bits_allocated == 1:
            for index in range(geo.frames):
                yield from source.native_pieces(index)
        else:
            for index in range(geo.frames):
                yield from source.uncompressed(index, big_endian=big)
        if pad:
            yield b"\0"
