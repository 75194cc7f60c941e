"""End-to-end imaging workflow through the local platform.

A generated study of 200 images of 512 x 512 x 16 bits is uploaded (scan,
previews, blobs, study thing) and downloaded (hash-checked files); the same
DICOM bytes are also sent and fetched as plain blobs in the same run, so the
study overhead shows. Finally the throughput of connect-package encryption
(Rijndael-256, pure Python) is measured on package blobs.

    .venv/bin/python bench/imaging.py [--images 200]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.dicomgen import make_study  # noqa: E402
from tests.platform import start_server  # noqa: E402

from healthvault import blobs, connectpackage  # noqa: E402
from hvgen_imaging import dicom, packages, study, workflow  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--package-kib", type=int, default=1024)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        series = 4
        make_study(root / "study", series=series, images=args.images // series, size=512)
        files = sorted((root / "study").rglob("*.dcm"))
        size = sum(p.stat().st_size for p in files)
        mb = size / 1e6
        server = start_server(root / "srv")
        try:
            with server.client(timeout=300) as client:
                t0 = time.perf_counter()
                scanned = dicom.scan(root / "study")
                t_scan = time.perf_counter() - t0
                t0 = time.perf_counter()
                built = study.build(scanned.studies[0])
                t_build = time.perf_counter() - t0
                studies = workflow.Studies(client, journal_dir=root / "journal")
                t0 = time.perf_counter()
                studies.upload(built)
                t_up = time.perf_counter() - t0
                t0 = time.perf_counter()
                studies.download(str(built.data.study_instance_uid), root / "down")
                t_down = time.perf_counter() - t0

                t0 = time.perf_counter()
                items = [client.upload_blob(p, name=f"{i}-{p.name}") for i, p in enumerate(files)]
                t_raw_up = time.perf_counter() - t0
                from healthvault.bindings.thing import BlobPayload, DataXml, Thing2, ThingType
                from healthvault.bindings.things.file import File

                thing = Thing2(type_id=ThingType(value=str(File.TYPE_ID)), data_xml=[DataXml(any_element=File(name="all", size=size))])
                thing.blob_payload = BlobPayload(blob=items)
                key = client.put_thing(thing)
                fresh = client.get_thing(key.value, blob_payload=True)
                t0 = time.perf_counter()
                for item in fresh.blob_payload.blob:  # type: ignore[union-attr]
                    blobs.download(client.http, str(item.blob_ref_url), io.BytesIO(), expected_hash=item.blob_info.hash_info.hash)
                t_raw_down = time.perf_counter() - t0

                n = len(files)
                print(f"study of {n} images, 512x512x16 bits, {mb:.1f} MB of DICOM")
                print(f"  scan headers:            {t_scan:6.2f} s")
                print(f"  build + {len(built.previews)} previews:     {t_build:6.2f} s   ({n / t_build:6.1f} images/s)")
                print(f"  upload (blobs + thing):  {t_up:6.2f} s   ({n / t_up:6.1f} images/s, {mb / t_up:6.1f} MB/s)")
                print(f"  download (hash-checked): {t_down:6.2f} s   ({n / t_down:6.1f} images/s, {mb / t_down:6.1f} MB/s)")
                print(f"  same bytes as plain blobs: upload {t_raw_up:6.2f} s ({mb / t_raw_up:6.1f} MB/s), download {t_raw_down:6.2f} s ({mb / t_raw_down:6.1f} MB/s)")
                print(f"  ratio study/blob: upload {t_up / t_raw_up:5.2f}  (with previews: {(t_build + t_up) / t_raw_up:5.2f}), download {t_down / t_raw_down:5.2f}")

                small = root / "pkg"
                make_study(small, series=1, images=max(1, args.package_kib // 130), size=256)
                pkg_built = study.build(dicom.scan(small).studies[0], previews=False)
                t0 = time.perf_counter()
                packages.create(client, [pkg_built], question="q?", answer="answer1", friendly_name="bench")
                t_pkg = time.perf_counter() - t0
                data = b"\0" * (args.package_kib * 1024)
                cipher = connectpackage.ChunkCipher(*connectpackage.derive("answer1", connectpackage.new_salt()))
                t0 = time.perf_counter()
                cipher.seal(data)
                t_enc = time.perf_counter() - t0
                print(f"connect package of {pkg_built.dicom.size / 1e6:.2f} MB: created in {t_pkg:5.2f} s ({pkg_built.dicom.size / 1e6 / t_pkg:5.2f} MB/s)")
                print(f"  Rijndael-256 CBC alone: {len(data) / 1e6 / t_enc:5.2f} MB/s")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
