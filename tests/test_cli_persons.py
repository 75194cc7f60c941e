"""hvgen person, record and app on a store folder, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hvgen_cli import main

from .localserver import Backend


@pytest.fixture
def store(tmp_path: Path, backend: Backend) -> tuple[Path, list[str]]:
    """A new store, made by ``hvgen serve --init-only``: its data folder, and
    the options that name it (``--data``, and ``--db`` for a shared one)."""
    folder = tmp_path / "data"
    options = backend.options()
    result = CliRunner().invoke(
        main, ["serve", "--data", str(folder), *options, "--init-only", "--no-profile"], env=backend.env
    )
    assert result.exit_code == 0, result.output
    assert "login local" in result.output and "password:" in result.output
    return folder, ["--data", str(folder), *options[:2]]


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.output


def test_persons_records_and_apps(store: tuple[Path, list[str]], tmp_path: Path) -> None:
    data, where = store
    code, out = run("person", "add", "Alice", "--name", "Alice Doe", "--json", *where)
    made = json.loads(out)
    assert code == 0 and made["login"] == "alice" and len(made["password"]) >= 8  # made, shown once
    code, out = run("person", "add", "alice", *where)
    assert code == 1 and "already exists" in out
    code, out = run("person", "passwd", "alice", "--password-stdin", *where, stdin="short\n")
    assert code == 1 and "at least 8 characters" in out
    code, out = run("person", "passwd", "nobody", "--password-stdin", *where, stdin="long-enough\n")
    assert code == 1 and "no person with login 'nobody'" in out

    code, out = run("app", "list", "--json", *where)
    app_id = json.loads(out)[0]["app_id"]
    code, out = run("record", "add", "--person", "alice", "--authorize", app_id, "--json", *where)
    record = json.loads(out)
    assert code == 0 and record["authorized"] == [app_id] and record["person_id"] == made["person_id"]
    code, out = run("record", "add", "--person", "alice", "--authorize", "not-a-guid", *where)
    assert code == 2 and "not an application id" in out
    code, out = run("record", "list", "--person", "alice", "--json", *where)
    assert [r["record_id"] for r in json.loads(out)] == [record["record_id"]]

    code, out = run("person", "list", "--json", *where)
    assert {p["login"]: p["can_sign_in"] for p in json.loads(out)} == {"alice": True, "local": True}

    cert = data / "app" / "cert.pem"
    code, out = run("app", "add", "--cert", str(cert), "--app-id", app_id, *where)
    assert code == 1 and "already registered" in out
    code, out = run("app", "add", "--cert", str(tmp_path), *where)
    assert code == 2 and "is a directory" in out
    code, out = run("app", "add", "--cert", str(cert), "--action-url", "ftp://x", *where)
    assert code == 2 and "'ftp://x' is not a usable URL: ftp:// is not supported (only http:// and https://)" in out
    code, out = run("app", "add", "--cert", str(cert), "--action-url", "http://127.0.0.1:80a80/back", *where)
    assert code == 2 and "its port '80a80' is not a number from 1 to 65535" in out


def test_commands_without_a_store_say_how_to_make_one(tmp_path: Path) -> None:
    code, out = run("person", "list", "--data", str(tmp_path / "none"))
    assert code == 1 and "hvgen serve --data" in out and "--init-only" in out and "Traceback" not in out
    code, out = run("person", "list", "--db", "postgresql://hv@127.0.0.1:1/hv")  # nothing listens on port 1
    assert code == 1 and "cannot connect to postgresql://hv@127.0.0.1:1/hv" in out and "Traceback" not in out
    code, out = run("record", "list", "--db", "mysql://hv@db/hv")
    assert code != 0 and "expected postgresql://" in out and "Traceback" not in out
