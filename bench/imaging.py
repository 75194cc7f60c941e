"""End-to-end imaging workflow through the local platform.

A generated study of 200 images of 512 x 512 x 16 bits is uploaded (scan,
previews, blobs, study thing) and downloaded (hash-checked files); the same
DICOM bytes are also sent and fetched as plain blobs in the same run, so the
study overhead shows. Then a connect package of generated DICOM files is
created and picked up (Rijndael-256 CBC on every chunk, on the client and in
the server), against AES-256-CBC from ``cryptography`` on the same bytes in
the same run.

    .venv/bin/python bench/imaging.py [--images 200] [--package-mb 40]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402

from healthvault import blobs, connectpackage, rijndael  # noqa: E402
from healthvault.client import HealthVaultClient  # noqa: E402
from hvgen_imaging import dicom, packages, study, workflow  # noqa: E402
from tests.dicomgen import make_study  # noqa: E402
from tests.localserver import start_server  # noqa: E402


def aes_cbc(data: bytes, chunk: int) -> tuple[float, float]:
    """Seconds to encrypt and to decrypt ``data`` chunk by chunk with AES-256-CBC."""
    key, iv = os.urandom(32), os.urandom(16)
    t0 = time.perf_counter()
    sealed = [
        Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor().update(_pad(data[i : i + chunk]))
        for i in range(0, len(data), chunk)
    ]
    t_enc = time.perf_counter() - t0
    t0 = time.perf_counter()
    for piece in sealed:
        Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor().update(piece)
    return t_enc, time.perf_counter() - t0


def _pad(block: bytes) -> bytes:
    return block + bytes([16 - len(block) % 16]) * (16 - len(block) % 16)


def package_bench(client: HealthVaultClient, root: Path, megabytes: int) -> None:
    """Create and pick up a package; the same bytes through AES-CBC and through the cipher alone."""
    warm = root / "warm"
    make_study(warm, series=1, images=1, size=16)  # loads the compiled cipher in this process and the server
    code = packages.create(
        client,
        [study.build(dicom.scan(warm).studies[0], previews=False)],
        question="q?",
        answer="answer1",
        friendly_name="w",
    )
    packages.pick_up(client, code, "answer1")
    folder = root / "pkg"
    make_study(folder, series=1, images=max(1, megabytes * 1_000_000 // 525_000), size=512, seed=5)
    built = study.build(dicom.scan(folder).studies[0], previews=False)
    mb = built.dicom.size / 1e6
    t0 = time.perf_counter()
    code = packages.create(client, [built], question="q?", answer="answer1", friendly_name="bench")
    t_create = time.perf_counter() - t0
    t0 = time.perf_counter()
    packages.pick_up(client, code, "answer1")
    t_pick = time.perf_counter() - t0
    data = b"".join(p.read_bytes() for p in built.images.values())
    chunk = 4 * 1024 * 1024
    t_aes_enc, t_aes_dec = aes_cbc(data, chunk)
    cipher = connectpackage.ChunkCipher(*connectpackage.derive("answer1", connectpackage.new_salt()))
    t0 = time.perf_counter()
    sealed = [cipher.seal(data[i : i + chunk]) for i in range(0, len(data), chunk)]
    t_seal = time.perf_counter() - t0
    t0 = time.perf_counter()
    for piece in sealed:
        cipher.open(piece)
    t_open = time.perf_counter() - t0
    aes_enc, aes_dec = mb / t_aes_enc, mb / t_aes_dec
    print(
        f"connect package of {len(built.images)} images, {mb:.1f} MB (Rijndael-256 {'compiled' if rijndael.available() else 'pure Python'}):"
    )
    print(
        f"  created (encrypt + hash + send): {t_create:6.2f} s  {mb / t_create:7.1f} MB/s   AES-256-CBC alone {aes_enc:7.1f} MB/s   ratio {aes_enc / (mb / t_create):5.1f}x slower"
    )
    print(
        f"  picked up (server decrypts):     {t_pick:6.2f} s  {mb / t_pick:7.1f} MB/s   AES-256-CBC alone {aes_dec:7.1f} MB/s   ratio {aes_dec / (mb / t_pick):5.1f}x slower"
    )
    print(f"  Rijndael-256 CBC alone: seal {mb / t_seal:7.1f} MB/s, open {mb / t_open:7.1f} MB/s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--package-mb", type=int, default=40)
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

                thing = Thing2(
                    type_id=ThingType(value=str(File.TYPE_ID)),
                    data_xml=[DataXml(any_element=File(name="all", size=size))],
                )
                thing.blob_payload = BlobPayload(blob=items)
                key = client.put_thing(thing)
                fresh = client.get_thing(key.value, blob_payload=True)
                t0 = time.perf_counter()
                for item in fresh.blob_payload.blob:
                    blobs.download(
                        client.http, str(item.blob_ref_url), io.BytesIO(), expected_hash=item.blob_info.hash_info.hash
                    )
                t_raw_down = time.perf_counter() - t0

                n = len(files)
                print(f"study of {n} images, 512x512x16 bits, {mb:.1f} MB of DICOM")
                print(f"  scan headers:            {t_scan:6.2f} s")
                print(f"  build + {len(built.previews)} previews:     {t_build:6.2f} s   ({n / t_build:6.1f} images/s)")
                print(f"  upload (blobs + thing):  {t_up:6.2f} s   ({n / t_up:6.1f} images/s, {mb / t_up:6.1f} MB/s)")
                print(
                    f"  download (hash-checked): {t_down:6.2f} s   ({n / t_down:6.1f} images/s, {mb / t_down:6.1f} MB/s)"
                )
                print(
                    f"  same bytes as plain blobs: upload {t_raw_up:6.2f} s ({mb / t_raw_up:6.1f} MB/s), download {t_raw_down:6.2f} s ({mb / t_raw_down:6.1f} MB/s)"
                )
                print(
                    f"  ratio study/blob: upload {t_up / t_raw_up:5.2f}  (with previews: {(t_build + t_up) / t_raw_up:5.2f}), download {t_down / t_raw_down:5.2f}"
                )

                package_bench(client, root, args.package_mb)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
