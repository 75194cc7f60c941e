"""An image's DICOM tags as the tag view shows them: every element of its
header (group, element, VR, keyword, value), sequences as nested items,
private elements marked with their creator, the pixel data summed up, not
shown. Bounded: the header is read up to the pixel data, values longer than
:data:`DEFER_BYTES` are left in the file (their length is said), a value
shows at most :data:`MAX_TEXT` characters, and at most :data:`MAX_ELEMENTS`
elements are listed (how many more there are is said)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import pydicom
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID

from hvgen_imaging import inflate

from ..context import Platform
from ..dicomweb.index import open_blob
from ..errors import ServerError
from ..store.files import BlobFiles
from .studies import Image, Study

#: Elements listed at most (sequence items' elements included).
MAX_ELEMENTS = 3000
#: Characters of a value shown at most.
MAX_TEXT = 512
#: Values longer than this are not read.
DEFER_BYTES = 64 * 1024
#: Nesting of sequences shown at most.
MAX_DEPTH = 12
#: Bytes of a binary value shown (in hexadecimal).
HEX_BYTES = 16
_BINARY = {"OB", "OW", "OF", "OD", "OL", "OV", "UN", "OB or OW", "US or OW"}
PIXEL_DATA = 0x7FE00010


class TagsUnreadable(ServerError):
    """The image's file is not a DICOM file the tag view can read."""


@dataclass
class Element:
    tag: str
    vr: str
    keyword: str
    value: str
    #: The private creator of a private element ("" when it has none; None: not private).
    private: str | None = None
    #: A sequence's items (each a list of elements); None when it is no sequence.
    items: list[list[Element]] | None = None


@dataclass
class Tags:
    meta: list[Element]
    elements: list[Element]
    #: The pixel data summed up ("" when the file has none).
    pixels: str
    #: Elements left out past :data:`MAX_ELEMENTS`.
    left_out: int = 0
    transfer_syntax: str = ""
    shown: int = field(default=0, repr=False)


def _tag(tag: BaseTag) -> str:
    return f"({tag.group:04X},{tag.element:04X})"


def _scalar(value: Any) -> str:
    if isinstance(value, bytes):
        head = value[:HEX_BYTES].hex(" ")
        return f"{len(value)} bytes: {head}{' …' if len(value) > HEX_BYTES else ''}"
    if isinstance(value, UID) and value.is_valid and value.name != value:
        return f"{value} ({value.name})"
    return str(value)


