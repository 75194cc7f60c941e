"""A local platform with studies to look at, for the viewer's tests.

The first person (``local``, password :data:`PASSWORD`) has the default
record with two studies (one signed by "Dr Ada Radiologist", one not, whose
description holds markup), an empty record the application is authorized
for, and a private record it is not; another person (``bob``) has a record
with one study.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from healthvault import crypto
from hvgen_imaging import dicom, study, workflow
from hvgen_imaging.sending import Signer

from .dicomgen import make_study
from .localserver import EMBEDDED, Backend, RunningServer, hvgen, start_server

PASSWORD = "viewer-test-pw"
BOB_PASSWORD = "bob-test-password"
SIGNER = "Dr Ada Radiologist"
MARKUP = '<script>alert("x")</script> & <b>co</b>'


@dataclass
class UploadedStudy:
    thing_id: str
    study_uid: str
    #: DICOM files by SOP Instance UID (the blob names), as uploaded.
    files: dict[str, Path]
    #: Preview JPEGs by blob name, as uploaded.
    previews: dict[str, bytes]
    #: Blob names of each series' images, in order.
    series: list[list[str]] = field(default_factory=list)


@dataclass
class ViewerPlatform:
    server: RunningServer
    app_id: str
    record_id: str
    empty_record: str
    private_record: str
    bob_record: str
    signed: UploadedStudy
    unsigned: UploadedStudy
    bob_study: UploadedStudy

    @property
    def url(self) -> str:
        return self.server.url


def upload(
    server: RunningServer,
    folder: Path,
    record_id: str | None = None,
    *,
    signer: Signer | None = None,
    description: str | None = None,
    with_previews: bool = True,
    **options: object,
) -> UploadedStudy:
    made = make_study(folder, **options)  # type: ignore[arg-type]
    scanned = dicom.scan(folder).studies[0]
    built = study.build(scanned, previews=with_previews)
    if description is not None:
        built.data.description = description
    with server.client() as client:
        client.record_id = record_id or client.record_id
        result = workflow.Studies(client, journal_dir=folder.parent / "journal").upload(built, signer=signer)
    series = [[image.sop_instance_uid for image in s.images] for s in scanned.series]
    assert result.thing_id and made["study_uid"] == result.study_uid
    previews = {name: preview.data for name, preview in built.previews.items()}
    return UploadedStudy(result.thing_id, result.study_uid, dict(built.images), previews, series)


def make_platform(base: Path, backend: Backend = EMBEDDED) -> ViewerPlatform:
    server = start_server(base, backend=backend)
    hvgen(server, "person", "passwd", "local", "--password-stdin", stdin=PASSWORD + "\n")
    app_id = server.profile.app_id
    record_id = server.profile.record_id
    empty = json.loads(
        hvgen(server, "record", "add", "--person", "local", "--name", "Empty", "--authorize", app_id, "--json")
    )
    private = json.loads(hvgen(server, "record", "add", "--person", "local", "--name", "Private", "--json"))
    hvgen(server, "person", "add", "bob", "--name", "Bob Roe", "--password-stdin", stdin=BOB_PASSWORD + "\n")
    bob = json.loads(
        hvgen(server, "record", "add", "--person", "bob", "--name", "Bob", "--authorize", app_id, "--json")
    )
    key, cert = crypto.make_key_and_certificate(SIGNER)
    signed = upload(server, base / "signed", signer=Signer(key, cert), series=2, images=3, size=96, seed=1)
    unsigned = upload(
        server, base / "unsigned", series=1, images=2, size=64, seed=2, patient="ROE^RICHARD", description=MARKUP
    )
    bob_study = upload(server, base / "bob", bob["record_id"], series=1, images=1, seed=3, patient="ROE^BOB")
    return ViewerPlatform(
        server,
        app_id,
        record_id,
        empty["record_id"],
        private["record_id"],
        bob["record_id"],
        signed,
        unsigned,
        bob_study,
    )


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, page
    return found.group(1)


def sign_in_page(page: Any, url: str) -> None:
    """Sign in with the viewer's sign-in form in a Playwright ``page`` of the
    platform at ``url``; the page ends on the viewer's study list."""
    page.goto(url + "/viewer")
    page.fill("#login", "local")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/viewer")


def page_errors(page: Any) -> list[str]:
    """The script errors and console errors of a Playwright ``page`` from now on (a list that grows)."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    return problems


@contextmanager
def sign_in(url: str, login: str = "local", password: str = PASSWORD) -> Iterator[httpx.Client]:
    """A browser signed in with the sign-in form (cookies kept, redirects not followed)."""
    with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as browser:
        page = browser.get("/signin", params={"next": "/viewer"})
        form = {"login": login, "password": password, "next": "/viewer", "hvgen_csrf": hidden(page.text, "hvgen_csrf")}
        done = browser.post("/signin", data=form)
        assert done.status_code == 303 and done.headers["location"] == "/viewer", done.text
        yield browser
