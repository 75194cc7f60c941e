"""The study viewer over HTTP, in bytes: sign-in, who sees what, pages, downloads, links.

The same pages in a real browser are tests/test_viewer_browser.py.
"""

from __future__ import annotations

import hashlib
import html
import io
import json
import re
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from healthvault import codec
from hvgen_server.viewer import present

from .foreign import Application, ForeignClient
from .localserver import Backend, environment, hvgen
from .test_packaging import run_blocked
from .viewerdata import MARKUP, PASSWORD, SIGNER, ViewerPlatform, hidden, make_platform, sign_in


@pytest.fixture(scope="module")
def viewed(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[ViewerPlatform]:
    made = make_platform(tmp_path_factory.mktemp("viewer"), backend)
    yield made
    made.server.stop()


@pytest.fixture
def browser(viewed: ViewerPlatform) -> Iterator[httpx.Client]:
    with sign_in(viewed.url) as signed_in:
        yield signed_in


def link(viewed: ViewerPlatform, record_id: str | None = None) -> str:
    with viewed.server.client() as client:
        return str(client.create_viewer_link(record_id=record_id).url)


def study_path(viewed: ViewerPlatform, thing_id: str, record_id: str | None = None) -> str:
    return f"/viewer/{record_id or viewed.record_id}/{thing_id}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def text_of(page: httpx.Response) -> str:
    """A page's text, tags removed and entities decoded, one space between words."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


# -- signing in, and who sees what -----------------------------------------------------------------


def test_every_page_sends_a_stranger_to_the_sign_in_page(viewed: ViewerPlatform) -> None:
    thing = study_path(viewed, viewed.signed.thing_id)
    with httpx.Client(base_url=viewed.url) as stranger:
        for path in ["/viewer", f"/viewer/{viewed.record_id}?page=2", thing, thing + "/series/1?image=2",
                     thing + "/study.zip", thing + "/xml", thing + f"/image/{viewed.signed.series[0][0]}"]:  # fmt: skip
            page = stranger.get(path)
            assert page.status_code == 303, path
            assert page.headers["location"] == "/signin?next=" + quote(path, safe=""), path
            assert "hvgen_session" not in stranger.cookies


def test_the_servers_address_leads_to_the_viewer(viewed: ViewerPlatform, browser: httpx.Client) -> None:
    with httpx.Client(base_url=viewed.url) as stranger:
        home = stranger.get("/")
        assert home.status_code == 303 and home.headers["location"] == "/viewer"
        signin = stranger.get("/", follow_redirects=True)
        assert signin.status_code == 200 and signin.url.path == "/signin"
    records = browser.get("/", follow_redirects=True)
    assert records.status_code == 200 and records.url.path == "/viewer"
    assert viewed.record_id in records.text


def test_the_sign_in_form_leads_to_the_records_and_their_studies(viewed: ViewerPlatform, browser: httpx.Client) -> None:
    records = browser.get("/viewer")
    assert records.status_code == 200
    shown = text_of(records)
    assert "Local person (local)" in shown and "Local record 2" in shown and "Empty 0" in shown
    assert "Private 0" in shown and "Bob" not in shown, "only the person's own records"

    page = browser.get(f"/viewer/{viewed.record_id}")
    assert page.status_code == 200
    rows = [
        " ".join(html.unescape(re.sub(r"<[^>]+>", " ", r)).split())
        for r in re.findall(r'<tr class="study">(.*?)</tr>', page.text, re.S)
    ]
    assert len(rows) == 2
    signed_row = next(r for r in rows if "DOE JANE" in r)
    assert (
        signed_row
        == f"DOE JANE 17 May 2024, 10:15 CT HEAD CT ACC00001 2 6 {present.size(sum(p.stat().st_size for p in viewed.signed.files.values()))} Signed by {SIGNER}"
    )
    unsigned_row = next(r for r in rows if "ROE RICHARD" in r)
    assert "Not signed" in unsigned_row and " 1 2 " in unsigned_row and MARKUP in unsigned_row
    assert '<abbr title="Computed tomography">CT</abbr>' in page.text
    assert "<script>alert" not in page.text and "&lt;script&gt;alert" in page.text, "data is escaped"


def test_pages_load_nothing_from_elsewhere(viewed: ViewerPlatform, browser: httpx.Client) -> None:
    thing = study_path(viewed, viewed.signed.thing_id)
    for path in [
        "/viewer",
        f"/viewer/{viewed.record_id}",
        thing,
        thing + "/series/2?image=3",
        thing + "/series/1/full",
        thing + "/xml",
    ]:
        page = browser.get(path)
        assert page.status_code == 200, path
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "img-src 'self'" in policy and "script-src 'self'" in policy
        assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
        for attribute in re.findall(r'(?:src|href|action)="([^"]*)"', page.text):
            assert attribute.startswith(("/", "?", "#")), f"{path}: {attribute}"
    for asset, kind in [
        ("/static/viewer.css", "text/css"),
        ("/static/viewer.js", "javascript"),
        ("/static/icon.svg", "image/svg+xml"),
    ]:
        got = browser.get(asset)
        assert got.status_code == 200 and kind in got.headers["content-type"]
    assert (
        "url(" not in browser.get("/static/viewer.css").text and "@import" not in browser.get("/static/viewer.css").text
    )


def test_another_persons_record_and_unknown_pages_are_refused_in_style(
    viewed: ViewerPlatform, browser: httpx.Client
) -> None:
    bob_study = study_path(viewed, viewed.bob_study.thing_id, viewed.bob_record)
    for path in [f"/viewer/{viewed.bob_record}", bob_study, bob_study + "/study.zip", bob_study + "/xml",
                 bob_study + f"/image/{viewed.bob_study.series[0][0]}"]:  # fmt: skip
        page = browser.get(path)
        assert page.status_code == 403 and "Not your record" in page.text and "another person" in page.text, path
        assert 'href="/static/viewer.css"' in page.text
    # the same study under a record of the person's own is not there
    assert browser.get(study_path(viewed, viewed.bob_study.thing_id)).status_code == 404
    thing = study_path(viewed, viewed.signed.thing_id)
    for path in [f"/viewer/{uuid.uuid4()}", "/viewer/not-a-record", study_path(viewed, str(uuid.uuid4())),
                 f"/viewer/{viewed.record_id}/not-a-thing", thing + "/series/3", thing + "/series/1?image=4",
                 thing + "/series/1?image=0", thing + "/preview/nothing", thing + "/image/nothing",
                 thing + f"/image/{viewed.signed.series[0][0]}_preview", "/viewer/a/b/c/d/e"]:  # fmt: skip
        page = browser.get(path)
        assert page.status_code == 404, path
        assert 'href="/static/viewer.css"' in page.text and "Traceback" not in page.text, path
    assert "Series 1 has 3 images; there is no image 4." in text_of(browser.get(thing + "/series/1?image=4"))
    # the other person sees their own record, and not the first person's
    with sign_in(viewed.url, "bob", "bob-test-password") as bob:
        assert bob.get(bob_study).status_code == 200
        assert bob.get(thing).status_code == 403


def test_a_new_password_ends_the_persons_sign_ins(viewed: ViewerPlatform) -> None:
    """`hvgen person passwd` ends every session of the person (a stolen one too); they sign in again."""
    with sign_in(viewed.url, "bob", "bob-test-password") as bob, sign_in(viewed.url) as local:
        assert bob.get("/viewer").status_code == 200
        said = json.loads(
            hvgen(viewed.server, "person", "passwd", "bob", "--password-stdin", "--json", stdin="bob-test-password\n")
        )
        assert said["login"] == "bob" and said["signins_ended"] >= 1
        gone = bob.get("/viewer")
        assert gone.status_code == 303 and gone.headers["location"].startswith("/signin")
        assert local.get("/viewer").status_code == 200, "another person's session is not touched"
    with sign_in(viewed.url, "bob", "bob-test-password") as again:
        assert again.get("/viewer").status_code == 200


def test_forms_need_the_csrf_token(viewed: ViewerPlatform, browser: httpx.Client) -> None:
    page = browser.get("/viewer")
    assert 'action="/signout"' in page.text
    refused = browser.post("/signout", data={"hvgen_csrf": "forged"})
    assert refused.status_code == 400 and browser.get("/viewer").status_code == 200, "still signed in"
    done = browser.post("/signout", data={"hvgen_csrf": hidden(page.text, "hvgen_csrf")})
    assert done.status_code == 303 and browser.get("/viewer").status_code == 303, "signed out"
    with httpx.Client(base_url=viewed.url) as stranger:  # no CSRF cookie at all
        forged = stranger.post("/signin", data={"login": "local", "password": "viewer-test-pw", "hvgen_csrf": "x"})
        assert forged.status_code == 400 and "hvgen_session" not in stranger.cookies


# -- one-time links ----------------------------------------------------------------------------------


def test_a_link_signs_in_once_and_reaches_only_the_applications_records(viewed: ViewerPlatform) -> None:
    url = link(viewed)
    parts = urlsplit(url)
    assert url.startswith(viewed.url + "/viewer/open?") and parse_qs(parts.query)["record"] == [viewed.record_id]
    with httpx.Client(base_url=viewed.url, follow_redirects=False) as browser:
        opened = browser.get(url)
        assert opened.status_code == 303 and opened.headers["location"] == f"/viewer/{viewed.record_id}"
        assert opened.headers["referrer-policy"] == "no-referrer" and browser.cookies.get("hvgen_session")
        assert "DOE JANE" in browser.get(f"/viewer/{viewed.record_id}").text
        assert browser.get(f"/viewer/{viewed.empty_record}").status_code == 200  # the application may use it
        private = browser.get(f"/viewer/{viewed.private_record}")
        assert private.status_code == 403 and "reaches only the records its application may use" in text_of(private)
        assert browser.get(f"/viewer/{viewed.bob_record}").status_code == 403
        listed = text_of(browser.get("/viewer"))
        assert "Local record" in listed and "Empty" in listed and "Private" not in listed
        # the sign-in and authorization pages do not take a link session for a password
        assert "Signed in as" not in browser.get("/signin").text
    with httpx.Client(base_url=viewed.url, follow_redirects=False) as other:
        again = other.get(url)
        assert again.status_code == 403 and "used already" in text_of(again) and "hvgen viewer" in text_of(again)
        assert "hvgen_session" not in other.cookies
        assert other.get("/viewer/open").status_code == 403
        assert other.get("/viewer/open", params={"link": "made-up"}).status_code == 403


def test_a_link_keeps_a_password_session_of_the_same_person(viewed: ViewerPlatform, browser: httpx.Client) -> None:
    before = browser.cookies.get("hvgen_session")
    assert browser.get(link(viewed)).status_code == 303
    assert browser.cookies.get("hvgen_session") == before
    assert browser.get(f"/viewer/{viewed.private_record}").status_code == 200, "not narrowed by the link"


def test_an_expired_link_is_refused(new_server, tmp_path: Path) -> None:
    server = new_server("--viewer-link-ttl", "1")
    with server.client() as client:
        made = client.create_viewer_link()
    url, expires = str(made.url), made.expires
    assert 0 < (expires.timestamp() - time.time()) <= 1.5
    time.sleep(1.5)
    with httpx.Client(follow_redirects=False) as browser:
        page = browser.get(url)
        assert page.status_code == 403 and "expired" in text_of(page) and "hvgen_session" not in browser.cookies
        assert browser.get(url).status_code == 403, "and it is gone"


def test_create_viewer_link_in_bytes_on_the_wire(viewed: ViewerPlatform) -> None:
    profile = viewed.server.profile
    app = Application.load(profile.app_id, Path(profile.key_path), Path(profile.cert_path))
    client = ForeignClient(viewed.url, app)
    assert client.open_v2().code == 0
    answer = client.call("CreateViewerLink", 1, "<info/>", record_id=viewed.record_id)
    assert answer.code == 0, answer.message
    assert answer.info is not None and answer.info.tag == "{urn:com.microsoft.wc.methods.response.CreateViewerLink}info"
    assert [c.tag for c in answer.info] == ["url", "expires"]
    url = answer.text("url")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)", answer.text("expires"))
    assert httpx.get(url, follow_redirects=False).status_code == 303
    assert client.call("CreateViewerLink", 1, "<info/>").code == 10, "a record is needed (INVALID_RECORD)"
    assert client.call("CreateViewerLink", 1, "<info/>", record_id=viewed.private_record).code == 11, "ACCESS_DENIED"
    assert client.call("CreateViewerLink", 2, "<info/>", record_id=viewed.record_id).code == 5, "no version 2"
    anonymous = client.call("CreateViewerLink", 1, "<info/>", record_id=viewed.record_id, anonymous=True)
    assert anonymous.code in (4, 8), "only in a session (the header is not signed: BAD_SIG, or INVALID_TOKEN)"


# -- a study, its series and images ------------------------------------------------------------------


def test_the_study_page_shows_the_study_and_its_series(viewed: ViewerPlatform, browser: httpx.Client) -> None:
    thing = study_path(viewed, viewed.signed.thing_id)
    page = browser.get(thing)
    shown = text_of(page)
    assert page.status_code == 200
    for expected in ["DOE JANE", "17 May 2024, 10:15 · CT HEAD", "2 series, 6 images", "Accession number ACC00001",
                     f"Signed by {SIGNER}", viewed.signed.study_uid, "1. Axial 1", "2. Axial 2", "HEAD · 3 images",
                     "General Hospital"]:  # fmt: skip
        assert expected in shown, expected
    thumbnails = re.findall(r'<img src="([^"]+)"', page.text)
    assert len(thumbnails) == 2
    for src in thumbnails:
        name = src.rsplit("/", 1)[1]
        got = browser.get(src)
        assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg"
        assert got.content == viewed.signed.previews[name], "the stored preview"
    unsigned = text_of(browser.get(study_path(viewed, viewed.unsigned.thing_id)))
    assert "Not signed" in unsigned and MARKUP in unsigned


def test_a_series_pages_through_its_images(viewed: ViewerPlatform, browser: httpx.Client) -> None:
    thing = study_path(viewed, viewed.signed.thing_id)
    names = viewed.signed.series[1]
    for index, name in enumerate(names, 1):
        page = browser.get(f"{thing}/series/2", params={"image": index})
        assert f'id="position">image {index} of 3<' in page.text
        assert f'src="{thing}/preview/{name}_preview"' in page.text and f'href="{thing}/image/{name}"' in page.text
        has_prev, has_next = 'id="prev"' in page.text, 'id="next"' in page.text
        assert (has_prev, has_next) == (index > 1, index < 3)
        if has_next:
            assert f'href="{thing}/series/2?image={index + 1}"' in page.text
    assert 'id="position">image 1 of 3<' in browser.get(f"{thing}/series/2").text, "image 1 by default"
    full = browser.get(f"{thing}/series/2/full", params={"image": 2})
    assert full.status_code == 200 and f'id="full" src="{thing}/preview/{names[1]}_preview"' in full.text


def test_a_preview_answers_a_revalidation_without_its_bytes(viewed: ViewerPlatform, browser: httpx.Client) -> None:
    name = viewed.signed.series[0][0] + "_preview"
    first = browser.get(study_path(viewed, viewed.signed.thing_id) + f"/preview/{name}")
    assert first.headers["x-content-type-options"] == "nosniff"
    again = browser.get(first.url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_one_image_downloads_as_the_uploaded_bytes(viewed: ViewerPlatform, browser: httpx.Client) -> None:
    thing = study_path(viewed, viewed.signed.thing_id)
    for name, path in viewed.signed.files.items():
        got = browser.get(f"{thing}/image/{name}")
        assert got.status_code == 200 and got.headers["content-type"] == "application/dicom"
        assert got.headers["content-disposition"] == f'attachment; filename="{name}.dcm"'
        assert int(got.headers["content-length"]) == path.stat().st_size
        assert sha256(got.content) == sha256(path.read_bytes())


def test_the_study_zip_holds_the_uploaded_files_byte_for_byte(viewed: ViewerPlatform, browser: httpx.Client) -> None:
    got = browser.get(study_path(viewed, viewed.signed.thing_id) + "/study.zip")
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    assert got.headers["content-disposition"] == f'attachment; filename="study-{viewed.signed.study_uid}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(got.content))
    assert archive.testzip() is None
    with viewed.server.client() as client:
        things = client.get_things(thing_ids=[viewed.signed.thing_id], sections=("core",), xml=True)
    series_uids = [s.series_instance_uid for s in things[0].data_xml[0].any_element.series]
    expected = {
        f"{uid}/{name}.dcm": viewed.signed.files[name]
        for uid, names in zip(series_uids, viewed.signed.series, strict=True)
        for name in names
    }
    assert sorted(archive.namelist()) == sorted(expected)
    for member, source in expected.items():
        assert sha256(archive.read(member)) == sha256(source.read_bytes()), member


def test_the_deidentified_zip_has_new_uids_kept_consistent_and_no_identity(
    viewed: ViewerPlatform, browser: httpx.Client
) -> None:
    import pydicom

    base = study_path(viewed, viewed.signed.thing_id)
    assert 'id="download-deidentified"' in browser.get(base).text
    got = browser.get(base + "/study-deidentified.zip")
    assert got.status_code == 200 and got.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(got.content))
    assert archive.testzip() is None
    originals = [pydicom.dcmread(p) for p in viewed.signed.files.values()]
    copies = {name: pydicom.dcmread(io.BytesIO(archive.read(name))) for name in archive.namelist()}
    assert len(copies) == len(originals)
    old_uids = {
        str(getattr(ds, k)) for ds in originals for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")
    }
    for name, ds in copies.items():
        assert name == f"{ds.StudyInstanceUID}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm"
        assert ds.PatientIdentityRemoved == "YES"
        assert str(ds.get("PatientName", "")) not in {str(o.PatientName) for o in originals}
        raw = archive.read(name)
        assert not any(uid.encode() in raw for uid in old_uids), "no original UID is left in the file"
    assert len({ds.StudyInstanceUID for ds in copies.values()}) == 1, "one study, one new UID"
    assert len({ds.SeriesInstanceUID for ds in copies.values()}) == len({o.SeriesInstanceUID for o in originals})


def test_the_xml_page_shows_the_stored_thing_escaped(viewed: ViewerPlatform, browser: httpx.Client) -> None:
    page = browser.get(study_path(viewed, viewed.unsigned.thing_id) + "/xml")
    assert page.status_code == 200
    body = re.search(r'<pre class="xml" id="xml">(.*?)</pre>', page.text, re.S).group(1)
    assert "<" not in body, "every tag of the XML is escaped"
    xml = html.unescape(body)
    assert xml.startswith("<thing>") and "\n  <thing-id" in xml, "pretty-printed"
    assert f"<description>{html.escape(MARKUP, quote=False)}</description>" in xml
    assert viewed.unsigned.thing_id in xml and "medical-image-study" in xml
    signed = html.unescape(browser.get(study_path(viewed, viewed.signed.thing_id) + "/xml").text)
    assert "<signature-info>" in signed


def test_an_empty_record_says_how_to_upload(viewed: ViewerPlatform, browser: httpx.Client) -> None:
    page = browser.get(f"/viewer/{viewed.empty_record}")
    assert page.status_code == 200 and 'id="empty"' in page.text
    assert "No studies in this record yet." in text_of(page) and "hvgen study upload FOLDER" in text_of(page)


def test_a_record_lists_fifty_studies_a_page(viewed: ViewerPlatform, browser: httpx.Client) -> None:
    with viewed.server.client() as client:  # copies of a study (without their blobs), on many days
        template = codec.write_thing(client.get_things(thing_ids=[viewed.unsigned.thing_id], xml=True)[0])
        things = []
        for n in range(53):
            copy = codec.read_thing(template)
            copy.thing_id = None
            data = copy.data_xml[0].any_element
            data.study_instance_uid, data.description, data.when.date.d = f"1.2.3.{n}", f"Copy {n}", 1 + n % 28
            things.append(copy)
        keys = client.put_things(things, record_id=viewed.empty_record)
    try:
        first = browser.get(f"/viewer/{viewed.empty_record}")
        assert first.text.count('<tr class="study">') == 50
        assert "53 studies, newest first." in text_of(first) and "Studies 1–50 of 53 · page 1 of 2" in text_of(first)
        assert 'rel="next" href="?page=2"' in first.text and 'rel="prev"' not in first.text
        second = browser.get(f"/viewer/{viewed.empty_record}", params={"page": 2})
        assert second.text.count('<tr class="study">') == 3 and "Studies 51–53 of 53" in text_of(second)
        days = [int(d) for d in re.findall(r'<td class="date">(\d+) May 2024', first.text + second.text)]
        assert days == sorted(days, reverse=True), "newest first"
        assert "page 2 of 2" in text_of(browser.get(f"/viewer/{viewed.empty_record}", params={"page": 99}))
        assert "page 1 of 2" in text_of(browser.get(f"/viewer/{viewed.empty_record}", params={"page": "x"}))
    finally:
        with viewed.server.client() as client:
            client.remove_things(keys, record_id=viewed.empty_record)


def test_the_server_serves_the_viewer_without_the_imaging_extra(viewed: ViewerPlatform) -> None:
    thing = study_path(viewed, viewed.signed.thing_id)
    preview = viewed.signed.series[0][0] + "_preview"
    config = viewed.server.config()
    with environment(viewed.server.backend.env):
        done = run_blocked(
            ["pydicom", "PIL", "numpy", "numba", "pylibjpeg"],
            f"""
        import hashlib, re
        from starlette.testclient import TestClient
        from hvgen_server.app import create_app
        from hvgen_server.config import ServerConfig

        config = ServerConfig(data_dir={str(config.data_dir)!r}, database_url={config.database_url!r}, blobs_url={config.blobs_url!r})
        browser = TestClient(create_app(config), follow_redirects=False)
        form = browser.get("/signin").text
        csrf = re.search(r'name="hvgen_csrf" value="([^"]+)"', form).group(1)
        browser.post("/signin", data={{"login": "local", "password": {PASSWORD!r}, "hvgen_csrf": csrf}})
        page = browser.get({thing!r})
        assert page.status_code == 200 and "Signed by" in page.text, page.text
        assert "download-deidentified" not in page.text, "no de-identification offered without the imaging extra"
        print(hashlib.sha256(browser.get({thing + "/preview/" + preview!r}).content).hexdigest())
        print(browser.get({thing + "/study.zip"!r}).status_code)
        print(browser.get({thing + "/study-deidentified.zip"!r}).status_code)
        """,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [sha256(viewed.signed.previews[preview]), "200", "404"]


def test_a_signature_that_no_longer_holds_shows_as_invalid(new_server, tmp_path: Path) -> None:
    from healthvault import crypto as hvcrypto
    from hvgen_imaging.sending import Signer

    from .viewerdata import upload

    server = new_server()
    key, cert = hvcrypto.make_key_and_certificate(SIGNER)
    made = upload(server, tmp_path / "signed", signer=Signer(key, cert), series=1, images=1)
    _, other = hvcrypto.make_key_and_certificate("Another authority")
    trusted = tmp_path / "trusted.pem"
    trusted.write_bytes(hvcrypto.cert_pem(other))
    server.stop()  # the platform now trusts only another signer
    server.options = ["--trust", str(trusted)]
    server.start()
    with server.client() as client:
        url = str(client.create_viewer_link().url)
    with httpx.Client(base_url=server.url, follow_redirects=True) as browser:
        listed = browser.get(url)
        assert f"Invalid signature ({SIGNER})" in text_of(listed) and "Signed by" not in listed.text
        page = browser.get(f"/viewer/{server.profile.record_id}/{made.thing_id}")
        shown = text_of(page)
        assert f"Invalid signature ({SIGNER})" in shown and "certificate:" in shown, shown