def value_text(element: DataElement) -> str:
    """What the view shows of a (non-sequence) element's value."""
    value = element.value
    if value is None or value == "" or value == b"":
        return ""
    if element.VR in _BINARY and isinstance(value, bytes):
        text = _scalar(value)
    elif isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        text = "\\".join(_scalar(v) for v in value)
    else:
        text = _scalar(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f" … ({len(text)} characters)"


def _private_creator(ds: Dataset, tag: BaseTag) -> str:
    if tag.element < 0x0100:
        return ""  # a private creator element itself, or a group length
    creator = Tag(tag.group, tag.element >> 8)
    try:
        found = ds.get(creator)
        return str(found.value) if found is not None else ""
    except Exception:
        return ""


class _Reader:
    def __init__(self) -> None:
        self.shown = 0
        self.left_out = 0

    def elements(self, ds: Dataset, depth: int) -> list[Element]:
        out: list[Element] = []
        for tag in list(ds.keys()):
            if tag == PIXEL_DATA:
                continue
            if self.shown >= MAX_ELEMENTS:
                self.left_out += 1
                continue
            self.shown += 1
            out.append(self.element(ds, BaseTag(tag), depth))
        return out

    def element(self, ds: Dataset, tag: BaseTag, depth: int) -> Element:
        private = _private_creator(ds, tag) if tag.is_private else None
        raw = ds.get_item(tag)
        if isinstance(raw, RawDataElement) and raw.value is None and raw.length and raw.length != 0xFFFFFFFF:
            vr = str(raw.VR or "")
            return Element(_tag(tag), vr, _keyword(tag, private), f"{raw.length} bytes (not shown)", private)
        try:
            element = ds[tag]
        except Exception as exc:  # a value pydicom cannot read
            vr = str(getattr(raw, "VR", "") or "")
            return Element(_tag(tag), vr, _keyword(tag, private), f"(unreadable: {exc})", private)
        keyword = element.keyword or _keyword(tag, private)
        if element.VR == "SQ":
            items = element.value or []
            if depth >= MAX_DEPTH:
                return Element(_tag(tag), "SQ", keyword, f"{len(items)} items (nested too deep to show)", private)
            return Element(_tag(tag), "SQ", keyword, "", private, [self.elements(item, depth + 1) for item in items])
        return Element(_tag(tag), str(element.VR), keyword, value_text(element), private)


def _keyword(tag: BaseTag, private: str | None) -> str:
    if private is None:
        return ""
    if tag.element < 0x0010:
        return "(group length)" if tag.element == 0 else ""
    if tag.element < 0x0100:
        return "Private Creator"
    return ""


def _pixels(ds: Dataset, syntax: str) -> str:
    if PIXEL_DATA not in ds and "Rows" not in ds:
        return ""

    def number(keyword: str, default: int = 0) -> int:
        try:
            return int(ds.get(keyword, default) or default)
        except (TypeError, ValueError):
            return default

    frames = number("NumberOfFrames", 1)
    parts = [
        f"{frames} frame{'s' if frames != 1 else ''} of {number('Columns')} × {number('Rows')}",
        f"{number('BitsAllocated')} bits allocated",
        f"{number('SamplesPerPixel', 1)} sample{'s' if number('SamplesPerPixel', 1) != 1 else ''} per pixel",
    ]
    if "PhotometricInterpretation" in ds:
        parts.append(str(ds.PhotometricInterpretation))
    if syntax:
        name = UID(syntax).name
        parts.append(f"{'encapsulated, ' if UID(syntax).is_compressed else ''}{name}")
    return ", ".join(parts)


def tags_context(platform: Platform, study: Study, image: Image) -> dict[str, Any]:
    """The tag view's page context of an image: its ``tags``, or the ``problem`` reading them."""
    blob = study.blobs.get(image.name)
    if blob is None:
        return {"problem": "its file is not in the study"}
    try:
        return {"tags": read_tags(platform.files, blob.blob_id)}
    except TagsUnreadable as exc:
        return {"problem": str(exc)}


def read_tags(files: BlobFiles, blob_id: str) -> Tags:
    """The tags of the DICOM file in a blob (up to its pixel data)."""
    with open_blob(files, blob_id) as f, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if inflate.is_deflated(f):
                with inflate.inflated_copy(f) as copy, open(copy.path, "rb") as inflated:
                    ds = pydicom.dcmread(inflated, stop_before_pixels=True, force=True, defer_size=DEFER_BYTES)
                    return _tags(ds, deflated=True)
            f.seek(0)
            ds = pydicom.dcmread(f, stop_before_pixels=True, force=True, defer_size=DEFER_BYTES)
            return _tags(ds, deflated=False)
        except TagsUnreadable:
            raise
        except Exception as exc:
            raise TagsUnreadable(f"it is not a readable DICOM file ({exc})") from exc


def _tags(ds: Dataset, deflated: bool) -> Tags:
    if not len(ds) and not getattr(ds, "file_meta", None):
        raise TagsUnreadable("it holds no DICOM elements")
    reader = _Reader()
    meta = reader.elements(ds.file_meta, 0) if getattr(ds, "file_meta", None) else []
    elements = reader.elements(ds, 0)
    syntax = str(ds.file_meta.get("TransferSyntaxUID", "")) if getattr(ds, "file_meta", None) else ""
    return Tags(meta, elements, _pixels(ds, syntax), reader.left_out, syntax, reader.shown)


__all__ = ["Element", "Tags", "TagsUnreadable", "read_tags", "tags_context", "value_text"]
