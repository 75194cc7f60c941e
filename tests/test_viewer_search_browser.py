"""The study list's search and sort driven in Chromium (headless, as in
test_viewer_browser.py): typing a search, clicking column headings, the
address that results; at 390 px the table scrolls in its own region and
the page itself does not overflow."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat

from .localserver import EMBEDDED_ONLY, Backend
from .viewerdata import ViewerPlatform, make_platform, sign_in_page

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Chromium is not installed (apt-get install chromium; .ci/run does)"
    ),
    EMBEDDED_ONLY,
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra has it)")


class Watched:
    """A page of its own browser context, and the script errors, failed
    requests and HTTP errors seen on it."""

    def __init__(self, browser: Any, width: int = 1280) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": 860}, device_scale_factor=1)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        self.page.on("requestfailed", lambda r: None if r.url.endswith("/icon.svg") else self.problems.append(r.url))
        self.page.on(
            "response", lambda r: self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None
        )

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def viewed(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[ViewerPlatform]:
    made = make_platform(tmp_path_factory.mktemp("viewer-search-browser"), backend)
    yield made
    made.server.stop()


def _sign_in(watched: Watched, viewed: ViewerPlatform) -> None:
    page = watched.page
    sign_in_page(page, viewed.url)


def _patients(watched: Watched) -> list[str]:
    return [str(t).strip() for t in watched.page.locator("#studies tbody td.patient").all_inner_texts()]


def test_search_and_sort_in_the_browser(viewed: ViewerPlatform, chromium: Any, tmp_path: Path) -> None:
    watched = Watched(chromium)
    page = watched.page
    try:
        _sign_in(watched, viewed)
        here = f"{viewed.url}/viewer/{viewed.record_id}"
        page.goto(here)
        assert sorted(_patients(watched)) == ["DOE JANE", "ROE RICHARD"]
        page.fill("#search input[name=patient]", "r?e*")
        page.press("#search input[name=patient]", "Enter")
        page.wait_for_url("**patient=r%3Fe*")
        assert _patients(watched) == ["ROE RICHARD"]
        assert page.input_value("#search input[name=patient]") == "r?e*", "the form keeps the search"
        page.click("#search a:text('Clear')")
        page.wait_for_url(here + "?")
        assert len(_patients(watched)) == 2

        page.click("a[data-sort=patient]")
        page.wait_for_url("**sort=patient&order=asc")
        assert _patients(watched) == ["DOE JANE", "ROE RICHARD"]
        assert page.get_attribute("th:has(a[data-sort=patient])", "aria-sort") == "ascending"
        page.click("a[data-sort=patient]")
        page.wait_for_url("**sort=patient&order=desc")
        assert _patients(watched) == ["ROE RICHARD", "DOE JANE"]
        page.go_back()
        page.wait_for_url("**order=asc")
        assert _patients(watched) == ["DOE JANE", "ROE RICHARD"], "the back button returns to the list as it was"
        assert watched.problems == []
    finally:
        watched.close()


def test_the_list_at_390_px_scrolls_in_its_region(viewed: ViewerPlatform, chromium: Any, tmp_path: Path) -> None:
    watched = Watched(chromium, width=390)
    page = watched.page
    try:
        _sign_in(watched, viewed)
        page.goto(f"{viewed.url}/viewer/{viewed.record_id}")
        widths = page.evaluate(
            "() => { const r = document.querySelector('.table-scroll');"
            " return [document.documentElement.scrollWidth, r.scrollWidth, r.clientWidth]; }"
        )
        page_width, table_width, region_width = widths
        assert page_width <= 390, f"the page overflows: {page_width} px wide"
        assert table_width > region_width, "the table scrolls sideways in its region instead of being cut"
        page.locator(".table-scroll").evaluate("r => { r.scrollLeft = r.scrollWidth; }")
        signature = page.locator("#studies tbody tr").first.locator("td").last.bounding_box()
        assert signature is not None and 0 <= signature["x"] and signature["x"] + signature["width"] <= 391
        page.screenshot(path=str(tmp_path / "studies-390.png"), full_page=True)
        shot = Image.open(tmp_path / "studies-390.png").convert("L")
        assert shot.size[0] == 390 and ImageStat.Stat(shot).stddev[0] > 10, "not blank"
        assert watched.problems == []
    finally:
        watched.close()
