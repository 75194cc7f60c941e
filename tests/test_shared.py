"""Several server processes, one platform: instances sharing one PostgreSQL
database and one S3 bucket serve the same applications, records, sessions,
blob URLs, replays and pick-up jobs; one killed at any moment loses nothing
another acknowledged. And the object store's side of uploads on its own."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from healthvault import blobhash, blobs, methods, status
from healthvault.bindings.methods.method_pickupconnectpackage import Info as PickUp
from healthvault.bindings.thing import BlobPayload
from healthvault.client import HealthVaultTransportError
from hvgen_server.store.s3files import S3BlobFiles, UploadState

from .blobdata import file_thing, pattern
from .localserver import Backend, RunningServer, start_server
from .test_hardening import create_package, put_request
from .test_server import post, study

MIB = 1024 * 1024
CHUNK = 2 * MIB


@pytest.fixture(scope="module")
def shared(engines) -> Backend:
    return Backend("shared", engines)


@pytest.fixture(scope="module")
def pair(shared: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, RunningServer]]:
    """Two instances of one platform (2 MiB chunks: uploads keep chunks until they make a part)."""
    first = start_server(tmp_path_factory.mktemp("first"), "--chunk-size", str(CHUNK), backend=shared)
    second = first.sibling(tmp_path_factory.mktemp("second"))
    yield first, second
    second.stop()
    first.stop()


def on(server: RunningServer, url: str) -> str:
    """A blob URL of one instance, sent to another."""
    return urlunsplit(urlsplit(url)._replace(netloc=f"127.0.0.1:{server.port}"))


def test_instances_serve_one_platform(pair: tuple[RunningServer, RunningServer]) -> None:
    first, second = pair
    assert (first.profile.app_id, first.profile.record_id) == (second.profile.app_id, second.profile.record_id)
    assert first.profile.url != second.profile.url
    assert (
        second.data != first.data
        and (second.data / "app" / "key.pem").read_bytes() == (first.data / "app" / "key.pem").read_bytes()
    )
    with first.client() as a, second.client() as b:
        key = a.put_thing(study(f"1.{uuid.uuid4().hex}"))
        assert b.get_thing(key.value) is not None
        session = a.create_session()
        b.session = session  # opened on the first, used on the second
        assert [t.thing_id for t in b.get_things(thing_ids=[key.value])] == [key]
        assert b.session is session
        b.remove_things([key])
        assert a.get_thing(key.value) is None


def test_every_instance_has_the_same_secrets_and_gateway(pair: tuple[RunningServer, RunningServer]) -> None:
    """Nothing an instance needs is only on its own disk: the DICOM gateway
    (one application, one key), a DICOMweb token, a viewer link and a
    browser signed in on one instance all work on the other."""
    from .localserver import hvgen
    from .test_dicomweb import token_of
    from .viewerdata import hidden

    first, second = pair
    keys, certs = ([(s.data / "gateway" / name).read_bytes() for s in pair] for name in ("key.pem", "cert.pem"))
    assert keys[0] == keys[1] and b"PRIVATE KEY" in keys[0]
    assert certs[0] == certs[1] and b"CERTIFICATE" in certs[0]

    token = token_of(first)
    for server in (first, second):
        found = httpx.get(f"{server.url}/dicomweb/studies", headers={"Authorization": f"Bearer {token}"})
        assert found.status_code in (200, 204), found.text
    assert httpx.get(f"{second.url}/dicomweb/studies", headers={"Authorization": "Bearer x"}).status_code == 401

    with first.client() as client:
        url = str(client.create_viewer_link().url)
    with httpx.Client(follow_redirects=False) as browser:
        opened = browser.get(on(second, url))  # made by the first, opened on the second
        assert opened.status_code == 303 and browser.cookies.get("hvgen_session"), opened.text
        record = first.profile.record_id
        assert browser.get(f"{first.url}/viewer/{record}").status_code == 200  # and the session is good on both
        assert browser.get(on(first, url)).status_code == 403, "a link is used once, on every instance"

    hvgen(first, "person", "passwd", "local", "--password-stdin", stdin="shared-secret-pw\n")
    with httpx.Client(follow_redirects=False) as browser:
        page = browser.get(f"{first.url}/signin", params={"next": "/viewer"})
        form = {"login": "local", "password": "shared-secret-pw", "next": "/viewer"}
        done = browser.post(f"{first.url}/signin", data={**form, "hvgen_csrf": hidden(page.text, "hvgen_csrf")})
        assert done.status_code == 303, done.text
        assert browser.get(f"{second.url}/viewer").status_code == 200  # signed in on the first, known on the second
        assert "Signed in as" in browser.get(f"{second.url}/signin").text


@pytest.mark.parametrize("size", [10, 3 * MIB + 5, 13 * MIB + 7])  # inline, one part, several parts
def test_upload_on_one_download_on_the_other(
    pair: tuple[RunningServer, RunningServer], size: int, tmp_path: Path
) -> None:
    first, second = pair
    data = pattern(size, seed=size)
    with first.client() as a, second.client() as b:
        item = a.upload_blob(iter([data]), name="scan")
        thing = file_thing(size=size)
        thing.blob_payload = BlobPayload(blob=[item])
        key = a.put_thing(thing)
        got = b.get_thing(key.value, blob_payload=True)
        assert got is not None
        url = str(got.blob_payload.blob[0].blob_ref_url)
        assert url.startswith(second.url)
        out = tmp_path / "out.bin"
        b.blobs(got).save("scan", out)
        assert out.read_bytes() == data
        ranged = httpx.get(on(first, url), headers={"Range": "bytes=5-9"})
        assert ranged.status_code == 206 and ranged.content == data[5:10]


def test_upload_begun_on_one_resumed_on_the_other(pair: tuple[RunningServer, RunningServer], tmp_path: Path) -> None:
    first, second = pair
    data = pattern(11 * MIB + 3, seed=5)
    source = tmp_path / "scan.bin"
    source.write_bytes(data)
    with first.client() as a, second.client() as b:

        def stop_after_three_chunks(done: int, total: int | None) -> None:
            if done >= 3 * CHUNK:
                raise KeyboardInterrupt  # the client goes away mid-upload

        upload = blobs.BlobUpload(a, "scan", "application/octet-stream", progress=stop_after_three_chunks)
        with pytest.raises(KeyboardInterrupt):
            upload.send(source)
        assert upload.acknowledged == 3 * CHUNK
        upload.url = on(second, upload.url)
        upload.client, upload.progress = b, None
        item = upload.resume(source)
        assert item.blob_info.hash_info.hash == blobhash.hash_bytes(data)
        thing = file_thing()
        thing.blob_payload = BlobPayload(blob=[item])
        key = b.put_thing(thing)
        out = tmp_path / "back.bin"
        a.blobs(a.get_thing(key.value, blob_payload=True)).save("scan", out)  # type: ignore[arg-type]
        assert out.read_bytes() == data


def test_a_replay_is_seen_by_every_instance(pair: tuple[RunningServer, RunningServer]) -> None:
    first, second = pair
    with first.client() as a:
        raw = put_request(a, study(f"2.{uuid.uuid4().hex}"))
    assert post(first, raw).status.code == 0
    replayed = post(second, raw)
    assert replayed.status.code == status.StatusCode.REQUEST_TIMED_OUT
    assert "already received" in str(replayed.status.error.message)


def test_a_pickup_started_on_one_is_followed_on_the_other(pair: tuple[RunningServer, RunningServer]) -> None:
    first, second = pair
    with first.client() as a, second.client() as b:
        code = create_package(a, "open sesame")
        started = a.call(methods.PICK_UP_CONNECT_PACKAGE, PickUp(identity_code=code, answer="open sesame"))
        followed = b.call(methods.PICK_UP_CONNECT_PACKAGE, PickUp(identity_code=code, answer="open sesame"))
        assert followed.state == "done" and [k.value for k in followed.thing_id] == [k.value for k in started.thing_id]
        with pytest.raises(status.InvalidIdentityCode):
            b.call(methods.PICK_UP_CONNECT_PACKAGE, PickUp(identity_code=code, answer="not the answer"))


def test_blob_urls_work_on_every_instance_and_expire_everywhere(pair: tuple[RunningServer, RunningServer]) -> None:
    first, second = pair
    with first.client() as a:
        url = str(a.begin_put_blob().blob_ref_url)
    progress = httpx.get(on(second, url))
    assert progress.status_code == 200 and progress.headers["x-hv-blob-received"] == "0"
    forged = url[:-4] + ("AAAA" if not url.endswith("AAAA") else "BBBB")
    assert httpx.get(on(second, forged)).status_code == 403


def test_killed_instance_loses_nothing_acknowledged(shared: Backend, tmp_path: Path) -> None:
    """Writers on both instances; one instance is SIGKILLed mid-stream; the
    other serves every batch either acknowledged, whole."""
    first = start_server(tmp_path / "a", backend=shared)
    second = first.sibling(tmp_path / "b")
    try:
        tag = uuid.uuid4().hex[:8]
        acknowledged: dict[str, list[int]] = {"a": [], "b": []}
        attempted: dict[str, list[int]] = {"a": [], "b": []}
        stop = threading.Event()

        def writer(server: RunningServer, name: str) -> None:
            with server.client(retries=0, timeout=5) as client:
                client.create_session()
                i = 0
                while not stop.is_set() and i < 400:
                    attempted[name].append(i)
                    try:
                        client.put_things(
                            [study(f"{tag}.{name}.{i}.{k}", client_id=f"{tag}-{name}-{i}") for k in range(4)]
                        )
                    except HealthVaultTransportError:
                        return
                    acknowledged[name].append(i)
                    i += 1

        threads = [threading.Thread(target=writer, args=(s, n)) for s, n in ((first, "a"), (second, "b"))]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while len(acknowledged["a"]) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.017)
        first.kill()
        time.sleep(0.3)
        stop.set()
        for t in threads:
            t.join(20)
        assert acknowledged["a"] and acknowledged["b"]
        with second.client() as client:
            for name in ("a", "b"):
                for i in attempted[name]:
                    found = client.get_things(client_thing_ids=[f"{tag}-{name}-{i}"])
                    if i in acknowledged[name]:
                        assert len(found) == 4, f"acknowledged batch {name}{i} lost things"
                    else:
                        assert len(found) in (0, 4), f"batch {name}{i} is half visible"
        first.start()  # the killed instance comes back to the same platform
        with first.client() as client:
            last = acknowledged["b"][-1]
            assert len(client.get_things(client_thing_ids=[f"{tag}-b-{last}"])) == 4
    finally:
        second.stop()
        first.stop()


# -- the object store's side of uploads -------------------------------------------------------


@pytest.fixture
def s3(engines) -> S3BlobFiles:
    return S3BlobFiles("hvgen-unit", f"u{uuid.uuid4().hex[:8]}", max_blob_size=64 * MIB, client=engines.s3.client())


def test_chunks_make_parts_of_the_minimum_size(s3: S3BlobFiles) -> None:
    blob_id = str(uuid.uuid4())
    chunks = [pattern(CHUNK, seed=i) for i in range(6)] + [b"tail"]
    state, offset = s3.create(blob_id), 0
    sizes = []
    for chunk in chunks:
        state = s3.append(blob_id, offset, chunk, state)
        offset += len(chunk)
        parsed = UploadState.parse(state)
        sizes.append((parsed.parts, len(parsed.staged)))
    # 2 MiB chunks: two wait, the third makes a 6 MiB part (S3's minimum is 5 MiB).
    assert sizes == [(0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1)]
    assert s3.same_bytes(blob_id, offset - 4, b"tail", state) and not s3.same_bytes(blob_id, offset - 4, b"tall", state)
    s3.finish(blob_id, offset, state)
    s3.finish(blob_id, offset, state)  # again (a crash before the row said so): no harm
    assert s3.size(blob_id) == offset
    assert b"".join(s3.read(blob_id, piece=3 * MIB)) == b"".join(chunks)
    assert [len(p) for p in s3.read(blob_id, CHUNK - 1, 5 * MIB, piece=2 * MIB)] == [2 * MIB, 2 * MIB, MIB]
    listed = s3.client.list_objects_v2(Bucket=s3.bucket, Prefix=s3.prefix)["Contents"]
    assert [o["Key"] for o in listed] == [s3.key(blob_id)], "no waiting chunk is left behind"
    s3.delete(blob_id)
    assert s3.client.list_objects_v2(Bucket=s3.bucket, Prefix=s3.prefix).get("KeyCount") == 0


def test_an_append_whose_state_was_never_committed_is_done_again(s3: S3BlobFiles) -> None:
    """A process dies after writing a chunk (or a part) but before its row
    was committed: the row's state is the one before, and the chunk, sent
    again (with other bytes, even), replaces what that process wrote."""
    blob_id = str(uuid.uuid4())
    state = s3.create(blob_id)
    state = s3.append(blob_id, 0, pattern(CHUNK, seed=1), state)
    state = s3.append(blob_id, CHUNK, pattern(CHUNK, seed=2), state)
    s3.append(blob_id, 2 * CHUNK, pattern(CHUNK, seed=3), state)  # makes part 1; its state is lost
    state = s3.append(blob_id, 2 * CHUNK, pattern(CHUNK, seed=4), state)
    lost_state = s3.append(blob_id, 3 * CHUNK, pattern(CHUNK, seed=5), state)
    assert UploadState.parse(lost_state).garbage == []
    state = s3.append(blob_id, 3 * CHUNK, b"last", state)
    s3.finish(blob_id, 3 * CHUNK + 4, state)
    expected = pattern(CHUNK, seed=1) + pattern(CHUNK, seed=2) + pattern(CHUNK, seed=4) + b"last"
    assert hashlib.sha256(b"".join(s3.read(blob_id))).digest() == hashlib.sha256(expected).digest()


def test_orphans_and_abandoned_uploads_are_removed(s3: S3BlobFiles) -> None:
    kept, dropped, uploading = (str(uuid.uuid4()) for _ in range(3))
    s3.put(kept, [b"kept"])
    s3.put(dropped, [b"dropped"])
    state = s3.create(uploading)
    for i in range(4):  # a multipart upload and a waiting chunk
        state = s3.append(uploading, i * CHUNK, pattern(CHUNK, seed=i), state)
    s3.remove_orphans({kept, uploading}, time.time() + 60)
    assert {o["Key"].split("/")[-1 if "/blobs/" in o["Key"] else -2] for o in _objects(s3)} == {kept, uploading}
    assert UploadState.parse(state).upload_id in [u["UploadId"] for u in _uploads(s3)]
    s3.remove_orphans({kept}, time.time() + 60)
    assert {o["Key"].split("/")[-1] for o in _objects(s3)} == {kept}
    assert _uploads(s3) == []


def _objects(s3: S3BlobFiles) -> list[dict[str, Any]]:
    return list(s3.client.list_objects_v2(Bucket=s3.bucket, Prefix=s3.prefix).get("Contents", []))


def _uploads(s3: S3BlobFiles) -> list[dict[str, Any]]:
    return list(s3.client.list_multipart_uploads(Bucket=s3.bucket, Prefix=s3.prefix).get("Uploads", []))


def test_large_puts_go_up_in_parts(s3: S3BlobFiles) -> None:
    blob_id = str(uuid.uuid4())
    data = pattern(17 * MIB + 1, seed=3)
    assert s3.put(blob_id, (data[i : i + 777_777] for i in range(0, len(data), 777_777))) == len(data)
    assert b"".join(s3.read(blob_id)) == data
    assert "-" in s3.client.head_object(Bucket=s3.bucket, Key=s3.key(blob_id))["ETag"]  # a multipart object


def test_instances_starting_at_once_on_a_new_store_agree(shared: Backend, tmp_path: Path) -> None:
    """Three first runs at once on a database that does not exist yet: one
    database, one schema, one application, one token key."""
    import os
    import subprocess
    import sys

    options = shared.options()
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hvgen_cli",
                "serve",
                "--init-only",
                "--data",
                str(tmp_path / f"d{i}"),
                *options,
                "--profile",
                str(tmp_path / f"p{i}.json"),
            ],
            env={**os.environ, **shared.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for i in range(3)
    ]
    outputs = [run.communicate(timeout=120)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], outputs
    assert sum("Created" in out for out in outputs) == 1, outputs
    apps = {line.split()[-1] for out in outputs for line in out.splitlines() if "application:" in line}
    assert len(apps) == 1
    keys = {(tmp_path / f"d{i}" / "app" / "key.pem").read_bytes() for i in range(3)}
    assert len(keys) == 1


def test_a_hold_is_one_holder_at_a_time_across_stores(engines) -> None:
    """Store.hold of two stores on one database (two server processes): the
    second holder of a name waits until the first lets go; other names do not wait."""
    from hvgen_server.store.postgres import PostgresStore

    url = engines.postgres.new_database()
    one, two = PostgresStore(url, pool_size=1), PostgresStore(url, pool_size=1)
    events: list[str] = []
    held = threading.Event()

    def first() -> None:
        with one.hold("stow:r:1.2.3"):
            events.append("first in")
            held.set()
            time.sleep(0.5)
            events.append("first out")

    try:
        runner = threading.Thread(target=first)
        runner.start()
        assert held.wait(10)
        with two.hold("stow:r:4.5.6"):  # another name: at once
            events.append("other name")
        with two.hold("stow:r:1.2.3"):
            events.append("second in")
        runner.join()
    finally:
        one.close()
        two.close()
    assert events == ["first in", "other name", "first out", "second in"]
