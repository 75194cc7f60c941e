"""The DICOM index rows of stored instances, from the headers read when they were received.

An instance's row (:func:`..dicomweb.index.instance_row`) and its stored
metadata (:func:`..dicomweb.bulkdata.stored_metadata`, the DICOM JSON the
study metadata answer is made of) are made here from the header the
listener or STOW-RS read once when the instance arrived
(:func:`hvgen_imaging.dicom.examine`), not by reading and parsing the file
again: the data set's elements up to its pixel data, each converted once
for both, and the pixel data's place from where that read found it. What
this cannot tell as the file's own reading would (a deflated file, a value
left on disk, pixel data not found where it was read) is read from the file
as before, so the row is always the one :func:`..dicomweb.index.refresh`
would make.
"""

from __future__ import annotations

import dataclasses
import io
import json
import warnings
from typing import Any

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from hvgen_imaging import frames
from hvgen_imaging.dicom import DicomImage
from hvgen_imaging.framebytes import PixelSource
from hvgen_imaging.frames import FrameError, Place

from ..dicomweb.bulkdata import instance_json, stored_metadata
from ..dicomweb.index import instance_row
from ..store.rows import METADATA_URL, DicomInstance

#: Where reading a header stops (:func:`pydicom.dcmread` with ``stop_before_pixels``).
_PIXEL_TAGS = (0x7FE00008, 0x7FE00009, 0x7FE00010)
_PIXEL_DATA = 0x7FE00010
_UNDEFINED = 0xFFFFFFFF


@dataclasses.dataclass(frozen=True)
class Prepared:
    """What an instance's index row and metadata are made of, made from its header alone."""

    header: Dataset  # the data set's elements up to its pixel data
    whole: dict[str, Any]  # its DICOM JSON (each level's attributes are taken from it)
    metadata_json: str


#: Where :func:`prepare` keeps what it made, on the header itself; ``_FROM_FILE`` when the file must be read.
_PREPARED = "_hvgen_prepared"
_FROM_FILE = "read the file"


def prepare(header: Dataset) -> None:
    """Make ahead what :func:`index_row` makes of ``header`` (while its association
    goes on, before the study is stored), kept with the header."""
    if getattr(header, _PREPARED, None) is None:
        object.__setattr__(header, _PREPARED, _prepared(header) or _FROM_FILE)


def _prepared(header: Dataset) -> Prepared | None:
    source = _source(header)
    if source is None:
        return None
    whole = instance_json(source, METADATA_URL)
    return Prepared(source.header, whole, json.dumps(whole, separators=(",", ":")))


def index_row(image: DicomImage, name: str, blob_id: str, preview_blob_id: str | None) -> DicomInstance:
    """The index row of ``image`` stored as blob ``blob_id`` (named ``name`` in its study), with its metadata."""
    prepared = getattr(image.header, _PREPARED, None)
    if prepared is None:
        prepared = _prepared(image.header)
    if not isinstance(prepared, Prepared):  # read from the file, as the index reads any stored instance
        row = instance_row(image.header, name, blob_id, image.size, preview_blob_id)
        return dataclasses.replace(row, metadata_json=stored_metadata(image.path))
    row = instance_row(prepared.header, name, blob_id, image.size, preview_blob_id, prepared.whole)
    return dataclasses.replace(row, metadata_json=prepared.metadata_json)


def _source(header: Dataset) -> PixelSource | None:
    """The :class:`PixelSource` a reading of the file would give (without its file: only
    its header and pixel data's place are used), or None when the file must be read."""
    meta = getattr(header, "file_meta", None)
    try:
        syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
        encoding = header.original_encoding
    except Exception:
        return None
    if syntax == DeflatedExplicitVRLittleEndian:
        return None  # (read through its inflated copy)
    part = Dataset()
    stop: int | None = None
    for tag in header.keys():
        if tag in _PIXEL_TAGS:
            stop = tag
            break
        element = header.get_item(tag, keep_deferred=True)
        if isinstance(element, RawDataElement) and element.value is None and element.length not in (0, _UNDEFINED):
            return None  # a value left on disk
        part._dict[tag] = element
    if meta is not None:
        part.file_meta = meta
    implicit, little = encoding
    part.set_original_encoding(implicit, little, header.original_character_set)
    if not syntax:
        syntax = (
            ExplicitVRBigEndian if little is False else ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
        )
    place = None
    if stop == _PIXEL_DATA:
        pixels = header.get_item(_PIXEL_DATA, keep_deferred=True)
        if not isinstance(pixels, RawDataElement):
            return None
        place = Place(pixels.value_tell, None if pixels.length == _UNDEFINED else pixels.length)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                frames.geometry(part)
            except FrameError:
                place = None
            except Exception:
                return None
    return PixelSource(io.BytesIO(), part, syntax, syntax, 0, place)
