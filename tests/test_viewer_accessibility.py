"""Accessibility of the viewer's pages, checked in Chromium (headless) by
axe-core (npm: ``npm pack axe-core``, fetched once into ``.test-cache/``;
.ci/run fetches it): the study list, a study, the image view and the tag
view have no serious or critical violation; at 390 and 1920 px the pages
do not overflow sideways and the header's boxes (the name of the viewer,
where you are, who is signed in) do not overlap, on the screenshot too."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat
from pydicom.data import get_testdata_file

from hvgen_imaging import dicom, study, workflow

from .localserver import RunningServer, hvgen, start_server
from .viewerdata import PASSWORD, sign_in_page

AXE_VERSION = "4.14.1"
ROOT = Path(__file__).resolve().parents[1]
AXE = Path(os.environ.get("HVGEN_TEST_AXE_CACHE") or ROOT / ".test-cache") / f"axe-core-{AXE_VERSION}"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Chromium is not installed (apt-get install chromium; .ci/run does)"
)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra has it)")


def axe_script() -> Path:
    """axe.min.js of axe-core, fetched with npm the first time (the test skips, saying why, when it cannot be)."""
    script = AXE / "package" / "axe.min.js"
    if script.exists():
        return script
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: axe-core cannot be fetched (apt-get install npm)")
    AXE.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["npm", "pack", f"axe-core@{AXE_VERSION}", "--silent"], cwd=AXE, capture_output=True, text=True, timeout=300
    )
    packed = AXE / f"axe-core-{AXE_VERSION}.tgz"
    if done.returncode != 0 or not packed.exists():
        pytest.skip(f"axe-core could not be fetched with npm (no network?): {done.stderr.strip()[-300:]}")
    with tarfile.open(packed) as archive:
        archive.extract("package/axe.min.js", AXE, filter="data")
    return script


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, dict[str, str]]]:
    base = tmp_path_factory.mktemp("viewer-a11y")
    server = start_server(base / "server")
    try:
        hvgen(server, "person", "passwd", "local", "--password-stdin", stdin=PASSWORD + "\n")
        found = get_testdata_file("emri_small.dcm")
        assert found is not None
        (base / "mr").mkdir()
        shutil.copy(found, base / "mr" / "emri.dcm")
        built = study.build(dicom.scan(base / "mr").studies[0])
        with server.client() as client:
            thing_id = workflow.Studies(client, journal_dir=base / "journal").upload(built).thing_id
        here = f"/viewer/{server.profile.record_id}"
        yield (
            server,
            {
                "study list": here,
                "study": f"{here}/{thing_id}",
                "image view": f"{here}/{thing_id}/series/1?image=1",
                "tag view": f"{here}/{thing_id}/series/1/tags?image=1",
                "delete page": f"{here}/{thing_id}/delete",
                "upload page": f"/viewer/upload/{server.profile.record_id}",
            },
        )
    finally:
        server.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


def _signed_in(chromium: Any, server: RunningServer, width: int) -> tuple[Any, Any]:
    # the pages allow scripts from the server only: axe is added to them by the test, past that policy
    context = chromium.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    page = context.new_page()
    sign_in_page(page, server.url)
    return context, page


def test_no_serious_or_critical_accessibility_violation(pages: Any, chromium: Any) -> None:
    script = axe_script()
    server, paths = pages
    context, page = _signed_in(chromium, server, 1280)
    try:
        found: dict[str, list[str]] = {}
        for name, path in paths.items():
            page.goto(server.url + path)
            page.wait_for_load_state("networkidle")
            page.add_script_tag(path=str(script))
            result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
            serious = [
                f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
                for v in result["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            if serious:
                found[name] = serious
        assert found == {}
    finally:
        context.close()


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["width"] - 1
        and b["x"] < a["x"] + a["width"] - 1
        and a["y"] < b["y"] + b["height"] - 1
        and b["y"] < a["y"] + a["height"] - 1
    )


@pytest.mark.parametrize("width", [390, 1920])
def test_pages_fit_and_the_header_boxes_do_not_overlap(pages: Any, chromium: Any, width: int, tmp_path: Path) -> None:
    server, paths = pages
    context, page = _signed_in(chromium, server, width)
    try:
        for name, path in paths.items():
            page.goto(server.url + path)
            page.wait_for_load_state("networkidle")
            assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} overflows at {width} px"
            boxes = [page.locator(s).bounding_box() for s in ("header .brand", "header .crumbs", "header .who")]
            assert all(b is not None for b in boxes)
            for i in range(3):
                for j in range(i + 1, 3):
                    assert not _overlap(boxes[i], boxes[j]), f"{name} at {width} px: header boxes {i} and {j} overlap"
            shot = tmp_path / f"{name.replace(' ', '-')}-{width}.png"
            page.screenshot(path=str(shot), full_page=True)
            picture = Image.open(shot).convert("L")
            assert picture.size[0] == width and ImageStat.Stat(picture).stddev[0] > 10, f"{name}: blank"
            header = page.locator("header").bounding_box()
            assert header is not None
            strip = picture.crop((0, 0, width, int(header["height"])))
            assert ImageStat.Stat(strip).stddev[0] > 10, f"{name}: the header shows its text"
    finally:
        context.close()
