"""Uploading from the browser: the upload page's posts (STOW-RS bodies, a
batch of files each) are stored by STOW-RS's in-process ingest, one result
a file (a file that is not DICOM is reported, not fatal), with links to the
studies; a post must carry the page's CSRF token and come from this site
(Origin, Sec-Fetch-Site), checked here in raw HTTP; an over-limit body is
refused at once; a one-time link's session cannot upload."""

from __future__ import annotations

import base64
import html
import re
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.data import get_testdata_file

from healthvault.client import ThingQuery
from hvgen_server.viewer.studies import STUDY_TYPES
from hvgen_server.viewer.uploading import BATCH_FILES, MAX_UPLOAD_BYTES

from .dicomgen import make_study
from .localserver import RunningServer, hvgen, start_server
from .viewerdata import PASSWORD, page_errors, sign_in, sign_in_page

BOUNDARY = "upload-test-boundary"
TYPE = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("upload") / "server")
    try:
        hvgen(running, "person", "passwd", "local", "--password-stdin", stdin=PASSWORD + "\n")
        yield running
    finally:
        running.stop()


def dicom_files(folder: Path, seed: int, images: int = 2) -> list[Path]:
    make_study(folder, series=1, images=images, size=16, seed=seed, patient=f"UPLOAD^{seed}")
    return sorted(folder.rglob("*.dcm"))


def ct_small(folder: Path) -> Path:
    found = get_testdata_file("CT_small.dcm")
    assert found is not None
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(found, folder / "CT_small.dcm"))


def body(files: list[bytes]) -> bytes:
    out = b"".join(
        b"--" + BOUNDARY.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + f + b"\r\n" for f in files
    )
    return out + b"--" + BOUNDARY.encode() + b"--\r\n"


def page_token(browser: httpx.Client, record_id: str) -> str:
    page = browser.get(f"/viewer/upload/{record_id}")
    assert page.status_code == 200, page.text
    found = re.search(r'data-csrf="([^"]+)"', page.text)
    assert found, page.text
    return html.unescape(found.group(1))


def raw_post(url: str, path: str, headers: dict[str, str], data: bytes, send_body: bool = True) -> tuple[int, str]:
    """A POST written byte by byte on a socket; the status and body of the answer."""
    host, port = httpx.URL(url).host, httpx.URL(url).port
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if "Content-Length" not in headers:
        lines.append(f"Content-Length: {len(data)}")
    with socket.create_connection((host, port), timeout=60) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (data if send_body else b""))
        if not send_body:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, rest = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), rest.decode("utf-8", "replace")


def cookies(browser: httpx.Client) -> str:
    return "; ".join(f"{name}={value}" for name, value in browser.cookies.items())


def study_things(server: RunningServer) -> set[str]:
    with server.client() as client:
        return {str(t.thing_id.value) for t in client.get_things(ThingQuery(type_ids=list(STUDY_TYPES)))}


def test_files_are_stored_one_result_each_and_a_text_file_is_reported(server: RunningServer, tmp_path: Path) -> None:
    record = server.profile.record_id
    generated = dicom_files(tmp_path / "gen", seed=31)
    ct = ct_small(tmp_path / "ct")
    sent = [
        generated[0].read_bytes(),
        b"just some notes, not an image\n" * 10,
        generated[1].read_bytes(),
        ct.read_bytes(),
    ]
    before = study_things(server)
    with sign_in(server.url) as browser:
        token = page_token(browser, record)
        headers = {"Content-Type": TYPE, "X-HVGen-CSRF": token, "Origin": server.url, "Sec-Fetch-Site": "same-origin"}
        done = browser.post(f"/viewer/upload/{record}", content=body(sent), headers=headers)
        assert done.status_code == 200, done.text
        files = done.json()["files"]
        assert [f["part"] for f in files] == [1, 2, 3, 4]
        assert [f["status"] for f in files] == ["stored", "not-dicom", "stored", "stored"]
        assert "not a DICOM file" in files[1]["message"] and "DICM" in files[1]["message"]
        assert files[0]["link"] == files[2]["link"] != files[3]["link"]
        studies = done.json()["studies"]
        assert {s["patient"] for s in studies} == {"UPLOAD^31", str(pydicom.dcmread(ct).PatientName)}
        added = study_things(server) - before
        assert len(added) == 2 and {f["link"].rsplit("/", 1)[1] for f in files if "link" in f} == added
        deadline = time.monotonic() + 120
        while "_preview" not in browser.get(files[0]["link"] + "/xml").text:  # previews come in a later version
            assert time.monotonic() < deadline, "the study never got its previews"
            time.sleep(0.2)
        listing = browser.get(f"/viewer/{record}")
        listed = listing.text
        assert "connect-src" not in listing.headers["content-security-policy"]
        upload_policy = browser.get(f"/viewer/upload/{record}").headers["content-security-policy"]
        assert "connect-src 'self';" in upload_policy and "default-src 'none'" in upload_policy
        assert ">UPLOAD 31</a>" in listed, "a study is listed after its previews were added"
        for study in studies:
            assert browser.get(study["link"]).status_code == 200
        again = browser.post(f"/viewer/upload/{record}", content=body(sent[:1] + sent[3:]), headers=headers)
        assert again.status_code == 200 and [f["status"] for f in again.json()["files"]] == ["stored", "stored"]
        assert study_things(server) - before == added, "a study already in the record is not stored twice"


