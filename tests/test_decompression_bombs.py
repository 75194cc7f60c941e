"""Decompression bombs against a running server (STOW-RS in raw HTTP) and a
running listener (C-STORE from a real SCU): the peak memory of each
process (VmHWM) is measured around each attack, after a warm-up that loads
what every first instance loads. Each attack is stored (with a preview where
one can be made in bounded memory), and the peak grows by a bounded amount,
not with the size the image claims."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, JPEG2000Lossless, generate_uid

from . import dcmtk
from .dicomgen import make_study
from .localserver import start_server
from .test_dicom_listen import Listening, cli, wait_for_study
from .test_dicomweb import token_of

openjpeg = pytest.importorskip("openjpeg")

#: Growth of the peak resident memory allowed for one attack.
ALLOWED_MIB = 160


def peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def image(rows: int, columns: int, syntax: str, pixel_data: bytes | None, *, encoded: bytes | None = None) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = UID("1.2.840.10008.5.1.4.1.1.7")
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.StudyDate, ds.PatientName = "OT", "20240517", "BOMB^TEST"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, columns, 1, "MONOCHROME2"
    ds.PixelRepresentation = 0
    if encoded is not None:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.PixelData = encapsulate([encoded])
        ds["PixelData"].VR = "OB"
    else:
        bits = 8 * len(pixel_data or b"") // (rows * columns)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
        ds.PixelData = pixel_data
        ds["PixelData"].VR = "OW" if bits > 8 else "OB"
    return ds


def j2k_bomb() -> Dataset:
    """8192 x 8192 zeros in JPEG 2000: about a kilobyte, 64 MiB decoded."""
    encoded = openjpeg.encode(np.zeros((8192, 8192), np.uint8), lossless=1)
    return image(8192, 8192, JPEG2000Lossless, None, encoded=encoded)


def saved(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def stow(url: str, token: str, path: Path) -> httpx.Response:
    """One STOW-RS request in raw HTTP, the file streamed in its part."""
    boundary = uuid.uuid4().hex

    def body() -> Iterator[bytes]:
        yield f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    return httpx.post(
        url + "/dicomweb/studies",
        content=body(),
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            "Accept": "application/dicom+json",
        },
        timeout=600,
    )


def test_stow_bombs_stay_in_bounded_memory(tmp_path: Path) -> None:
    server = start_server(tmp_path / "platform")
    try:
        assert server.process is not None
        token = token_of(server)
        make_study(tmp_path / "warm", series=1, images=1, size=512, seed=31)
        warm = stow(server.url, token, next((tmp_path / "warm").rglob("*.dcm")))
        assert warm.status_code == 200, warm.text
        attacks = {
            "jpeg 2000 8192 x 8192 (about 1 kB)": saved(j2k_bomb(), tmp_path / "j2k.dcm"),
            "uncompressed 8192 x 8192 x 16 bits (128 MiB)": saved(
                image(8192, 8192, ExplicitVRLittleEndian, bytes(8192 * 8192 * 2)), tmp_path / "big.dcm"
            ),
            "deflated 16384 x 16384 (256 MiB inflated)": saved(
                image(16384, 16384, DeflatedExplicitVRLittleEndian, bytes(16384 * 16384)), tmp_path / "dfl.dcm"
            ),
        }
        figures = []
        for name, path in attacks.items():
            before = peak_mib(server.process.pid)
            answer = stow(server.url, token, path)
            after = peak_mib(server.process.pid)
            figures.append(f"{name}: {path.stat().st_size} bytes, peak {before:.0f} -> {after:.0f} MiB")
            assert answer.status_code == 200, (name, answer.status_code, answer.text, answer.headers.get("warning"))
            study = str(pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID)
            code, out = cli(server, tmp_path / "cache", "study", "show", study, "--json")
            assert code == 0, out
            assert after - before < ALLOWED_MIB, figures
        print("\n".join(figures))
        # the big one came back byte for byte
        code, out = cli(
            server,
            tmp_path / "cache",
            "study",
            "download",
            str(
                pydicom.dcmread(
                    attacks["deflated 16384 x 16384 (256 MiB inflated)"], stop_before_pixels=True
                ).StudyInstanceUID
            ),
            str(tmp_path / "copy"),
        )
        assert code == 0, out
        copy = next((tmp_path / "copy").rglob("*.dcm"))
        assert copy.read_bytes()[132:] == attacks["deflated 16384 x 16384 (256 MiB inflated)"].read_bytes()[132:]
    finally:
        server.stop()


def test_a_jpeg_2000_bomb_by_c_store_stays_in_bounded_memory(tmp_path: Path) -> None:
    from pynetdicom import AE

    server = start_server(tmp_path / "platform")
    listening = Listening(server, tmp_path, "--ae-title", "HVTEST")
    try:
        make_study(tmp_path / "warm", series=1, images=1, size=512, seed=32)
        bomb = j2k_bomb()
        ae = AE(ae_title="BOMBSCU")
        ae.add_requested_context(bomb.SOPClassUID, [JPEG2000Lossless])
        ae.add_requested_context("1.2.840.10008.5.1.4.1.1.2", [ExplicitVRLittleEndian])  # the warm-up CT
        before = 0.0
        for ds in (pydicom.dcmread(next((tmp_path / "warm").rglob("*.dcm"))), bomb):
            if ds is bomb:
                before = peak_mib(listening.process.pid)
            assoc = ae.associate("127.0.0.1", listening.port, ae_title="HVTEST")
            try:
                assert assoc.send_c_store(ds).Status == 0
            finally:
                assoc.release()
            wait_for_study(server, tmp_path / "cache", str(ds.StudyInstanceUID), 1, timeout=120)
        after = peak_mib(listening.process.pid)
        print(f"C-STORE jpeg 2000 8192 x 8192: listener peak {before:.0f} -> {after:.0f} MiB")
        assert after - before < ALLOWED_MIB
        storescu = dcmtk.tool("storescu")
        if storescu:  # the same attack from dcmtk's storescu, the file as it is
            path = saved(j2k_bomb(), tmp_path / "bomb.dcm")
            sent = subprocess.run(
                [storescu, "-xv", "-aec", "HVTEST", "127.0.0.1", str(listening.port), str(path)],
                capture_output=True,
                text=True,
                env={**os.environ, "TCP_NODELAY": "1"},
                timeout=120,
            )
            assert sent.returncode == 0, sent.stderr
            study = str(pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID)
            wait_for_study(server, tmp_path / "cache", study, 1, timeout=120)
            last = peak_mib(listening.process.pid)
            print(f"storescu jpeg 2000 8192 x 8192: listener peak {before:.0f} -> {last:.0f} MiB")
            assert last - before < ALLOWED_MIB
    finally:  # stopped whatever happened; judged after (an assert here would hide the first failure)
        stopped = listening.stop()
        server.stop()
    assert stopped == 0
