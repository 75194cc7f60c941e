"""The frame a preview shows, decoded in bounded memory.

Before anything is decoded, the image's size is checked: rows × columns ×
samples × bits of one frame (and the number of frames, for what is read of
them). A frame is decoded at full resolution only up to
:data:`MAX_DECODE_BYTES`; a larger one is read reduced, where that costs
no more memory than the reduced frame:

* uncompressed pixel data (also deflated files, through their inflated copy)
  is read from its place in the file a band of rows at a time, each band
  averaged down (palette indices are picked, not averaged);
* JPEG 2000 is decoded at a lower resolution level of its own (OpenJPEG's
  ``reduce``, through Pillow);
* other codecs cannot decode less than the whole frame: a frame over the
  limit gets no preview (the image is stored all the same, with a note).

The frame is then averaged down to at most twice the preview's size (and at
most :data:`MAX_WORK_PIXELS`), before the rendering of :mod:`.preview` works
on it in floating point. Only the frame shown is read, never the others.

12-bit JPEG Extended (Process 2 & 4) that pydicom's plugins refuse is
decoded with imagecodecs (libjpeg-turbo, which reads 8- and 12-bit JPEG).
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, get_frame
from pydicom.pixels.processing import convert_color_space
from pydicom.pixels.utils import pixel_array
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGExtended12Bit,
)

from .errors import ImagingError

__all__ = ["get_frame"]  # re-exported: the frame of encapsulated pixel data

#: The largest frame decoded at full resolution (rows × columns × samples × bytes per sample).
MAX_DECODE_BYTES = 64 * 1024**2
#: The most pixels of the (reduced) frame the rendering works on.
MAX_WORK_PIXELS = 4 * 1024**2
#: The most pixels of a JPEG 2000 frame (Pillow's own limit on what it opens).
MAX_J2K_PIXELS = 178_956_970

NATIVE = {ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian}
J2K = {JPEG2000Lossless, JPEG2000, HTJ2KLossless, HTJ2KLosslessRPCL, HTJ2K}
_PIXEL_DATA = 0x7FE00010


class FrameError(ImagingError):
    """Why the frame cannot be shown."""


@dataclass(frozen=True)
class Geometry:
    """What the Image Pixel module says of the pixel data."""

    rows: int
    columns: int
    samples: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    frames: int
    planar: int
    photometric: str

    @property
    def frame_bytes(self) -> int:
        return self.rows * self.columns * self.samples * max(1, self.bits_allocated // 8)

    @property
    def total_bytes(self) -> int:
        return self.frame_bytes * self.frames


def geometry(ds: Dataset) -> Geometry:
    """The pixel data's geometry; :class:`FrameError` when it is missing or impossible."""

    def number(keyword: str, default: int | None = None) -> int:
        try:
            value = ds.get(keyword)
            return int(value) if value not in (None, "") else int(default)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise FrameError(f"no usable {keyword} in the image's header") from None

    rows, columns = number("Rows"), number("Columns")
    samples, allocated = number("SamplesPerPixel", 1), number("BitsAllocated")
    stored = number("BitsStored", allocated)
    frames = number("NumberOfFrames", 1) or 1
    if rows <= 0 or columns <= 0 or samples not in (1, 3, 4) or allocated not in (1, 8, 16, 32, 64) or frames < 0:
        raise FrameError(f"impossible image geometry: {rows} x {columns}, {samples} samples of {allocated} bits")
    return Geometry(
        rows,
        columns,
        samples,
        allocated,
        min(max(stored, 1), allocated),
        number("PixelRepresentation", 0) == 1,
        frames,
        number("PlanarConfiguration", 0),
        str(ds.get("PhotometricInterpretation", "")).strip().upper(),
    )


