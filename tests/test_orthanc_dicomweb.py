"""Orthanc's DICOMweb client (its plugin's ``/dicom-web/servers/hvgen/…``) reads
metadata, frames and bulk data from hvgen, and retrieves a study into Orthanc."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import get_frame

from .dicomwebdata import ImagingPlatform
from .orthancpeer import MISSING, Orthanc
from .test_dicomweb import parts

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


class Answer:
    """What Orthanc's ``/get`` passed on: its content type and body."""

    def __init__(self, headers: dict[str, str], content: bytes) -> None:
        self.headers, self.content = headers, content


@pytest.fixture(scope="module")
def orthanc(imaging: ImagingPlatform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    servers = {"hvgen": {"Url": imaging.dicomweb + "/", "HttpHeaders": {"Authorization": f"Bearer {imaging.token}"}}}
    running = Orthanc(tmp_path_factory.mktemp("orthanc"), servers)
    yield running
    running.stop()


def through(orthanc: Orthanc, uri: str, accept: str | None = None) -> Answer:
    body: dict[str, object] = {"Uri": uri}
    if accept is not None:
        body["HttpHeaders"] = {"Accept": accept}
    answer = orthanc.post("/dicom-web/servers/hvgen/get", body)
    assert answer.status_code == 200, answer.text
    return Answer(dict(answer.headers), answer.content)


def relative(url: str, imaging: ImagingPlatform) -> str:
    assert url.startswith(imaging.dicomweb)
    return url[len(imaging.dicomweb) :]


def test_orthanc_reads_metadata_frames_and_bulk_data(imaging: ImagingPlatform, orthanc: Orthanc) -> None:
    mr = imaging.images["mr_frames"]
    ds = pydicom.dcmread(mr.path)
    path = relative(mr.url(imaging.dicomweb), imaging)
    metadata = orthanc.post("/dicom-web/servers/hvgen/get", {"Uri": path + "/metadata"}).json()
    uri = metadata[0]["7FE00010"]["BulkDataURI"]
    # the bulk data URI it was given: the pixel data, byte for byte
    bulk = through(orthanc, relative(uri, imaging), 'multipart/related; type="application/octet-stream"')
    assert parts(bulk) == [ds.PixelData]  # type: ignore[arg-type]
    # frames 2 and 7, native: the file's bytes
    size = len(ds.PixelData) // 10
    frames = through(orthanc, path + "/frames/2,7", 'multipart/related; type="application/octet-stream"')
    assert parts(frames) == [ds.PixelData[size : 2 * size], ds.PixelData[6 * size : 7 * size]]  # type: ignore[arg-type]
    # compressed frames as stored, and decoded
    j2k = imaging.images["j2k_frames"]
    compressed = pydicom.dcmread(j2k.path)
    j2k_path = relative(j2k.url(imaging.dicomweb), imaging)
    stored = through(orthanc, j2k_path + "/frames/5", 'multipart/related; type="image/jp2"')
    assert parts(stored) == [get_frame(compressed.PixelData, 4, number_of_frames=10)]  # type: ignore[arg-type]
    decoded = through(orthanc, j2k_path + "/frames/5", 'multipart/related; type="application/octet-stream"')
    assert parts(decoded) == [compressed.pixel_array[4].astype("<u2").tobytes()]  # type: ignore[arg-type]


def test_orthanc_retrieves_a_study_from_hvgen(imaging: ImagingPlatform, orthanc: Orthanc, tmp_path: Path) -> None:
    rgb = imaging.images["rle_rgb"]
    answer = orthanc.post("/dicom-web/servers/hvgen/retrieve", {"Resources": [{"Study": rgb.study_uid}]})
    assert answer.status_code == 200, answer.text
    found = orthanc.post("/tools/find", {"Level": "Instance", "Query": {"SOPInstanceUID": rgb.sop_uid}}).json()
    assert len(found) == 1
    stored = orthanc.get(f"/instances/{found[0]}/file").content
    assert stored == rgb.path.read_bytes()  # as hvgen stored it
    kept = pydicom.dcmread(io.BytesIO(stored))
    assert np.array_equal(kept.pixel_array, pydicom.dcmread(rgb.path).pixel_array)
