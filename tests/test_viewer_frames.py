"""What the image view reads of an image (frames, cine frame time, window
presets) and its frames refused with a message when the decoding budget is
taken, in process over a blob store."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pydicom
import pytest
from pydicom.data import get_testdata_file
from starlette.datastructures import QueryParams

from hvgen_imaging.budget import MemoryBudget
from hvgen_server.context import Platform
from hvgen_server.dicomweb import rendering
from hvgen_server.viewer import rendered


class Files:
    """Blob bytes from files of a folder (the blob id is the file name)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def size(self, blob_id: str) -> int:
        return (self.folder / blob_id).stat().st_size

    def read(self, blob_id: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        with open(self.folder / blob_id, "rb") as f:
            f.seek(start)
            yield f.read(-1 if length is None else length)


def _platform(folder: Path) -> Platform:
    return cast(Platform, SimpleNamespace(files=Files(folder)))


def _saved(folder: Path, **values: Any) -> str:
    found = get_testdata_file("emri_small.dcm")
    assert found is not None
    ds = pydicom.dcmread(found)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    name = f"f{len(list(folder.iterdir()))}.dcm"
    ds.save_as(folder / name)
    return name


def test_frame_time_comes_from_frame_time_then_cine_rate_then_the_display_rate(tmp_path: Path) -> None:
    platform = _platform(tmp_path)
    plain = rendered.image_info(platform, _saved(tmp_path))
    assert plain.frames == 10 and plain.frame_ms == rendered.DEFAULT_FRAME_MS and plain.frame_time_from == ""
    assert (plain.columns, plain.rows) == (64, 64)
    rate = rendered.image_info(platform, _saved(tmp_path, RecommendedDisplayFrameRate="25"))
    assert rate.frame_ms == 40 and rate.frame_time_from == "RecommendedDisplayFrameRate"
    cine = rendered.image_info(platform, _saved(tmp_path, RecommendedDisplayFrameRate="25", CineRate="5"))
    assert cine.frame_ms == 200 and cine.frame_time_from == "CineRate"
    both = rendered.image_info(platform, _saved(tmp_path, CineRate="5", FrameTime="33.3"))
    assert both.frame_ms == pytest.approx(33.3) and both.frame_time_from == "FrameTime"
    slow = rendered.image_info(platform, _saved(tmp_path, FrameTime="60000"))
    assert slow.frame_ms == rendered.MAX_FRAME_MS


def test_window_presets_come_from_the_file(tmp_path: Path) -> None:
    platform = _platform(tmp_path)
    name = _saved(
        tmp_path,
        WindowCenter=["40", "300"],
        WindowWidth=["400", "1500", "10"],
        WindowCenterWidthExplanation=["SOFT <b>TISSUE</b>", ""],
    )
    presets = rendered.image_info(platform, name).presets
    assert [(p.label, p.center, p.width) for p in presets] == [("SOFT <b>TISSUE</b>", 40, 400), ("Window 2", 300, 1500)]
    assert rendered.image_info(platform, _saved(tmp_path, WindowCenter="40", WindowWidth="0")).presets == ()


def test_a_frame_the_budget_cannot_hold_is_refused_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = _platform(tmp_path)
    name = _saved(tmp_path)
    body, media = rendered.frame_bytes(platform, name, "this image", QueryParams("frame=3&format=png"))
    assert media == "image/png" and body.startswith(b"\x89PNG")
    busy = MemoryBudget(total=1 << 20, slots=1, wait=0.01)
    monkeypatch.setattr(rendering, "BUDGET", busy)
    with busy.reserve(1 << 20), pytest.raises(rendered.BadRendering) as refused:
        rendered.frame_bytes(platform, name, "this image", QueryParams("frame=3"))
    assert refused.value.status == 503 and "try again in a moment" in refused.value.message
    for query, status in [("frame=0", 404), ("frame=x", 400), ("window=40", 400), ("fit=0,10", 400)]:
        with pytest.raises(rendered.BadRendering) as bad:
            rendered.frame_bytes(platform, name, "this image", QueryParams(query))
        assert bad.value.status == status, query
    assert pydicom.dcmread(io.BytesIO((tmp_path / name).read_bytes())).NumberOfFrames == 10
