"""WADO-RS frames (PS3.18 10.4.1.1.4, 8.7.3.3): the frames of an instance, as
stored or in another transfer syntax, read one at a time from their place in
the file (:mod:`hvgen_imaging.framebytes`).

The Accept header chooses, best first:

* ``multipart/related; type="application/octet-stream"`` (the default):
  uncompressed frames. ``transfer-syntax=1.2.840.10008.1.2.1`` (the default,
  or ``1.2.840.10008.1.2``) is little endian, ``1.2.840.10008.1.2.2`` big
  endian; ``*`` lets the server choose: uncompressed little endian. A
  compressed frame is decoded for them (pydicom's decoders); uncompressed
  frames are the file's bytes (swapped when the byte order differs);
* ``multipart/related; type="image/jpeg"`` (``image/jls``, ``image/jp2``,
  ``image/jphc``, ``image/dicom-rle``…): the compressed frames as stored, when
  they are stored in that syntax;
* the same media types without ``multipart/related`` for a single frame;
* ``*/*`` (or no Accept header): uncompressed little endian, as for
  ``application/octet-stream``; ``image/*``: compressed frames as stored.

Anything else is 406, naming what can be sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from hvgen_imaging.budget import OverBudget
from hvgen_imaging.framebytes import PixelSource, pixel_source
from hvgen_imaging.frames import FrameError

from ..context import Platform
from ..store.rows import DicomInstance
from .index import open_blob
from .media import MULTIPART, DicomWebError, accepted

OCTETS = "application/octet-stream"
#: Media types of compressed frames by transfer syntax (PS3.18 Table 8.7.3-4/5).
COMPRESSED_MEDIA = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}
#: Transfer syntaxes of uncompressed frames, and whether they are big endian.
UNCOMPRESSED: dict[str, bool] = {
    ExplicitVRLittleEndian: False,
    ImplicitVRLittleEndian: False,
    ExplicitVRBigEndian: True,
}
#: Bytes of a multipart answer handed to the server at a time.
PIECE = 1024 * 1024
#: A single uncompressed frame up to this size is read before the answer starts (larger ones stream).
EAGER_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Choice:
    """How the frames are sent: their media type and transfer syntax, decoded or as stored, in parts or not."""

    media_type: str
    syntax: str
    as_stored: bool
    big_endian: bool
    multipart: bool

    @property
    def part_type(self) -> str:
        return f"{self.media_type}; transfer-syntax={self.syntax}"


def choose(accept: str | None, source: PixelSource, count: int) -> Choice:
    """The answer's form for the Accept header (406 when none can be sent)."""
    stored = source.syntax
    stored_media = COMPRESSED_MEDIA.get(stored) if source.encapsulated else None
    for media in accepted(accept):
        multipart = media.media_type in (MULTIPART, "*/*")
        inner = media.params.get("type", OCTETS).lower() if multipart else media.media_type
        if not multipart and count != 1 and inner != "*/*":
            continue
        wanted = media.params.get("transfer-syntax")
        if inner == "image/*" and stored_media is not None and wanted in (None, "*", stored):
            return Choice(stored_media, stored, True, False, multipart)
        if inner in ("*/*", "application/*"):
            inner = OCTETS
        if inner == OCTETS:
            if wanted in (None, "*"):
                wanted = ExplicitVRLittleEndian
            if wanted in UNCOMPRESSED:
                return Choice(OCTETS, wanted, False, UNCOMPRESSED[wanted], multipart)
            if wanted == stored and source.encapsulated:
                return Choice(OCTETS, stored, True, False, multipart)
            continue
        if stored_media is not None and inner == stored_media and wanted in (None, "*", stored):
            return Choice(stored_media, stored, True, False, multipart)
    offered = [f'{MULTIPART}; type="{OCTETS}"; transfer-syntax={ExplicitVRLittleEndian} (or {ImplicitVRLittleEndian}, ']
    offered[0] += f"{ExplicitVRBigEndian})"
    if stored_media is not None:
        offered.append(f'{MULTIPART}; type="{stored_media}"; transfer-syntax={stored} (as stored)')
    raise DicomWebError(
        406,
        f"cannot send these frames as any of the accepted media types ({accept}); they are offered as "
        + ", ".join(offered),
    )


