"""The viewer's de-identified ZIP in bounded memory: downloads of a study
with a large image, measured as the server process's peak RSS, and the
streamed de-identification (hvgen_imaging.anonstream) file by file against
de-identifying whole files."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pydicom
import pytest

from hvgen_imaging import anonstream
from hvgen_imaging.anonymize import Anonymizer, anonymized_bytes

from .dicomgen import pydicom_file
from .localserver import Backend, RunningServer, hvgen, start_server
from .rawhttp import peak_rss_mib
from .viewerdata import PASSWORD, UploadedStudy, sign_in, upload

pytest.importorskip("dicomanonymizer")


def ranges(data: bytes, piece: int = 1000):
    """``read(first, length)`` over bytes, in small pieces (as a blob store reads)."""

    def read(first: int, length: int) -> Iterable[bytes]:
        for at in range(first, first + length, piece):
            yield data[at : min(at + piece, first + length)]

    return read


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",  # explicit VR little endian
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_RLE.dcm",  # encapsulated: items up to a sequence delimiter
        "JPEG2000.dcm",
        "image_dfl.dcm",  # deflated: written inflated
        "rtplan.dcm",  # no pixel data
    ],
)
def test_streamed_deidentification_is_the_whole_file_deidentification(name: str) -> None:
    data = pydicom_file(name).read_bytes()
    done = anonstream.deidentify(Anonymizer(), anonstream.RangeSource(len(data), ranges(data)), name)
    streamed = b"".join(done.pieces())
    assert len(streamed) == done.size
    whole, _ = anonymized_bytes(Anonymizer(), data, name)
    ours, theirs = pydicom.dcmread(io.BytesIO(streamed)), pydicom.dcmread(io.BytesIO(whole))
    original = pydicom.dcmread(io.BytesIO(data))
    assert set(ours.keys()) == set(theirs.keys())
    for element in theirs:
        if element.VR != "UI" and element.keyword not in ("PixelData", "DeidentificationMethod"):
            assert ours[element.tag].value == element.value, element.keyword
    if "PixelData" in original:
        assert ours.PixelData == original.PixelData
        ours.pixel_array  # noqa: B018 (decodes)
    assert str(ours.get("PatientName", "")) == str(theirs.get("PatientName", ""))
    assert ours.PatientIdentityRemoved == "YES"


def test_a_header_over_the_limit_is_refused() -> None:
    data = pydicom_file("CT_small.dcm").read_bytes()
    with pytest.raises(anonstream.TooLarge, match="header"):
        anonstream.deidentify(Anonymizer(), anonstream.RangeSource(len(data), ranges(data)), max_header=1000)


def test_a_deflate_bomb_stops_at_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import zlib

    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    from hvgen_imaging import inflate

    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    ds.file_meta = FileMetaDataset(ds.file_meta)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    data = out.getvalue()
    meta_end = 144 + int.from_bytes(data[140:144], "little")
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    bomb = data[:meta_end] + packer.compress(b"\0" * 50_000_000) + packer.flush()  # 50 MB in about 50 kB
    monkeypatch.setattr(inflate, "MAX_INFLATED_BYTES", 10_000_000)
    with pytest.raises(anonstream.InflateError, match="inflates to more than"):
        anonstream.deidentify(Anonymizer(), anonstream.RangeSource(len(bomb), ranges(bomb, 65536)))


# -- the viewer's download, on a running server ------------------------------------------------------


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[tuple[RunningServer, UploadedStudy]]:
    base = tmp_path_factory.mktemp("deid-zip")
    server = start_server(base / "server", backend=backend)
    hvgen(server, "person", "passwd", "local", "--password-stdin", stdin=PASSWORD + "\n")
    # two 50 MB images (without previews: what is downloaded is the images)
    uploaded = upload(server, base / "study", series=1, images=2, size=5000, seed=6, with_previews=False)
    yield server, uploaded
    server.stop()


def test_deidentified_zips_of_large_images_are_streamed(
    big: tuple[RunningServer, UploadedStudy], tmp_path: Path
) -> None:
    server, uploaded = big
    pid = server.process.pid
    url = f"/viewer/{server.profile.record_id}/{uploaded.thing_id}/study-deidentified.zip"

    def download(n: int) -> Path:
        target = tmp_path / f"copy-{n}.zip"
        with sign_in(server.url) as browser, browser.stream("GET", url, timeout=300) as got:
            assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
            with open(target, "wb") as out:
                for piece in got.iter_bytes():
                    out.write(piece)
        return target

    before = peak_rss_mib(pid)
    with ThreadPoolExecutor(3) as pool:
        copies = list(pool.map(download, range(3)))
    grown = peak_rss_mib(pid) - before
    assert grown < 150, f"three de-identified downloads of two 50 MB images grew the server by {grown:.0f} MiB"
    with zipfile.ZipFile(copies[0]) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert len(names) == 2 and all(n.endswith(".dcm") for n in names)
        originals = {
            hashlib.sha256(pydicom.dcmread(path).PixelData).hexdigest(): path for path in uploaded.files.values()
        }
        for name in names:
            ds = pydicom.dcmread(io.BytesIO(archive.read(name)))
            assert ds.PatientIdentityRemoved == "YES" and str(ds.get("PatientName", "")) != "DOE^JANE"
            assert hashlib.sha256(ds.PixelData).hexdigest() in originals, "the pixel data is the uploaded one"
            assert name == f"{ds.StudyInstanceUID}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm"
