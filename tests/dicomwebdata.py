"""One platform server with imaging studies for the DICOMweb frame, bulk data and
OHIF tests (started once per test run: the fixture ``imaging`` of conftest).

The default record of person ``local`` (password :data:`PASSWORD`) holds, each a
study of its own, copies of pydicom's test images with new UIDs: a CT slice
(uncompressed), an MR of 10 frames (uncompressed), the same MR in JPEG 2000
lossless, a 2-frame RGB image in RLE, and an MR in Explicit VR Big Endian.
Person ``bob`` has a record with one study.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, generate_uid

from hvgen_imaging import dicom, study, workflow

from .dicomgen import pydicom_file
from .localserver import RunningServer, hvgen, start_server
from .viewerdata import BOB_PASSWORD, PASSWORD

#: Name in the fixture -> pydicom test file.
FILES = {
    "ct": "CT_small.dcm",
    "mr_frames": "emri_small.dcm",
    "j2k_frames": "emri_small_jpeg_2k_lossless.dcm",
    "rle_rgb": "SC_rgb_rle_2frame.dcm",
    "big_endian": "emri_small_big_endian.dcm",
    "deflated": "CT_small.dcm",  # written deflated (1.2.840.10008.1.2.1.99)
}


@dataclass
class Image:
    """One uploaded instance: its UIDs and the file as uploaded."""

    study_uid: str
    series_uid: str
    sop_uid: str
    path: Path

    @property
    def dataset(self) -> pydicom.Dataset:
        return pydicom.dcmread(self.path)

    def url(self, base: str) -> str:
        return f"{base}/studies/{self.study_uid}/series/{self.series_uid}/instances/{self.sop_uid}"


@dataclass
class ImagingPlatform:
    server: RunningServer
    token: str
    record_id: str
    bob_record_id: str
    images: dict[str, Image]

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def dicomweb(self) -> str:
        return self.server.url + "/dicomweb"


def copy_with_new_uids(source: Path, folder: Path, *, binary: bool = False, deflated: bool = False) -> Image:
    """``source`` written under ``folder`` with new study, series and instance UIDs (pixel data as it
    was); ``binary``: with a private binary element and an icon image (binary values for bulk data)."""
    ds = pydicom.dcmread(source)
    if binary:
        rng = np.random.default_rng(7)
        ds.private_block(0x0013, "HVGEN TEST", create=True).add_new(0x01, "OB", rng.bytes(3000))
        icon = Dataset()
        icon.Rows, icon.Columns, icon.SamplesPerPixel, icon.PhotometricInterpretation = 64, 64, 1, "MONOCHROME2"
        icon.BitsAllocated, icon.BitsStored, icon.HighBit, icon.PixelRepresentation = 8, 8, 7, 0
        icon.PixelData = rng.bytes(64 * 64)
        ds.IconImageSequence = [icon]
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if deflated:
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "image.dcm"
    ds.save_as(path, enforce_file_format=True)
    return Image(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, path)


def upload(server: RunningServer, folder: Path, record_id: str | None = None) -> None:
    """The study in ``folder`` uploaded as `hvgen study upload` does."""
    built = study.build(dicom.scan(folder).studies[0])
    with server.client() as client:
        client.record_id = record_id or client.record_id
        workflow.Studies(client, journal_dir=folder.parent / "journal").upload(built)


def make_imaging_platform(base: Path) -> ImagingPlatform:
    server = start_server(base / "server")
    hvgen(server, "person", "passwd", "local", "--password-stdin", stdin=PASSWORD + "\n")
    hvgen(server, "person", "add", "bob", "--name", "Bob Roe", "--password-stdin", stdin=BOB_PASSWORD + "\n")
    bob = json.loads(
        hvgen(
            server, "record", "add", "--person", "bob", "--name", "Bob", "--authorize", server.profile.app_id, "--json"
        )
    )
    images = {}
    for name, file in FILES.items():
        images[name] = copy_with_new_uids(
            pydicom_file(file), base / "studies" / name, binary=name == "ct", deflated=name == "deflated"
        )
        upload(server, images[name].path.parent)
    upload(
        server, copy_with_new_uids(pydicom_file("CT_small.dcm"), base / "studies" / "bob").path.parent, bob["record_id"]
    )
    done = subprocess.run(
        [sys.executable, "-m", "hvgen_cli", "token", "--json"],
        env={**os.environ, "HVGEN_PROFILE": str(server.profile_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    token = json.loads(done.stdout)["token"]
    return ImagingPlatform(server, token, server.profile.record_id, bob["record_id"], images)


@pytest.fixture(scope="session")
def imaging(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImagingPlatform]:
    base = tmp_path_factory.mktemp("imaging")
    made = make_imaging_platform(base)
    yield made
    made.server.stop()
    shutil.rmtree(base, ignore_errors=True)
