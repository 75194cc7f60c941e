"""The study viewer in a real browser: Debian's Chromium, headless, driven by playwright.

Every page visited is checked for its elements, for every image loaded
(``naturalWidth > 0``), and for no console error, script error, failed
request or HTTP error; screenshots go to the test's folder and are checked
as pictures. The tests skip, saying why, when Chromium or playwright is
missing (`.ci/run` installs both). ``HVGEN_WRITE_SCREENSHOTS=1`` writes the
study page's screenshot to docs/viewer.png, which the README shows.
"""

from __future__ import annotations

import html
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from .conftest import ROOT
from .localserver import EMBEDDED_ONLY, Backend
from .viewerdata import MARKUP, PASSWORD, SIGNER, ViewerPlatform, make_platform

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Chromium is not installed (apt-get install chromium; .ci/run does)"
    ),
    EMBEDDED_ONLY,
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra has it)")

VIEWPORT = {"width": 1280, "height": 860}


@pytest.fixture(scope="module")
def viewed(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[ViewerPlatform]:
    made = make_platform(tmp_path_factory.mktemp("viewer-browser"), backend)
    yield made
    made.server.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


class Watched:
    """A browser page and everything that went wrong on it."""

    def __init__(self, browser: Any, *, allowed_status: set[int] | None = None) -> None:
        self.context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.allowed_status = allowed_status or set()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        self.page.on("requestfailed", self._failed)
        self.page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    def _failed(self, request: Any) -> None:
        # The browser fetches a page's icon in the background, and drops the
        # fetch when the page is left before it ends: not a failure of the page.
        if request.url.endswith("/static/icon.svg") and "ERR_ABORTED" in str(request.failure):
            return
        self.problems.append(f"request failed: {request.url} ({request.failure})")

    def _response(self, response: Any) -> None:
        if response.status >= 400 and response.status not in self.allowed_status:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def images(self) -> list[tuple[str, bool, int]]:
        """Every <img> of the page, once they have settled: (src, complete, naturalWidth)."""
        self.page.wait_for_function("() => Array.from(document.images).every(i => i.complete)", timeout=15_000)
        found = self.page.evaluate(
            "() => Array.from(document.images).map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"
        )
        return [(str(src), bool(done), int(width)) for src, done, width in found]

    def all_images_loaded(self, at_least: int = 1) -> None:
        images = self.images()
        assert len(images) >= at_least, images
        assert all(done and width > 0 for _, done, width in images), images

    def position(self) -> str:
        return str(self.page.inner_text("#position"))

    def close(self) -> None:
        self.context.close()


def picture(data: bytes | Path) -> Image.Image:
    return Image.open(io.BytesIO(data) if isinstance(data, bytes) else data).convert("L")


def spread(image: Image.Image) -> float:
    """The standard deviation of the grey levels: about 0 for a blank picture."""
    return float(ImageStat.Stat(image).stddev[0])


def shoot(watched: Watched, folder: Path, name: str) -> Image.Image:
    path = folder / name
    watched.page.screenshot(path=str(path), full_page=True)
    shot = picture(path)
    assert shot.size[0] == VIEWPORT["width"] and spread(shot) > 10, f"{name} looks blank"
    return shot


def test_sign_in_and_look_through_a_study(viewed: ViewerPlatform, chromium: Any, tmp_path: Path) -> None:
    watched = Watched(chromium)
    page = watched.page
    try:
        page.goto(viewed.url + "/viewer")
        assert page.url == viewed.url + "/signin?next=%2Fviewer"
        page.fill("#login", "local")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(viewed.url + "/viewer")
        assert page.locator("#records tbody tr").count() == 3
        assert "Local person (local)" in page.inner_text(".who")
        shoot(watched, tmp_path, "records.png")

        page.click("#records >> text=Local record")
        page.wait_for_url(f"{viewed.url}/viewer/{viewed.record_id}")
        rows = page.locator("#studies tbody tr")
        assert rows.count() == 2
        assert SIGNER in rows.filter(has_text="DOE JANE").inner_text()
        assert "Not signed" in rows.filter(has_text="ROE RICHARD").inner_text()
        shoot(watched, tmp_path, "studies.png")

        page.click(f"#studies a[href$='{viewed.signed.thing_id}']")
        page.wait_for_url(f"**/{viewed.signed.thing_id}")
        assert page.locator("#series .card").count() == 2
        assert page.inner_text("#signature") == f"Signed by {SIGNER}"
        assert page.locator("#download").get_attribute("href", timeout=5000).endswith("/study.zip")
        watched.all_images_loaded(at_least=2)
        shot = shoot(watched, tmp_path, "study.png")
        box = page.locator("#series .card img").first.bounding_box()
        assert box is not None and box["width"] > 100
        thumbnail = shot.crop(
            (int(box["x"]), int(box["y"]), int(box["x"] + box["width"]), int(box["y"] + box["height"]))
        )
        assert spread(thumbnail) > 10, "the thumbnail shows the image"
        if os.environ.get("HVGEN_WRITE_SCREENSHOTS") == "1":
            page.screenshot(path=str(ROOT / "docs" / "viewer.png"))

        page.locator("#series .card a.thumb").nth(1).click()
        page.wait_for_url("**/series/2")
        assert watched.position() == "image 1 of 3"
        watched.all_images_loaded()
        for key, index in [("ArrowRight", 2), ("ArrowRight", 3), ("ArrowLeft", 2)]:
            page.keyboard.press(key)
            page.wait_for_url(f"**/series/2?image={index}")
            assert watched.position() == f"image {index} of 3"
            watched.all_images_loaded()
        shoot(watched, tmp_path, "series.png")

        page.click("#full-link")
        page.wait_for_url("**/series/2/full?image=2")
        watched.all_images_loaded()
        shown = picture(page.locator("#full").screenshot())
        stored = picture(viewed.signed.previews[viewed.signed.series[1][1] + "_preview"])
        # the element's box may start between two pixel rows: a row more, at most
        assert abs(shown.size[0] - stored.size[0]) <= 1 and abs(shown.size[1] - stored.size[1]) <= 1, "full size"
        shown = shown.crop((0, 0, *stored.size))
        difference = ImageStat.Stat(ImageChops.difference(shown, stored)).mean[0]
        assert difference < 3, f"the browser shows the stored preview (mean difference {difference:.2f})"
        assert spread(stored) > 10
        assert watched.problems == []
    finally:
        watched.close()


def test_a_one_time_link_opens_the_record_and_the_pages_around_it(
    viewed: ViewerPlatform, chromium: Any, tmp_path: Path
) -> None:
    with viewed.server.client() as client:
        url = str(client.create_viewer_link().url)
    watched = Watched(chromium, allowed_status={403, 404})
    page = watched.page
    try:
        page.goto(url)
        assert page.url == f"{viewed.url}/viewer/{viewed.record_id}"
        assert page.locator("#studies tbody tr").count() == 2

        page.goto(f"{viewed.url}/viewer/{viewed.record_id}/{viewed.unsigned.thing_id}")
        page.click("#xml")
        page.wait_for_url("**/xml")
        text = page.inner_text("#xml")
        assert text.startswith("<thing>") and "\n    <medical-image-study>\n" in text
        assert f"<description>{html.escape(MARKUP, quote=False)}</description>" in text, "the XML as stored, as text"
        assert page.locator("script:not([src])").count() == 0, "the markup in the data stays text"

        page.goto(f"{viewed.url}/viewer/{viewed.empty_record}")
        assert "No studies in this record yet." in page.inner_text("#empty")
        assert "hvgen study upload FOLDER" in page.inner_text("#empty")
        shoot(watched, tmp_path, "empty.png")

        answer = page.goto(f"{viewed.url}/viewer/{viewed.private_record}")
        assert answer is not None and answer.status == 403
        assert "reaches only the records its application may use" in page.inner_text("#message")
        answer = page.goto(f"{viewed.url}/viewer/{viewed.record_id}/not-a-study")
        assert answer is not None and answer.status == 404 and page.inner_text("h1") == "No such study"
        shoot(watched, tmp_path, "not-found.png")
        assert page.locator(".bar .brand").inner_text() == "hvgen viewer", "error pages in the viewer's style"

        again = page.goto(url)
        assert again is not None and again.status == 403 and "used already" in page.inner_text("#message")
        unexpected = [p for p in watched.problems if not p.startswith("console error: Failed to load resource")]
        assert unexpected == []
        assert len(watched.problems) == 3, watched.problems  # the three error pages themselves
    finally:
        watched.close()
