"""WADO-RS frames, bulk data, transcoding, rendered resources and WADO-URI, read
by dicomweb-client and by plain HTTP, compared with what pydicom reads from the
uploaded files."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage
from pydicom.encaps import get_frame
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from .dicomwebdata import ImagingPlatform
from .test_dicomweb import parts

dicomweb_client = pytest.importorskip("dicomweb_client")
from dicomweb_client.api import DICOMwebClient  # noqa: E402

OCTETS = 'multipart/related; type="application/octet-stream"'


@pytest.fixture(scope="module")
def client(imaging: ImagingPlatform) -> DICOMwebClient:
    return DICOMwebClient(imaging.dicomweb, headers={"Authorization": f"Bearer {imaging.token}"})


def get(imaging: ImagingPlatform, url: str, accept: str | None = None, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {imaging.token}"}
    if accept is not None:
        headers["Accept"] = accept
    return httpx.get(url, headers=headers, params=params, timeout=60)


def native_frames(ds: pydicom.Dataset) -> list[bytes]:
    """pydicom's frames of uncompressed pixel data (the bytes of the file)."""
    count = int(ds.get("NumberOfFrames") or 1)
    size = len(ds.PixelData) // count
    return [ds.PixelData[i * size : (i + 1) * size] for i in range(count)]


def decoded_frames(ds: pydicom.Dataset) -> list[bytes]:
    """pydicom's decoded frames as little-endian bytes of BitsAllocated each (interleaved colour)."""
    count = int(ds.get("NumberOfFrames") or 1)
    array = ds.pixel_array
    if count == 1:
        array = array[np.newaxis]
    kind = "i" if ds.PixelRepresentation else "u"
    return [np.ascontiguousarray(a).astype(f"<{kind}{ds.BitsAllocated // 8}").tobytes() for a in array]


# -- frames -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ct", "mr_frames", "deflated"])
def test_native_frames_are_the_files_bytes(imaging: ImagingPlatform, client: DICOMwebClient, name: str) -> None:
    image = imaging.images[name]
    expected = native_frames(image.dataset)
    if name == "deflated":  # read through its inflated copy
        assert image.dataset.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
    numbers = list(range(1, len(expected) + 1))
    got = client.retrieve_instance_frames(image.study_uid, image.series_uid, image.sop_uid, frame_numbers=numbers)
    assert got == expected
    # one frame in the middle, by raw HTTP
    answer = get(imaging, image.url(imaging.dicomweb) + f"/frames/{len(expected)}", OCTETS)
    assert answer.status_code == 200
    assert 'type="application/octet-stream"' in answer.headers["content-type"]
    assert parts(answer) == [expected[-1]]
    # any media type (or none named): uncompressed, in parts
    for accept in ("*/*", None):
        anything = get(imaging, image.url(imaging.dicomweb) + "/frames/1,1", accept)
        assert anything.status_code == 200 and parts(anything) == [expected[0], expected[0]]


