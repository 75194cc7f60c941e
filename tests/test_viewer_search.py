"""The viewer's study list searched and sorted over HTTP: patient name or
ID with DICOM wildcards, date range, modality, accession, description;
every column sorts; undated studies are marked and come last by date; the
query is in the address (bookmarkable) and what it echoes is escaped."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest

from hvgen_imaging import dicom, study, workflow

from .dicomgen import make_study
from .localserver import Backend, RunningServer, hvgen, start_server
from .viewerdata import PASSWORD, sign_in

#: name, make_study options, what to change in every file
STUDIES: list[tuple[str, dict[str, Any], dict[str, str | None]]] = [
    ("jane", {"patient": "DOE^JANE", "study_date": "20240517", "modality": "CT", "seed": 1, "images": 3},
     {"PatientID": "PID-001", "PatientBirthDate": "19700101"}),
    ("roe", {"patient": "ROE^RICHARD", "study_date": "20250203", "modality": "MR", "seed": 2, "images": 1},
     {"PatientID": "PID-002", "PatientBirthDate": "19851231", "StudyDescription": "Knee left"}),
    ("undated", {"patient": "NOBODY^KNOWN", "modality": "US", "seed": 3, "images": 2},
     {"PatientID": "PID-003", "StudyDate": None, "StudyDescription": "Abdomen"}),
    ("adams", {"patient": "ADAMS^ANN", "study_date": "20100101", "modality": "CT", "seed": 4, "images": 4},
     {"PatientID": "XYZ-4", "PatientBirthDate": "19500505", "StudyDescription": "Chest"}),
]  # fmt: skip


def _put(server: RunningServer, folder: Path, options: dict[str, Any], changes: dict[str, str | None]) -> str:
    make_study(folder, series=1, size=16, **options)
    for path in folder.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        for keyword, value in changes.items():
            if value is None:
                delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
        ds.save_as(path)
    built = study.build(dicom.scan(folder).studies[0], previews=False)
    with server.client() as client:
        return workflow.Studies(client, journal_dir=folder.parent / "journal").upload(built).thing_id


@pytest.fixture(scope="module")
def listed(
    tmp_path_factory: pytest.TempPathFactory, backend: Backend
) -> Iterator[tuple[RunningServer, dict[str, str]]]:
    base = tmp_path_factory.mktemp("viewer-search")
    server = start_server(base / "server", backend=backend)
    hvgen(server, "person", "passwd", "local", "--password-stdin", stdin=PASSWORD + "\n")
    things = {name: _put(server, base / name, options, changes) for name, options, changes in STUDIES}
    yield server, things
    server.stop()


@pytest.fixture
def get(listed: tuple[RunningServer, dict[str, str]]) -> Iterator[Callable[..., tuple[list[str], str]]]:
    server, things = listed
    names = {thing_id: name for name, thing_id in things.items()}
    with sign_in(server.url) as browser:

        def rows(**params: str) -> tuple[list[str], str]:
            """The studies the list shows (by name, in order) and the page."""
            page = browser.get(f"/viewer/{server.profile.record_id}", params=params)
            assert page.status_code == 200, page.text
            shown = re.findall(
                r'<tr class="study[^"]*">\s*<td class="patient"><a href="/viewer/[^/]+/([^"]+)"', page.text
            )
            return [names[t] for t in shown], page.text

        yield rows


def test_every_column_sorts_and_undated_studies_come_last_by_date(get) -> None:
    order, page = get()
    assert order == ["roe", "jane", "adams", "undated"], "newest first, undated last"
    undated = re.search(r'<tr class="study undated">.*?</tr>', page, re.S)
    assert undated and "Undated" in undated.group(0) and "NOBODY KNOWN" in undated.group(0)
    assert "17 May 2024" in page and 'aria-sort="descending"' in page
    assert get(sort="date", order="asc")[0] == ["adams", "jane", "roe", "undated"], "undated last either way"
    assert get(sort="patient", order="asc")[0] == ["adams", "jane", "undated", "roe"]
    assert get(sort="patient", order="desc")[0] == ["roe", "undated", "jane", "adams"]
    assert get(sort="patient_id", order="asc")[0] == ["jane", "roe", "undated", "adams"]
    assert get(sort="birth_date", order="desc")[0] == ["roe", "jane", "adams", "undated"]
    assert get(sort="images", order="desc")[0] == ["adams", "jane", "undated", "roe"]
    assert get(sort="description", order="asc")[0] == ["undated", "adams", "jane", "roe"]
    assert get(sort="accession", order="asc")[0] == ["jane", "roe", "undated", "adams"]
    by_modality = get(sort="modalities", order="asc")[0]
    assert set(by_modality[:2]) == {"jane", "adams"} and by_modality[2:] == ["roe", "undated"], "CT, MR, US"
    assert get(sort="nonsense")[0] == ["roe", "jane", "adams", "undated"], "an unknown sort is the default"
    for cell in ("PID-001", "1 January 1970", "ACC00001"):
        assert cell in page


def test_the_search_chooses_studies(get) -> None:
    assert get(patient="doe")[0] == ["jane"], "any part of the name, case ignored"
    assert get(patient="doe jane")[0] == ["jane"]
    assert get(patient="R?E*")[0] == ["roe"], "wildcards: the whole name"
    assert get(patient="PID-00?")[0] == ["roe", "jane", "undated"], "or the patient ID"
    assert get(patient="xyz")[0] == ["adams"]
    assert get(**{"from": "2024-01-01"})[0] == ["roe", "jane"], "an undated study is in no date range"
    assert get(**{"from": "2010-01-01", "to": "2024-05-17"})[0] == ["jane", "adams"]
    assert get(to="20101231")[0] == ["adams"]
    assert get(modality="ct")[0] == ["jane", "adams"]
    assert get(accession="ACC0000?")[0] == ["roe", "jane", "adams", "undated"]
    assert get(accession="ACC00004")[0] == ["adams"]
    assert get(description="*knee*")[0] == ["roe"]
    assert get(description="knee", modality="CT")[0] == []
    order, page = get(patient="doe", sort="patient", order="asc")
    assert order == ["jane"] and "1 study matches." in html.unescape(re.sub(r"<[^>]+>", " ", page))
    # the query stays in the address: sort links and the form keep the search
    assert 'href="?patient=doe&amp;sort=patient&amp;order=desc" data-sort="patient"' in page, "the other way round"
    assert 'href="?patient=doe" data-sort="date"' in page, "newest first is the default"
    assert 'name="patient" value="doe"' in page
    assert "No studies match this search." in get(patient="nobody at all")[1]


def test_what_cannot_be_read_is_said_and_what_is_echoed_is_escaped(get) -> None:
    order, page = get(**{"from": "2024-13-45"})
    assert order == ["roe", "jane", "adams", "undated"], "the whole list"
    assert "From: &#39;2024-13-45&#39; is not a date (YYYY-MM-DD)" in page
    order, page = get(**{"from": "2025-01-01", "to": "2024-01-01"})
    assert "the date range is reversed" in page
    hostile = '"><script>alert(1)</script>'
    order, page = get(patient=hostile, description="%_\\")
    assert order == [] and "<script>alert(1)" not in page and "&#34;&gt;&lt;script&gt;" in page
    assert get(description="50%")[0] == [], "% and _ are not wildcards"
