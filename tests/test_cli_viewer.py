"""hvgen viewer as a user runs it: the link printed, as JSON, opened in a browser, and its errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from healthvault.client import HealthVaultClient

from .localserver import RunningServer, free_port
from .terminal import assert_clean, hvgen_env, in_terminal, piped


def test_hvgen_viewer_prints_opens_or_explains(server: RunningServer, tmp_path: Path) -> None:
    env = hvgen_env(tmp_path, server.profile_path)
    printed = in_terminal(["viewer", "--print"], env)
    assert printed.code == 0 and len(printed.lines) == 1, printed.output
    with httpx.Client(follow_redirects=False) as browser:
        assert browser.get(printed.lines[0]).headers["location"] == f"/viewer/{server.profile.record_id}"
    as_json = piped(["viewer", "--json"], env)
    made = json.loads(as_json.output)
    assert set(made) == {"url", "expires"} and made["url"].startswith(server.url + "/viewer/open?link=")

    opened_file = tmp_path / "opened.txt"
    opener = tmp_path / "browser.sh"
    opener.write_text(f'#!/bin/sh\necho "$1" > {opened_file}\n')
    opener.chmod(0o755)
    opened = in_terminal(["viewer"], {**env, "BROWSER": str(opener)})
    assert opened.code == 0 and "Opened the study viewer in your browser" in opened.output, opened.output
    deadline = time.monotonic() + 10
    while not opened_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert opened_file.read_text().strip().startswith(server.url + "/viewer/open?link=")
    for run in (printed, as_json, opened):
        assert_clean(run)


def test_hvgen_viewer_without_a_server_or_profile_says_so(server: RunningServer, tmp_path: Path) -> None:
    profile = json.loads(server.profile_path.read_text())
    profile["url"] = f"http://127.0.0.1:{free_port()}"
    down = tmp_path / "down.json"
    down.write_text(json.dumps(profile))
    run = in_terminal(["viewer", "--print"], hvgen_env(tmp_path, down))
    assert run.code == 1 and "is `hvgen serve` running?" in run.output and "cannot reach" in run.output, run.output
    missing = in_terminal(["viewer"], hvgen_env(tmp_path, tmp_path / "nowhere.json"))
    assert missing.code == 1 and "no client profile at" in missing.output, missing.output
    for r in (run, missing):
        assert_clean(r)


def test_a_client_for_another_schema_set_says_it_has_no_viewer_method(server: RunningServer, monkeypatch) -> None:
    from healthvault import client as client_module
    from healthvault.errors import HealthVaultError

    monkeypatch.setattr(client_module, "CreateViewerLinkParams", None)
    with (
        HealthVaultClient.from_profile(server.profile) as client,
        pytest.raises(HealthVaultError, match="no CreateViewerLink"),
    ):
        client.create_viewer_link()
