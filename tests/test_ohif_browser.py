"""The OHIF Viewer served by the platform (`hvgen serve --ohif`), in Debian's
Chromium (headless, software GL), signed in as a person of the platform.

OHIF is fetched once by `hvgen ohif fetch` (npm) into a folder the tests own
(``.test-cache/`` of the checkout, or ``HVGEN_TEST_OHIF_CACHE``) and reused by
later runs; the tests skip, saying why, when npm, Chromium or playwright is
missing or the registry cannot be reached. The viewport is compared as a
picture with pydicom's rendering of the same slice (correlation of the
viewport's image with :func:`hvgen_imaging.preview.render`).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image

from hvgen_imaging import preview

from .conftest import ROOT
from .dicomwebdata import ImagingPlatform
from .viewerdata import PASSWORD

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Chromium is not installed (apt-get install chromium; .ci/run does)"
)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra has it)")

OHIF_VERSION = "3.13.2"
CACHE = Path(os.environ.get("HVGEN_TEST_OHIF_CACHE") or ROOT / ".test-cache") / f"ohif-{OHIF_VERSION}"
#: Software WebGL for the viewport (no GPU in CI).
GL_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"]
#: Seconds OHIF may take to load and draw on a loaded 2-core machine (waited for, not slept).
PATIENCE = 120


@pytest.fixture(scope="module")
def ohif_dist() -> Path:
    dist = CACHE / "dist"
    if (dist / "index.html").is_file():
        return dist
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: OHIF cannot be fetched (apt-get install npm)")
    done = subprocess.run(
        [sys.executable, "-m", "hvgen_cli", "ohif", "fetch", str(CACHE), "--version", OHIF_VERSION],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        pytest.skip(f"OHIF could not be fetched with npm (no network?): {done.stderr.strip()[-300:]}")
    return dist


@pytest.fixture(scope="module")
def with_ohif(imaging: ImagingPlatform, ohif_dist: Path) -> Iterator[ImagingPlatform]:
    """The imaging platform's server, restarted with --ohif (same store and port; it stays so: the
    other tests of the run see the same routes and more)."""
    server = imaging.server
    if "--ohif" not in server.options:
        server.stop()
        server.options = [*server.options, "--ohif", str(ohif_dist)]
        server.start()
    yield imaging


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=GL_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def page(with_ohif: ImagingPlatform, browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, device_scale_factor=1)
    signed_in = context.new_page()
    failures: list[str] = []
    signed_in.on("response", lambda r: failures.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    signed_in.on("console", lambda m: failures.append(f"console: {m.text}") if m.type == "error" else None)
    signed_in.on("pageerror", lambda e: failures.append(f"script error: {e}"))
    signed_in.goto(with_ohif.url + "/signin?next=/ohif/")
    signed_in.fill("input[name=login]", "local")
    signed_in.fill("input[name=password]", PASSWORD)
    signed_in.click("button[type=submit]")
    signed_in.wait_for_url("**/ohif/**", timeout=PATIENCE * 1000)
    yield signed_in
    context.close()
    assert not failures, failures  # no HTTP error, console error (a refused CSP included) or script error


def expected(path: Path, index: int) -> np.ndarray:
    """pydicom's rendering of frame ``index`` (modality LUT, the file's window), as floats."""
    ds = pydicom.dcmread(path)
    return preview.render(ds, [], index=index).astype(float)


def viewport(page: Any) -> np.ndarray:
    """The image part of the viewport's canvas (the central square: the image fits its height), grayscale."""
    canvas = page.locator("canvas.cornerstone-canvas").first
    shot = Image.open(io.BytesIO(canvas.screenshot())).convert("L")
    width, height = shot.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return np.asarray(shot.crop((left, top, left + side, top + side))).astype(float)


def correlation(shown: np.ndarray, wanted: np.ndarray) -> float:
    """Pearson correlation of two pictures, the first resized to the second's size."""
    resized = np.asarray(
        Image.fromarray(shown.astype(np.uint8)).resize(wanted.shape[::-1], Image.Resampling.BILINEAR)
    ).astype(float)
    return float(np.corrcoef(resized.ravel(), wanted.ravel())[0, 1])


def wait_for_picture(page: Any, wanted: np.ndarray, *, at_least: float) -> float:
    """Wait until the viewport shows ``wanted`` (OHIF draws in steps); the last correlation."""
    deadline = time.monotonic() + PATIENCE
    found = -1.0
    while time.monotonic() < deadline:
        if page.locator("canvas.cornerstone-canvas").count():
            found = correlation(viewport(page), wanted)
            if found >= at_least:
                return found
        page.wait_for_timeout(500)
    return found


def test_the_study_list_shows_the_records_studies(with_ohif: ImagingPlatform, page: Any) -> None:
    page.get_by_text("CompressedSamples, CT1").first.wait_for(timeout=PATIENCE * 1000)
    assert page.get_by_text("CompressedSamples, CT1").count() == 2  # the CT, and its deflated copy
    body = page.inner_text("body")
    assert "Study List" in body and "CT" in body


def test_a_ct_slice_is_rendered_as_pydicom_renders_it(with_ohif: ImagingPlatform, page: Any, tmp_path: Path) -> None:
    ct = with_ohif.images["ct"]
    # from the study viewer's page of the study, by its "Open in OHIF" link
    page.goto(f"{with_ohif.url}/viewer/{with_ohif.record_id}")
    studies = page.eval_on_selector_all("td.patient a", "links => links.map(a => a.href)")
    for link in studies:
        page.goto(link)
        if ct.study_uid in page.inner_text("body"):
            break
    else:
        pytest.fail("no study page shows the CT's study UID")
    opener = page.locator("a#open-ohif")
    assert opener.get_attribute("href") == f"/ohif/viewer/record-{with_ohif.record_id}?StudyInstanceUIDs={ct.study_uid}"
    opener.click()
    wanted = expected(ct.path, 0)
    found = wait_for_picture(page, wanted, at_least=0.9)
    page.screenshot(path=str(tmp_path / "ct.png"))
    assert found >= 0.9, f"the viewport does not show the CT slice (correlation {found:.3f}; see {tmp_path})"
    # and not just any picture: the slice upside down is far from it
    assert correlation(viewport(page), wanted[::-1]) < found - 0.2


def test_stepping_through_the_frames_of_a_multi_frame_instance(
    with_ohif: ImagingPlatform, page: Any, tmp_path: Path
) -> None:
    mr = with_ohif.images["mr_frames"]
    frames = [expected(mr.path, i) for i in range(10)]
    page.goto(f"{with_ohif.url}/ohif/viewer/record-{with_ohif.record_id}?StudyInstanceUIDs={mr.study_uid}")
    assert wait_for_picture(page, frames[0], at_least=0.9) >= 0.9
    page.locator("canvas.cornerstone-canvas").first.hover()
    for step in range(1, 6):
        page.mouse.wheel(0, 120)  # the stack scroll: the next frame
        found = wait_for_picture(page, frames[step], at_least=0.9)
        page.screenshot(path=str(tmp_path / f"frame{step}.png"))
        shown = viewport(page)
        others = [correlation(shown, frames[i]) for i in range(10) if i != step]
        assert found >= 0.9 and found > max(others), (step, found, others)
