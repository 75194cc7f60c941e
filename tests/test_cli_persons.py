"""hvgen person, record and app on a store folder, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hvgen.cli import main


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    result = CliRunner().invoke(main, ["serve", "--data", str(folder), "--init-only", "--no-profile"])
    assert result.exit_code == 0, result.output
    assert "login local" in result.output and "password:" in result.output
    return folder


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.output


def test_persons_records_and_apps(data: Path, tmp_path: Path) -> None:
    code, out = run("person", "add", "Alice", "--name", "Alice Doe", "--json", "--data", str(data))
    made = json.loads(out)
    assert code == 0 and made["login"] == "alice" and len(made["password"]) >= 8  # made, shown once
    code, out = run("person", "add", "alice", "--data", str(data))
    assert code == 1 and "already exists" in out
    code, out = run("person", "passwd", "alice", "--password-stdin", "--data", str(data), stdin="short\n")
    assert code == 1 and "at least 8 characters" in out
    code, out = run("person", "passwd", "nobody", "--password-stdin", "--data", str(data), stdin="long-enough\n")
    assert code == 1 and "no person with login 'nobody'" in out

    code, out = run("app", "list", "--json", "--data", str(data))
    app_id = json.loads(out)[0]["app_id"]
    code, out = run("record", "add", "--person", "alice", "--authorize", app_id, "--json", "--data", str(data))
    record = json.loads(out)
    assert code == 0 and record["authorized"] == [app_id] and record["person_id"] == made["person_id"]
    code, out = run("record", "add", "--person", "alice", "--authorize", "not-a-guid", "--data", str(data))
    assert code == 2 and "not an application id" in out
    code, out = run("record", "list", "--person", "alice", "--json", "--data", str(data))
    assert [r["record_id"] for r in json.loads(out)] == [record["record_id"]]

    code, out = run("person", "list", "--json", "--data", str(data))
    assert {p["login"]: p["can_sign_in"] for p in json.loads(out)} == {"alice": True, "local": True}

    cert = data / "app" / "cert.pem"
    code, out = run("app", "add", "--cert", str(cert), "--app-id", app_id, "--data", str(data))
    assert code == 1 and "already registered" in out
    code, out = run("app", "add", "--cert", str(tmp_path), "--data", str(data))
    assert code == 2 and "is a directory" in out
    code, out = run("app", "add", "--cert", str(cert), "--action-url", "ftp://x", "--data", str(data))
    assert code == 2 and "http://" in out


def test_commands_without_a_store_say_how_to_make_one(tmp_path: Path) -> None:
    code, out = run("person", "list", "--data", str(tmp_path / "none"))
    assert code == 1 and "hvgen serve --data" in out and "--init-only" in out and "Traceback" not in out
