"""The Personal flag in the FHIR views: a study the person marked personal is,
for an application's bearer token, neither found, counted nor read; the
person's own browser session still sees it."""

from __future__ import annotations

import json
from typing import Any

import httpx
from click.testing import CliRunner

from hvgen_cli import main

from .test_flags import set_flags
from .test_flags import viewed as viewed  # noqa: F401  (the platform of the flags tests)
from .viewerdata import ViewerPlatform, sign_in


def bearer(platform: ViewerPlatform) -> dict[str, str]:
    result = CliRunner().invoke(main, ["token", "--json"], env={"HVGEN_PROFILE": str(platform.server.profile_path)})
    assert result.exit_code == 0, result.output
    return {"Authorization": "Bearer " + json.loads(result.output)["token"]}


def studies(answer: httpx.Response) -> tuple[list[str], int]:
    assert answer.status_code == 200, answer.text
    bundle: dict[str, Any] = answer.json()
    return [e["resource"]["id"] for e in bundle.get("entry", [])], int(bundle["total"])


def test_a_personal_study_is_not_there_for_an_applications_fhir(viewed: ViewerPlatform) -> None:  # noqa: F811
    headers = bearer(viewed)
    study = viewed.unsigned.thing_id
    url = viewed.url + "/fhir/ImagingStudy"
    found, total = studies(httpx.get(url, headers=headers, timeout=60))
    assert study in found
    with sign_in(viewed.url) as browser:
        mine, _ = studies(browser.get("/fhir/ImagingStudy", params={"patient": f"Patient/{viewed.record_id}"}))
    assert study in mine
    assert httpx.get(f"{url}/{study}", headers=headers, timeout=60).status_code == 200
    set_flags(viewed, study, personal=True, hidden_from_eprep=False)
    try:
        hidden, hidden_total = studies(httpx.get(url, headers=headers, timeout=60))
        assert study not in hidden and hidden_total == total - 1
        read = httpx.get(f"{url}/{study}", headers=headers, timeout=60)
        assert read.status_code == 404 and read.json()["resourceType"] == "OperationOutcome"
        with sign_in(viewed.url) as browser:  # the person's own view keeps it
            mine, _ = studies(browser.get("/fhir/ImagingStudy", params={"patient": f"Patient/{viewed.record_id}"}))
        assert study in mine
    finally:
        set_flags(viewed, study, personal=False, hidden_from_eprep=False)
    again, _ = studies(httpx.get(url, headers=headers, timeout=60))
    assert study in again
