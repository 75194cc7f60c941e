"""JPEG previews of DICOM images, rendered the way the standard defines.

Grayscale images go through the pipeline of PS3.3 C.11: the Modality LUT or
rescale (C.11.1), then the VOI LUT or the window function (C.11.2), then the
presentation (MONOCHROME1 is shown inverted). The window's output range is
the preview's range: values are not stretched again afterwards. Only an image
without any VOI (no window, no VOI LUT) gets a window from its data (its
minimum and maximum). PALETTE COLOR images are looked up in their palette;
RGB and YBR images are shown in RGB. Enhanced multi-frame images take the
rescale and window of the shown frame from their functional groups (per-frame,
else shared). The middle frame of a multi-frame image is shown.

The preview's shorter side is at least 500 pixels (the platform asks for
that; smaller images are enlarged) and its longer side at most 1024 pixels,
unless keeping the shorter side at 500 needs more.

pydicom's own functions do every step they cover (decoding, with the
pylibjpeg plugins for JPEG, JPEG-LS, JPEG 2000 and RLE; modality LUT,
windowing, VOI LUT, palette lookup).

Memory is bounded whatever the image claims to be: the frame is read as
:mod:`.frames` says (its size checked before decoding, large frames read
reduced, only the frame shown), and every decode holds a share of the
process's :mod:`.budget` while it runs.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from . import frames, inflate
from .budget import BUDGET
from .errors import ImagingError
from .notes import one_line

PREVIEW_MIN_SIDE = 500
PREVIEW_MAX_SIDE = 1024
PREVIEW_QUALITY = 85

#: Elements of the Modality LUT, VOI LUT and Image Pixel modules a frame's rendering reads.
_PIXEL_KEYWORDS = (
    "PhotometricInterpretation",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "SamplesPerPixel",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "ModalityLUTSequence",
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
    "VOILUTSequence",
)
#: Functional group macros (PS3.3 C.7.6.16.2) and the elements they set for their frame.
_FRAME_MACROS = {
    "PixelValueTransformationSequence": ("RescaleSlope", "RescaleIntercept", "RescaleType"),
    "FrameVOILUTSequence": ("WindowCenter", "WindowWidth", "VOILUTFunction"),
}


class PreviewError(ImagingError):
    """Why an image gets no preview."""


@dataclass
class Preview:
    """A JPEG preview of one image: its blob name, bytes, size, and what was noticed making it."""

    name: str
    data: bytes
    width: int
    height: int
    notes: list[str] = field(default_factory=list)


def read_dataset(path: Path | str | BinaryIO) -> Dataset:
    """A whole DICOM file, also one without a file meta header.

    Such a file (an old or hand-made one) gets the transfer syntax its data
    set was read with, by default Implicit VR Little Endian.
    """
    return _with_syntax(pydicom.dcmread(path, force=True))


def _with_syntax(ds: Dataset) -> Dataset:
    """``ds`` with a transfer syntax in its file meta (the one it was read with when the file has none)."""
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        implicit, little = getattr(ds, "original_encoding", (True, True))
        if little is False:
            syntax = ExplicitVRBigEndian
        elif implicit is False:
            syntax = ExplicitVRLittleEndian
        else:
            syntax = ImplicitVRLittleEndian
        ds.file_meta = meta if meta is not None else FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = syntax
    return ds


def frame_view(ds: Dataset, index: int) -> Dataset:
    """The pixel-module elements that hold for frame ``index``: the image's own,
    overridden by the shared functional groups, then by the frame's own group."""
    view = Dataset()
    for keyword in _PIXEL_KEYWORDS:
        if keyword in ds:
            view[keyword] = ds[keyword]
    groups = []
    for keyword, position in (("SharedFunctionalGroupsSequence", 0), ("PerFrameFunctionalGroupsSequence", index)):
        items = ds.get(keyword)
        if items and position < len(items):
            groups.append(items[position])
    for group in groups:
        for macro, keywords in _FRAME_MACROS.items():
            items = group.get(macro)
            if not items:
                continue
            for keyword in keywords:
                if keyword in items[0]:
                    view[keyword] = items[0][keyword]
    view.file_meta = ds.file_meta
    return view


