"""The DICOM index rows the ingest makes from the headers read at receipt
(:mod:`hvgen_server.ingest.indexrows`) are the rows a reading of the stored
files makes (:func:`instance_row` of the file's header and
:func:`stored_metadata` of the file): for every DICOM file of pydicom's test
data (uncompressed, encapsulated, big endian, implicit VR, deflated, with
sequences, private and damaged elements), and for the files the listener
receives."""

from __future__ import annotations

import dataclasses
import pickle
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
from pydicom.data import get_testdata_files

from hvgen_imaging import dicom
from hvgen_server.dicomweb.bulkdata import stored_metadata
from hvgen_server.dicomweb.index import instance_row
from hvgen_server.ingest.indexrows import Prepared, index_row, prepare

from .dicomgen import make_study


def _as_read(path: Path) -> Any:
    """The row (or the exception) a reading of the file gives."""
    try:
        header = dicom.examine(path)[0]
        assert header is not None
        row = instance_row(header, "image", "blob-1", path.stat().st_size, "blob-2")
        return dataclasses.replace(row, metadata_json=stored_metadata(path))
    except Exception as exc:
        return repr(exc)


def _at_receipt(path: Path, sent: bool = False) -> Any:
    """The row (or the exception) the ingest makes from the header read once; ``sent``:
    as the server's DICOM service makes it, from the header pickled by the listener's
    process and prepared ahead (:func:`prepare`)."""
    header = dicom.examine(path)[0]
    assert header is not None
    if sent:
        header = pickle.loads(pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL))
        try:
            prepare(header)
        except Exception:
            pass  # (made again by index_row, as the server does)
        PREPARED.append(isinstance(getattr(header, "_hvgen_prepared", None), Prepared))
    image = dicom.DicomImage(path, path.stat().st_size, "", None, header)
    try:
        return index_row(image, "image", "blob-1", "blob-2")
    except Exception as exc:
        return repr(exc)


#: Whether each header sent through :func:`_at_receipt` was prepared ahead (most are).
PREPARED: list[bool] = []


def _files() -> list[Path]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = [Path(p) for p in get_testdata_files("*")]
    return [p for p in sorted(found) if p.is_file()]


def test_rows_from_the_received_header_are_those_of_the_file(tmp_path: Path) -> None:
    files = _files()
    if not files:
        pytest.skip("pydicom's test data is not installed")
    compared = 0
    PREPARED.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in files:
            copy = tmp_path / f"{compared}.dcm"  # (each file read where the ingest reads it: its own copy)
            shutil.copyfile(path, copy)
            if dicom.examine(copy)[0] is None:
                continue
            assert _at_receipt(copy) == _as_read(copy), path.name
            assert _at_receipt(copy, sent=True) == _as_read(copy), path.name
            compared += 1
    assert compared >= 50  # (uncompressed, encapsulated, deflated, big endian, implicit VR, ...)
    assert sum(PREPARED) >= 0.8 * len(PREPARED)  # (the rest, deflated files and values left on disk, read the file)


def test_rows_of_generated_studies_carry_their_metadata(tmp_path: Path) -> None:
    make_study(tmp_path / "s", series=2, images=3, size=64, seed=5)
    paths = sorted((tmp_path / "s").rglob("*.dcm"))
    assert paths
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in paths:
            row = _at_receipt(path)
            assert row == _as_read(path)
            assert _at_receipt(path, sent=True) == row
            assert '"7FE00010":{"vr":"OW","BulkDataURI"' in row.metadata_json
            assert row.sop_uid and row.study_uid and row.study_json.startswith("{")
