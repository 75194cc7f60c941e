"""Previews of large images, read reduced, checked as pictures; 12-bit JPEG
Extended and deflated files; decompression bombs refused before decoding.

Large images are made here in every layout the reduced readers handle
(uncompressed little and big endian, signed, planar colour, multi-frame,
deflated, JPEG 2000), and each preview is compared with the reference
rendering of :mod:`tests.test_previews` computed from the whole image at
full resolution with the formulas of PS3.3 C.11.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    generate_uid,
)

from hvgen_imaging import budget, dicom, frames, inflate, preview

from .dicomgen import pydicom_file
from .test_previews import compare, picture, reference

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def phantom(rows: int, columns: int, high: int, seed: int = 0) -> np.ndarray:
    """A picture with structure at several scales: a ramp, discs, noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:columns].astype(np.float64)
    image = (x / columns) * 0.5 * high
    for cy, cx, r in ((0.3, 0.3, 0.15), (0.6, 0.7, 0.2), (0.8, 0.2, 0.1)):
        image[(y - cy * rows) ** 2 + (x - cx * columns) ** 2 < (r * min(rows, columns)) ** 2] += 0.45 * high
    image += rng.normal(0, high * 0.01, image.shape)
    return np.clip(image, 0, high)


def image_file(
    path: Path,
    pixels: np.ndarray,
    *,
    syntax: str = ExplicitVRLittleEndian,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    signed: bool = False,
    planar: int = 0,
    frames_: int = 1,
    window: tuple[float, float] | None = None,
    encoded: bytes | None = None,
) -> Path:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    ds.file_meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.7")
    ds.SOPClassUID, ds.SOPInstanceUID = UID("1.2.840.10008.5.1.4.1.1.7"), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "OT"
    ds.Rows, ds.Columns = pixels.shape[-3:-1] if photometric == "RGB" else pixels.shape[-2:]
    ds.SamplesPerPixel = 3 if photometric == "RGB" else 1
    ds.PhotometricInterpretation = photometric
    allocated = pixels.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored = allocated, bits_stored or allocated
    ds.HighBit, ds.PixelRepresentation = ds.BitsStored - 1, 1 if signed else 0
    if photometric == "RGB":
        ds.PlanarConfiguration = planar
    if frames_ > 1:
        ds.NumberOfFrames = frames_
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if encoded is not None:
        ds.PixelData = encapsulate([encoded])
        ds["PixelData"].VR = "OB"
    else:
        data = pixels
        if photometric == "RGB" and planar == 1:
            data = np.moveaxis(pixels, -1, -3)
        if syntax == ExplicitVRBigEndian:
            data = data.astype(data.dtype.newbyteorder(">"))
        ds.PixelData = np.ascontiguousarray(data).tobytes()
        ds["PixelData"].VR = "OW" if allocated > 8 else "OB"
    if syntax == ExplicitVRBigEndian:
        ds.save_as(path, enforce_file_format=True, little_endian=False, implicit_vr=False)
    else:
        ds.save_as(path, enforce_file_format=True)
    return path


def gray(rows: int = 2600, columns: int = 2200, **kw: object) -> np.ndarray:
    return phantom(rows, columns, 4095, **kw).astype(np.uint16)  # type: ignore[arg-type]


def cases(folder: Path) -> dict[str, Path]:
    rgb = np.stack([phantom(1800, 2400, 255, s) for s in (1, 2, 3)], axis=-1).astype(np.uint8)
    signed = (gray().astype(np.int32) - 2048).astype(np.int16)
    stack = np.stack([gray(seed=s) for s in (4, 5, 6)])
    made = {
        "monochrome2 12-bit": image_file(folder / "m2.dcm", gray(), bits_stored=12, window=(2000, 3000)),
        "monochrome1 signed": image_file(
            folder / "m1.dcm", signed, photometric="MONOCHROME1", bits_stored=12, signed=True
        ),
        "big endian": image_file(folder / "be.dcm", gray(), syntax=ExplicitVRBigEndian, bits_stored=12),
        "rgb": image_file(folder / "rgb.dcm", rgb, photometric="RGB"),
        "rgb planar": image_file(folder / "rgbp.dcm", rgb, photometric="RGB", planar=1),
        "multi-frame": image_file(folder / "mf.dcm", stack, bits_stored=12, frames_=3),
        "deflated": image_file(folder / "dfl.dcm", gray(), syntax=DeflatedExplicitVRLittleEndian, bits_stored=12),
    }
    import openjpeg

    j2k = openjpeg.encode(gray(), lossless=1, bits_stored=12)  # type: ignore[attr-defined]
    made["jpeg 2000"] = image_file(folder / "j2k.dcm", gray(), syntax=JPEG2000Lossless, bits_stored=12, encoded=j2k)
    return made


