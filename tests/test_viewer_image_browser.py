"""The image view driven in Chromium (headless): every frame of a multi-frame
MR (pydicom's emri_small, with window presets and a frame time added) is
stepped through and played; the file's presets and dragging set the window;
what the page shows is compared with pydicom's rendering of the same frame
with the same window (correlation), and the server renders frames at their
own resolution."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.pixels.processing import apply_modality_lut

from hvgen_imaging import dicom, study, workflow

from .dicomgen import make_study
from .localserver import RunningServer, hvgen, start_server
from .viewerdata import PASSWORD, sign_in, sign_in_page

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Chromium is not installed (apt-get install chromium; .ci/run does)"
)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra has it)")


def _cine_file(folder: Path) -> Path:
    found = get_testdata_file("emri_small.dcm")
    assert found is not None
    folder.mkdir(parents=True)
    ds = pydicom.dcmread(found)
    values = apply_modality_lut(ds.pixel_array, ds)
    low, high = float(values.min()), float(values.max())
    ds.WindowCenter = [f"{(low + high) / 2:.1f}", f"{low + (high - low) / 4:.1f}"]
    ds.WindowWidth = [f"{high - low:.1f}", f"{(high - low) / 3:.1f}"]
    ds.WindowCenterWidthExplanation = ["WHOLE", "LOW"]
    ds.FrameTime = "50"
    path = folder / "emri.dcm"
    ds.save_as(path)
    return path


def reference(path: Path, frame: int, center: float, width: float) -> np.ndarray:
    """pydicom's values of frame ``frame`` (from 1) through a linear window (PS3.3 C.11.2.1.2), 0..255."""
    ds = pydicom.dcmread(path)
    values = apply_modality_lut(ds.pixel_array[frame - 1], ds).astype(np.float64)
    shown = np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0, 1)
    return np.asarray(shown * 255.0)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.corrcoef(a.ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1])


@pytest.fixture(scope="module")
def cine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str, Path]]:
    base = tmp_path_factory.mktemp("viewer-image")
    server = start_server(base / "server")
    try:
        hvgen(server, "person", "passwd", "local", "--password-stdin", stdin=PASSWORD + "\n")
        path = _cine_file(base / "cine")
        built = study.build(dicom.scan(base / "cine").studies[0], previews=False)
        with server.client() as client:
            thing_id = workflow.Studies(client, journal_dir=base / "journal").upload(built).thing_id
        yield server, f"/viewer/{server.profile.record_id}/{thing_id}/series/1", path
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


def test_the_server_renders_every_frame_at_its_own_resolution(cine: Any) -> None:
    server, here, path = cine
    ds = pydicom.dcmread(path)
    with sign_in(server.url) as browser:
        for frame in range(1, 11):
            got = browser.get(
                here + "/frame", params={"image": "1", "frame": str(frame), "window": "300,500", "format": "png"}
            )
            assert got.status_code == 200 and got.headers["content-type"] == "image/png"
            pixels = np.asarray(Image.open(io.BytesIO(got.content)).convert("L"))
            assert pixels.shape == (ds.Rows, ds.Columns)
            assert correlation(pixels, reference(path, frame, 300, 500)) > 0.99
        missing = browser.get(here + "/frame", params={"image": "1", "frame": "11"})
        assert missing.status_code == 404 and "frame 11 does not exist" in missing.text
        bad = browser.get(here + "/frame", params={"image": "1", "window": "1,-5"})
        assert bad.status_code == 400 and "positive" in bad.text


def _sign_in(page: Any, url: str) -> None:
    sign_in_page(page, url)


def _shown(page: Any) -> np.ndarray:
    """The frame the page shows, as its pixels (drawn on a canvas at the image's own size)."""
    page.wait_for_function(
        "() => { const i = document.getElementById('frame'); return i.complete && i.naturalWidth > 0 && document.getElementById('imageview').dataset.loaded === i.getAttribute('src'); }"
    )
    data = page.evaluate(
        """() => { const i = document.getElementById('frame'); const c = document.createElement('canvas');
        c.width = i.naturalWidth; c.height = i.naturalHeight; const g = c.getContext('2d'); g.drawImage(i, 0, 0);
        return [c.width, c.height, Array.from(g.getImageData(0, 0, c.width, c.height).data)]; }"""
    )
    width, height, rgba = data
    return np.asarray(rgba, dtype=np.float64).reshape(height, width, 4)[..., 0]


