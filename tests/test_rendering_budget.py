"""What a rendered frame costs is within the decoding budget: the decoding,
and the scaling and encoding of the image sent (a viewport may be larger
than the image: ``viewport=4096,4096`` of a 128 x 128 CT is 16 megapixels)."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hvgen_imaging.budget import MemoryBudget
from hvgen_server.dicomweb import rendering
from hvgen_server.dicomweb.media import DicomWebError
from hvgen_server.dicomweb.rendering import Presentation
from hvgen_server.store.files import LocalBlobFiles

from .dicomgen import pydicom_file

MIB = 1 << 20
CT = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"


def test_a_large_viewport_waits_for_its_share_of_the_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = LocalBlobFiles(tmp_path / "blobs")
    files.put(CT, [Path(pydicom_file("CT_small.dcm")).read_bytes()])
    platform: Any = SimpleNamespace(files=files)
    budget = MemoryBudget(total=8 * MIB, slots=4, wait=0.3)
    monkeypatch.setattr(rendering, "BUDGET", budget)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # another request holds half the budget
        with budget.reserve(4 * MIB):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(5)
        small = rendering.render_blob(platform, CT, "the CT", 0, Presentation(), "image/png")
        assert small.startswith(b"\x89PNG")  # (its decoding and encoding fit in what is left)
        with pytest.raises(DicomWebError) as refused:
            rendering.render_blob(platform, CT, "the CT", 0, Presentation(viewport=(4096, 4096)), "image/png")
        assert refused.value.status == 503 and "memory budget" in str(refused.value)
    finally:
        release.set()
        holder.join()
    assert budget.used == 0 and budget.running == 0
    alone = rendering.render_blob(platform, CT, "the CT", 0, Presentation(viewport=(256, 256)), "image/png")
    assert alone.startswith(b"\x89PNG")
