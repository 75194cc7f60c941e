"""Sign and verify a thing with one large blob, against SHA256Block hashing
of the same bytes alone, in one run. The signature itself should cost
almost nothing on top of hashing the blob.

    .venv/bin/python bench/signing.py [--mib 256]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from healthvault import blobhash, blobs, crypto, signing, verification  # noqa: E402
from healthvault.bindings.thing import BlobPayload  # noqa: E402
from tests.bigblob import generated  # noqa: E402
from tests.test_server import study  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=256)
    args = ap.parse_args()
    size = args.mib * 1024 * 1024
    key, cert = crypto.make_key_and_certificate("bench signer")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "blob.bin"
        with open(path, "wb") as f:
            for piece in generated(size):
                f.write(piece)
        thing = study("1.2.3")
        item = blobs.inline_item("scan", "application/dicom", b"")
        item.base64data, item.blob_info.hash_info, item.content_length = None, None, size
        item.blob_ref_url = "http://127.0.0.1/streaming/wildcatblob.ashx?blob-ref-token=x"
        thing.blob_payload = BlobPayload(blob=[item])

        def timed(fn):
            best = float("inf")
            for _ in range(2):
                t0 = time.perf_counter()
                out = fn()
                best = min(best, time.perf_counter() - t0)
            return best, out

        hash_s, _ = timed(lambda: blobhash.hash_file(path))
        sign_s, signed = timed(lambda: signing.sign(thing, key, cert, blobs={"scan": path}))
        verify_s, result = timed(lambda: verification.verify(signed, blobs={"scan": path}))
        assert result.valid
        print(f"one blob of {args.mib} MiB")
        print(f"  SHA256Block alone:  {hash_s:7.3f} s")
        print(f"  sign:               {sign_s:7.3f} s   (+{sign_s - hash_s:.3f} s, ratio {sign_s / hash_s:.2f})")
        print(f"  verify:             {verify_s:7.3f} s   (+{verify_s - hash_s:.3f} s, ratio {verify_s / hash_s:.2f})")


if __name__ == "__main__":
    main()