def test_large_images_are_read_reduced_and_look_like_the_whole_image(tmp_path: Path, monkeypatch) -> None:
    read_whole: list[str] = []
    original = preview.read_dataset
    current = [""]

    def counted(f):
        read_whole.append(current[0])
        return original(f)

    monkeypatch.setattr(preview, "read_dataset", counted)
    for name, path in cases(tmp_path).items():
        current[0] = name
        made = preview.make_preview(path, "x")
        image = picture(made.data)
        assert max(image.size) == preview.PREVIEW_MAX_SIDE, (name, image.size)
        correlation, difference = compare(image, reference(pydicom.dcmread(path)))
        assert correlation > 0.97 and difference < 8, (name, correlation, difference)
    assert not read_whole  # none of them was read whole


def test_a_frame_too_large_to_decode_gets_no_preview_before_anything_is_decoded(tmp_path: Path, monkeypatch) -> None:
    # a JPEG-LS frame that claims 30000 x 30000 pixels: refused from its header, the decoder never runs
    path = image_file(
        tmp_path / "big.dcm",
        np.zeros((2, 2), np.uint16),
        syntax="1.2.840.10008.1.2.4.80",
        encoded=b"\xff\xd8\xff\xd9",
    )
    ds = pydicom.dcmread(path)
    ds.Rows = ds.Columns = 30000
    ds.save_as(path)
    monkeypatch.setattr(frames, "pixel_array", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(preview.PreviewError, match="decodes to 1716 MiB"):
        preview.make_preview(path, "x")


def test_the_decoding_budget_refuses_rather_than_waits_forever() -> None:
    spent = budget.MemoryBudget(total=100, slots=1, wait=0.2)
    with spent.reserve(60):
        with pytest.raises(budget.OverBudget, match="try again later"):
            with spent.reserve(60):
                pass
    with spent.reserve(60):  # given back
        pass


def test_twelve_bit_jpeg_extended_gets_a_true_preview(tmp_path: Path) -> None:
    """pydicom's JPEG-lossy.dcm (libjpeg refuses its marker order) and a 12-bit
    JPEG made by dcmtk, each against dcmtk's own decoding."""
    if shutil.which("dcmcjpeg") is None:
        pytest.skip("dcmtk is not installed (apt-get install dcmtk)")
    original = image_file(tmp_path / "ct12.dcm", gray(512, 400), bits_stored=12, window=(2000, 3000))
    made = tmp_path / "ct12-jpeg.dcm"
    subprocess.run(["dcmcjpeg", "+ee", str(original), str(made)], check=True, capture_output=True)
    for path in (pydicom_file("JPEG-lossy.dcm"), made):
        assert str(pydicom.dcmread(path).file_meta.TransferSyntaxUID) == "1.2.840.10008.1.2.4.51"
        decoded = tmp_path / f"{path.stem}-decoded.dcm"
        subprocess.run(["dcmdjpeg", str(path), str(decoded)], check=True, capture_output=True)
        image = picture(preview.make_preview(path, "x").data)
        correlation, difference = compare(image, reference(pydicom.dcmread(decoded)))
        assert correlation > 0.97 and difference < 8, (path.name, correlation, difference)


def test_deflated_files_are_scanned_and_a_cut_one_is_said_to_be(tmp_path: Path) -> None:
    path = pydicom_file("image_dfl.dcm")
    header, why = dicom.examine(path)
    assert why == "" and header is not None
    assert header.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
    assert header.SOPInstanceUID == pydicom.dcmread(path).SOPInstanceUID
    assert picture(preview.make_preview(path, "x").data).size[0] >= 500
    data = path.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[:-200])
    assert dicom.examine(cut) == (None, "truncated: the deflated data set ends before its deflate stream does")


