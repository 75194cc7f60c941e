"""Attacks on the platform's pages and files, as raw HTTP (the attacks that
need a browser are in :mod:`.test_web_browser_attacks`): blobs served as
attachments that never run as pages, form posts from other ports refused,
no wctoken handed to another site, sign-in limits per client and login in
constant time, strict page headers."""

from __future__ import annotations

import re
import socket
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import pytest

from healthvault.bindings.thing import Thing2

from .localserver import Backend, free_port
from .test_server import study
from .webattack import (
    MALLORY_PASSWORD,
    PASSWORD,
    Platform,
    hidden,
    make_platform,
    signed_in_browser,
    store_blob,
)

SCRIPT = b"<!doctype html><title>report</title><script>document.title = 'ran'</script>"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[Platform]:
    made = make_platform(tmp_path_factory.mktemp("web-attacks"), backend)
    yield made
    made.close()


def raw_get(
    url: str, *, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request written as bytes on a socket: (status, headers with lower-case names, body)."""
    parts = urlsplit(url)
    lines = [f"{method} {parts.path}{'?' + parts.query if parts.query else ''} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()] + ["Connection: close", "", ""]
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall("\r\n".join(lines).encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    found: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        found[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), found, body


def assert_never_a_page(headers: dict[str, str]) -> None:
    """What a browser gets with a file it must save, never render on the platform's origin."""
    assert headers.get("content-disposition", "").startswith("attachment"), headers
    assert headers.get("x-content-type-options") == "nosniff", headers
    assert "sandbox" in headers.get("content-security-policy", ""), headers


# -- 1: blobs of any type are saved, never shown as pages of the platform --------------------------


@pytest.mark.parametrize("kind", ["text/html", "image/svg+xml", "text/xml", "application/octet-stream"])
def test_blob_downloads_are_attachments_that_cannot_run(platform: Platform, kind: str) -> None:
    url = store_blob(platform, SCRIPT, kind)
    status, headers, body = raw_get(url)
    assert status == 200 and body == SCRIPT
    assert_never_a_page(headers)
    assert headers["content-type"].startswith(kind)  # the type as stored, for the applications that read it
    status, headers, _ = raw_get(url, method="HEAD")
    assert status == 200
    assert_never_a_page(headers)
    status, headers, body = raw_get(url, headers={"Range": "bytes=0-9"})
    assert status == 206 and body == SCRIPT[:10]
    assert_never_a_page(headers)


def test_a_blob_still_works_as_an_image_source(platform: Platform) -> None:
    url = store_blob(platform, b"\xff\xd8\xff\xe0 not really a JPEG", "image/jpeg", name="picture")
    status, headers, _ = raw_get(url)
    assert status == 200 and headers["content-type"] == "image/jpeg"
    assert "cross-origin-resource-policy" not in headers  # other sites' <img> may load it


def stored_study(platform: Platform, blobs: dict[str, tuple[bytes, str]]) -> str:
    """A study in Mallory's record with ``blobs`` (name: (bytes, type)); its thing id.
    The study's preview is the blob named ``preview``, its one image ``1.2.3.1``."""
    thing: Thing2 = study("1.2.3")
    thing.data_xml[0].any_element.preview_blob_name = "preview"
    with platform.attacker.client(platform.url, platform.attacker_record) as client:
        store = client.blobs(thing)
        for name, (data, kind) in blobs.items():
            store.write(name, data, kind)
        return str(store.commit().value)


@pytest.mark.parametrize("kind", ["text/html", "image/svg+xml", "application/xml"])
def test_a_preview_of_an_active_type_is_only_saved(platform: Platform, kind: str) -> None:
    thing = stored_study(platform, {"preview": (SCRIPT, kind), "1.2.3.1": (SCRIPT, "application/dicom")})
    with signed_in_browser(platform.url, "mallory", MALLORY_PASSWORD) as browser:
        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    base = f"{platform.url}/viewer/{platform.attacker_record}/{thing}"
    status, headers, body = raw_get(f"{base}/preview/preview", headers={"Cookie": cookie})
    assert status == 200 and body == SCRIPT
    assert_never_a_page(headers)
    assert headers["content-type"] == "application/octet-stream"
    status, headers, body = raw_get(f"{base}/image/1.2.3.1", headers={"Cookie": cookie})
    assert status == 200 and body == SCRIPT
    assert_never_a_page(headers)


def test_a_jpeg_preview_is_shown_inline_and_sandboxed(platform: Platform) -> None:
    jpeg = b"\xff\xd8\xff\xe0 preview"
    thing = stored_study(platform, {"preview": (jpeg, "image/jpeg"), "1.2.3.1": (b"DICM", "application/dicom")})
    with signed_in_browser(platform.url, "mallory", MALLORY_PASSWORD) as browser:
        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    status, headers, body = raw_get(
        f"{platform.url}/viewer/{platform.attacker_record}/{thing}/preview/preview", headers={"Cookie": cookie}
    )
    assert status == 200 and body == jpeg and headers["content-type"] == "image/jpeg"
    assert "content-disposition" not in headers
    assert headers["x-content-type-options"] == "nosniff" and "sandbox" in headers["content-security-policy"]


# -- 8: form posts from another port of the same host -----------------------------------------------


def authorize_form(platform: Platform, browser: httpx.Client) -> dict[str, str]:
    """The fields of the APPAUTH page's form for the attacker's application, as the victim's browser has it."""
    page = browser.get("/redirect.aspx", params={"target": "APPAUTH", "targetqs": f"appid={platform.attacker.app_id}"})
    assert page.status_code == 200, page.text
    return {
        "hvgen_csrf": hidden(page.text, "hvgen_csrf"),
        "target": "APPAUTH",
        "targetqs": f"appid={platform.attacker.app_id}",
        "decision": "authorize",
        "record": platform.victim_record,
    }


def test_a_form_posted_from_another_port_is_refused(platform: Platform) -> None:
    elsewhere = f"http://127.0.0.1:{free_port()}"
    with signed_in_browser(platform.url) as browser:
        form = authorize_form(platform, browser)
        for headers in (
            {"Origin": elsewhere},
            {"Origin": elsewhere, "Sec-Fetch-Site": "same-site"},
            {"Sec-Fetch-Site": "same-site"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Origin": "null"},
        ):
            answer = browser.post("/redirect.aspx", data=form, headers=headers)
            assert answer.status_code == 403, (headers, answer.status_code, answer.headers.get("location"))
            assert "another site" in answer.text
        assert not platform.authorized(platform.attacker.app_id, platform.victim_record)
        # The same form from the platform's own page goes through (rejecting, here, to change nothing).
        own = {"Origin": platform.url, "Sec-Fetch-Site": "same-origin"}
        answer = browser.post("/redirect.aspx", data={**form, "decision": "reject"}, headers=own)
        assert answer.status_code == 303 and "target=AppAuthReject" in answer.headers["location"], answer.text


def test_a_csrf_cookie_set_by_another_page_is_worth_nothing(platform: Platform) -> None:
    """Cookies ignore ports: a page on another port can set any cookie of
    127.0.0.1. A token of its choosing, in a cookie and in the form, is refused."""
    with signed_in_browser(platform.url) as browser:
        form = {**authorize_form(platform, browser), "hvgen_csrf": "chosen-by-the-attacker"}
        browser.cookies.set("hvgen_csrf", "chosen-by-the-attacker", domain="127.0.0.1")
        answer = browser.post("/redirect.aspx", data=form)
        assert answer.status_code == 400 and "expired" in answer.text
        assert not platform.authorized(platform.attacker.app_id, platform.victim_record)
        # nor is the token of another browser's session
        with signed_in_browser(platform.url) as other:
            theirs = authorize_form(platform, other)["hvgen_csrf"]
        answer = browser.post("/redirect.aspx", data={**form, "hvgen_csrf": theirs})
        assert answer.status_code == 400
        assert not platform.authorized(platform.attacker.app_id, platform.victim_record)


def test_sign_in_and_sign_out_forms_from_elsewhere_are_refused(platform: Platform) -> None:
    elsewhere = {"Origin": f"http://127.0.0.1:{free_port()}", "Sec-Fetch-Site": "same-site"}
    with httpx.Client(base_url=platform.url, follow_redirects=False, timeout=30) as browser:
        token = hidden(browser.get("/signin").text, "hvgen_csrf")
        form = {"login": "mallory", "password": MALLORY_PASSWORD, "next": "/viewer", "hvgen_csrf": token}
        answer = browser.post("/signin", data=form, headers=elsewhere)
        assert answer.status_code == 403 and "hvgen_session" not in answer.headers.get("set-cookie", "")
    with signed_in_browser(platform.url) as browser:
        token = hidden(browser.get("/signin").text, "hvgen_csrf")
        answer = browser.post("/signout", data={"hvgen_csrf": token}, headers=elsewhere)
        assert answer.status_code == 403
        assert browser.get("/viewer").status_code == 200  # still signed in


# -- 9: the wctoken goes only to the application's own origin ---------------------------------------


def auth_url(app_id: str, **more: str) -> str:
    return "/redirect.aspx?" + urlencode({"target": "AUTH", "targetqs": urlencode({"appid": app_id, **more})})


@pytest.mark.parametrize("trm", ["get", "post"])
def test_redirect_elsewhere_gets_no_wctoken(platform: Platform, trm: str) -> None:
    before = len(platform.site.tokens())
    with signed_in_browser(platform.url) as browser:
        for redirect in (
            "https://evil.example/steal",
            "//evil.example/steal",
            f"{platform.site.origin}.evil.example/steal",
            f"http://127.0.0.1:{free_port()}/steal",
            platform.site.origin.replace("http:", "https:") + "/steal",
        ):
            answer = browser.get(auth_url(platform.trusted.app_id, redirect=redirect, trm=trm))
            assert answer.status_code == 400, (redirect, answer.headers.get("location"))
            assert "wctoken" not in answer.text and "evil.example" not in answer.headers.get("location", "")
            assert "not at the origin" in answer.text, answer.text
        # addresses Python reads at the application's origin and browsers elsewhere (a backslash
        # ends the authority for a browser), or with a user name, a space or a control character
        host = platform.site.origin.split("//", 1)[1]
        for redirect in (
            f"http://evil.example\\@{host}/steal",
            f"http://user@{host}/steal",
            f"http://{host}/st eal",
            f"http://{host}/st\teal",
        ):
            answer = browser.get(auth_url(platform.trusted.app_id, redirect=redirect, trm=trm))
            assert answer.status_code == 400, (redirect, answer.headers.get("location"))
            assert "wctoken" not in answer.text and "not a plain http(s) address" in answer.text, answer.text
        # the default application has no action URL: no redirect at all
        answer = browser.get(auth_url(platform.server.profile.app_id, redirect=platform.site.origin + "/x"))
        assert answer.status_code == 400 and "no action URL" in answer.text
        # within the origin of the registered action URL, the person is sent back with a token
        answer = browser.get(auth_url(platform.trusted.app_id, redirect=platform.site.origin + "/elsewhere", trm=trm))
        if trm == "get":
            assert answer.status_code == 303
            assert answer.headers["location"].startswith(platform.site.origin + "/elsewhere?target=AppAuthSuccess&")
        else:
            assert answer.status_code == 200 and f'action="{platform.site.origin}/elsewhere"' in answer.text
            assert 'name="wctoken"' in answer.text
    assert len(platform.site.tokens()) == before


# -- 16: headers of the shell's pages ---------------------------------------------------------------


def assert_strict_page(headers: dict[str, str], body: bytes) -> None:
    csp = headers.get("content-security-policy", "")
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, headers
    assert "unsafe-inline" not in csp and "sandbox" not in csp
    assert headers.get("x-content-type-options") == "nosniff" and headers.get("x-frame-options") == "DENY"
    text = body.decode("utf-8")
    assert re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", text) == [], "no inline script"
    assert re.findall(r"\son[a-z]+\s*=", text) == [], "no inline event handler"


def test_every_shell_page_has_a_strict_policy(platform: Platform) -> None:
    status, headers, body = raw_get(platform.url + "/signin")
    assert status == 200
    assert_strict_page(headers, body)
    status, headers, body = raw_get(platform.url + "/redirect.aspx?target=NOPE&targetqs=appid%3Dx")
    assert status == 400
    assert_strict_page(headers, body)
    status, headers, body = raw_get(platform.url + "/application/complete?target=AppAuthSuccess")
    assert_strict_page(headers, body)
    with signed_in_browser(platform.url) as browser:
        cookie = "; ".join(f"{k}={v}" for k, v in browser.cookies.items())
    status, headers, body = raw_get(
        platform.url + f"/redirect.aspx?target=APPAUTH&targetqs=appid%3D{platform.attacker.app_id}",
        headers={"Cookie": cookie},
    )
    assert status == 200 and b'action="/redirect.aspx"' in body
    assert_strict_page(headers, body)
    # the authorization form may lead (by a redirect) to the application's action URL, nowhere else
    assert f"form-action 'self' {platform.site.origin};" in headers["content-security-policy"]
    status, headers, body = raw_get(
        platform.url + auth_url(platform.trusted.app_id, trm="post"), headers={"Cookie": cookie}
    )
    assert status == 200 and b'id="handback"' in body and b'<script src="/static/handback.js">' in body
    assert_strict_page(headers, body)
    status, headers, _ = raw_get(platform.url + "/static/handback.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript")


# -- 14: sign-in: limits per client and login, per client, and the same time for any login ---------


def attempt(url: str, login: str, password: str, client: httpx.Client | None = None) -> httpx.Response:
    """One sign-in through the form (by a new browser unless ``client`` is given)."""
    browser = client or httpx.Client(base_url=url, follow_redirects=False, timeout=60)
    try:
        token = hidden(browser.get("/signin").text, "hvgen_csrf")
        return browser.post("/signin", data={"login": login, "password": password, "next": "", "hvgen_csrf": token})
    finally:
        if client is None:
            browser.close()


@pytest.fixture
def fresh(tmp_path: Path, backend: Backend) -> Iterator[Platform]:
    """A platform of the test's own (the counts of failed sign-ins start at zero)."""
    made = make_platform(tmp_path / "fresh", backend)
    yield made
    made.close()


def test_a_stranger_cannot_lock_a_person_out(fresh: Platform) -> None:
    url = fresh.url
    person = httpx.Client(base_url=url, follow_redirects=False, timeout=60)  # the person's own browser
    try:
        assert attempt(url, "local", PASSWORD, person).status_code == 303
        for _ in range(10):  # someone else, from the same address, guesses the person's password
            assert attempt(url, "local", "a wrong guess").status_code == 401
        assert attempt(url, "local", PASSWORD).status_code == 429  # that client is locked out of that login
        person.post("/signout", data={"hvgen_csrf": hidden(person.get("/signin").text, "hvgen_csrf")})
        assert attempt(url, "local", PASSWORD, person).status_code == 303  # the person is not
        assert attempt(url, "mallory", MALLORY_PASSWORD).status_code == 303  # nor are other logins from there
    finally:
        person.close()


def test_password_spraying_is_limited_per_client(fresh: Platform) -> None:
    url = fresh.url
    person = httpx.Client(base_url=url, follow_redirects=False, timeout=60)
    try:
        assert attempt(url, "local", PASSWORD, person).status_code == 303
        for n in range(30):  # one password tried on thirty logins
            assert attempt(url, f"someone-{n}", "Summer2024!").status_code == 401
        refused = attempt(url, "mallory", MALLORY_PASSWORD)  # even a right password, from that client
        assert refused.status_code == 429 and "from here" in refused.text
        person.post("/signout", data={"hvgen_csrf": hidden(person.get("/signin").text, "hvgen_csrf")})
        assert attempt(url, "local", PASSWORD, person).status_code == 303  # a browser the person signed in with
    finally:
        person.close()


def test_a_wrong_password_takes_as_long_for_an_unknown_login(fresh: Platform) -> None:
    known: list[float] = []
    unknown: list[float] = []
    with httpx.Client(base_url=fresh.url, follow_redirects=False, timeout=60) as browser:
        token = hidden(browser.get("/signin").text, "hvgen_csrf")
        for n in range(16):  # interleaved, so that load on the machine falls on both alike
            login, times = ("local", known) if n % 2 == 0 else ("nobody-by-this-name", unknown)
            started = time.perf_counter()
            answer = browser.post("/signin", data={"login": login, "password": "wrong", "hvgen_csrf": token})
            times.append(time.perf_counter() - started)
            assert answer.status_code == 401 and "Unknown login or wrong password." in answer.text
    ratio = statistics.median(unknown) / statistics.median(known)
    assert ratio > 0.6, (
        f"unknown {statistics.median(unknown) * 1000:.1f} ms, known {statistics.median(known) * 1000:.1f} ms"
    )
