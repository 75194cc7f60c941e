"""Generate synthetic DICOM studies for tests and benchmarks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TypedDict

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


class StudyUids(TypedDict):
    study_uid: str
    series_uids: list[str]
    sops: list[str]


def pydicom_file(name: str) -> Path:
    """The path of one of pydicom's test files."""
    from pydicom.data import get_testdata_file

    found = get_testdata_file(name)
    assert isinstance(found, str), f"pydicom has no test file {name}"
    return Path(found)


def make_study(
    folder: Path,
    series: int = 2,
    images: int = 3,
    size: int = 64,
    study_uid: str | None = None,
    seed: int = 0,
    patient: str = "DOE^JANE",
    patient_id: str | None = None,
    study_date: str = "20240517",
    modality: str = "CT",
) -> StudyUids:
    """Write ``series`` x ``images`` CT images of ``size`` x ``size`` x 16 bits
    under ``folder``; returns the UIDs used."""
    rng = np.random.default_rng(seed)
    study_uid = study_uid or generate_uid()
    folder.mkdir(parents=True, exist_ok=True)
    series_uids: list[str] = []
    sops: list[str] = []
    y, x = np.mgrid[0:size, 0:size]
    for s in range(series):
        series_uid = generate_uid()
        series_uids.append(series_uid)
        for i in range(images):
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = CTImageStorage
            sop = generate_uid()
            sops.append(sop)
            meta.MediaStorageSOPInstanceUID = sop
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            path = folder / f"s{s}" / f"img{i:04d}.dcm"
            path.parent.mkdir(parents=True, exist_ok=True)
            ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
            ds.SOPClassUID = CTImageStorage
            ds.SOPInstanceUID = sop
            ds.StudyInstanceUID = study_uid
            ds.SeriesInstanceUID = series_uid
            ds.StudyDate = study_date
            ds.StudyTime = "101530.250"
            ds.AcquisitionDate = "20240517"
            ds.AcquisitionTime = f"1016{s:02d}"
            ds.PatientName = patient
            if patient_id is not None:
                ds.PatientID = patient_id
            ds.StudyDescription = "CT HEAD"
            ds.SeriesDescription = f"Axial {s + 1}"
            ds.Modality = modality
            ds.BodyPartExamined = "HEAD"
            ds.InstitutionName = "General Hospital"
            ds.ReferringPhysicianName = "SMITH^JOHN"
            ds.AccessionNumber = f"ACC{seed:05d}"
            ds.ReasonForStudy = "headache"
            ds.InstanceNumber = i + 1
            ds.SeriesNumber = s + 1
            ds.Rows = ds.Columns = size
            ds.BitsAllocated = 16
            ds.BitsStored = 16
            ds.HighBit = 15
            ds.PixelRepresentation = 0
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.RescaleIntercept = -1024
            ds.RescaleSlope = 1
            ds.WindowCenter = 40
            ds.WindowWidth = 400
            circle = ((x - size / 2) ** 2 + (y - size / 2) ** 2) < (size / 3) ** 2
            pixels = (1000 + circle * 60 + (x * 3 + i * 7 + s * 11) % 50 + rng.integers(0, 20, (size, size))).astype(
                np.uint16
            )
            ds.PixelData = pixels.tobytes()
            ds.save_as(path, enforce_file_format=True)
    return {"study_uid": study_uid, "series_uids": series_uids, "sops": sops}


if __name__ == "__main__":
    import sys

    out = make_study(Path(sys.argv[1]), series=int(sys.argv[2]), images=int(sys.argv[3]), size=int(sys.argv[4]))
    print(out["study_uid"], dt.datetime.now())
