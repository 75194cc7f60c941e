"""DICOMweb under attack, in raw bytes: STOW-RS bodies cut short or filling
the disk (no part file left open, the space given back, 507), bodies of
countless parts (refused while they arrive, answers of bounded size), and
query values or boundaries that once made a 500 with an XML body."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from .dicomgen import make_study
from .localserver import EMBEDDED_ONLY, Backend, RunningServer, free_port, start_server
from .rawhttp import connect, head, peak_rss_mib, request, send_reading
from .test_dicomweb import token_of

#: What a part 10 file begins with: a 128-byte preamble and the DICM prefix.
PREFIX = b"\0" * 128 + b"DICM"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[tuple[RunningServer, str, bytes]]:
    base = tmp_path_factory.mktemp("stow-limits")
    server = start_server(base / "server", backend=backend)
    make_study(base / "one", series=1, images=1, size=32, seed=4)
    instance = next((base / "one").rglob("*.dcm")).read_bytes()
    yield server, token_of(server), instance
    server.stop()


def stow_head(token: str, boundary: str, length: int) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        "Content-Length": str(length),
    }


def multipart(parts: list[tuple[str, bytes]], boundary: str) -> bytes:
    out = [f"--{boundary}\r\nContent-Type: {media}\r\n\r\n".encode() + data + b"\r\n" for media, data in parts]
    return b"".join(out) + f"--{boundary}--\r\n".encode()


def open_deleted_files(pid: int) -> list[str]:
    held = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.endswith("(deleted)"):
            held.append(target)
    return held


# -- 6: STOW-RS bodies cut short, and a full disk ---------------------------------------------------


@EMBEDDED_ONLY
def test_bodies_cut_short_leave_no_part_file_open(platform: tuple[RunningServer, str, bytes]) -> None:
    server, token, _ = platform
    boundary = uuid.uuid4().hex
    part_head = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + PREFIX
    piece = b"\0" * (1024 * 1024)
    for _ in range(5):
        with connect(server.port) as sock:
            sock.sendall(head("POST", "/dicomweb/studies", stow_head(token, boundary, 40_000_000)) + part_head)
            for _ in range(20):  # 20 MB of the 40 announced, then the client goes away
                sock.sendall(piece)
    time.sleep(2)
    held = open_deleted_files(server.process.pid)
    assert held == [], f"the server holds {len(held)} deleted files open: {held[:3]}"
    assert not any((server.data / "gateway" / "incoming").iterdir())


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 48 MiB tmpfs mounted for the test (needs root; skipped otherwise)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_full_disk_is_507_and_the_space_is_given_back(tmp_path: Path, small_disk: Path, backend: Backend) -> None:
    # The server's store folder is the small disk, its log and profile beside it.
    server = RunningServer(
        data=small_disk,
        port=free_port(),
        profile_path=tmp_path / "profile.json",
        backend=backend,
        store_options=backend.options(),
    ).start()
    try:
        token = token_of(server)
        make_study(tmp_path / "one", series=1, images=1, size=32, seed=5)
        instance = next((tmp_path / "one").rglob("*.dcm")).read_bytes()
        free_before = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        boundary = uuid.uuid4().hex
        size = 150 * 1024 * 1024
        part_head = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + PREFIX

        def body() -> Iterator[bytes]:
            yield head("POST", "/dicomweb/studies", stow_head(token, boundary, len(part_head) + size)) + part_head
            piece = b"\0" * (1024 * 1024)
            for _ in range(size // len(piece)):
                yield piece

        with connect(server.port, timeout=60) as sock:
            answer = send_reading(sock, body())
        assert answer.status == 507, (answer.status, answer.body[:200])
        assert answer.headers["content-type"].startswith("text/plain") and b"disk is full" in answer.body
        time.sleep(0.5)
        free_after = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        assert free_after >= free_before - 1024 * 1024, f"{(free_before - free_after) >> 20} MiB still taken"
        assert open_deleted_files(server.process.pid) == []
        with server.client() as client:  # the store still writes: a session, a thing
            client.create_session()
            assert client.get_things(max=1) is not None
        small = multipart([("application/dicom", instance)], boundary)
        stored = request(server.port, "POST", "/dicomweb/studies", small, stow_head(token, boundary, len(small)))
        assert stored.status == 200, stored.body[:300]
    finally:
        server.stop()


# -- 7: parts without end -----------------------------------------------------------------------------


@EMBEDDED_ONLY
def test_countless_parts_are_refused_while_they_arrive(platform: tuple[RunningServer, str, bytes]) -> None:
    server, token, _ = platform
    pid = server.process.pid
    boundary = uuid.uuid4().hex
    body = multipart([("text/plain", b"x")] * 200_000, boundary)  # 8.6 MB of parts that are not DICOM
    before = peak_rss_mib(pid)
    started = time.perf_counter()
    answer = request(server.port, "POST", "/dicomweb/studies", body, stow_head(token, boundary, len(body)), timeout=120)
    spent = time.perf_counter() - started
    grown = peak_rss_mib(pid) - before
    assert answer.status == 413 and b"more than 10000 parts" in answer.body, (answer.status, answer.body[:200])
    assert len(answer.body) < 1000 and grown < 60, f"answer of {len(answer.body)} bytes, server grew {grown:.0f} MiB"
    assert spent < 10
    dicom_typed = multipart([("application/dicom", b"x")] * 20_000, boundary)  # one-byte "instances"
    started = time.perf_counter()
    answer = request(
        server.port, "POST", "/dicomweb/studies", dicom_typed, stow_head(token, boundary, len(dicom_typed))
    )
    assert answer.status == 413 and time.perf_counter() - started < 5


@EMBEDDED_ONLY
def test_failures_without_uids_are_listed_up_to_a_hundred(platform: tuple[RunningServer, str, bytes]) -> None:
    server, token, instance = platform
    boundary = uuid.uuid4().hex
    parts = [("text/plain", b"not dicom")] * 150 + [("application/dicom", b"\0" * 50), ("application/dicom", instance)]
    body = multipart(parts, boundary)
    started = time.perf_counter()
    answer = request(server.port, "POST", "/dicomweb/studies", body, stow_head(token, boundary, len(body)))
    assert answer.status == 202, answer.body[:300]
    result = json.loads(answer.body)
    assert len(result["00081199"]["Value"]) == 1
    failed = result["00081198"]["Value"]
    assert len(failed) == 100 and all(f["00081197"]["Value"] == [0xC000] for f in failed)
    warnings = answer.headers.get("warning", "")
    assert "51 more part(s)" in warnings, warnings
    assert time.perf_counter() - started < 30


# -- 15: numbers and boundaries out of range ------------------------------------------------------


@EMBEDDED_ONLY
@pytest.mark.parametrize("query", ["offset=" + "1" + "0" * 30, "limit=" + "1" + "0" * 30, "offset=9223372036854775808"])
def test_huge_limits_and_offsets_are_400(platform: tuple[RunningServer, str, bytes], query: str) -> None:
    server, token, _ = platform
    answer = request(server.port, "GET", f"/dicomweb/studies?{query}", headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 400, (answer.status, answer.body[:200])
    assert answer.headers["content-type"].startswith("text/plain") and b"whole number from 0 to" in answer.body


@EMBEDDED_ONLY
def test_a_boundary_longer_than_rfc_2046_allows_is_400(platform: tuple[RunningServer, str, bytes]) -> None:
    server, token, instance = platform
    boundary = "b" * 2000
    body = multipart([("application/dicom", instance)], boundary)
    answer = request(server.port, "POST", "/dicomweb/studies", body, stow_head(token, boundary, len(body)))
    assert answer.status == 400, (answer.status, answer.body[:200])
    assert answer.headers["content-type"].startswith("text/plain") and not answer.body.lstrip().startswith(b"<")
    assert b"boundary" in answer.body and len(answer.body) < 300
