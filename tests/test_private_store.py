"""What the platform keeps stays its owner's: the data folder and every file
in it are owner-only (checked as another local user, ``nobody``, through
``runuser``), session secrets are sealed with the server's key (on both
backends), and no secret is written to a log (the first-run password, the
tokens of URLs in the access log)."""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from healthvault import codec, methods
from healthvault.client import ThingQuery
from healthvault.protocol import Session
from healthvault.schema import GetThings3Params
from hvgen_server.store.rows import SessionRow

from .blobdata import file_thing
from .localserver import Backend, RunningServer, start_server
from .test_server import MIS
from .test_web_attacks import raw_get


def can_switch_to_nobody() -> bool:
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return False
    try:
        import pwd

        pwd.getpwnam("nobody")
    except KeyError:
        return False
    return True


needs_root = pytest.mark.skipif(not can_switch_to_nobody(), reason="needs root, runuser and a `nobody` user")


def as_nobody(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", "nobody", "--", *command], capture_output=True, text=True, timeout=30)


@pytest.fixture
def open_base() -> Iterator[Path]:
    """A folder every user may enter (unlike pytest's own temporary folders),
    so that only the data folder's own modes keep another user out."""
    base = Path(tempfile.mkdtemp(prefix="hvgen-private-", dir="/tmp"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def server(open_base: Path, backend: Backend) -> Iterator[RunningServer]:
    running = start_server(open_base / "platform", backend=backend)
    (open_base / "platform").chmod(0o755)
    yield running
    running.stop()


def put_blob(server: RunningServer, size: int = 3 * 1024 * 1024) -> str:
    """A thing with a blob of ``size`` bytes (streamed, not inline); its download URL."""
    with server.client() as client:
        blobs = client.blobs(file_thing())
        blobs.write("scan", io.BytesIO(os.urandom(size)), "application/octet-stream")
        blobs.commit()
        return blobs.url("scan")


def everything_in(folder: Path) -> list[Path]:
    return [folder, *sorted(folder.rglob("*"))]


def assert_owner_only(folder: Path) -> None:
    loose = [
        f"{p} {stat.filemode(p.lstat().st_mode)}"
        for p in everything_in(folder)
        if not p.is_symlink() and p.lstat().st_mode & 0o077
    ]
    assert loose == [], loose


# -- 10: other local users ------------------------------------------------------------------------


@needs_root
def test_another_local_user_cannot_read_the_store(server: RunningServer) -> None:
    put_blob(server)
    with server.client() as client:
        client.create_session()  # a live session in the store
    data = server.data
    files = [p for p in everything_in(data) if p.is_file()]
    names = {p.name for p in files}
    assert {"key.pem", "cert.pem"} <= names
    if not server.shared:
        assert {"store.sqlite", "store.sqlite-wal", "server.key"} <= names
        assert any(p.parent.parent.name == "blobs" for p in files)
    listed = as_nobody("ls", str(data))
    assert listed.returncode != 0 and "Permission denied" in listed.stderr, listed
    for path in files:
        read = as_nobody("cat", str(path))
        assert read.returncode != 0 and "Permission denied" in read.stderr, (path, read.stdout[:80])
    if not server.shared:
        sql = "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select * from sessions').fetchall())"
        read = as_nobody("python3", "-c", sql, str(data / "store.sqlite"))
        assert read.returncode != 0, read.stdout
    assert_owner_only(data)


@needs_root
def test_an_older_store_is_made_private_on_start(server: RunningServer) -> None:
    put_blob(server)
    server.stop()
    # as an older version left it: everything readable by anyone
    subprocess.run(["chmod", "-R", "go+rX", str(server.data)], check=True)
    store = server.open_store()
    try:
        store.set_meta("file_modes", "older")  # a store from before this version
    finally:
        store.close()
    readable = as_nobody("cat", str(next(p for p in everything_in(server.data) if p.name == "key.pem")))
    assert readable.returncode == 0  # it was
    server.start()
    assert_owner_only(server.data)
    assert as_nobody("ls", str(server.data)).returncode != 0


@needs_root
def test_the_dicom_listeners_spool_is_private(open_base: Path) -> None:
    pytest.importorskip("pynetdicom")
    from .test_dicom_listen import Listening

    server = start_server(open_base / "platform")
    spool = open_base / "spool"
    (spool / "incoming").mkdir(parents=True)
    left = spool / "incoming" / "older.dcm"
    left.write_bytes(b"an instance an older version left")
    subprocess.run(["chmod", "-R", "a+rX", str(spool)], check=True)
    listening = Listening(server, open_base, "--spool", str(spool))
    try:
        assert_owner_only(spool)
        assert as_nobody("cat", str(left)).returncode != 0
        assert as_nobody("ls", str(spool)).returncode != 0
    finally:
        listening.stop()
        server.stop()


# -- 10: session secrets sealed -------------------------------------------------------------------


def session_rows(server: RunningServer) -> list[dict[str, object]]:
    store = server.open_store()
    try:
        return store.export_rows("sessions", None, 10_000)
    finally:
        store.close()


def get_things(server: RunningServer, session: Session) -> int:
    """A GetThings request signed with ``session``, as raw bytes: its status code."""
    info = GetThings3Params(group=[ThingQuery(type_ids=[MIS]).to_group()])
    body = methods.build_request(methods.GET_THINGS3, info, session=session, record_id=server.profile.record_id)
    answer = httpx.post(server.url + "/wildcat.ashx", content=body, timeout=30)
    return int(codec.read_response(answer.content).status.code)


def test_a_copy_of_the_database_holds_no_usable_session(server: RunningServer) -> None:
    with server.client() as client:
        session = client.create_session()
    assert get_things(server, session) == 0
    rows = session_rows(server)
    assert rows
    for row in rows:
        assert session.token not in str(row["token"])
        secret = row["secret"]
        assert isinstance(secret, bytes) and session.shared_secret not in secret
    if not server.shared:  # nor anywhere in the database's files
        for name in ("store.sqlite", "store.sqlite-wal"):
            raw = (server.data / name).read_bytes()
            assert session.token.encode() not in raw and session.shared_secret not in raw, name


def test_sessions_stored_in_plain_by_an_older_version_are_sealed_and_still_work(server: RunningServer) -> None:
    server.stop()
    token, secret = "older-version-token-0123456789abcdefghijklmnopq", b"an older version's shared secret"
    app_id = server.profile.app_id
    store = server.open_store()
    try:  # as versions before sealing stored a session
        store.add_session(SessionRow(token, app_id, secret, time.time() + 3600, "HMACSHA256"), time.time())
    finally:
        store.close()
    server.start()
    rows = session_rows(server)
    assert all(token not in str(r["token"]) and secret not in r["secret"] for r in rows), rows  # type: ignore[operator]
    assert get_things(server, Session(token, secret, app_id)) == 0  # the client's session goes on


# -- 17: no secret in a log -----------------------------------------------------------------------


def test_the_first_password_is_not_written_to_a_log(tmp_path: Path, backend: Backend) -> None:
    server = start_server(tmp_path / "first", backend=backend)
    try:
        kept = server.data / "first-password"
        assert kept.exists(), server.log()
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        password = kept.read_text().strip()
        assert len(password) >= 12 and password not in server.log()
        assert f"password:     in {kept}" in server.log()
        with httpx.Client(base_url=server.url, timeout=30) as browser:  # and it is the password
            token = re.search(r'name="hvgen_csrf" value="([^"]*)"', browser.get("/signin").text)
            assert token
            form = {"login": "local", "password": password, "next": "/viewer", "hvgen_csrf": token.group(1)}
            assert browser.post("/signin", data=form, follow_redirects=False).status_code == 303
    finally:
        server.stop()


def test_the_first_password_is_shown_once_on_a_terminal(tmp_path: Path) -> None:
    from .terminal import hvgen_env, in_terminal

    data = tmp_path / "data"
    done = in_terminal(["serve", "--data", str(data), "--init-only", "--no-profile"], hvgen_env(tmp_path))
    assert done.code == 0, done.output
    assert re.search(r"password:\s+\S+\s+\(shown once", done.output), done.output
    assert not (data / "first-password").exists()


def test_tokens_are_not_in_the_access_log_at_debug(tmp_path: Path, backend: Backend) -> None:
    server = start_server(tmp_path / "debug", "--log-level", "debug", backend=backend)
    try:
        blob = urlsplit(put_blob(server, 100))
        sent = {
            "access-token-secret": "/dicomweb/studies?access_token=access-token-secret",
            "link-secret": "/viewer/open?link=link-secret&record=x",
            "wctoken-secret": "/application/complete?target=AppAuthSuccess&wctoken=wctoken-secret",
            "session-secret": "/health?session=session-secret&auth=x",
            blob.query.split("=", 1)[1]: f"{blob.path}?{blob.query}",
        }
        for path in sent.values():
            raw_get(server.url + path)
        time.sleep(0.5)
        log = server.log()
        assert '"GET /dicomweb/studies?access_token=... HTTP/1.1"' in log, log[-3000:]  # the access log is on
        for secret in sent:
            assert secret not in log, secret
    finally:
        server.stop()
