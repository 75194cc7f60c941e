"""Previews checked as pictures against reference renderings.

The reference is computed here, independently of the preview code, from the
formulas of PS3.3 C.11 (rescale, the linear window function, MONOCHROME1
inversion) and pydicom's decoded pixels; a preview must look like it once
both are the same size. Every pydicom test file with pixel data that is
available locally (pydicom's own and those of the pydicom-data package;
nothing is downloaded) is tried.
"""

from __future__ import annotations

import io
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.data.data_manager import DATA_ROOT
from pydicom.data.download import get_url_map
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels.processing import apply_color_lut, apply_voi_lut
from pydicom.pixels.utils import pixel_array
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from hvgen_imaging import preview

from .dicomgen import pydicom_file

pytestmark = pytest.mark.filterwarnings(
    "ignore::UserWarning"
)  # pydicom's, on odd samples; notes are tested in test_scan

# Broken samples: pixel data that no decoder reads (pydicom's own tests expect them to fail).
UNDECODABLE = {
    "JPEG2000-embedded-sequence-delimiter.dcm",
    "MR_truncated.dcm",
    "badVR.dcm",
    "meta_missing_tsyntax.dcm",
    "nested_priv_SQ.dcm",
}


#: Samples pydicom's plugins do not decode: their reference is decoded by dcmtk (dcmdjpeg), when installed.
DCMTK_DECODED = {"JPEG-lossy.dcm"}


def decoded_by_dcmtk(path: Path) -> Dataset:
    """``path`` decompressed by dcmtk's dcmdjpeg (an independent JPEG decoder, IJG's 12-bit one)."""
    import subprocess
    import tempfile

    if shutil.which("dcmdjpeg") is None:
        pytest.skip("dcmtk's dcmdjpeg is not installed (apt-get install dcmtk)")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "decoded.dcm"
        subprocess.run(["dcmdjpeg", str(path), str(out)], check=True, capture_output=True)
        return pydicom.dcmread(out)


def available_files() -> list[Path]:
    names = {p.name for p in (Path(DATA_ROOT) / "test_files").rglob("*") if p.is_file()} | set(get_url_map())
    found = (get_testdata_file(name, download=False) for name in sorted(names))
    return [Path(p) for p in found if p]


def with_pixels(path: Path) -> Dataset | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path, force=True)
        except Exception:
            return None
    return ds if "PixelData" in ds else None