def frame_numbers(text: str) -> list[int]:
    """The frame numbers of a URL (``1,2,5``), 1-based; 400 when malformed."""
    numbers = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise DicomWebError(400, f"frame numbers are positive integers separated by commas, not {text!r}")
        numbers.append(int(part))
    if len(numbers) > 100_000:
        raise DicomWebError(400, "too many frame numbers in one request")
    return numbers


def _frame(source: PixelSource, index: int, choice: Choice) -> Iterator[bytes]:
    if choice.as_stored:
        if source.encapsulated:
            yield source.stored_frame(index)
        else:
            yield from source.native_pieces(index, PIECE)
        return
    yield from source.uncompressed(index, big_endian=choice.big_endian)


def problem(exc: Exception, sop_uid: str) -> DicomWebError:
    """A refusal of :mod:`hvgen_imaging` as the answer to send."""
    if isinstance(exc, OverBudget):
        return DicomWebError(503, str(exc), {"Retry-After": "30"})
    if isinstance(exc, FrameError) and "does not exist" in str(exc):
        return DicomWebError(404, f"instance {sop_uid}: {exc}")
    if isinstance(exc, FrameError) and "no pixel data" in str(exc):
        return DicomWebError(404, f"instance {sop_uid} has no pixel data (no frames)")
    return DicomWebError(422, f"the frames of instance {sop_uid} cannot be sent: {exc}")


@dataclass
class FrameAnswer:
    """Frames checked and negotiated: the first parts already read (so that refusals are statuses)."""

    choice: Choice
    content_type: str
    body: Iterator[bytes]


def answer(
    platform: Platform,
    instance: DicomInstance,
    numbers: list[int] | None,
    accept: str | None,
    boundary: str,
    location: str,
) -> FrameAnswer:
    """The frames ``numbers`` (1-based; None: all) of ``instance`` as the client accepts them.

    Runs in a worker thread; the first frame is read (and decoded) before
    this returns, so that a missing frame is 404 and a decode over the
    budget 503; the rest is read as the body is sent."""
    try:
        with open_blob(platform.files, instance.blob_id) as f, pixel_source(f) as source:
            if not source.has_pixels:
                raise FrameError("the instance has no pixel data")
            wanted = numbers if numbers is not None else list(range(1, source.frame_count + 1))
            for number in wanted:
                source.check_frame(number - 1)
            choice = choose(accept, source, len(wanted))
            # one frame is read now (decoded frames are bounded by the decode limit; a huge uncompressed one streams)
            eager = len(wanted) == 1 and (source.encapsulated or source.frame_size() <= EAGER_BYTES)
            first = b"".join(_frame(source, wanted[0] - 1, choice)) if eager else None
    except (FrameError, OverBudget) as exc:
        raise problem(exc, instance.sop_uid) from None
    if not choice.multipart:
        body = iter([first]) if first is not None else _single(platform, instance, wanted[0], choice)
        return FrameAnswer(choice, choice.part_type, body)
    content_type = f'{MULTIPART}; type="{choice.media_type}"; boundary={boundary}'
    return FrameAnswer(choice, content_type, _parts(platform, instance, wanted, choice, boundary, location, first))


def _single(platform: Platform, instance: DicomInstance, number: int, choice: Choice) -> Iterator[bytes]:
    with open_blob(platform.files, instance.blob_id) as f, pixel_source(f) as source:
        yield from _frame(source, number - 1, choice)


def _parts(
    platform: Platform,
    instance: DicomInstance,
    numbers: list[int],
    choice: Choice,
    boundary: str,
    location: str,
    first: bytes | None,
) -> Iterator[bytes]:
    """The multipart body, read frame by frame (a frame that fails now ends the body short)."""
    with open_blob(platform.files, instance.blob_id) as f, pixel_source(f) as source:
        for number in numbers:
            head = f"--{boundary}\r\nContent-Type: {choice.part_type}\r\nContent-Location: {location}/frames/{number}\r\n\r\n"
            yield head.encode("ascii")
            if first is not None:
                yield first
            else:
                yield from _frame(source, number - 1, choice)
            yield b"\r\n"
    yield f"--{boundary}--\r\n".encode("ascii")