def test_posts_not_from_the_upload_page_are_refused_in_raw_http(server: RunningServer, tmp_path: Path) -> None:
    record = server.profile.record_id
    data = body([p.read_bytes() for p in dicom_files(tmp_path / "gen", seed=32)])
    path = f"/viewer/upload/{record}"
    before = study_things(server)
    with sign_in(server.url) as browser:
        token = page_token(browser, record)
        good = {"Cookie": cookies(browser), "Content-Type": TYPE, "X-HVGen-CSRF": token, "Origin": server.url}
        refused = [
            {**good, "Sec-Fetch-Site": "cross-site"},
            {**good, "Sec-Fetch-Site": "same-site"},
            {**good, "Origin": "https://evil.example"},
            {k: v for k, v in good.items() if k != "Origin"},
            {**good, "X-HVGen-CSRF": "x" * 43},
            {k: v for k, v in good.items() if k != "X-HVGen-CSRF"},
        ]
        for headers in refused:
            status, text = raw_post(server.url, path, headers, data)
            assert status == 403, (headers, text)
            assert "upload page" in text
        over = {**good, "Content-Length": str(MAX_UPLOAD_BYTES + 1)}
        status, text = raw_post(server.url, path, over, b"", send_body=False)
        assert status == 413 and "at most 1024 MiB" in text
        assert study_things(server) == before
        status, text = raw_post(server.url, path, {**good, "Sec-Fetch-Site": "same-origin"}, data)
        assert status == 200 and '"status":"stored"' in text
    assert len(study_things(server) - before) == 1


