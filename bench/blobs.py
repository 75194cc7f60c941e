"""Blob streaming through the local platform, and SHA256Block throughput.

1. Upload and download of 1 GiB (generated, never held in memory) with the
   runtime (hashing, chunk protocol, hash check on download), against a raw
   httpx stream of the same bytes to the same server in the same run:
   chunked POSTs with Content-Range and no hashing, and a plain streaming GET.
   Peak RSS of the runtime's transfers is measured in a child process.
2. SHA256Block of a 1 GiB file against one hashlib.sha256 pass over it, on
   one thread and on all cores.

    .venv/bin/python bench/blobs.py [--mib 1024]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from healthvault import blobhash, blobs  # noqa: E402
from healthvault.bindings.thing import BlobPayload, DataXml, Thing2, ThingType  # noqa: E402
from healthvault.bindings.things.file import File  # noqa: E402
from tests.bigblob import generated  # noqa: E402
from tests.localserver import start_server  # noqa: E402

MIB = 1024 * 1024

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
from tests.bigblob import generated
from healthvault import blobs
from healthvault.bindings.thing import BlobPayload, DataXml, Thing2, ThingType
from healthvault.bindings.things.file import File
from healthvault.client import HealthVaultClient
size = {size}
with HealthVaultClient.from_profile({profile!r}, timeout=300) as c:
    t0 = time.perf_counter()
    item = c.upload_blob(generated(size), name="b")
    up = time.perf_counter() - t0
    thing = Thing2(type_id=ThingType(value=str(File.TYPE_ID)), data_xml=[DataXml(any_element=File(name="b", size=size))])
    thing.blob_payload = BlobPayload(blob=[item])
    key = c.put_thing(thing)
    url = str(c.get_thing(key.value, blob_payload=True).blob_payload.blob[0].blob_ref_url)
    class Sink:
        def write(self, d): return len(d)
    t0 = time.perf_counter()
    blobs.download(c.http, url, Sink(), expected_hash=item.blob_info.hash_info.hash)
    down = time.perf_counter() - t0
print(json.dumps({{"up": up, "down": down, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def raw_transfer(client: object, size: int) -> tuple[float, float]:
    from healthvault.client import HealthVaultClient

    assert isinstance(client, HealthVaultClient)
    begun = client.begin_put_blob()
    url, chunk = str(begun.blob_ref_url), int(begun.blob_chunk_size)
    t0 = time.perf_counter()
    buffer = bytearray()
    sent = 0
    with httpx.Client(timeout=300) as http:
        for piece in generated(size):
            buffer += piece
            while len(buffer) >= chunk:
                body = bytes(buffer[:chunk])
                del buffer[:chunk]
                last = sent + len(body) == size
                headers = {"Content-Range": f"bytes {sent}-{sent + len(body) - 1}/{size}"}
                if last:
                    headers["x-hv-blob-complete"] = "1"
                http.post(url, content=body, headers=headers).raise_for_status()
                sent += len(body)
        if buffer:
            headers = {"Content-Range": f"bytes {sent}-{sent + len(buffer) - 1}/{size}", "x-hv-blob-complete": "1"}
            http.post(url, content=bytes(buffer), headers=headers).raise_for_status()
        up = time.perf_counter() - t0
        thing = Thing2(
            type_id=ThingType(value=str(File.TYPE_ID)), data_xml=[DataXml(any_element=File(name="r", size=size))]
        )
        item = blobs.BlobUpload(client, "r")
        item.url, item.acknowledged, item.block_size = url, size, 2 * MIB
        item.hash = blobhash.hash_chunks(generated(size))
        thing.blob_payload = BlobPayload(blob=[item.payload_item()])
        key = client.put_thing(thing)
        read_url = str(client.get_thing(key.value, blob_payload=True).blob_payload.blob[0].blob_ref_url)
        t0 = time.perf_counter()
        with http.stream("GET", read_url) as response:
            for _ in response.iter_bytes(MIB):
                pass
        down = time.perf_counter() - t0
    return up, down


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=1024)
    args = ap.parse_args()
    size = args.mib * MIB
    root = str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "srv")
        try:
            child = subprocess.run(
                [sys.executable, "-c", CHILD.format(root=root, size=size, profile=str(server.profile_path))],
                capture_output=True,
                text=True,
                check=True,
            )
            ours = json.loads(child.stdout)
            with server.client(timeout=300) as client:
                raw_up, raw_down = raw_transfer(client, size)
        finally:
            server.stop()
        mb = size / 1e6
        print(f"blob of {args.mib} MiB through the local platform")
        print(
            f"  upload,   runtime:  {mb / ours['up']:8.1f} MB/s   raw httpx: {mb / raw_up:8.1f} MB/s   ratio {raw_up / ours['up']:.2f}"
        )
        print(
            f"  download, runtime:  {mb / ours['down']:8.1f} MB/s   raw httpx: {mb / raw_down:8.1f} MB/s   ratio {raw_down / ours['down']:.2f}"
        )
        print(f"  runtime peak RSS (upload + download, one process): {ours['rss']:.0f} MiB")

        path = Path(tmp) / "hash.bin"
        with open(path, "wb") as f:
            for piece in generated(size):
                f.write(piece)

        def timed(fn):
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0

        def plain() -> None:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                while piece := f.read(MIB):
                    h.update(piece)

        base = min(timed(plain) for _ in range(2))
        one = min(timed(lambda: blobhash.hash_file(path, workers=1)) for _ in range(2))
        many = min(timed(lambda: blobhash.hash_file(path)) for _ in range(2))
        print(f"SHA256Block of {args.mib} MiB ({os.cpu_count()} cores)")
        print(f"  hashlib.sha256, one pass:    {mb / base:8.1f} MB/s")
        print(f"  SHA256Block, one thread:     {mb / one:8.1f} MB/s   ratio {base / one:.2f}")
        print(f"  SHA256Block, all cores:      {mb / many:8.1f} MB/s   ratio {base / many:.2f}")


if __name__ == "__main__":
    main()
