"""The rules the server enforces on the chunks of a blob upload, and the
client sending a failed chunk again."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from healthvault import blobhash, blobs, codec, status
from healthvault.bindings.thing import BlobInfo, BlobPayload, BlobPayloadItem
from healthvault.client import HealthVaultClient

from .blobdata import CHUNK, MIB, file_thing, pattern
from .localserver import EMBEDDED_ONLY, RunningServer


@pytest.fixture
def client(small_chunks: RunningServer) -> Iterator[HealthVaultClient]:
    with small_chunks.client() as c:
        yield c


def begin(client: HealthVaultClient) -> str:
    return str(client.begin_put_blob().blob_ref_url)


def post_chunk(url: str, first: int, body: bytes, total: str = "*", complete: bool = False) -> httpx.Response:
    headers = {"Content-Range": f"bytes {first}-{first + len(body) - 1}/{total}"} if body else {}
    if complete:
        headers["x-hv-blob-complete"] = "1"
    return httpx.post(url, content=body, headers=headers)


def commit_fails(client: HealthVaultClient, url: str, code: type[Exception]) -> None:
    thing = file_thing()
    thing.blob_payload = BlobPayload(
        blob=[BlobPayloadItem(blob_info=BlobInfo(name="x", content_type="a/b"), blob_ref_url=url)]
    )
    with pytest.raises(code):
        client.put_thing(thing)


def platform_code(response: httpx.Response) -> int:
    return codec.read_response(response.content).status.code


def test_gap_overlap_and_wrong_sizes_refused(client: HealthVaultClient) -> None:
    url = begin(client)
    assert post_chunk(url, 0, pattern(CHUNK)).status_code == 200
    gap = post_chunk(url, CHUNK + 10, pattern(CHUNK))
    assert gap.status_code == 400 and b"starting at byte 2097152" in gap.content
    overlap = post_chunk(url, CHUNK - 100, pattern(CHUNK))
    assert overlap.status_code == 400
    mismatch = httpx.post(url, content=b"abc", headers={"Content-Range": f"bytes {CHUNK}-{CHUNK + 9}/*"})
    assert mismatch.status_code == 400 and b"body has 3" in mismatch.content
    too_big = post_chunk(url, CHUNK, pattern(CHUNK + 1))
    assert too_big.status_code == 413
    assert post_chunk(url, CHUNK, b"short").status_code == 200
    after_short = post_chunk(url, CHUNK + 5, b"more")
    assert after_short.status_code == 400 and b"only the last chunk" in after_short.content
    no_range = httpx.post(url, content=b"x")
    assert no_range.status_code == 400
    commit_fails(client, url, status.BlobTokenNotCompleted)


def test_wrong_total_and_max_size_refused(client: HealthVaultClient) -> None:
    url = begin(client)
    assert post_chunk(url, 0, pattern(CHUNK), total=str(3 * CHUNK)).status_code == 200
    changed = post_chunk(url, CHUNK, pattern(CHUNK), total=str(5 * CHUNK))
    assert changed.status_code == 400 and b"total changed" in changed.content
    early = post_chunk(url, CHUNK, pattern(CHUNK), total=str(3 * CHUNK), complete=True)
    assert early.status_code == 400 and platform_code(early) == 102
    huge = post_chunk(begin(client), 0, pattern(CHUNK), total=str(41 * MIB))
    assert huge.status_code == 413


def test_retry_of_last_chunk_is_idempotent(client: HealthVaultClient) -> None:
    url = begin(client)
    data = pattern(CHUNK)
    assert post_chunk(url, 0, data).headers["x-hv-blob-received"] == str(CHUNK)
    again = post_chunk(url, 0, data)
    assert again.status_code == 200 and again.headers["x-hv-blob-received"] == str(CHUNK)
    other = post_chunk(url, 0, pattern(CHUNK, seed=3))
    assert other.status_code == 409
    assert post_chunk(url, CHUNK, b"end", complete=True).status_code == 200
    assert httpx.get(url).headers["x-hv-blob-state"] == "complete"


def test_forged_and_read_tokens_refused(client: HealthVaultClient) -> None:
    url = begin(client)
    token = url.split("blob-ref-token=")[1]
    forged = url.replace(token, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    response = post_chunk(forged, 0, b"x")
    assert response.status_code == 403 and platform_code(response) == 88
    assert post_chunk(url.split("?")[0] + "?blob-ref-token=nonsense", 0, b"x").status_code == 403
    store = client.blobs(file_thing())
    store.write("r", pattern(2000))
    store.commit()
    assert post_chunk(store.url("r"), 0, b"x").status_code == 403  # a download URL cannot upload
    commit_fails(client, forged, status.InvalidBlobRefUrl)


def test_blob_of_another_thing_or_record_refused(client: HealthVaultClient) -> None:
    item = client.upload_blob(io.BytesIO(pattern(3000)), name="x")
    first = file_thing()
    first.blob_payload = BlobPayload(blob=[item])
    client.put_thing(first)
    second = file_thing()
    second.blob_payload = BlobPayload(blob=[item])
    with pytest.raises(status.BlobTokenCommitted):
        client.put_thing(second)


def test_hash_mismatch_refused_at_commit(client: HealthVaultClient) -> None:
    item = client.upload_blob(io.BytesIO(pattern(3000)), name="x")
    item.blob_info.hash_info.hash = blobhash.hash_bytes(b"other")
    thing = file_thing()
    thing.blob_payload = BlobPayload(blob=[item])
    with pytest.raises(status.InvalidBlobHash):
        client.put_thing(thing)


def test_max_blob_size_enforced_before_sending(client: HealthVaultClient, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    with open(path, "wb") as f:
        f.truncate(41 * MIB)
    upload = blobs.BlobUpload(client, "big")
    with pytest.raises(blobs.BlobTooLarge):
        upload.send(path)
    assert httpx.get(upload.url).headers["x-hv-blob-received"] == "0"


def test_expired_upload_token_and_abandoned_uploads_swept(new_server) -> None:
    server = new_server("--blob-write-ttl", "1", "--chunk-size", str(CHUNK))
    with server.client() as c:
        url = begin(c)
        assert post_chunk(url, 0, pattern(CHUNK)).status_code == 200
        blob_id = server.blob_id(url)
        assert blob_id in server.blob_ids()
        time.sleep(1.3)
        expired = post_chunk(url, CHUNK, b"x", complete=True)
        assert expired.status_code == 403 and b"expired" in expired.content
    server.stop()
    server.start()  # sweeps at startup
    assert blob_id not in server.blob_ids()


def test_server_killed_mid_upload_then_resumed(new_server, tmp_path: Path) -> None:
    server = new_server("--chunk-size", str(CHUNK))
    data = pattern(12 * MIB + 3, seed=7)
    source = tmp_path / "scan.dcm"
    source.write_bytes(data)
    with server.client() as c:

        def kill_midway(done: int, total: int | None) -> None:
            if done >= 3 * CHUNK and server.process.poll() is None:
                server.kill()

        upload = blobs.BlobUpload(c, "scan", "application/dicom", progress=kill_midway, retries=1, backoff=0.05)
        with pytest.raises(blobs.BlobUploadInterrupted) as info:
            upload.send(source)
        assert info.value.upload.acknowledged == 3 * CHUNK
        server.start()
        c.http.close()
        c.http = httpx.Client(timeout=30)
        info.value.upload.progress = None
        item = info.value.upload.resume(source)
        assert item.blob_info.hash_info.hash == blobhash.hash_bytes(data)
        thing = file_thing()
        thing.blob_payload = BlobPayload(blob=[item])
        key = c.put_thing(thing)
        store = c.blobs(c.get_thing(key.value, blob_payload=True))
        out = tmp_path / "back.dcm"
        store.save("scan", out)
        assert out.read_bytes() == data


class FlakyTransport(httpx.HTTPTransport):
    """Fails the chosen blob POSTs once each, before they reach the server."""

    def __init__(self, fail: set[int]) -> None:
        super().__init__()
        self.fail = fail
        self.posts = 0
        self.sent_ranges: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and "wildcatblob" in str(request.url):
            self.posts += 1
            self.sent_ranges.append(request.headers.get("content-range", ""))
            if self.posts in self.fail:
                raise httpx.ConnectError("injected failure", request=request)
        return super().handle_request(request)


def test_failed_chunk_is_sent_again(small_chunks: RunningServer) -> None:
    transport = FlakyTransport(fail={2, 4})
    profile = small_chunks.profile
    with httpx.Client(transport=transport, timeout=30) as http:
        client = HealthVaultClient(
            profile.url,
            profile.app_id,
            private_key=crypto_key(profile),
            certificate=crypto_cert(profile),
            record_id=profile.record_id,
            http=http,
        )
        data = pattern(3 * CHUNK + 5)
        upload = blobs.BlobUpload(client, "flaky", backoff=0.01)
        item = upload.send(io.BytesIO(data))
    assert item.blob_info.hash_info.hash == blobhash.hash_bytes(data)
    assert transport.sent_ranges[1] == transport.sent_ranges[2], "the failed chunk is re-sent with the same range"
    assert len(transport.sent_ranges) == 6  # 4 chunks + 2 retries


def crypto_key(profile):
    from healthvault import crypto

    return crypto.load_private_key(profile.key_path)


def crypto_cert(profile):
    from healthvault import crypto

    return crypto.load_certificate(profile.cert_path)


@EMBEDDED_ONLY
def test_an_upload_whose_acknowledged_bytes_are_gone_is_refused_not_filled_with_zeros(
    small_chunks: RunningServer, client: HealthVaultClient
) -> None:
    blobs_dir = next(p for p in small_chunks.data.rglob("blobs") if p.is_dir())
    before = {p for p in blobs_dir.rglob("*") if p.is_file()}
    url = begin(client)
    (path,) = {p for p in blobs_dir.rglob("*") if p.is_file()} - before  # the upload's file, made at its begin
    assert post_chunk(url, 0, pattern(CHUNK)).status_code == 200
    path.write_bytes(b"")  # (what a lost disk write would leave)
    lost = post_chunk(url, CHUNK, pattern(100), complete=True)
    assert lost.status_code == 500
    assert b"could not store or read the blob" in lost.content
    assert path.stat().st_size == 0  # nothing appended after a hole
    commit_fails(client, url, status.HealthVaultStatusError)  # never a complete blob