def test_a_link_session_cannot_upload(server: RunningServer, tmp_path: Path) -> None:
    record = server.profile.record_id
    data = body([p.read_bytes() for p in dicom_files(tmp_path / "gen", seed=33)])
    with sign_in(server.url) as browser:
        token = page_token(browser, record)  # a token of a password session, not the link's
        assert 'id="upload-link"' in browser.get(f"/viewer/{record}").text
    with server.client() as client:
        url = str(client.create_viewer_link().url)
    before = study_things(server)
    with httpx.Client(follow_redirects=True, timeout=30) as linked:
        assert linked.get(url).status_code == 200
        assert 'id="upload-link"' not in linked.get(f"{server.url}/viewer/{record}").text
        page = linked.get(f"{server.url}/viewer/upload/{record}").text
        assert 'id="upload-refused"' in page and "data-csrf" not in page
        own = re.search(r'name="hvgen_csrf" value="([^"]+)"', page)
        assert own is not None
        for csrf, why in ((html.unescape(own.group(1)), "own sign-in"), (token, "expired")):
            headers = {"Content-Type": TYPE, "X-HVGen-CSRF": csrf, "Origin": server.url}
            refused = linked.post(f"{server.url}/viewer/upload/{record}", content=data, headers=headers)
            assert refused.status_code == 403 and why in refused.json()["error"]
    assert study_things(server) == before


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_files_chosen_in_chromium_are_uploaded_with_progress_and_listed(server: RunningServer, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra has it)")
    record = server.profile.record_id
    files = [*dicom_files(tmp_path / "gen", seed=34, images=3), ct_small(tmp_path / "ct")]
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image\n")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            problems = page_errors(page)
            sign_in_page(page, server.url)
            page.goto(f"{server.url}/viewer/{record}")
            page.click("#upload-link")
            page.wait_for_url(f"{server.url}/viewer/upload/{record}")
            page.set_input_files("#upload-files", [str(p) for p in [*files[:2], notes, *files[2:]]])
            assert "5 files chosen" in page.inner_text("#upload-chosen")
            page.click("#upload-start")
            page.wait_for_selector("#upload[data-done=true]", timeout=120_000)
            assert "4 files stored, 1 not stored" in page.inner_text("#upload-status")
            assert page.evaluate(
                "() => { const p = document.getElementById('upload-progress'); return p.value === p.max; }"
            )
            rows = page.locator("#upload-results tr")
            assert rows.count() == 5
            assert "notes.txt" in rows.nth(2).inner_text() and "not a DICOM file" in rows.nth(2).inner_text()
            assert page.locator("#upload-results tr.stored a").count() == 4
            assert page.locator("#upload-studies a").count() == 2
            page.click("#upload-studies a >> text=UPLOAD^34")
            page.wait_for_load_state()
            assert "/viewer/" + record + "/" in page.url and "UPLOAD" in page.inner_text("main")
            page.goto(f"{server.url}/viewer/{record}")
            listed = page.locator("tbody tr.study td.patient").all_text_contents()
            assert "UPLOAD 34" in listed, listed
            assert problems == []
        finally:
            browser.close()


def test_a_folder_is_sent_in_batches_in_chromium(server: RunningServer, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra has it)")
    record = server.profile.record_id
    folder = tmp_path / "folder"
    count = BATCH_FILES + 5
    make_study(folder / "study", series=1, images=count, size=8, seed=35, patient="UPLOAD^FOLDER")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_context().new_page()
            posts: list[str] = []
            page.on(
                "request", lambda r: posts.append(r.url) if r.method == "POST" and "/viewer/upload/" in r.url else None
            )
            sign_in_page(page, server.url)
            page.goto(f"{server.url}/viewer/upload/{record}")
            page.set_input_files("#upload-folder", str(folder))
            assert f"{count} files chosen" in page.inner_text("#upload-chosen")
            page.evaluate(
                "() => { window.seen = []; const p = document.getElementById('upload-progress');"
                " new MutationObserver(() => window.seen.push([p.value, p.max])).observe(p, {attributes: true}); }"
            )
            page.click("#upload-start")
            page.wait_for_selector("#upload[data-done=true]", timeout=120_000)
            assert f"{count} files stored, 0 not stored" in page.inner_text("#upload-status")
            assert len(posts) == 2, "a folder of more than a batch is sent in several requests"
            seen = page.evaluate("() => window.seen")
            assert any(0 < value < top for value, top in seen), f"the progress bar moves: {seen}"
            assert seen[-1][0] == seen[-1][1]
            assert "study/" in page.locator("#upload-results tr").first.inner_text(), "files keep their folder paths"
            assert page.locator("#upload-studies a").count() == 1
            # files dropped on the page are taken as chosen ones
            dropped = list((folder / "study").rglob("*.dcm"))[0]
            page.evaluate(
                """([name, data]) => { const t = new DataTransfer();
                t.items.add(new File([Uint8Array.from(atob(data), (c) => c.charCodeAt(0))], name));
                document.getElementById('drop-zone').dispatchEvent(new DragEvent('drop', {dataTransfer: t, bubbles: true})); }""",
                [dropped.name, base64.b64encode(dropped.read_bytes()).decode()],
            )
            page.wait_for_function(
                "() => document.getElementById('upload-chosen').textContent.startsWith('1 file chosen')"
            )
            page.click("#upload-start")
            page.wait_for_function(
                "() => document.getElementById('upload-status').textContent.includes('1 file stored')"
            )
        finally:
            browser.close()