def test_frames_step_play_and_take_the_window_in_the_browser(cine: Any, chromium: Any) -> None:
    server, here, path = cine
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    try:
        _sign_in(page, server.url)
        page.goto(server.url + here + "?image=1")
        assert "frame 1 of 10" in page.inner_text("#frame-position")
        assert "20 frames/s" in page.inner_text("#frame-position")  # FrameTime 50 ms
        ds = pydicom.dcmread(path)
        whole = (float(ds.WindowCenter[0]), float(ds.WindowWidth[0]))
        low = (float(ds.WindowCenter[1]), float(ds.WindowWidth[1]))
        assert correlation(_shown(page), reference(path, 1, *whole)) > 0.98  # the file's first window
        page.click("#frame-next")
        page.click("#frame-next")
        assert page.get_attribute("#imageview", "data-frame") == "3"
        assert "frame 3 of 10" in page.inner_text("#frame-position")
        assert correlation(_shown(page), reference(path, 3, *whole)) > 0.98
        page.keyboard.press("ArrowUp")
        assert page.get_attribute("#imageview", "data-frame") == "2"
        page.select_option("#window-preset", index=2)
        assert page.locator("#window-preset option").nth(2).inner_text().startswith("LOW")
        assert correlation(_shown(page), reference(path, 2, *low)) > 0.98
        # dragging right widens the window, down raises its center
        box = page.locator("#viewport").bounding_box()
        assert box is not None
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 40, y + 20, steps=4)
        page.mouse.up()
        center, width = (float(v) for v in (page.get_attribute("#imageview", "data-window") or "").split(","))
        assert width > low[1] and center > low[0]
        assert correlation(_shown(page), reference(path, 2, center, width)) > 0.98
        # cine: frames move on by themselves until paused
        page.click("#cine")
        page.wait_for_function("() => document.getElementById('imageview').dataset.frame === '6'", timeout=30_000)
        page.click("#cine")
        assert page.get_attribute("#cine", "aria-pressed") == "false"
        assert problems == []
    finally:
        context.close()


def test_paging_through_a_series_stays_on_the_page(cine: Any, chromium: Any, tmp_path: Path) -> None:
    server, _, _ = cine
    make_study(tmp_path / "four", series=1, images=4, size=32, seed=11, patient="PAGED^FOUR")
    built = study.build(dicom.scan(tmp_path / "four").studies[0])
    with server.client() as client:
        thing_id = workflow.Studies(client, journal_dir=tmp_path / "journal").upload(built).thing_id
    here = f"/viewer/{server.profile.record_id}/{thing_id}/series/1"
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    try:
        _sign_in(page, server.url)
        page.goto(server.url + here + "?image=1")
        page.evaluate("() => { window.samePage = true; }")
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")  # past the last image: nothing happens
        assert page.url.endswith(here + "?image=4")
        assert page.inner_text("#position") == "image 4 of 4"
        assert page.evaluate("() => window.samePage === true"), "the page was not loaded again"
        assert page.locator("#next").count() == 0 and page.locator("#prev").count() == 1
        page.wait_for_function("() => document.getElementById('frame').getAttribute('src').includes('image=4&')")
        _shown(page)
        page.keyboard.press("ArrowLeft")
        assert page.url.endswith(here + "?image=3") and page.inner_text("#position") == "image 3 of 4"
        assert page.get_attribute("#tags-link", "href") == here + "/tags?image=3"
        page.click("#prev")
        assert page.inner_text("#position") == "image 2 of 4" and page.evaluate("() => window.samePage === true")
        page.reload()
        assert page.inner_text("#position") == "image 2 of 4", "the address says where the series was left"
        assert problems == []
    finally:
        context.close()


def test_series_are_named_by_their_series_number_and_listed_in_a_strip(cine: Any, tmp_path: Path) -> None:
    server, _, _ = cine
    folder = tmp_path / "numbered"
    make_study(folder, series=2, images=1, size=16, seed=12, patient="NUMBERED^SERIES")
    for path in folder.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        del ds.SeriesDescription
        ds.SeriesNumber = 300 + int(ds.SeriesNumber)
        ds.save_as(path)
    built = study.build(dicom.scan(folder).studies[0])
    with server.client() as client:
        thing_id = workflow.Studies(client, journal_dir=tmp_path / "journal").upload(built).thing_id
    here = f"/viewer/{server.profile.record_id}/{thing_id}"
    with sign_in(server.url) as browser:
        page = browser.get(here).text
        names = sorted(re.findall(r">(\d\. Series \d+)</a>", page))
        assert names == ["1. Series 301", "2. Series 302"] or names == ["1. Series 302", "2. Series 301"], names
        series = browser.get(here + "/series/2").text
        strip = series[series.index('id="series-strip"') :]
        strip = strip[: strip.index("</nav>")]
        assert strip.count("<a ") == 2 and strip.count('aria-current="page"') == 1
        assert re.search(r'href="[^"]+/series/2" aria-current="page"', strip)
        assert re.search(r"<h1>2\. Series 30[12]</h1>", series)
