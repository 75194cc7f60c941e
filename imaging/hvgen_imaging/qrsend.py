"""The C-STORE sub-operations of the query/retrieve SCP (:mod:`.qrscp`): the
presentation contexts proposed to a C-MOVE destination, each file as the
peer can take it, and final responses pynetdicom would not give.

* A C-MOVE destination is offered each file's SOP class in the file's
  transfer syntax and, for a file stored compressed or big endian, in
  Explicit and Implicit VR Little Endian as well (:func:`move_contexts`).
* A file goes in its stored syntax when the peer accepted it; else, when the
  peer accepted an uncompressed little endian syntax for its SOP class, a
  compressed file is decompressed (pydicom's decoders) and a big endian one
  byte-swapped (:func:`prepared`). Otherwise it goes as stored and its
  sub-operation fails.
* pynetdicom answers a retrieval that fails before any sub-operation with a
  data set and one failed sub-operation, and a destination it cannot
  associate with as "Move destination unknown" (0xA801).
  :func:`answer_instead` rewrites that one response: the status given, an
  Error Comment, no sub-operations and no data set (as Orthanc answers; a
  data set there makes dcmtk's getscu fail its release).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import evt
from pynetdicom.presentation import PresentationContext, build_context
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from . import dicom

#: Transfer syntaxes offered besides a file's own when it is compressed or big endian.
PLAIN = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
#: Most presentation contexts an association request holds (PS3.8: odd context IDs 1 to 255).
MAX_CONTEXTS = 128
_SWAPPED = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def needs_plain(syntax: UID) -> bool:
    """Whether pynetdicom cannot send a file of ``syntax`` on an uncompressed little endian context itself."""
    return syntax.is_compressed or syntax == ExplicitVRBigEndian


def move_contexts(files: Iterable[Path]) -> list[PresentationContext]:
    """The presentation contexts to propose to a C-MOVE destination for ``files``."""
    pairs: dict[tuple[str, str], None] = {}
    plain: dict[str, None] = {}
    for path in files:
        header, _ = dicom.examine(path)
        meta = getattr(header, "file_meta", None)
        if header is None or meta is None:
            continue
        syntax = UID(str(meta.TransferSyntaxUID))
        pairs[(str(header.SOPClassUID), syntax)] = None
        if needs_plain(syntax):
            plain[str(header.SOPClassUID)] = None
    contexts = [build_context(sop_class, [syntax]) for sop_class, syntax in pairs]
    fallbacks = [build_context(sop_class, list(PLAIN)) for sop_class in plain]
    room = max(0, MAX_CONTEXTS - len(fallbacks))
    chosen = contexts[:room] + fallbacks[:MAX_CONTEXTS]
    return chosen or [build_context(Verification)]


def _swap(ds: Dataset) -> None:
    """Byte-swap the values pydicom keeps as bytes (OW, OF, OL, OD, OV) of a big endian data set."""
    for element in ds:
        if element.VR == "SQ":
            for item in element.value or []:
                _swap(item)
        elif element.VR in _SWAPPED and isinstance(element.value, bytes) and element.value:
            size = _SWAPPED[element.VR]
            usable = len(element.value) - len(element.value) % size
            swapped = np.frombuffer(element.value[:usable], f">u{size}").byteswap().tobytes()
            element.value = swapped + element.value[usable:]


def prepared(path: Path, assoc: Any = None) -> Dataset:
    """The file as pynetdicom's sub-operations want it (a data set whose large values stay on disk
    until it is encoded), in a syntax ``assoc`` (the association it goes on) accepted for it."""
    ds = dcmread(path, defer_size="256 KB")
    if assoc is None:
        return ds
    syntax = UID(str(ds.file_meta.TransferSyntaxUID))
    accepted = {(c.abstract_syntax, c.transfer_syntax[0]) for c in assoc.accepted_contexts}
    sop_class = str(ds.get("SOPClassUID", ""))
    if not needs_plain(syntax) or (sop_class, syntax) in accepted:
        return ds
    if not any((sop_class, plain) in accepted for plain in PLAIN):
        return ds  # the sub-operation fails and is reported as failed
    try:
        if syntax == ExplicitVRBigEndian:
            ds = dcmread(path)  # the whole data set: its binary values are swapped in memory
            _swap(ds)
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.set_original_encoding(False, True, ds.original_character_set)
        else:
            ds.decompress(generate_instance_uid=False)  # the same instance, losslessly decoded
    except Exception:  # no decoder for it: the sub-operation fails and is reported as failed
        return dcmread(path, defer_size="256 KB")
    return ds


class Destination:
    """What happened to the association with a C-MOVE destination: the association once
    established (pynetdicom's EVT_ESTABLISHED, handlers given with the request's keyword
    arguments)."""

    def __init__(self) -> None:
        self.assoc: Any = None
        self._ready = threading.Event()

    def handlers(self) -> list[tuple[Any, Any]]:
        return [(evt.EVT_ESTABLISHED, self._established)]

    def _established(self, event: Any) -> None:
        self.assoc = event.assoc
        self._ready.set()


def answer_instead(assoc: Any, status: int, comment: str, *, only: int | None = None) -> Any:
    """Rewrite the next response pynetdicom sends on ``assoc`` (only one whose status is ``only``,
    when given): ``status``, ``comment`` as its Error Comment, no sub-operations, no data set.
    Returns a callable that removes the rewrite if it has not happened."""
    dimse = assoc.dimse
    send = dimse.send_msg

    def rewritten(primitive: Any, context_id: int) -> None:
        if only is not None and getattr(primitive, "Status", None) != only:
            send(primitive, context_id)
            return
        restore()
        primitive.Status = status
        primitive.ErrorComment = comment[:64]
        primitive.Identifier = None
        for name in ("Remaining", "Completed", "Failed", "Warning"):
            setattr(primitive, f"NumberOf{name}Suboperations", None if name == "Remaining" else 0)
        send(primitive, context_id)

    def restore() -> None:
        if dimse.__dict__.get("send_msg") is rewritten:
            del dimse.send_msg

    dimse.send_msg = rewritten
    return restore
