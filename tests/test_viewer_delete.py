"""Deleting a study from the viewer: a confirmation page that says whether
the study is signed (and by whom), a form bound to the browser's session
(CSRF) and to this site (Origin, Sec-Fetch-Site), and to the version the
person saw; then the study is gone for the viewer and for applications,
and its blob bytes are removed. A link's session cannot delete."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from healthvault import crypto
from healthvault.client import ThingQuery
from hvgen_imaging import dicom, study, workflow
from hvgen_imaging.sending import Signer
from hvgen_server.viewer.studies import STUDY_TYPES

from .dicomgen import make_study
from .localserver import RunningServer, hvgen, start_server
from .viewerdata import PASSWORD, hidden, sign_in

SIGNER = "Dr Delete Radiologist"


def _upload(server: RunningServer, folder: Path, seed: int, signed: bool) -> str:
    make_study(folder, series=1, images=2, size=16, seed=seed, patient=f"DELETE^{seed}")
    built = study.build(dicom.scan(folder).studies[0], previews=False)
    signer = Signer(*crypto.make_key_and_certificate(SIGNER)) if signed else None
    with server.client() as client:
        return workflow.Studies(client, journal_dir=folder.parent / "journal").upload(built, signer=signer).thing_id


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    running = start_server(tmp_path / "server")
    try:
        hvgen(running, "person", "passwd", "local", "--password-stdin", stdin=PASSWORD + "\n")
        yield running
    finally:
        running.stop()


def _things(server: RunningServer) -> set[str]:
    with server.client() as client:
        return {str(t.thing_id.value) for t in client.get_things(ThingQuery(type_ids=list(STUDY_TYPES)))}


def test_a_signed_study_is_deleted_after_a_confirmation_that_says_it_is_signed(
    server: RunningServer, tmp_path: Path
) -> None:
    signed = _upload(server, tmp_path / "signed", 1, signed=True)
    kept = _upload(server, tmp_path / "kept", 2, signed=False)
    here = f"/viewer/{server.profile.record_id}/{signed}"
    blobs = server.data / "blobs"
    before = sum(1 for p in blobs.rglob("*") if p.is_file())
    with sign_in(server.url) as browser:
        assert f'href="{here}/delete"' in browser.get(here).text
        page = browser.get(here + "/delete").text
        assert "This study is signed" in page and f"Signed by {SIGNER}" in page
        form = {"hvgen_csrf": hidden(page, "hvgen_csrf"), "version": hidden(page, "version")}
        foreign = browser.post(here + "/delete", data=form, headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403 and signed in _things(server)
        cross = browser.post(here + "/delete", data=form, headers={"Sec-Fetch-Site": "cross-site"})
        assert cross.status_code == 403 and signed in _things(server)
        forged = browser.post(here + "/delete", data={**form, "hvgen_csrf": "x" * 43})
        assert forged.status_code == 403 and signed in _things(server)
        stale = browser.post(here + "/delete", data={**form, "version": "0" * 32})
        assert stale.status_code == 409 and "changed since" in html.unescape(stale.text) and signed in _things(server)
        done = browser.post(here + "/delete", data=form, headers={"Origin": server.url})
        assert done.status_code == 303 and done.headers["location"] == f"/viewer/{server.profile.record_id}"
        assert _things(server) == {kept}
        listed = browser.get(f"/viewer/{server.profile.record_id}").text
        assert kept in listed and signed not in listed
        assert browser.get(here).status_code == 404
        again = browser.post(here + "/delete", data=form)
        assert again.status_code == 404
    after = sum(1 for p in blobs.rglob("*") if p.is_file())
    assert after < before, "the deleted study's blob bytes are removed"


def test_an_unsigned_study_says_nothing_of_a_signature_and_a_link_cannot_delete(
    server: RunningServer, tmp_path: Path
) -> None:
    thing = _upload(server, tmp_path / "plain", 3, signed=False)
    here = f"/viewer/{server.profile.record_id}/{thing}"
    with sign_in(server.url) as browser:
        page = browser.get(here + "/delete").text
        assert "This study is signed" not in page and "Delete the study" in page
    with server.client() as client:
        url = str(client.create_viewer_link().url)

    with httpx.Client(follow_redirects=True, timeout=30) as linked:
        assert linked.get(url).status_code == 200
        page = linked.get(server.url + here + "/delete").text
        form: dict[str, Any] = {"hvgen_csrf": hidden(page, "hvgen_csrf"), "version": hidden(page, "version")}
        refused = linked.post(server.url + here + "/delete", data=form)
        assert refused.status_code == 403 and "own sign-in" in html.unescape(refused.text)
    assert thing in _things(server)
