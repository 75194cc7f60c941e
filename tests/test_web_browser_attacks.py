"""Attacks that need a browser, in a real one (Debian's Chromium, headless,
driven by playwright): a script in a stored blob, a page on another port of
127.0.0.1 posting the authorization form, and the sign-in and hand-back
flows working under the pages' strict Content-Security-Policy.

The victim signs in with the sign-in form first. The tests skip, saying why,
when Chromium or playwright is missing (`.ci/run` installs both).
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from .localserver import EMBEDDED_ONLY, Backend
from .test_viewer_browser import CHROMIUM, sync_api
from .webattack import PASSWORD, Platform, make_platform, store_blob

pytestmark = [
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Chromium is not installed (apt-get install chromium; .ci/run does)"
    ),
    EMBEDDED_ONLY,
]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[Platform]:
    made = make_platform(tmp_path_factory.mktemp("browser-attacks"), backend)
    yield made
    made.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


class Victim:
    """A browser signed in as the victim, and what went wrong on its pages."""

    def __init__(self, browser: Any, platform: Platform) -> None:
        self.context = browser.new_context(accept_downloads=True)
        self.page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        self.page.on("pageerror", lambda error: self.console.append(f"script error: {error}"))
        self.page.goto(platform.url + "/signin?next=%2Fviewer")
        self.page.fill("#login", "local")
        self.page.fill("#password", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(platform.url + "/viewer")

    def visit(self, url: str) -> None:
        """Go to ``url`` as a person following a link (a download is not an error)."""
        try:
            self.page.goto(url, wait_until="load", timeout=15_000)
        except sync_api.Error as exc:
            if "Download is starting" not in str(exc) and "ERR_ABORTED" not in str(exc):
                raise

    def waited_for_title(self, title: str, seconds: float) -> bool:
        try:
            self.page.wait_for_function(f"document.title === {title!r}", timeout=seconds * 1000)
        except sync_api.TimeoutError:
            return False
        except sync_api.Error:  # the page went elsewhere
            return False
        return True

    def close(self) -> None:
        self.context.close()


#: A script that, on the platform's origin, reads the victim's records and the
#: APPAUTH page's form, then authorizes the attacker's application for them.
TAKEOVER = """
(async () => {
  const viewer = await (await fetch("/viewer")).text();
  const records = [...new Set([...viewer.matchAll(/\\/viewer\\/([0-9a-f-]{36})/g)].map((m) => m[1]))];
  const page = await (await fetch("/redirect.aspx?target=APPAUTH&targetqs=appid%3DAPP_ID")).text();
  const field = (name) => (page.match(new RegExp('name="' + name + '" value="([^"]*)"')) || [])[1] || "";
  const form = new URLSearchParams({hvgen_csrf: field("hvgen_csrf"), target: "APPAUTH", targetqs: "appid=APP_ID",
                                    decision: "authorize"});
  records.forEach((record) => form.append("record", record));
  await fetch("/redirect.aspx", {method: "POST", body: form, redirect: "manual"});
  document.title = "taken over";
})();
"""

#: The script in documents of the types a browser runs scripts in.
DOCUMENTS = {
    "text/html": "<!doctype html><title>quarterly report</title><script>{js}</script><p>Quarterly report",
    "image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg"><script><![CDATA[{js}]]></script></svg>',
    "text/xml": (
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>report</title></head>'
        "<body><script><![CDATA[{js}]]></script></body></html>"
    ),
}


def test_a_script_in_a_blob_does_not_run_on_the_platform(platform: Platform, chromium: Any) -> None:
    script = TAKEOVER.replace("APP_ID", platform.attacker.app_id)
    for kind, document in DOCUMENTS.items():
        url = store_blob(platform, document.replace("{js}", script).encode(), kind, name=kind.replace("/", "-"))
        victim = Victim(chromium, platform)
        try:
            victim.visit(url)
            ran = victim.waited_for_title("taken over", 8)
        finally:
            victim.close()
        assert not platform.authorized(platform.attacker.app_id, platform.victim_record), kind
        assert not platform.authorized(platform.attacker.app_id, platform.trusted_record), kind
        assert not ran, kind


def test_a_page_on_another_port_cannot_post_the_authorization_form(platform: Platform, chromium: Any) -> None:
    fields = {
        "hvgen_csrf": "known-to-the-attacker",
        "target": "APPAUTH",
        "targetqs": f"appid={platform.attacker.app_id}",
        "decision": "authorize",
        "record": platform.victim_record,
    }
    inputs = "".join(f'<input type="hidden" name="{k}" value="{html.escape(v)}">' for k, v in fields.items())
    platform.site.pages["/csrf"] = (
        "<!doctype html><title>cute cats</title>"
        '<script>document.cookie = "hvgen_csrf=known-to-the-attacker; path=/";</script>'
        f'<form id="f" method="post" action="{platform.url}/redirect.aspx">{inputs}</form>'
        '<script>document.getElementById("f").submit();</script>'
    ).encode()
    before = len(platform.site.tokens())
    victim = Victim(chromium, platform)
    try:
        # The browser was restarted: cookies without an expiry are gone, the sign-in (12 hours) stays.
        kept = [c for c in victim.context.cookies() if c.get("expires", -1) > 0]
        victim.context.clear_cookies()
        victim.context.add_cookies(kept)
        victim.page.goto(platform.site.origin + "/csrf")
        victim.page.wait_for_url(lambda url: not url.endswith("/csrf"), timeout=15_000)  # the form was posted
        victim.page.wait_for_load_state("load")
        shown = victim.page.url, victim.page.inner_text("body")
    finally:
        victim.close()
    assert not platform.authorized(platform.attacker.app_id, platform.victim_record)
    assert len(platform.site.tokens()) == before, "no wctoken reached the attacker's site"
    assert shown[0] == f"{platform.url}/redirect.aspx" and "another site" in shown[1], shown


@pytest.mark.parametrize("trm", ["get", "post"])
def test_sign_in_and_hand_back_work_under_the_pages_policy(platform: Platform, chromium: Any, trm: str) -> None:
    """The sign-in form leads, by redirects, to the application's action URL
    (browsers check form-action on redirects too); the hand-back form posts
    there from a script file. No policy violation on the way."""
    before = len(platform.site.tokens())
    victim = Victim(chromium, platform)
    try:
        page = victim.page
        page.click("form[action='/signout'] button")
        page.wait_for_url(f"{platform.url}/signin")
        targetqs = urlencode({"appid": platform.trusted.app_id, "trm": trm})
        page.goto(f"{platform.url}/redirect.aspx?{urlencode({'target': 'AUTH', 'targetqs': targetqs})}")
        page.fill("#login", "local")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{platform.site.origin}/trusted/back**", timeout=15_000)
        assert victim.console == [], victim.console
    finally:
        victim.close()
    method, path, fields = [v for v in platform.site.visits if v[1] != "/favicon.ico"][-1]
    assert (method, path) == ("POST" if trm == "post" else "GET", "/trusted/back")
    assert fields["target"] == ["AppAuthSuccess"] and len(platform.site.tokens()) == before + 1
