"""DICOMweb for a signed-in browser: ``/dicomweb/records/RECORD/…`` with the
session cookie (what OHIF served by the platform uses), and its guards
against other sites, other persons' records and cross-site writes."""

from __future__ import annotations

import httpx

from .dicomwebdata import ImagingPlatform
from .viewerdata import BOB_PASSWORD, sign_in


def test_a_signed_in_browser_reaches_its_own_records(imaging: ImagingPlatform) -> None:
    ct = imaging.images["ct"]
    base = f"/dicomweb/records/{imaging.record_id}"
    with sign_in(imaging.url) as browser:
        studies = browser.get(base + "/studies", headers={"Sec-Fetch-Site": "same-origin"})
        assert studies.status_code == 200, studies.text
        assert ct.study_uid in {s["0020000D"]["Value"][0] for s in studies.json()}
        # the URLs it is given stay under the record's prefix
        retrieve = next(s for s in studies.json() if s["0020000D"]["Value"][0] == ct.study_uid)["00081190"]
        assert retrieve["Value"][0] == f"{imaging.dicomweb}/records/{imaging.record_id}/studies/{ct.study_uid}"
        url = ct.url(base)
        metadata = browser.get(url + "/metadata").json()[0]
        assert metadata["7FE00010"]["BulkDataURI"].startswith(imaging.dicomweb + f"/records/{imaging.record_id}/")
        frame = browser.get(url + "/frames/1", headers={"Accept": 'multipart/related; type="application/octet-stream"'})
        assert frame.status_code == 200
        # another person's record is not there for this person
        assert browser.get(f"/dicomweb/records/{imaging.bob_record_id}/studies").status_code == 404
        # a request another site makes the browser send is refused
        assert browser.get(base + "/studies", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
        assert browser.get(base + "/studies", headers={"Sec-Fetch-Site": "same-site"}).status_code == 403
        assert browser.get(base + "/studies", headers={"Origin": "http://evil.example"}).status_code == 403
        # storing with the cookie needs the page's Origin
        body = b"--b\r\nContent-Type: application/dicom\r\n\r\n" + ct.path.read_bytes() + b"\r\n--b--\r\n"
        media = 'multipart/related; type="application/dicom"; boundary=b'
        refused = browser.post(base + "/studies", content=body, headers={"Content-Type": media})
        assert refused.status_code == 403 and "Origin" in refused.text
        stored = browser.post(base + "/studies", content=body, headers={"Content-Type": media, "Origin": imaging.url})
        assert stored.status_code == 200, stored.text
    with sign_in(imaging.url, "bob", BOB_PASSWORD) as bob:
        assert bob.get(f"/dicomweb/records/{imaging.bob_record_id}/studies").status_code == 200
        assert bob.get(base + "/studies").status_code == 404


def test_without_a_session_the_record_paths_ask_for_one(imaging: ImagingPlatform) -> None:
    base = f"{imaging.dicomweb}/records/{imaging.record_id}"
    answer = httpx.get(base + "/studies")
    assert answer.status_code == 401 and "sign in" in answer.text
    assert httpx.get(base + "/studies", cookies={"hvgen_session": "forged"}).status_code == 401
    assert httpx.get(f"{imaging.dicomweb}/records/not-a-record/studies").status_code == 404
    # a bearer token works there for its own record only
    token = {"Authorization": f"Bearer {imaging.token}"}
    assert httpx.get(base + "/studies", headers=token).status_code == 200
    other = httpx.get(f"{imaging.dicomweb}/records/{imaging.bob_record_id}/studies", headers=token)
    assert other.status_code == 403
