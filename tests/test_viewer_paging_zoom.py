"""The image view in Chromium (headless): paging in place brings each image's
own window presets and frame time (two instances of pydicom's emri_small
with different windows and frame times), as a reload shows them; zoom (the
buttons, the wheel) and pan (dragging in "moves the image" mode)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from hvgen_imaging import dicom, study, workflow

from .localserver import RunningServer, hvgen, start_server
from .viewerdata import PASSWORD, page_errors, sign_in_page

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Chromium is not installed (apt-get install chromium; .ci/run does)"
)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra has it)")

#: (explanation, center, width, frame time in ms) of the two instances.
FIRST = ("FIRST", "300", "600", "50")
SECOND = ("SECOND", "120", "90", "200")


def _instances(folder: Path) -> None:
    found = get_testdata_file("emri_small.dcm")
    assert found is not None
    folder.mkdir(parents=True)
    for number, (name, center, width, frame_time) in enumerate((FIRST, SECOND), start=1):
        ds = pydicom.dcmread(found)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = number
        ds.WindowCenter, ds.WindowWidth, ds.WindowCenterWidthExplanation = center, width, name
        ds.FrameTime = frame_time
        ds.save_as(folder / f"{number}.dcm")


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str]]:
    base = tmp_path_factory.mktemp("viewer-paging")
    server = start_server(base / "server")
    try:
        hvgen(server, "person", "passwd", "local", "--password-stdin", stdin=PASSWORD + "\n")
        _instances(base / "two")
        built = study.build(dicom.scan(base / "two").studies[0], previews=False)
        with server.client() as client:
            thing_id = workflow.Studies(client, journal_dir=base / "journal").upload(built).thing_id
        yield server, f"/viewer/{server.profile.record_id}/{thing_id}/series/1"
    finally:
        server.stop()


@pytest.fixture
def page(series: tuple[RunningServer, str]) -> Iterator[Any]:
    server, _ = series
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            opened = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            problems = page_errors(opened)
            sign_in_page(opened, server.url)
            yield opened
            assert problems == []
        finally:
            browser.close()


def _presets(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#window-preset option").all_inner_texts()[1:]]


def _rate(page: Any) -> str:
    found = re.search(r"cine ([\d.]+) frames/s", page.inner_text("#frame-position"))
    assert found, page.inner_text("#frame-position")
    return found.group(1)


def test_paging_in_place_brings_each_images_presets_and_frame_time(series: Any, page: Any) -> None:
    server, here = series
    page.goto(server.url + here + "?image=1")
    assert _presets(page) == ["FIRST (300 / 600)"] and _rate(page) == "20"
    page.evaluate("() => { window.samePage = true; }")
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.getElementById('window-preset').textContent.includes('SECOND')")
    assert page.evaluate("() => window.samePage === true"), "paged in place"
    assert _presets(page) == ["SECOND (120 / 90)"] and _rate(page) == "5"
    assert page.get_attribute("#imageview", "data-frame-ms") == "200.000"
    page.select_option("#window-preset", index=1)
    assert page.get_attribute("#imageview", "data-window") == "120.00,90.00"
    paged = (_presets(page), _rate(page))
    page.reload()
    assert page.inner_text("#position") == "image 2 of 2"
    assert (_presets(page), _rate(page)) == paged, "paging shows what a reload shows"
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("() => document.getElementById('window-preset').textContent.includes('FIRST')")
    assert _presets(page) == ["FIRST (300 / 600)"] and _rate(page) == "20"


def _scale_and_place(page: Any) -> tuple[float, float, float]:
    style = page.get_attribute("#frame", "style") or ""
    found = re.search(r"translate\(([-\d.]+)px, ([-\d.]+)px\) scale\(([-\d.]+)\)", style)
    assert found, style
    return float(found.group(3)), float(found.group(1)), float(found.group(2))


def test_zoom_with_buttons_and_wheel_and_pan_by_dragging(series: Any, page: Any) -> None:
    server, here = series
    page.goto(server.url + here + "?image=1")
    page.wait_for_function("() => document.getElementById('imageview').dataset.loaded")
    page.click("#zoom-reset")
    assert _scale_and_place(page) == (1.0, 0.0, 0.0)
    page.click("#zoom-in")
    assert _scale_and_place(page)[0] == pytest.approx(1.25)
    page.click("#zoom-out")
    assert _scale_and_place(page)[0] == pytest.approx(1.0)
    box = page.locator("#viewport").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.wheel(0, -100)
    page.wait_for_function("() => document.getElementById('frame').style.transform.includes('scale(1.1)')")
    page.mouse.wheel(0, 100)
    page.wait_for_function("() => document.getElementById('frame').style.transform.includes('scale(1)')")
    page.click("#zoom-in")
    page.check("input[name=drag][value=pan]")
    window_before = page.get_attribute("#imageview", "data-window")
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 30, y + 20, steps=3)
    page.mouse.up()
    scale, dx, dy = _scale_and_place(page)
    assert scale == pytest.approx(1.25) and (dx, dy) == (30.0, 20.0)
    assert page.get_attribute("#imageview", "data-window") == window_before, "panning leaves the window"
    page.click("#zoom-fit")
    scale, dx, dy = _scale_and_place(page)
    assert (dx, dy) == (0.0, 0.0) and scale > 0
