"""WADO-RS frames: one request per frame, as OHIF reads a multi-frame instance.

A multi-frame instance of ``--frames`` frames of 512 x 512 x 16 bits is
uploaded twice: uncompressed and RLE Lossless. Each frame is then retrieved
on its own (``multipart/related; type="application/octet-stream"``):

* uncompressed: the frames are the file's bytes, read from their offsets;
* RLE: each frame is decoded on the server (pydicom) for the answer.

Baseline, in the same run: the whole uncompressed instance retrieved at once
with WADO-RS (the same pixel bytes in one streamed answer). The server's
peak resident memory (VmHWM) is printed after each part, against the size of
the instance, to show that frames are not read whole.

    .venv/bin/python bench/frames.py [--frames 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from pydicom.dataset import FileDataset, FileMetaDataset  # noqa: E402
from pydicom.uid import (  # noqa: E402
    CTImageStorage,
    ExplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)

from hvgen_imaging import dicom, study, workflow  # noqa: E402
from tests.localserver import start_server  # noqa: E402

OCTETS = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'


def write_instance(folder: Path, frames: int, compressed: bool) -> tuple[str, str, str, int]:
    folder.mkdir(parents=True)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(folder / "mf.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, sop
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.Modality, ds.StudyDate = "BENCH^FRAMES", "CT", "20240101"
    ds.Rows = ds.Columns = 512
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.NumberOfFrames = frames
    y, x = np.mgrid[0:512, 0:512]
    volume = np.stack([((x * 3 + y * 5 + k * 40) % 4096) for k in range(frames)]).astype(np.uint16)
    ds.PixelData = volume.tobytes()
    if compressed:
        ds.compress(RLELossless, volume)
    ds.save_as(folder / "mf.dcm", enforce_file_format=True)
    return ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, len(volume.tobytes())


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def median_ms(call, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = start_server(root / "server")
        try:
            with server.client(timeout=600) as client:
                token = client.dicomweb_token(3600).token
                made = {}
                for name, compressed in (("native", False), ("rle", True)):
                    made[name] = write_instance(root / name, args.frames, compressed)
                    built = study.build(dicom.scan(root / name).studies[0], previews=False)
                    workflow.Studies(client, journal_dir=root / "journal").upload(built)
            assert server.process is not None
            http = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=600)
            base = server.url + "/dicomweb"

            def url(name: str) -> str:
                s, r, i, _ = made[name]
                return f"{base}/studies/{s}/series/{r}/instances/{i}"

            size = made["native"][3]

            def whole() -> None:
                got = 0
                with http.stream(
                    "GET", url("native"), headers={"Accept": 'multipart/related; type="application/dicom"'}
                ) as answer:
                    answer.raise_for_status()
                    for chunk in answer.iter_raw():
                        got += len(chunk)
                assert got >= size

            def frame_by_frame(name: str) -> None:
                for number in range(1, args.frames + 1):
                    answer = http.get(f"{url(name)}/frames/{number}", headers={"Accept": OCTETS})
                    answer.raise_for_status()
                    assert len(answer.content) >= 512 * 512 * 2

            whole()
            base_ms = median_ms(whole, args.repeat)
            rss_whole = peak_rss(server.process.pid)
            native_ms = median_ms(lambda: frame_by_frame("native"), args.repeat)
            rss_native = peak_rss(server.process.pid)
            rle_ms = median_ms(lambda: frame_by_frame("rle"), args.repeat)
            rss_rle = peak_rss(server.process.pid)
            mb = size / 1e6
            print(f"{args.frames} frames of 512 x 512 x 16 bits ({mb:.1f} MB of pixel data), median of {args.repeat}:")
            print(f"  whole instance, one WADO-RS answer (baseline) {base_ms:8.1f} ms  {mb / base_ms * 1000:7.1f} MB/s")
            print(
                f"  frame by frame, uncompressed (file offsets)   {native_ms:8.1f} ms  "
                f"{args.frames / native_ms * 1000:7.1f} frames/s  ratio to baseline {native_ms / base_ms:5.2f}"
            )
            print(
                f"  frame by frame, RLE decoded on the server     {rle_ms:8.1f} ms  "
                f"{args.frames / rle_ms * 1000:7.1f} frames/s  ratio to baseline {rle_ms / base_ms:5.2f}"
            )
            print(
                f"  server peak RSS: {rss_whole >> 20} MiB after the whole retrieves, {rss_native >> 20} MiB after "
                f"uncompressed frames, {rss_rle >> 20} MiB after RLE frames (instance: {size >> 20} MiB)"
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