@pytest.mark.parametrize("name", ["j2k_frames", "rle_rgb"])
def test_compressed_frames_are_decoded_when_uncompressed_is_asked(
    imaging: ImagingPlatform, client: DICOMwebClient, name: str
) -> None:
    image = imaging.images[name]
    expected = decoded_frames(image.dataset)
    numbers = list(range(1, len(expected) + 1))
    for syntax in ("*", ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        answer = get(
            imaging,
            image.url(imaging.dicomweb) + "/frames/" + ",".join(map(str, numbers)),
            f"{OCTETS}; transfer-syntax={syntax}",
        )
        assert answer.status_code == 200, answer.text
        assert parts(answer) == expected
    got = client.retrieve_instance_frames(image.study_uid, image.series_uid, image.sop_uid, frame_numbers=[2])
    assert got == [expected[1]]


def test_compressed_frames_as_stored(imaging: ImagingPlatform) -> None:
    image = imaging.images["j2k_frames"]
    ds = image.dataset
    count = int(ds.NumberOfFrames)
    expected = [get_frame(ds.PixelData, i, number_of_frames=count) for i in range(count)]
    answer = get(
        imaging,
        image.url(imaging.dicomweb) + "/frames/3,1",
        f'multipart/related; type="image/jp2"; transfer-syntax={ds.file_meta.TransferSyntaxUID}',
    )
    assert answer.status_code == 200, answer.text
    assert parts(answer) == [expected[2], expected[0]]
    assert b"Content-Type: image/jp2; transfer-syntax=1.2.840.10008.1.2.4.90" in answer.content


def test_big_endian_frames_in_either_byte_order(imaging: ImagingPlatform) -> None:
    image = imaging.images["big_endian"]
    ds = image.dataset
    values = ds.pixel_array  # native values, whatever the file's byte order
    url = image.url(imaging.dicomweb) + "/frames/1"
    little = parts(get(imaging, url, f"{OCTETS}; transfer-syntax={ExplicitVRLittleEndian}"))[0]
    big = parts(get(imaging, url, f"{OCTETS}; transfer-syntax={ExplicitVRBigEndian}"))[0]
    assert little == values[0].astype("<u2").tobytes()
    assert big == values[0].astype(">u2").tobytes()


def test_frame_refusals(imaging: ImagingPlatform) -> None:
    ct = imaging.images["ct"].url(imaging.dicomweb)
    assert get(imaging, ct + "/frames/2", OCTETS).status_code == 404
    assert get(imaging, ct + "/frames/0", OCTETS).status_code == 400
    assert get(imaging, ct + "/frames/one", OCTETS).status_code == 400
    refused = get(imaging, ct + "/frames/1", 'multipart/related; type="image/jpeg"')
    assert refused.status_code == 406 and "application/octet-stream" in refused.text
    j2k = imaging.images["j2k_frames"].url(imaging.dicomweb)
    refused = get(imaging, j2k + "/frames/1", 'multipart/related; type="image/jls"')
    assert refused.status_code == 406 and "image/jp2" in refused.text


# -- metadata and bulk data ---------------------------------------------------------------------------


def test_metadata_gives_bulk_data_uris_that_answer(imaging: ImagingPlatform, client: DICOMwebClient) -> None:
    image = imaging.images["mr_frames"]
    metadata = client.retrieve_instance_metadata(image.study_uid, image.series_uid, image.sop_uid)
    pixel = metadata["7FE00010"]
    assert pixel["vr"] == "OW" and "InlineBinary" not in pixel
    assert pixel["BulkDataURI"] == image.url(imaging.dicomweb) + "/bulkdata/7FE00010"
    assert metadata["00280008"]["Value"] == [10]
    (bulk,) = client.retrieve_bulkdata(pixel["BulkDataURI"])
    assert bulk == image.dataset.PixelData
    # the series' and the study's metadata give it too
    series = client.retrieve_series_metadata(image.study_uid, image.series_uid)
    assert series[0]["7FE00010"]["BulkDataURI"] == pixel["BulkDataURI"]
    # compressed pixel data: its bulk data are its frames (uncompressed unless asked otherwise)
    j2k = imaging.images["j2k_frames"]
    metadata = client.retrieve_instance_metadata(j2k.study_uid, j2k.series_uid, j2k.sop_uid)
    assert metadata["7FE00010"]["vr"] == "OB"
    frames = client.retrieve_bulkdata(metadata["7FE00010"]["BulkDataURI"])
    assert frames == decoded_frames(j2k.dataset)


def test_large_binary_elements_become_bulk_data(imaging: ImagingPlatform, client: DICOMwebClient) -> None:
    image = imaging.images["ct"]
    metadata = client.retrieve_instance_metadata(image.study_uid, image.series_uid, image.sop_uid)
    ds = image.dataset
    tag = ds.private_block(0x0013, "HVGEN TEST").get_tag(0x01)
    private = metadata[f"{tag:08X}"]
    assert private["vr"] == "OB" and "InlineBinary" not in private
    assert private["BulkDataURI"] == image.url(imaging.dicomweb) + f"/bulkdata/{tag:08X}"
    (value,) = client.retrieve_bulkdata(private["BulkDataURI"])
    assert value == ds[tag].value
    # inside a sequence: TAG/ITEM/TAG
    icon = metadata["00880200"]["Value"][0]["7FE00010"]
    assert icon["BulkDataURI"].endswith("/bulkdata/00880200/0/7FE00010")
    (value,) = client.retrieve_bulkdata(icon["BulkDataURI"])
    assert value == ds.IconImageSequence[0].PixelData
    # short binary values stay inline
    short = [e for e in ds if e.VR in ("OB", "OW") and e.tag < 0x7FE00010 and 0 < len(e.value) <= 1024]
    for element in short:
        assert "InlineBinary" in metadata[f"{element.tag:08X}"]
    alone = get(imaging, image.url(imaging.dicomweb) + f"/bulkdata/{tag:08X}", "application/octet-stream")
    assert alone.headers["content-type"] == "application/octet-stream" and alone.content == ds[tag].value
    missing = get(imaging, image.url(imaging.dicomweb) + "/bulkdata/00100010", OCTETS)
    assert missing.status_code == 404


# -- transcoding -----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian])
@pytest.mark.parametrize("name", ["j2k_frames", "rle_rgb", "ct", "deflated"])
def test_instances_transcoded_on_retrieve(imaging: ImagingPlatform, name: str, target: str) -> None:
    image = imaging.images[name]
    original = image.dataset
    answer = get(
        imaging, image.url(imaging.dicomweb), f'multipart/related; type="application/dicom"; transfer-syntax={target}'
    )
    assert answer.status_code == 200, answer.text
    (data,) = parts(answer)
    sent = pydicom.dcmread(io.BytesIO(data))
    assert sent.file_meta.TransferSyntaxUID == target
    assert sent.SOPInstanceUID == original.SOPInstanceUID and sent.PatientName == original.PatientName
    assert np.array_equal(sent.pixel_array, original.pixel_array)
    if name == "rle_rgb":
        assert sent.PhotometricInterpretation == "RGB"


def test_a_compressed_syntax_not_stored_is_406(imaging: ImagingPlatform) -> None:
    image = imaging.images["ct"]
    refused = get(
        imaging,
        image.url(imaging.dicomweb),
        'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.90',
    )
    assert refused.status_code == 406 and "uncompressed" in refused.text


# -- rendered ----------------------------------------------------------------------------------------


def windowed(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """The linear window function of PS3.3 C.11.2.1.2.1 to 0..255."""
    low = center - 0.5 - (width - 1) / 2
    shown = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255
    shown = np.where(values <= low, 0, np.where(values > center - 0.5 + (width - 1) / 2, 255, shown))
    return np.clip(np.rint(shown), 0, 255)


def test_rendered_frame_with_window_and_viewport(imaging: ImagingPlatform) -> None:
    image = imaging.images["mr_frames"]
    ds = image.dataset
    url = image.url(imaging.dicomweb) + "/frames/4/rendered"
    answer = get(imaging, url, "image/png", window="600,800,LINEAR")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    shown = np.asarray(PILImage.open(io.BytesIO(answer.content))).astype(float)
    values = ds.pixel_array[3].astype(float) * float(ds.get("RescaleSlope", 1)) + float(ds.get("RescaleIntercept", 0))
    assert np.abs(shown - windowed(values, 600, 800)).max() <= 1
    # another frame differs; a viewport sets the size
    other = get(imaging, image.url(imaging.dicomweb) + "/frames/9/rendered", "image/png", window="600,800")
    assert other.content != answer.content
    small = get(imaging, url, "image/jpeg", viewport="32,16")
    assert small.headers["content-type"] == "image/jpeg"
    assert PILImage.open(io.BytesIO(small.content)).size == (16, 16)
    for bad in ({"window": "a,b"}, {"viewport": "0,10"}, {"quality": "300"}):
        assert get(imaging, url, "image/png", **bad).status_code == 400
    thumbnail = get(imaging, image.url(imaging.dicomweb) + "/frames/1/thumbnail", "image/jpeg")
    assert thumbnail.status_code == 200 and PILImage.open(io.BytesIO(thumbnail.content)).format == "JPEG"
    series = get(
        imaging, f"{imaging.dicomweb}/studies/{image.study_uid}/series/{image.series_uid}/rendered", "image/jpeg"
    )
    assert series.status_code == 200


# -- WADO-URI ---------------------------------------------------------------------------------------


def test_wado_uri(imaging: ImagingPlatform) -> None:
    image = imaging.images["ct"]
    uids = {
        "requestType": "WADO",
        "studyUID": image.study_uid,
        "seriesUID": image.series_uid,
        "objectUID": image.sop_uid,
    }
    url = imaging.dicomweb + "/wado"
    dicom = get(imaging, url, contentType="application/dicom", **uids)
    assert dicom.status_code == 200 and dicom.content == image.path.read_bytes()
    implicit = get(imaging, url, contentType="application/dicom", transferSyntax=ImplicitVRLittleEndian, **uids)
    sent = pydicom.dcmread(io.BytesIO(implicit.content))
    assert sent.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert np.array_equal(sent.pixel_array, image.dataset.pixel_array)
    jpeg = get(imaging, url, **uids)
    assert jpeg.headers["content-type"] == "image/jpeg"
    assert PILImage.open(io.BytesIO(jpeg.content)).format == "JPEG"
    sized = get(
        imaging, url, contentType="image/png", rows="64", columns="64", windowCenter="40", windowWidth="400", **uids
    )
    assert PILImage.open(io.BytesIO(sized.content)).size == (64, 64)
    assert get(imaging, url, **{**uids, "requestType": "X"}).status_code == 400
    assert get(imaging, url, **{k: v for k, v in uids.items() if k != "objectUID"}).status_code == 400