def factor_for(geo: Geometry, wanted: tuple[int, int]) -> int:
    """The reduction that keeps the frame at least the ``wanted`` (width, height)
    and at most :data:`MAX_WORK_PIXELS`."""
    k = max(1, min(geo.columns // max(1, wanted[0]), geo.rows // max(1, wanted[1])) // 1)
    k = 1 if k < 2 else k
    while (geo.rows // k) * (geo.columns // k) > MAX_WORK_PIXELS:
        k += 1
    return k


def reduce(frame: np.ndarray, k: int, *, pick: bool = False) -> np.ndarray:
    """``frame`` made ``k`` times smaller: k × k blocks averaged (or their first pixel picked)."""
    if k <= 1 or (frame.ndim == 3 and frame.shape[-1] not in (3, 4)) or frame.ndim > 3:
        return frame
    rows, columns = frame.shape[0] // k, frame.shape[1] // k
    if rows == 0 or columns == 0:
        return frame
    if pick:
        picked: np.ndarray = frame[: rows * k : k, : columns * k : k]
        return picked
    out = np.empty((rows, columns, *frame.shape[2:]), dtype=frame.dtype)
    band = max(1, (1 << 22) // max(1, k * k * columns))  # block rows averaged at once: a few MiB of float64
    for top in range(0, rows, band):
        bottom = min(rows, top + band)
        blocks = frame[top * k : bottom * k, : columns * k].reshape(bottom - top, k, columns, k, *frame.shape[2:])
        mean = blocks.mean(axis=(1, 3), dtype=np.float64)
        out[top:bottom] = np.rint(mean) if np.issubdtype(frame.dtype, np.integer) else mean
    return out


# -- finding the pixel data ------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Where the pixel data's value starts in the file, and its length (None: encapsulated)."""

    start: int
    length: int | None


def locate(f: BinaryIO, header: Dataset, at: int) -> Place | None:
    """The (7FE0,0010) element whose header starts at ``at`` (where reading
    stopped before the pixel data); None when another element is there."""
    little = getattr(header, "original_encoding", (False, True))[1]
    order = "<" if little is not False else ">"
    f.seek(at)
    head = f.read(12)
    if len(head) < 8:
        return None
    group, element = struct.unpack(order + "HH", head[:4])
    if (group << 16 | element) != _PIXEL_DATA:
        return None
    if head[4:6] in (b"OB", b"OW", b"UN", b"OF", b"OD", b"OL", b"OV") and head[6:8] == b"\0\0" and len(head) == 12:
        (length,) = struct.unpack(order + "L", head[8:12])  # explicit VR (as files say, or not: as found)
        start = at + 12
    else:
        (length,) = struct.unpack(order + "L", head[4:8])
        start = at + 8
    return Place(start, None if length == 0xFFFFFFFF else length)


# -- decoding ------------------------------------------------------------------------------------------


def native_frame(f: BinaryIO, place: Place, geo: Geometry, index: int, k: int, big_endian: bool) -> np.ndarray:
    """Frame ``index`` of uncompressed pixel data, read a band of ``k`` rows at a
    time and reduced by ``k`` as it is read."""
    if geo.bits_allocated not in (8, 16, 32):
        raise FrameError(f"{geo.bits_allocated}-bit pixel data this large cannot be read reduced")
    size = geo.bits_allocated // 8
    dtype = np.dtype(f"{'>' if big_endian else '<'}{'i' if geo.signed else 'u'}{size}")
    if place.length is None or place.length < (index + 1) * geo.frame_bytes:
        raise FrameError("the pixel data is shorter than its rows, columns and frames say")
    planes = geo.samples if geo.planar == 1 and geo.samples > 1 else 1
    per_pixel = 1 if planes > 1 else geo.samples
    row_items = geo.columns * per_pixel
    pick = geo.photometric == "PALETTE COLOR"
    out_planes = []
    for plane in range(planes):
        base = place.start + index * geo.frame_bytes + plane * geo.rows * geo.columns * size
        bands = []
        usable = geo.rows - geo.rows % k
        step = k * max(1, (1 << 20) // max(1, k * row_items * size))  # bands of about 1 MiB, whole blocks of k rows
        for top in range(0, usable, step):
            count = min(step, usable - top)
            f.seek(base + top * row_items * size)
            band = np.frombuffer(f.read(count * row_items * size), dtype=dtype)
            if band.size != count * row_items:
                raise FrameError("the pixel data ends before its last row")
            band = band.reshape(count, geo.columns, per_pixel) if per_pixel > 1 else band.reshape(count, geo.columns)
            bands.append(reduce(_stored_bits(band.astype(dtype.newbyteorder("=")), geo), k, pick=pick))
        if not bands:
            raise FrameError("the image is smaller than its reduction")
        out_planes.append(np.concatenate(bands))
    frame = np.stack(out_planes, axis=-1) if planes > 1 else out_planes[0]
    if geo.samples == 3 and geo.photometric in ("YBR_FULL", "YBR_FULL_422"):
        frame = convert_color_space(frame, geo.photometric, "RGB")
    return frame


def _stored_bits(values: np.ndarray, geo: Geometry) -> np.ndarray:
    """Values with the bits above Bits Stored cleared (unsigned) or sign-extended (signed)."""
    unused = geo.bits_allocated - geo.bits_stored
    if unused <= 0:
        return values
    out: np.ndarray = (
        (values << unused) >> unused if geo.signed else values & np.array((1 << geo.bits_stored) - 1, values.dtype)
    )
    return out


def j2k_levels(k: int) -> int:
    """The resolution levels to drop for a reduction of at most ``k``."""
    return max(0, int(math.floor(math.log2(k)))) if k >= 2 else 0


def j2k_frame(data: bytes, geo: Geometry, k: int) -> tuple[np.ndarray, int]:
    """A JPEG 2000 frame decoded ``2**r`` times smaller (r resolution levels
    dropped, r as large as the codestream and ``k`` allow); returns the stored
    values and the reduction still to do."""
    import openjpeg
    from PIL import Image

    try:
        params = openjpeg.get_parameters(data)  # type: ignore[attr-defined]
    except Exception as exc:
        raise FrameError(f"unreadable JPEG 2000 codestream ({exc})") from None
    rows, columns = int(params["rows"]), int(params["columns"])
    if rows * columns > MAX_J2K_PIXELS:
        raise FrameError(f"JPEG 2000 frame of {columns} x {rows} pixels; previews are made up to {MAX_J2K_PIXELS}")
    precision, signed = int(params["precision"]), bool(params["is_signed"])
    levels = j2k_levels(k)
    while True:
        if geo.frame_bytes >> (2 * levels) > MAX_DECODE_BYTES:
            raise FrameError(
                f"the frame would decode to {geo.frame_bytes >> (2 * levels) >> 20} MiB even at the lowest "
                f"resolution its codestream offers (limit {MAX_DECODE_BYTES >> 20} MiB)"
            )
        try:
            image = Image.open(io.BytesIO(data))
            setattr(image, "reduce", levels)  # noqa: B010  # Jpeg2KImageFile's setter: resolution levels to drop
            image.load()
            break
        except (OSError, ValueError) as exc:
            if levels == 0:
                raise FrameError(f"cannot decode the JPEG 2000 frame ({exc})") from None
            levels -= 1  # the codestream has fewer resolution levels
    pixels = np.asarray(image)
    if image.mode in ("L", "I;16", "I;16L", "I;16B", "I;16N"):
        depth = 8 if image.mode == "L" else 16
        shift = max(0, depth - precision)
        values = (pixels.astype(np.int64) >> shift) - ((1 << (precision - 1)) if signed else 0)
        dtype = np.dtype(f"{'i' if signed else 'u'}{1 if precision <= 8 else 2}")
        frame = values.astype(dtype)
    elif image.mode in ("RGB", "RGBA"):
        frame = pixels[..., :3]  # 8 bits a sample, as Pillow gives them
    else:
        raise FrameError(f"JPEG 2000 frame in Pillow mode {image.mode} cannot be shown reduced")
    done = 2**levels
    return frame, max(1, k // done)


def coded_frame(header: Dataset, data: bytes) -> np.ndarray:
    """One compressed frame decoded by pydicom's plugins (12-bit JPEG Extended
    also by imagecodecs when they refuse it)."""
    one = Dataset()
    for keyword in (
        "Rows",
        "Columns",
        "SamplesPerPixel",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        "PhotometricInterpretation",
        "PlanarConfiguration",
    ):
        if keyword in header:
            one[keyword] = header[keyword]
    one.file_meta = header.file_meta
    one.PixelData = encapsulate([data])
    one["PixelData"].VR = "OB"
    return decode(one, None)


def decode(ds: Dataset, index: int | None) -> np.ndarray:
    """pydicom's decoding of frame ``index`` of ``ds``; 12-bit JPEG Extended that
    its plugins refuse goes to imagecodecs."""
    try:
        return pixel_array(ds, index=index)
    except Exception as first:
        syntax = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
        if syntax != JPEGExtended12Bit:
            raise
        try:
            import imagecodecs
        except ImportError:
            raise first from None
        frames = int(ds.get("NumberOfFrames") or 1)
        data = get_frame(ds.PixelData, index or 0, number_of_frames=frames)
        try:
            return np.asarray(imagecodecs.jpeg8_decode(data))
        except Exception:
            raise first from None
