"""Blob streaming: hashing, upload, download, the blob store, files to the
platform and back (the server's chunk rules: test_blob_chunks.py)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from healthvault import blobhash, blobs, status, transfer
from healthvault.bindings.thing import BlobInfo, BlobPayload, BlobPayloadItem, Thing2
from healthvault.bindings.things.file import File
from healthvault.client import HealthVaultClient
from healthvault.thingquery import ThingQuery
from hvgen_cli import main

from .blobdata import CHUNK, MIB, file_thing, pattern
from .localserver import RunningServer

# -- SHA256Block -------------------------------------------------------------------------------


def test_sha256block_vectors() -> None:
    assert blobhash.hash_bytes(b"hello") == "lZXJ35AHUUjrBoYDZd8zWEt1v/eCpRDGzUiDpBmDPVA="
    assert blobhash.hash_bytes(bytes(2 * MIB)) == "oJKxgE8qaU7azz9bnmDcW9vSAY+k0D8/ry5CAU6ofao="
    assert blobhash.hash_bytes(bytes(5 * MIB)) == "7QrJeE9cx69xYwYI57mtAW+amqYRVuljW89dSaXw3sE="
    assert blobhash.hash_bytes(b"") == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("piece", [1000, 65536, 2 * MIB - 1, 2 * MIB, 3 * MIB + 7])
def test_sha256block_any_chunking(piece: int, workers: int) -> None:
    data = pattern(5 * MIB + 11)
    hasher = blobhash.SHA256Block(workers=workers)
    for i in range(0, len(data), piece):
        hasher.update(data[i : i + piece])
    assert hasher.b64digest() == blobhash.hash_bytes(data)
    assert hasher.length == len(data) and hasher.blocks == 2


@pytest.mark.parametrize("workers", [1, 2, 3])
@pytest.mark.parametrize("size", [0, 1, 2 * MIB, 4 * MIB, 5 * MIB + 11])
def test_parallel_file_hash_matches(workers: int, size: int, tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(pattern(size, seed=size))
    assert blobhash.hash_file(path, workers=workers) == blobhash.hash_bytes(pattern(size, seed=size))


def test_sha256block_definition() -> None:
    data = pattern(3 * 1000 + 1)
    digests = b"".join(hashlib.sha256(data[i : i + 1000]).digest() for i in range(0, len(data), 1000))

    assert blobhash.hash_bytes(data, 1000) == base64.b64encode(hashlib.sha256(digests).digest()).decode()


def test_cli_blob_hash(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"hello")
    result = CliRunner().invoke(main, ["blob", "hash", str(path)])
    assert result.output.strip() == "lZXJ35AHUUjrBoYDZd8zWEt1v/eCpRDGzUiDpBmDPVA="
    result = CliRunner().invoke(main, ["blob", "hash", str(path), "--block-size", "2"])
    assert result.output.strip() == blobhash.hash_bytes(b"hello", 2)


# -- upload and download ------------------------------------------------------------------------


@pytest.fixture
def client(small_chunks: RunningServer) -> Iterator[HealthVaultClient]:
    with small_chunks.client() as c:
        yield c


def sources(data: bytes, tmp_path: Path) -> dict[str, object]:
    path = tmp_path / "src.bin"
    path.write_bytes(data)

    def odd_pieces() -> Iterator[bytes]:
        for i in range(0, len(data), 777_777):
            yield data[i : i + 777_777]

    return {"path": path, "file": io.BytesIO(data), "iterator": odd_pieces()}


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 123])
@pytest.mark.parametrize("kind", ["path", "file", "iterator"])
def test_upload_download_round_trip(size: int, kind: str, client: HealthVaultClient, tmp_path: Path) -> None:
    data = pattern(size, seed=size)
    sent: list[tuple[int, int | None]] = []
    item = client.upload_blob(
        sources(data, tmp_path)[kind],
        name="b",
        content_type="application/dicom",
        progress=lambda done, total: sent.append((done, total)),
    )
    assert item.content_length == size
    assert item.blob_info.hash_info.hash == blobhash.hash_bytes(data)
    assert item.blob_info.hash_info.params.block_size == 2 * MIB
    if size:
        assert sent[-1][0] == size
        assert sent[-1][1] == (None if kind == "iterator" else size)
    thing = file_thing(size=size)
    thing.blob_payload = BlobPayload(blob=[item])
    key = client.put_thing(thing)
    store = client.blobs(client.get_thing(key.value, blob_payload=True))  # type: ignore[arg-type]
    out = tmp_path / "out.bin"
    assert store.save("b", out) == size
    assert out.read_bytes() == data


def test_default_blob_and_inline_threshold(client: HealthVaultClient) -> None:
    store = client.blobs(file_thing())
    assert store.inline_limit() == 1000
    small = store.write("", b"tiny default blob", "text/plain")
    assert small.base64data is not None and small.blob_ref_url is None
    big = store.write("big", pattern(5000), "application/octet-stream")
    assert big.blob_ref_url is not None and big.base64data is None
    store.commit()
    assert store.read("") == b"tiny default blob"
    assert store.read("big") == pattern(5000)
    thing_id = store.thing.thing_id.value
    inline = client.get_thing(thing_id, blob_payload=True, blob_format="inline", blob_names=[""])
    assert [b.blob_info.name for b in inline.blob_payload.blob] == [""]

    assert base64.b64decode(inline.blob_payload.blob[0].base64data or "") == b"tiny default blob"
    with pytest.raises(status.BlobSizeTooLargeForInline):
        client.get_thing(thing_id, blob_payload=True, blob_format="inline")
    only_info = client.get_thing(store.thing.thing_id.value, blob_payload=True, blob_format="information")
    assert all(b.base64data is None and b.blob_ref_url is None for b in only_info.blob_payload.blob)


def test_inline_too_large_for_response(new_server) -> None:
    server = new_server("--inline-limit", "100")
    with server.client() as c:
        store = c.blobs(file_thing())
        store.write("x", pattern(500))
        store.commit()
        with pytest.raises(status.BlobSizeTooLargeForInline):
            c.get_thing(store.thing.thing_id.value, blob_payload=True, blob_format="inline")


def test_range_reads(client: HealthVaultClient) -> None:
    data = pattern(3 * MIB + 5)
    store = client.blobs(file_thing())
    store.write("scan", data, "application/dicom")
    store.commit()
    assert store.read("scan", (0, 131)) == data[:132]
    assert store.read("scan", (2 * MIB - 3, 2 * MIB + 3)) == data[2 * MIB - 3 : 2 * MIB + 4]
    assert store.read("scan", (3 * MIB, None)) == data[3 * MIB :]
    url = store.url("scan")
    documented = httpx.get(url, headers={"Content-Range": "bytes 0-9"})
    assert documented.status_code == 206 and documented.content == data[:10]
    past = httpx.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert past.status_code == 416
    with pytest.raises(blobs.HealthVaultBlobError, match="416"):
        store.read("scan", (len(data) + 10, None))


def test_blob_url_works_as_img_src(client: HealthVaultClient) -> None:
    store = client.blobs(file_thing())
    store.write("preview", pattern(3000), "image/jpeg")
    store.commit()
    response = httpx.get(store.url("preview"))  # no session, no headers
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == pattern(3000)


def test_new_blob_stream_list_remove_replace_clear(client: HealthVaultClient, small_chunks: RunningServer) -> None:
    store = client.blobs(file_thing())
    with store.new_blob("stream", "application/dicom") as writer:
        for i in range(5):
            writer.write(pattern(MIB, seed=i))
    store.write("keep", pattern(4000, seed=9), "application/octet-stream")
    store.commit()
    assert sorted(i.name for i in store.list()) == ["keep", "stream"]
    assert store.read("stream") == b"".join(pattern(MIB, seed=i) for i in range(5))

    old_blob = small_chunks.blob_id(store.url("stream"))
    assert old_blob in small_chunks.blob_ids()
    store.write("stream", pattern(3 * MIB, seed=42), "application/dicom")  # replace
    store.commit()
    assert store.read("stream") == pattern(3 * MIB, seed=42)
    assert old_blob not in small_chunks.blob_ids(), "replaced bytes are removed once no current thing refers to them"

    store.remove("keep")
    store.commit()
    assert [i.name for i in store.list()] == ["stream"]
    store.clear()
    store.commit()
    assert store.list() == []


def test_tampered_bytes_detected_on_download(
    client: HealthVaultClient, small_chunks: RunningServer, tmp_path: Path
) -> None:
    store = client.blobs(file_thing())
    store.write("scan", pattern(3 * MIB), "application/dicom")
    store.commit()
    small_chunks.flip_byte(small_chunks.blob_id(store.url("scan")), MIB)
    out = tmp_path / "out.bin"
    with pytest.raises(blobs.BlobHashMismatch):
        store.save("scan", out)
    assert not out.exists()


# -- files to the platform and back (healthvault.transfer) ------------------------------------------


@pytest.mark.parametrize("size", [10, 3 * MIB + 5])  # inline (the server's limit is 1000 bytes), streamed
def test_put_file_then_get_by_id_and_url(client: HealthVaultClient, tmp_path: Path, size: int) -> None:
    data = pattern(size, seed=size)
    path = tmp_path / "report.pdf"
    path.write_bytes(data)
    reported: list[tuple[int, int | None]] = []
    stored = transfer.put_file(client, path)
    assert (stored.name, stored.size, stored.content_type) == ("report.pdf", size, "application/pdf")
    thing = client.get_thing(stored.thing_id)
    assert thing is not None and thing.thing_id is not None
    assert thing.thing_id.version_stamp == stored.version_stamp
    assert thing.data_xml[0].any_element.content_type.text == "application/pdf"

    found = transfer.find_blob(client, stored.thing_id)
    assert (found.thing_id, found.size, found.hash) == (stored.thing_id, size, blobhash.hash_bytes(data))
    got = transfer.fetch_blob(client, found, tmp_path / "by-id", progress=lambda d, t: reported.append((d, t)))
    assert (got.bytes_written, got.hash_checked) == (size, True)
    assert (tmp_path / "by-id").read_bytes() == data
    assert size < 1000 or reported[-1] == (size, size)

    part = transfer.get_blob(client, stored.thing_id, tmp_path / "part", byte_range=(3, 7))
    assert (part.bytes_written, part.hash_checked, part.byte_range) == (5, False, (3, 7))
    assert (tmp_path / "part").read_bytes() == data[3:8]

    if found.url is not None:  # streamed blobs have a download URL
        by_url = transfer.find_blob(client, found.url)
        assert by_url.thing_id is None and by_url.store is None
        got = transfer.fetch_blob(client, by_url, tmp_path / "by-url")
        assert (got.bytes_written, got.hash_checked) == (size, False)
        assert (tmp_path / "by-url").read_bytes() == data


def test_put_file_names_and_types(client: HealthVaultClient, tmp_path: Path) -> None:
    path = tmp_path / "noext"
    path.write_bytes(b"")
    stored = transfer.put_file(client, path)
    assert (stored.content_type, stored.size) == ("application/octet-stream", 0)
    got = transfer.get_blob(client, stored.thing_id, tmp_path / "empty-again")
    assert (got.bytes_written, got.hash_checked) == (0, True)
    assert (tmp_path / "empty-again").read_bytes() == b""
    stored = transfer.put_file(client, path, name="scan.dcm", content_type="application/dicom")
    thing = client.get_thing(stored.thing_id)
    assert thing is not None
    assert thing.data_xml[0].any_element.name == "scan.dcm"
    assert thing.data_xml[0].any_element.content_type.text == "application/dicom"


def test_find_blob_refuses_unknown_things_and_names(client: HealthVaultClient, tmp_path: Path) -> None:
    with pytest.raises(transfer.NoSuchThing, match="no thing 00000000-0000-0000-0000-000000000000"):
        transfer.find_blob(client, "00000000-0000-0000-0000-000000000000")
    path = tmp_path / "a.bin"
    path.write_bytes(b"abc")
    stored = transfer.put_file(client, path)
    with pytest.raises(blobs.HealthVaultBlobError, match="has no blob named 'other'"):
        transfer.find_blob(client, stored.thing_id, "other")


def test_fetch_blob_detects_tampering(client: HealthVaultClient, small_chunks: RunningServer, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(pattern(2 * MIB + 3))
    stored = transfer.put_file(client, path)
    small_chunks.flip_byte(small_chunks.blob_id(stored.url), 0)
    out = tmp_path / "out.bin"
    with pytest.raises(blobs.BlobHashMismatch):
        transfer.get_blob(client, stored.thing_id, out)
    assert not out.exists()


# -- command line --------------------------------------------------------------------------------


def test_cli_put_and_get(small_chunks: RunningServer, tmp_path: Path) -> None:
    data = pattern(5 * MIB + 17, seed=5)
    path = tmp_path / "scan.dcm"
    path.write_bytes(data)
    env = {"HVGEN_PROFILE": str(small_chunks.profile_path)}
    runner = CliRunner()
    put = runner.invoke(main, ["blob", "put", str(path), "--json", "--content-type", "application/dicom"], env=env)
    assert put.exit_code == 0, put.output
    result = json.loads(put.output)
    assert result["size"] == len(data)
    out = tmp_path / "by-id.dcm"
    got = runner.invoke(main, ["blob", "get", result["thing_id"], str(out), "--no-progress"], env=env)
    assert got.exit_code == 0, got.output
    assert out.read_bytes() == data
    head = tmp_path / "head.bin"
    got = runner.invoke(main, ["blob", "get", result["url"], str(head), "--range", "0-131"], env=env)
    assert got.exit_code == 0, got.output
    assert head.read_bytes() == data[:132]
    thing = None
    with small_chunks.client() as c:
        thing = c.get_thing(result["thing_id"])
    assert thing is not None and thing.data_xml[0].any_element.name == "scan.dcm"
    assert thing.data_xml[0].any_element.content_type.text == "application/dicom"
    bad = runner.invoke(main, ["blob", "get", "00000000-0000-0000-0000-000000000000", str(tmp_path / "no")], env=env)
    assert bad.exit_code == 1 and "no thing" in bad.output


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.slow  # minutes per backend: CI runs it once, apart (python -m pytest -m slow)
def test_two_gib_blob_in_constant_memory(new_server) -> None:
    """A 2 GiB generated stream goes up and comes back down; neither the
    client nor the server holds it in memory."""
    import subprocess
    import sys

    from .conftest import ROOT

    server = new_server()
    size = 2 * 1024 * MIB
    run = subprocess.run(
        [sys.executable, "-m", "tests.bigblob", str(server.profile_path), str(size)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout)
    assert result["uploaded"] == size and result["downloaded"] == size and result["hash_ok"]
    assert result["peak_rss_mib"] < 250, (
        f"client peak RSS {result['peak_rss_mib']:.0f} MiB ({result['peak_rss_mib_after_upload']:.0f} after the upload)"
    )
    server_peak = _peak_rss_mib(server.process.pid)
    print(f"2 GiB blob: client peak RSS {result['peak_rss_mib']:.0f} MiB, server peak RSS {server_peak:.0f} MiB")
    assert server_peak < 300, f"server peak RSS {server_peak:.0f} MiB"


def test_a_blob_is_found_by_name_whatever_changed_since_the_last_lookup() -> None:
    def blob(name: str, length: int) -> BlobPayloadItem:
        return BlobPayloadItem(blob_info=BlobInfo(name=name, content_type="text/plain"), content_length=length)

    thing = Thing2(blob_payload=BlobPayload(blob=[blob(f"b{i}", i + 1) for i in range(300)] + [blob("b7", 999)]))
    store = blobs.ThingBlobs(client=None, thing=thing)  # type: ignore[arg-type]
    assert [store.item(f"b{i}").content_length for i in (0, 7, 299)] == [1, 8, 300]  # the first of two b7
    thing.blob_payload.blob.insert(0, blob("new", 5))  # positions move
    assert store.item("b7").content_length == 8 and store.item("new").content_length == 5
    thing.blob_payload.blob[1].blob_info.name = "renamed"  # was b0
    assert store.item("renamed").content_length == 1
    with pytest.raises(KeyError, match="b0"):
        store.item("b0")
    store._set(blob("b7", 42))  # replaced: the only b7 is now the last blob
    assert store.item("b7").content_length == 42
    store.thing = Thing2(blob_payload=BlobPayload(blob=[blob("b7", 3)]))  # as refresh() does
    assert store.item("b7").content_length == 3
    with pytest.raises(KeyError):
        store.item("b299")


def test_many_inline_blobs_in_one_put_each_keep_their_bytes(client: HealthVaultClient) -> None:
    thing = file_thing()
    datas = {f"preview-{i:02d}": pattern(100 + 37 * i, seed=i) for i in range(24)}
    thing.blob_payload = BlobPayload(blob=[blobs.inline_item(n, "image/jpeg", d) for n, d in datas.items()])
    key = client.put_thing(thing)
    fresh = client.get_thing(key.value, blob_payload=True)
    assert fresh is not None
    store = client.blobs(fresh)
    assert sorted(info.name for info in store.list()) == sorted(datas)
    assert all(store.read(name) == data for name, data in datas.items())


def test_one_bad_inline_blob_refuses_the_put_and_writes_no_bytes(
    client: HealthVaultClient, small_chunks: RunningServer
) -> None:
    def files() -> set[str]:  # the blobs whose bytes the server holds, in its folder or its S3 bucket
        return small_chunks.blob_ids()

    stored = file_thing("stored.bin")
    stored.blob_payload = BlobPayload(blob=[blobs.inline_item("ok", "image/jpeg", pattern(200, seed=99))])
    before = files()
    client.put_thing(stored)
    assert len(files() - before) == 1  # the count sees what a put writes, on this backend
    before = files()
    thing = file_thing("refused.bin")
    items = [blobs.inline_item(f"p{i}", "image/jpeg", pattern(200, seed=i)) for i in range(12)]
    items[7].base64data = base64.b64encode(b"not the bytes the hash was made of").decode()
    thing.blob_payload = BlobPayload(blob=items)
    with pytest.raises(status.HealthVaultStatusError, match="p7"):
        client.put_thing(thing)
    assert files() == before
    names = [t.data_xml[0].any_element.name for t in client.get_things(ThingQuery(type_ids=[str(File.TYPE_ID)]))]
    assert "refused.bin" not in names