def _grayscale(frame: np.ndarray, view: Dataset, notes: list[str]) -> np.ndarray:
    """Presentation values in 0..1 of a MONOCHROME1/2 frame."""
    from pydicom.pixels.processing import apply_modality_lut, apply_voi, apply_windowing

    values = apply_modality_lut(frame, view)
    shown: np.ndarray | None = None
    voi = view.get("VOILUTSequence")
    if voi and voi[0].get("LUTDescriptor") is not None and voi[0].get("LUTData") is not None:
        bits = int(voi[0].LUTDescriptor[2]) or 16
        shown = apply_voi(values, view).astype(np.float64) / (2**bits - 1)
    elif view.get("WindowCenter") is not None and view.get("WindowWidth") is not None:
        # The output range of the window function is 0..255 here: the modality
        # values are already computed, so only the window elements are passed.
        window = Dataset()
        for keyword in ("WindowCenter", "WindowWidth", "VOILUTFunction"):
            if keyword in view:
                window[keyword] = view[keyword]
        window.PhotometricInterpretation = "MONOCHROME2"
        window.BitsStored, window.PixelRepresentation = 8, 0
        try:
            shown = apply_windowing(values, window) / 255.0
        except (ValueError, TypeError, IndexError) as exc:
            notes.append(f"window not usable ({exc}); the data range is shown")
    if shown is None:
        values = values.astype(np.float64)
        low, high = float(values.min()), float(values.max())
        shown = (values - low) / (high - low) if high > low else np.zeros_like(values)
    if str(view.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        shown = 1.0 - shown
    return shown


def render(
    ds: Dataset,
    notes: list[str] | None = None,
    frame: np.ndarray | None = None,
    *,
    index: int | None = None,
    window: tuple[float, float, str] | None = None,
) -> np.ndarray:
    """The shown frame as 8-bit grayscale (rows, columns) or RGB (rows, columns, 3).

    ``frame``: the shown frame's stored values already decoded (see
    :func:`load_frame`); else it is decoded from ``ds``, which then holds
    its pixel data. ``index``: the frame shown (default the middle one);
    ``window``: (center, width, VOI LUT function) used instead of the image's VOI.
    """
    from pydicom.pixels.processing import apply_color_lut

    notes = notes if notes is not None else []
    try:
        count = int(ds.get("NumberOfFrames") or 1)
    except (TypeError, ValueError):
        count = 1
    index = count // 2 if index is None else index
    photometric = str(ds.get("PhotometricInterpretation", "")).upper().strip()
    if frame is None:
        if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
            raise PreviewError("no pixel data")
        frame = frames.decode(ds, index if count > 1 else None)
    if frame.ndim == 3 and int(ds.get("SamplesPerPixel") or 1) == 1:  # frames without Number of Frames
        frame = frame[frame.shape[0] // 2]
    if photometric in ("MONOCHROME1", "MONOCHROME2"):
        view = frame_view(ds, index)
        if window is not None:
            for keyword in ("VOILUTSequence", "WindowCenter", "WindowWidth", "VOILUTFunction"):
                if keyword in view:
                    del view[keyword]
            view.WindowCenter, view.WindowWidth, view.VOILUTFunction = window[0], window[1], window[2]
        shown = _grayscale(frame, view, notes)
    elif photometric == "PALETTE COLOR":
        rgb = apply_color_lut(frame, ds)
        # 16-bit entries that never pass 255 are 8-bit values (a common encoding error)
        shown = rgb.astype(np.float64) / (255.0 if rgb.dtype == np.uint8 or rgb.max() <= 255 else 65535.0)
    elif frame.ndim == 3 and frame.shape[-1] >= 3:  # RGB, and YBR that pydicom converted to RGB
        bits = 8 if frame.dtype == np.uint8 else int(ds.get("BitsStored") or 8)
        shown = frame[..., :3].astype(np.float64) / (2**bits - 1)
    else:
        raise PreviewError(f"photometric interpretation {photometric or '(none)'} is not supported")
    return np.clip(np.rint(shown * 255.0), 0, 255).astype(np.uint8)


def _header(f: BinaryIO) -> tuple[Dataset, int]:
    """The data set up to its pixel data, and where reading stopped."""
    f.seek(0)
    # values over 1 MiB (an encapsulated document, say) stay on disk when there is a file to read them from
    defer = 1 << 20 if isinstance(getattr(f, "name", None), str) else None
    ds = _with_syntax(pydicom.dcmread(f, force=True, stop_before_pixels=True, defer_size=defer))
    return ds, f.tell()


def estimate(geo: frames.Geometry, k: int) -> int:
    """The most bytes the preview of an image of ``geo`` reduced by ``k`` holds while it is made."""
    decoded = min(geo.frame_bytes, frames.MAX_DECODE_BYTES)
    work = (geo.rows // k) * (geo.columns // k) * max(1, min(geo.samples, 3))
    return decoded + work * 8 * 4  # the frame, and the rendering's floating-point copies


def load_frame(f: BinaryIO) -> tuple[Dataset, np.ndarray]:
    """The header of the image in ``f`` and its shown frame (stored values, reduced
    for the preview as :mod:`.frames` says); raises :class:`PreviewError`."""
    header, at = _header(f)
    place = frames.locate(f, header, at)
    if place is None:
        if _size(f) > frames.MAX_DECODE_BYTES:
            raise PreviewError("no pixel data a preview can read within its limits")
        f.seek(0)
        ds = read_dataset(f)  # float pixel data, or none: small or refused by the checks of render
        if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
            raise PreviewError("no pixel data")
        try:
            frames.geometry(ds)
        except frames.FrameError as exc:
            raise PreviewError(str(exc)) from None
        return ds, render_source(ds)
    try:
        geo = frames.geometry(header)
    except frames.FrameError as exc:
        raise PreviewError(str(exc)) from None
    syntax = header.file_meta.TransferSyntaxUID
    index = geo.frames // 2
    k = frames.factor_for(geo, preview_size(geo.columns, geo.rows))
    pick = geo.photometric == "PALETTE COLOR"
    try:
        if place.length is not None and syntax in frames.NATIVE:
            big_endian = syntax == ExplicitVRBigEndian
            readable = geo.bits_allocated in ((16, 32) if big_endian else (8, 16, 32)) and geo.photometric not in (
                "YBR_FULL_422",
                "YBR_PARTIAL_420",
            )
            if readable and (k >= 2 or place.length > frames.MAX_DECODE_BYTES):
                return header, frames.native_frame(f, place, geo, index, k, big_endian)
        elif syntax in frames.J2K and (k >= 2 or geo.frame_bytes > frames.MAX_DECODE_BYTES):
            # (encapsulated pixel data is of undefined length; some senders give it a length all the same)
            f.seek(place.start)
            data = frames.get_frame(f, index, number_of_frames=geo.frames)
            frame, rest = frames.j2k_frame(data, geo, k)
            return header, frames.reduce(frame, rest, pick=pick)
        if geo.frame_bytes > frames.MAX_DECODE_BYTES:
            raise frames.FrameError(
                f"a frame of {geo.columns} x {geo.rows} pixels decodes to {geo.frame_bytes >> 20} MiB; "
                f"previews decode at most {frames.MAX_DECODE_BYTES >> 20} MiB whole (reduced: only "
                "uncompressed and JPEG 2000 images)"
            )
        size = _size(f)
        if place.length is None and size > frames.MAX_DECODE_BYTES:
            f.seek(place.start)  # only the shown frame's bytes are read
            frame = frames.coded_frame(header, frames.get_frame(f, index, number_of_frames=geo.frames))
        elif place.length is not None and place.length > frames.MAX_DECODE_BYTES:
            raise frames.FrameError(f"{geo.bits_allocated}-bit pixel data over {frames.MAX_DECODE_BYTES >> 20} MiB")
        else:
            f.seek(0)
            full = read_dataset(f)
            return full, frames.reduce(render_source(full), k, pick=pick)
    except frames.FrameError as exc:
        raise PreviewError(str(exc)) from None
    return header, frames.reduce(frame, k, pick=pick)


def _size(f: BinaryIO) -> int:
    """The size of an open file (of any readable stream: seeking to its end)."""
    try:
        return os.fstat(f.fileno()).st_size
    except (OSError, ValueError, AttributeError):
        here = f.tell()
        size = f.seek(0, os.SEEK_END)
        f.seek(here)
        return size


def render_source(ds: Dataset) -> np.ndarray:
    """The shown frame of a data set read whole, decoded."""
    try:
        count = int(ds.get("NumberOfFrames") or 1)
    except (TypeError, ValueError):
        count = 1
    return frames.decode(ds, count // 2 if count > 1 else None)


@contextmanager
def _opened(source: Path | str | BinaryIO) -> Iterator[BinaryIO]:
    """``source`` as a binary file; a deflated file as its inflated copy."""
    with open(source, "rb") if isinstance(source, str | Path) else nullcontext(source) as f:
        if not inflate.is_deflated(f):
            f.seek(0)
            yield f
            return
        try:
            with inflate.inflated_copy(f) as copy, open(copy.path, "rb") as inflated:
                if not copy.complete:
                    raise PreviewError("the deflated data set is cut short")
                yield inflated
        except inflate.InflateError as exc:
            raise PreviewError(str(exc)) from None


def preview_size(width: int, height: int) -> tuple[int, int]:
    """The preview's size: the longer side at most 1024 pixels, the shorter at
    least 500 (an image with fewer pixels is enlarged to that)."""
    longer, shorter = max(width, height), min(width, height)
    factor = min(1.0, PREVIEW_MAX_SIDE / longer)
    if shorter * factor < PREVIEW_MIN_SIDE:
        factor = PREVIEW_MIN_SIDE / shorter
    return max(1, round(width * factor)), max(1, round(height * factor))


def to_jpeg(pixels: np.ndarray) -> tuple[bytes, int, int]:
    image = Image.fromarray(pixels)
    size = preview_size(*image.size)
    if size != image.size:
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=PREVIEW_QUALITY, optimize=True)
    return out.getvalue(), image.size[0], image.size[1]


def make_preview(path: Path | str | BinaryIO, name: str) -> Preview:
    """The JPEG preview of a DICOM file.

    Raises :class:`PreviewError` or whatever pydicom and its plugins raise
    when the image cannot be decoded (see :func:`describe` for a message),
    and :class:`.budget.OverBudget` when the process's decoding budget
    cannot be had now.
    """
    notes: list[str] = []
    with _opened(path) as f:
        header, at = _header(f)
        try:
            geo = frames.geometry(header)
            need = estimate(geo, frames.factor_for(geo, preview_size(geo.columns, geo.rows)))
        except frames.FrameError:
            need = 0  # refused by load_frame, before anything is decoded
        with BUDGET.reserve(need):
            ds, frame = load_frame(f)
            pixels = render(ds, notes, frame)
            data, width, height = to_jpeg(pixels)
    return Preview(name=name, data=data, width=width, height=height, notes=notes)


# -- messages -----------------------------------------------------------------------------------

#: What decodes compressed pixel data; installed with hvgen's imaging dependencies.
DECODERS = "pylibjpeg with pylibjpeg-libjpeg, pylibjpeg-openjpeg and pylibjpeg-rle"


def describe(exc: BaseException) -> str:
    """Why a preview could not be made, on one line; names what to install
    when a decoder is missing."""
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else ""
    lower = text.lower()
    if "missing" in lower and any(word in lower for word in ("dependenc", "plugin", "handler")):
        wanted = [line.split("requires", 1)[1].strip() for line in text.splitlines() if "requires" in line]
        return f"{one_line(first)}: install {' or '.join(wanted) or DECODERS} ({DECODERS} come with hvgen's imaging dependencies)"
    if isinstance(exc, PreviewError):
        return text
    # a first line that ends with a colon introduces the reasons on the next lines
    return f"{type(exc).__name__}: {one_line(text if first.endswith(':') else first, 240) or 'cannot decode the pixel data'}"
