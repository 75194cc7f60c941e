"""WADO-RS of many instances from a blob store that reads ahead (an object
store): the same bytes, in order, fetched a bounded number ahead, each read
told its length (no size look-up per instance), stopped when the client goes."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hvgen_server.dicomweb import wado
from hvgen_server.store.files import READ_SIZE, LocalBlobFiles
from hvgen_server.store.rows import DicomInstance


class Remote(LocalBlobFiles):
    """Local files that say they read ahead, and record how they are read."""

    read_ahead = 3

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.lock = threading.Lock()
        self.reads: list[tuple[str, int | None]] = []
        self.sizes = 0

    def size(self, blob_id: str) -> int:
        with self.lock:
            self.sizes += 1
        return super().size(blob_id)

    def read(self, blob_id: str, first: int = 0, length: int | None = None, piece: int = READ_SIZE) -> Iterator[bytes]:
        with self.lock:
            self.reads.append((blob_id, length))
        return super().read(blob_id, first, length, piece)


def _instance(n: int, blob_id: str, size: int) -> DicomInstance:
    text = dict.fromkeys(("patient_name", "patient_id", "study_date", "study_time", "accession_number"), "")
    more = dict.fromkeys(("study_id", "referring_physician", "study_description", "modality"), "")
    return DicomInstance(
        study_uid="1.2.3",
        series_uid="1.2.3.1",
        sop_uid=f"1.2.3.1.{n}",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        transfer_syntax="1.2.840.10008.1.2.1",
        blob_name=f"image-{n}",
        blob_id=blob_id,
        size=size,
        preview_blob_id=None,
        series_number=1,
        series_description="",
        instance_number=n,
        study_json="{}",
        series_json="{}",
        instance_json="{}",
        **text,
        **more,
    )


def _stored(tmp_path: Path, count: int) -> tuple[Remote, list[DicomInstance], list[bytes]]:
    files = Remote(tmp_path / "blobs")
    found, contents = [], []
    for n in range(count):
        blob_id = str(uuid.uuid4())
        data = bytes([n % 251]) * (200_000 + 90_001 * n) + f"instance {n}".encode()
        files.put(blob_id, [data])
        found.append(_instance(n, blob_id, len(data)))
        contents.append(data)
    return files, found, contents


def _parts(body: bytes, boundary: str) -> list[bytes]:
    pieces = body.split(b"--" + boundary.encode())
    assert pieces[-1].strip() == b"--"
    return [p.partition(b"\r\n\r\n")[2][:-2] for p in pieces[1:-1]]


def _settle() -> None:
    """Every fetch begun has asked the store: all the fetching threads are taken by this one at once."""
    barrier = threading.Barrier(wado._FETCHERS._max_workers + 1)
    waiting = [wado._FETCHERS.submit(barrier.wait, 30) for _ in range(wado._FETCHERS._max_workers)]
    barrier.wait(30)
    for future in waiting:
        future.result()


def test_every_instance_is_sent_whole_in_order_each_read_with_its_length(tmp_path: Path) -> None:
    files, found, contents = _stored(tmp_path, 12)
    platform: Any = SimpleNamespace(files=files)
    body = b"".join(wado.multipart(platform, found, "b0undary"))
    assert _parts(body, "b0undary") == contents
    assert files.sizes == 0  # the index knows each size: the store is not asked
    assert sorted(files.reads) == sorted((i.blob_id, i.size) for i in found)


def test_reads_ahead_a_bounded_number_and_stops_when_the_client_goes(tmp_path: Path) -> None:
    files, found, _ = _stored(tmp_path, 12)
    platform: Any = SimpleNamespace(files=files)
    pieces = wado.multipart(platform, found, "b0undary")
    first = next(pieces)  # the first parts (a piece is about a megabyte)
    assert first.startswith(b"--b0undary\r\n")
    sent = first.count(b"--b0undary")
    _settle()
    with files.lock:
        asked = len(files.reads)
    assert sent < asked <= sent + files.read_ahead + 1  # fetched ahead, no further than read_ahead
    pieces.close()  # the client went away
    _settle()
    assert len(files.reads) < len(found)


def test_large_instances_are_streamed_in_turn(tmp_path: Path, monkeypatch: Any) -> None:
    files, found, contents = _stored(tmp_path, 5)
    monkeypatch.setattr(wado, "AHEAD_BYTES", 400_000)  # instances 3 and 4 are larger
    platform: Any = SimpleNamespace(files=files)
    assert _parts(b"".join(wado.multipart(platform, found, "x")), "x") == contents
    assert files.sizes == 0
