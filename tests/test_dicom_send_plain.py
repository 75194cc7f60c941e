"""C-STORE (what `hvgen dicom send` does: :func:`hvgen_imaging.peers.send`)
to dcmtk's storescp, which takes uncompressed syntaxes only: files stored
uncompressed (or in a syntax the node takes) go byte for byte, compressed
ones as decoded copies; a node that accepts none of the contexts is named with what it
refused."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from hvgen_imaging import peers

from . import dcmtk
from .dicomgen import make_study, pydicom_file
from .localserver import free_port
from .test_dicom_listen import data_set_bytes

pytest.importorskip("pynetdicom")


@pytest.fixture
def storescp(tmp_path: Path) -> Iterator[tuple[peers.Node, Path]]:
    out, port = tmp_path / "received", free_port()
    out.mkdir()
    process = subprocess.Popen(
        [dcmtk.require("storescp"), "-aet", "PLAIN", "-od", str(out), "-uf", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    node = peers.Node("PLAIN", "127.0.0.1", port)
    try:
        for _ in range(100):
            try:
                peers.echo(node)
                break
            except peers.PeerError:
                time.sleep(0.1)
        yield node, out
    finally:
        process.terminate()
        process.wait(10)


def copy_of(name: str, path: Path, **changes: str) -> Path:
    ds = pydicom.dcmread(pydicom_file(name))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
        if keyword == "SOPClassUID":
            ds.file_meta.MediaStorageSOPClassUID = UID(value)
    ds.save_as(path, enforce_file_format=True)
    return path


def test_compressed_and_big_endian_files_go_decoded_others_as_stored(
    storescp: tuple[peers.Node, Path], tmp_path: Path
) -> None:
    node, out = storescp
    made = make_study(tmp_path / "ct", series=1, images=2, size=16)
    plain = sorted((tmp_path / "ct").rglob("*.dcm"))
    rle = copy_of("MR_small_RLE.dcm", tmp_path / "rle.dcm")
    big = copy_of("MR_small_bigendian.dcm", tmp_path / "be.dcm")
    transfer = peers.send(node, [*plain, rle, big])
    assert [o.state for o in transfer.outcomes] == ["sent"] * 4, [o.as_dict() for o in transfer.outcomes]
    received = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p for p in out.iterdir()}
    for path in [*plain, big]:  # byte for byte (storescp takes explicit VR big endian too)
        assert data_set_bytes(received[str(pydicom.dcmread(path).SOPInstanceUID)]) == data_set_bytes(path)
    assert set(made["sops"]) <= set(received)
    sent = pydicom.dcmread(rle)
    got = pydicom.dcmread(received[str(sent.SOPInstanceUID)])
    assert got.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert np.array_equal(got.pixel_array, sent.pixel_array)


def test_a_node_that_accepts_none_of_the_contexts_is_named_with_them(
    storescp: tuple[peers.Node, Path], tmp_path: Path
) -> None:
    node, _ = storescp
    odd = copy_of("MR_small_RLE.dcm", tmp_path / "odd.dcm", SOPClassUID="1.2.826.0.1.3680043.8.498.777")
    with pytest.raises(peers.PeerError) as raised:
        peers.send(node, [odd])
    said = str(raised.value)
    assert "aborted" not in said and "accepts none of the SOP classes and transfer syntaxes" in said
    assert "1.2.826.0.1.3680043.8.498.777 in RLE Lossless" in said and "Explicit VR Little Endian" in said


def test_files_are_batched_as_their_contexts_fit_one_association() -> None:
    """Each batch's contexts fit (at most MAX_CONTEXTS), and each is as full as it may be; kept
    as running sets (a study of thousands of files is batched in linear time)."""
    from hvgen_imaging import peers

    rle = "1.2.840.10008.1.2.5"
    files = [
        peers._File(Path(f"f{n}"), f"1.2.3.{n}", f"1.2.840.99.{n % 90}", rle if n % 3 else "1.2.840.10008.1.2.1", 1)
        for n in range(400)
    ]
    batches = list(peers._batches(files))
    assert [f for b in batches for f in b] == files
    for i, batch in enumerate(batches):
        assert len(peers._contexts(batch)) <= peers.MAX_CONTEXTS
        if i + 1 < len(batches):
            assert len(peers._contexts([*batch, batches[i + 1][0]])) > peers.MAX_CONTEXTS