def test_a_deflate_bomb_inflates_to_disk_within_its_limit(tmp_path: Path, monkeypatch) -> None:
    # 256 MiB of zeros deflate to about 256 kB; the limit (lowered here) stops the inflation
    ds = pydicom.dcmread(pydicom_file("image_dfl.dcm"))
    ds.Rows = ds.Columns = 16384
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.SamplesPerPixel = 8, 8, 7, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(16384 * 16384)
    path = tmp_path / "bomb.dcm"
    ds.save_as(path)
    assert path.stat().st_size < 600_000
    monkeypatch.setattr(inflate, "MAX_INFLATED_BYTES", 64 * 1024**2)
    header, why = dicom.examine(path)
    assert header is None and "inflates to more than 64 MiB" in why


def test_stow_answers_413_when_nothing_was_stored_for_want_of_memory() -> None:
    from hvgen_server.dicomweb.stow import OUT_OF_RESOURCES, Outcome

    refused = Outcome(failed=[("1.2", "1.2.3", OUT_OF_RESOURCES)], over_budget=True)
    assert refused.status == 413
    partly = Outcome(stored=[("1.2", "1.2.4", "url")], failed=[("1.2", "1.2.3", OUT_OF_RESOURCES)], over_budget=True)
    assert partly.status == 202
    assert partly.body(__import__("hvgen_server.dicomweb.media", fromlist=["Urls"]).Urls("x"))["00081198"]["Value"][0][
        "00081197"
    ]["Value"] == [0xA700]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.integers(1, 40),
    columns=st.integers(1, 40),
    bits=st.sampled_from([(8, 8), (16, 12), (16, 16), (32, 20)]),
    signed=st.booleans(),
    colour=st.sampled_from([None, 0, 1]),  # grayscale, or RGB with its planar configuration
    frames_=st.integers(1, 3),
    big_endian=st.booleans(),
    k=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_uncompressed_frames_read_in_bands_are_pydicoms_pixels_reduced(
    tmp_path_factory, rows, columns, bits, signed, colour, frames_, big_endian, k, seed
) -> None:
    allocated, stored = bits
    if colour is not None and (allocated != 8 or signed):
        signed, allocated, stored = False, 8, 8  # colour images are 8-bit unsigned here
    if big_endian and allocated == 8:
        big_endian = False  # 8-bit big endian pixel data is read whole (its OW words are swapped)
    rng = np.random.default_rng(seed)
    dtype = np.dtype(f"{'i' if signed else 'u'}{allocated // 8}")
    shape = (frames_, rows, columns, 3) if colour is not None else (frames_, rows, columns)
    info = np.iinfo(dtype)
    values = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)  # unused bits set too
    folder = tmp_path_factory.mktemp("band")
    path = image_file(
        folder / "x.dcm",
        values[0] if frames_ == 1 else values,
        syntax=ExplicitVRBigEndian if big_endian else ExplicitVRLittleEndian,
        photometric="RGB" if colour is not None else "MONOCHROME2",
        bits_stored=stored,
        signed=signed,
        planar=colour or 0,
        frames_=frames_,
    )
    expected = pydicom.dcmread(path).pixel_array
    index = frames_ // 2
    if frames_ > 1:
        expected = expected[index]
    with open(path, "rb") as f:
        header, at = preview._header(f)
        geo = frames.geometry(header)
        place = frames.locate(f, header, at)
        assert place is not None
        if rows < k or columns < k:
            return
        got = frames.native_frame(f, place, geo, index, k, big_endian)
    assert np.array_equal(got, frames.reduce(expected.astype(got.dtype), k)), (got, expected)
