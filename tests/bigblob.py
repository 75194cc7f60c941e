"""Upload and download one large generated blob; print sizes and peak RSS.

Run as a separate process by test_big_blob so that its peak RSS measures
only the transfer: ``python -m tests.bigblob PROFILE SIZE``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator

from healthvault import blobhash, blobs
from healthvault.bindings.thing import BlobPayload, DataXml, Thing2, ThingType
from healthvault.bindings.things.file import File
from healthvault.client import HealthVaultClient

PIECE = 1024 * 1024


def peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM of its own address space). Not
    getrusage's ru_maxrss: Linux carries that across execve, so a child of a
    large process (pytest, late in a run) would report its parent's size."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def generated(size: int) -> Iterator[bytes]:
    """Deterministic bytes, produced one MiB at a time."""
    seed = hashlib.sha256(b"bigblob").digest() * (PIECE // 32)
    for i in range(0, size, PIECE):
        block = bytearray(seed[: min(PIECE, size - i)])
        block[:8] = i.to_bytes(8, "big")[: len(block[:8])]
        yield bytes(block)


def main() -> None:
    profile, size = sys.argv[1], int(sys.argv[2])
    expected = blobhash.hash_chunks(generated(size))
    with HealthVaultClient.from_profile(profile, timeout=120) as client:
        item = client.upload_blob(generated(size), name="big", content_type="application/octet-stream")
        thing = Thing2(
            type_id=ThingType(value=str(File.TYPE_ID)), data_xml=[DataXml(any_element=File(name="big.bin", size=size))]
        )
        thing.blob_payload = BlobPayload(blob=[item])
        after_upload = peak_rss_mib()
        key = client.put_thing(thing)
        fresh = client.get_thing(key.value, blob_payload=True)
        assert fresh is not None and fresh.blob_payload is not None
        url = str(fresh.blob_payload.blob[0].blob_ref_url)

        class Sink:
            count = 0

            def write(self, data: bytes) -> int:
                self.count += len(data)
                return len(data)

        sink = Sink()
        blobs.download(client.http, url, sink, expected_hash=expected)  # type: ignore[arg-type]
    peak = peak_rss_mib()
    print(
        json.dumps(
            {
                "uploaded": item.content_length,
                "downloaded": sink.count,
                "hash_ok": item.blob_info.hash_info.hash == expected,
                "peak_rss_mib": peak,
                "peak_rss_mib_after_upload": after_upload,
            }
        )
    )


if __name__ == "__main__":
    main()