def window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1, output 0..1."""
    return np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0, 1)


def first(value: Any) -> float:
    return float(value[0] if isinstance(value, (list, pydicom.multival.MultiValue)) else value)


def reference(ds: Dataset) -> np.ndarray:
    """0..1 rendering of the middle frame, from the formulas."""
    if ds.filename and Path(ds.filename).name in DCMTK_DECODED:
        ds = decoded_by_dcmtk(Path(ds.filename))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "TransferSyntaxUID" not in getattr(ds, "file_meta", {}):
            ds.file_meta = FileMetaDataset()
            ds.file_meta.TransferSyntaxUID = pydicom.uid.UID("1.2.840.10008.1.2")
        frames = int(ds.get("NumberOfFrames") or 1)
        pixels = pixel_array(ds, index=frames // 2 if frames > 1 else None)
    photometric = str(ds.PhotometricInterpretation).strip()
    if pixels.ndim == 3 and photometric.startswith("MONO"):
        pixels = pixels[pixels.shape[0] // 2]
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(pixels, ds)
        return rgb / (255.0 if rgb.max() <= 255 else 65535.0)  # 8-bit values in 16-bit entries are common
    if not photometric.startswith("MONO"):
        return pixels[..., :3] / (2.0 ** int(ds.BitsStored) - 1)
    frame = frames // 2
    for keyword, index in (("SharedFunctionalGroupsSequence", 0), ("PerFrameFunctionalGroupsSequence", frame)):
        for group in ds.get(keyword, [])[index : index + 1]:  # enhanced images: the frame's window and rescale
            for macro in ("PixelValueTransformationSequence", "FrameVOILUTSequence"):
                for item in group.get(macro, [])[:1]:
                    for element in item:
                        ds[element.tag] = element
    slope, intercept = float(ds.get("RescaleSlope", 1) or 1), float(ds.get("RescaleIntercept", 0) or 0)
    values = pixels * slope + intercept if "ModalityLUTSequence" not in ds else pixels.astype(float)
    if "VOILUTSequence" in ds:
        out = apply_voi_lut(pixels, ds) / (2.0 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1)
    elif ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None and first(ds.WindowWidth) >= 1:
        out = window(values, first(ds.WindowCenter), first(ds.WindowWidth))
    else:
        out = (values - values.min()) / max(values.max() - values.min(), 1e-9)
    return 1 - out if photometric == "MONOCHROME1" else out


def picture(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    return image


def compare(made: Image.Image, expected: np.ndarray) -> tuple[float, float]:
    """(correlation, mean absolute difference in grey levels), both pictures
    reduced to at most 128 pixels a side (so that dithering and JPEG noise
    average out)."""
    target = Image.fromarray(np.clip(np.rint(expected * 255), 0, 255).astype(np.uint8))
    factor = min(1.0, 128 / max(target.size))
    size = (max(1, round(target.size[0] * factor)), max(1, round(target.size[1] * factor)))
    shown = np.asarray(made.convert(target.mode).resize(size, Image.Resampling.BOX), dtype=float)
    wanted = np.asarray(target.resize(size, Image.Resampling.BOX), dtype=float)
    if wanted.std() < 1 or shown.std() < 1:
        return (1.0 if abs(wanted.mean() - shown.mean()) < 8 else 0.0), float(np.abs(shown - wanted).mean())
    return float(np.corrcoef(shown.ravel(), wanted.ravel())[0, 1]), float(np.abs(shown - wanted).mean())


def check(path: Path) -> tuple[str, str | None]:
    """(transfer syntax, None) when the preview is true to the image, else (.., why not)."""
    ds = with_pixels(path)
    if ds is None:
        return "", None
    syntax = str(ds.file_meta.get("TransferSyntaxUID", "none")) if hasattr(ds, "file_meta") else "none"
    if path.name in UNDECODABLE:
        try:
            preview.make_preview(path, "x")
        except Exception as exc:
            return "", None if preview.describe(exc) else "no description"
        return "", "a broken sample got a preview"
    image = picture(preview.make_preview(path, "x").data)
    longer, shorter = max(image.size), min(image.size)
    if shorter < preview.PREVIEW_MIN_SIDE or (longer > preview.PREVIEW_MAX_SIDE and shorter > preview.PREVIEW_MIN_SIDE):
        return syntax, f"size {image.size}"
    correlation, difference = compare(image, reference(ds))
    if not (difference < 3 or (correlation > 0.97 and difference < 8)):
        return syntax, f"unlike the reference: correlation {correlation:.3f}, mean difference {difference:.1f}"
    if str(ds.get("PhotometricInterpretation")) == "PALETTE COLOR":
        rgb = np.asarray(image.convert("RGB"), dtype=int)
        if image.mode != "RGB" or ((rgb.max(axis=-1) - rgb.min(axis=-1)) > 24).mean() < 0.01:
            return syntax, "a palette image shown without colour"
    return syntax, None


@pytest.fixture(scope="module")
def previews() -> list[tuple[Path, tuple[str, str | None]]]:
    """Every test file with pixels and what its preview check found (made once)."""
    files = available_files()
    return list(zip(files, map(check, files), strict=False))


def test_every_test_file_with_pixels_gets_a_true_preview(previews: list[tuple[Path, tuple[str, str | None]]]) -> None:
    unlike = [(path.name, why) for path, (_, why) in previews if why]
    syntaxes = {syntax for _, (syntax, why) in previews if syntax and not why}
    made = sum(1 for _, (syntax, why) in previews if syntax and not why)
    assert not unlike, unlike
    assert made >= 40 and len(syntaxes) >= 5


def test_every_common_transfer_syntax_gets_a_preview(previews: list[tuple[Path, tuple[str, str | None]]]) -> None:
    pytest.importorskip("data_store", reason="pydicom-data (the [test] extra) is not installed")
    syntaxes = {syntax for _, (syntax, why) in previews if syntax and not why}
    made = sum(1 for _, (syntax, why) in previews if syntax and not why)
    # with the pydicom-data samples every common transfer syntax is there
    wanted = {
        "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2.2",
        "1.2.840.10008.1.2.1.99",
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.57",
        "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.80",
        "1.2.840.10008.1.2.4.81",
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.5",
    }
    assert wanted - syntaxes <= {"1.2.840.10008.1.2.4.57"}, sorted(wanted - syntaxes)
    assert made >= 150


def test_mr_small_is_shown_in_its_window_not_stretched() -> None:
    path = pydicom_file("MR_small.dcm")
    ds = pydicom.dcmread(path)
    image = np.asarray(picture(preview.make_preview(path, "x").data).convert("L"), dtype=float)
    windowed = window(ds.pixel_array.astype(float), 600, 1600) * 255
    stretched = (ds.pixel_array - ds.pixel_array.min()) / np.ptp(ds.pixel_array) * 255
    assert abs(image.mean() - windowed.mean()) < 3
    assert abs(image.mean() - stretched.mean()) > 15


def test_files_without_a_file_meta_header_get_a_preview() -> None:
    path = pydicom_file("OT-PAL-8-face.dcm")
    assert "TransferSyntaxUID" not in getattr(pydicom.dcmread(path, force=True), "file_meta", {})
    image = picture(preview.make_preview(path, "x").data)
    assert image.mode == "RGB" and min(image.size) >= 500


def enhanced(folder: Path) -> Path:
    """An enhanced multi-frame image: three frames, each with its own window and rescale."""
    ramp = np.tile(np.arange(0, 4000, 4000 / 256, dtype=np.float64), (64, 1)).astype(np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.4.1", generate_uid()
    ds.Rows, ds.Columns, ds.NumberOfFrames = 64, 256, 3
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.stack([ramp, ramp, ramp]).tobytes()
    frames = []
    for center, width, intercept in ((500, 200, 0), (1000, 400, -1000), (2000, 800, 0)):
        group = Dataset()
        voi, transform = Dataset(), Dataset()
        voi.WindowCenter, voi.WindowWidth = center, width
        transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = 1, intercept, "US"
        group.FrameVOILUTSequence, group.PixelValueTransformationSequence = [voi], [transform]
        frames.append(group)
    ds.PerFrameFunctionalGroupsSequence = frames
    ds.SharedFunctionalGroupsSequence = [Dataset()]
    path = folder / "enhanced.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_enhanced_multi_frame_uses_the_window_of_its_frame(tmp_path: Path) -> None:
    path = enhanced(tmp_path)
    shown = np.asarray(picture(preview.make_preview(path, "x").data).convert("L").resize((256, 64)), dtype=float)
    ramp = pydicom.dcmread(path).pixel_array[1].astype(float) - 1000  # the middle frame, rescaled
    expected = window(ramp, 1000, 400) * 255
    assert np.abs(shown - expected).mean() < 6
    # -1000..3000 seen through 1000 +- 200: 45 % black, 45 % white (frame 0's window would give 10 % black)
    assert 0.4 < (shown < 10).mean() < 0.5 and 0.4 < (shown > 245).mean() < 0.5


def test_preview_size_rules() -> None:
    assert preview.preview_size(1841, 1955) == (964, 1024)
    assert preview.preview_size(64, 64) == (500, 500)
    assert preview.preview_size(512, 512) == (512, 512)
    assert preview.preview_size(4000, 600) == (3333, 500)
    assert preview.preview_size(300, 2000) == (500, 3333)


def test_missing_decoder_is_named() -> None:
    message = (
        "Unable to decompress 'JPEG-LS Lossless Image Compression' pixel data because all plugins are missing dependencies:\n"
        "    gdcm - requires gdcm\n    pylibjpeg - requires pylibjpeg and pylibjpeg-libjpeg"
    )
    text = preview.describe(RuntimeError(message))
    assert "install gdcm or pylibjpeg and pylibjpeg-libjpeg" in text and "\n" not in text
