"""The person's flags in a real browser (headless Chromium, playwright): the
study page shows whether a study is read-only, and its form sets and clears
personal and hidden-from-eprep; an application then reads (or not) what the
form changed, in bytes on the wire."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .foreign import Application, ForeignClient
from .localserver import EMBEDDED_ONLY, Backend
from .test_viewer_browser import CHROMIUM, Watched, sync_api
from .viewerdata import PASSWORD, ViewerPlatform, make_platform

pytestmark = [pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed"), EMBEDDED_ONLY]


@pytest.fixture(scope="module")
def viewed(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[ViewerPlatform]:
    made = make_platform(tmp_path_factory.mktemp("flags-browser"), backend)
    yield made
    made.server.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


def flags_seen_by_the_application(viewed: ViewerPlatform, thing_id: str) -> int | None:
    """The thing's flags as the application reads them (None: not there for it)."""
    profile = viewed.server.profile
    app = ForeignClient(viewed.url, Application.load(profile.app_id, Path(profile.key_path), Path(profile.cert_path)))
    assert app.open_v2().code == 0
    answer = app.call(
        "GetThings", 3, f"<info><group><id>{thing_id}</id><format><section>core</section></format></group></info>",
        record_id=viewed.record_id,
    )  # fmt: skip
    assert answer.code == 0, answer.message
    thing = answer.find("group/thing")
    return None if thing is None else int(thing.findtext("flags") or "0")


def test_the_person_sets_and_clears_flags_on_the_study_page(viewed: ViewerPlatform, chromium: Any) -> None:
    thing_id = viewed.unsigned.thing_id
    watched = Watched(chromium)
    page = watched.page
    try:
        page.goto(f"{viewed.url}/viewer/{viewed.record_id}/{thing_id}")
        page.fill("#login", "local")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"**/{thing_id}")
        assert page.inner_text("#read-only").startswith("no")
        assert not page.is_checked("#personal") and not page.is_checked("#hidden-from-eprep")

        page.check("#personal")
        page.check("#hidden-from-eprep")
        page.click("#save-flags")
        page.wait_for_url(f"**/{thing_id}")
        page.wait_for_selector("#personal:checked")
        assert page.is_checked("#personal") and page.is_checked("#hidden-from-eprep")
        assert flags_seen_by_the_application(viewed, thing_id) is None  # personal: not there

        page.uncheck("#personal")
        page.click("#save-flags")
        page.wait_for_url(f"**/{thing_id}")
        page.wait_for_selector("#personal:not(:checked)")
        assert page.is_checked("#hidden-from-eprep")
        assert flags_seen_by_the_application(viewed, thing_id) == 8  # hidden from the emergency profile only
        assert watched.problems == []
    finally:
        watched.close()
