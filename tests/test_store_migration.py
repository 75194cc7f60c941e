"""A store made before persons existed (schema version 2) is brought up to
the current version when opened: its records get persons, its tables their
new columns, and `hvgen serve` gives the first person a password. A version
4 store gets the table of failed sign-ins (version 5), and opening a store
again changes nothing.

SQLite only: these are the SQLite store's own schema versions (files made by
earlier releases). The PostgreSQL schema's migrations, version by version,
are tested in test_shared.py."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest

from hvgen_server import passwords
from hvgen_server.bootstrap import ensure_store
from hvgen_server.config import ServerConfig
from hvgen_server.store import SqliteStore
from hvgen_server.store.rows import SessionRow
from hvgen_server.store.sqlite.schema import DDL, SCHEMA_VERSION, migrate

#: The tables of a version 2 store that version 3 changes, as version 2 had them.
VERSION_2 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE applications (app_id TEXT PRIMARY KEY, name TEXT NOT NULL, cert_pem TEXT NOT NULL,
    thumbprint TEXT NOT NULL);
CREATE TABLE records (record_id TEXT PRIMARY KEY, person_id TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE authorizations (app_id TEXT NOT NULL REFERENCES applications(app_id),
    record_id TEXT NOT NULL REFERENCES records(record_id), PRIMARY KEY (app_id, record_id));
CREATE TABLE sessions (token TEXT PRIMARY KEY, app_id TEXT NOT NULL REFERENCES applications(app_id),
    secret BLOB NOT NULL, expires REAL NOT NULL);
CREATE TABLE seen_requests (digest TEXT PRIMARY KEY, expires REAL NOT NULL);
INSERT INTO meta VALUES ('schema_version', '2'), ('default_app_id', 'a0000000-0000-0000-0000-000000000001'),
    ('default_record_id', 'b0000000-0000-0000-0000-000000000001');
INSERT INTO applications VALUES ('a0000000-0000-0000-0000-000000000001', 'old app', '-', 'T');
INSERT INTO records VALUES ('b0000000-0000-0000-0000-000000000001', 'c0000000-0000-0000-0000-000000000001', 'Old');
INSERT INTO authorizations VALUES ('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000001');
INSERT INTO sessions VALUES ('tok', 'a0000000-0000-0000-0000-000000000001', x'00', 1e12);
"""


def make_version_2(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "store.sqlite"
    with sqlite3.connect(database) as conn:
        conn.executescript(VERSION_2)
    return database


def test_a_version_2_store_gets_persons_and_new_columns(tmp_path: Path) -> None:
    store = SqliteStore(make_version_2(tmp_path / "data"))
    try:
        assert store.meta("schema_version") == str(SCHEMA_VERSION) == "15"
        person = store.person("c0000000-0000-0000-0000-000000000001")
        assert person is not None and person.login == "person-c0000000" and person.password_hash is None
        assert store.authorized("a0000000-0000-0000-0000-000000000001", "b0000000-0000-0000-0000-000000000001")
        old = store.session("tok")
        assert old is not None and old.algorithm == "HMACSHA256"  # sessions of before were all HMACSHA256
        store.add_session(SessionRow("new", old.app_id, b"k", 1e12, "HMACSHA1"), 0)
        assert store.session("new").algorithm == "HMACSHA1"
        app = store.application("a0000000-0000-0000-0000-000000000001")
        assert app is not None and app.action_url is None and app.type_versions == ""  # version 11
    finally:
        store.close()
    with sqlite3.connect(tmp_path / "data" / "store.sqlite") as conn:  # version 6: where an upload's bytes are
        assert "files_state" in {r[1] for r in conn.execute("PRAGMA table_info(blobs)")}
        assert "flags" in {r[1] for r in conn.execute("PRAGMA table_info(things)")}  # version 11


def test_serve_gives_the_migrated_first_person_a_password_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_version_2(data)
    first = ensure_store(ServerConfig(data_dir=data))
    assert first.login == "person-c0000000" and first.password
    store = SqliteStore(data / "store.sqlite")
    try:
        person = store.person(first.person_id)
        assert person is not None and passwords.verify(first.password, person.password_hash)
    finally:
        store.close()
    again = ensure_store(ServerConfig(data_dir=data))
    assert again.password == "" and again.person_id == first.person_id


def test_passwords_are_scrypt_hashes_that_verify_only_the_password() -> None:
    stored = passwords.hash_password("correct horse")
    assert stored.startswith("scrypt$") and "correct" not in stored
    assert passwords.verify("correct horse", stored)
    assert not passwords.verify("correct horsE", stored)
    assert not passwords.verify("correct horse", None)
    assert not passwords.verify("correct horse", "md5$abc")
    assert passwords.hash_password("correct horse") != stored  # salted


def test_the_stand_in_of_an_unknown_login_is_checked_as_a_persons_hash_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown login's password is checked against a stand-in with the
    parameters of a person's hash (so it takes as long), which no password
    matches; making it derives nothing (a server start does not pay for it)."""
    derived: list[tuple[int, int, int]] = []
    real = passwords._derive

    def counting(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
        derived.append((n, r, p))
        return real(password, salt, n, r, p)

    monkeypatch.setattr(passwords, "_derive", counting)
    stand_in = passwords.stand_in()
    assert derived == []
    person = passwords.hash_password("correct horse")
    assert stand_in.split("$")[:4] == person.split("$")[:4]  # kind and parameters
    assert len(base64.b64decode(stand_in.split("$")[5])) == len(base64.b64decode(person.split("$")[5]))
    derived.clear()
    assert not passwords.verify("correct horse", stand_in) and not passwords.verify("", stand_in)
    assert derived == [(passwords.N, passwords.R, passwords.P)] * 2
    assert passwords.stand_in() != stand_in


def make_version_4(folder: Path) -> Path:
    """A store as version 4 made it: today's tables without sign_in_failures."""
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "store.sqlite"
    statements = [st for st in DDL.split(";") if st.strip() and "sign_in_failures" not in st]
    with sqlite3.connect(database) as conn:
        for statement in statements:
            conn.execute(statement)
        conn.execute("INSERT INTO meta VALUES ('schema_version', '4')")
    return database


def tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}


def test_a_version_4_store_gets_the_sign_in_failures_and_migrating_again_changes_nothing(tmp_path: Path) -> None:
    database = make_version_4(tmp_path / "data")
    assert "sign_in_failures" not in tables(database)
    store = SqliteStore(database)
    try:
        assert store.meta("schema_version") == str(
            SCHEMA_VERSION
        )  # and on to 8: the upload state column, the layout of versions, packages' wrong answers
        with store.write() as tx:
            assert tx.sign_in_failures.reserve("alice", 1000.0, 600.0, 10)
    finally:
        store.close()
    made = tables(database)
    assert {"sign_in_failures", "sign_in_failures_by_login", "sign_in_failures_by_time"} <= made
    with sqlite3.connect(database) as conn:  # once more, as a second server opening the store would
        migrate(conn)
        assert conn.execute("SELECT count(*) FROM sign_in_failures").fetchone() == (1,)
    assert tables(database) == made


def test_sign_in_attempts_are_counted_per_login_within_the_window(tmp_path: Path) -> None:
    database = tmp_path / "store.sqlite"
    one, two = SqliteStore(database), SqliteStore(database)  # two server processes on one store
    try:

        def reserve(store: SqliteStore, login: str, now: float) -> bool:
            with store.write() as tx:
                return tx.sign_in_failures.reserve(login, now, 600.0, 10)

        assert all(reserve(one if i % 2 else two, "alice", 1000.0 + i) for i in range(10))
        assert not reserve(one, "alice", 1100.0) and not reserve(two, "alice", 1599.0)
        assert reserve(one, "bob", 1100.0)  # another login is not locked
        assert reserve(two, "alice", 1600.5)  # the first attempt is older than the window now
        assert not reserve(one, "alice", 1600.6)
        with two.write() as tx:
            tx.sign_in_failures.clear("alice")  # signed in
        assert reserve(one, "alice", 1600.7)
    finally:
        one.close()
        two.close()


#: A thing version as an older store kept it.
OLD_VERSION = (
    b'<thing><thing-id version-stamp="s1">t1</thing-id><type-id name="x">y</type-id>'
    b"<created><timestamp>2024-01-01T00:00:00Z</timestamp></created><data-xml><a>1</a></data-xml></thing>"
)


def test_a_version_6_store_gives_its_versions_layouts(tmp_path: Path) -> None:
    """Version 7 keeps each version's layout (GetThings cuts versions along
    it); the versions of an older store get theirs when it is opened, and one
    that cannot have one keeps none (it is parsed when read)."""
    database = tmp_path / "store.sqlite"
    store = SqliteStore(database)
    record, _ = store.add_record("r", [])
    with store.write() as tx:
        for thing_id, xml in (("t1", OLD_VERSION), ("t2", b'<thing xmlns:n="urn:n"><thing-id>t2</thing-id></thing>')):
            tx.things.add(record, thing_id, "y", f"s-{thing_id}", None, "2024-01-01T00:00:00.000Z", 1.0)
            tx.things.add_version(thing_id, f"s-{thing_id}", 1, "Active", xml, 1.0, [])
    store.close()
    with sqlite3.connect(database) as conn:  # as version 6 made it
        conn.execute("ALTER TABLE versions DROP COLUMN layout")
        conn.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    store = SqliteStore(database)
    try:
        assert store.meta("schema_version") == str(SCHEMA_VERSION) == "15"
        with store.read() as tx:
            first, second = (tx.things.current(record, t) for t in ("t1", "t2"))
        assert first is not None and first.layout is not None and second is not None and second.layout is None
        from hvgen_server import thingxml

        assert thingxml.cut(first.xml, first.layout, thingxml.kept({"core"}, True), {}) == (
            b'<thing><thing-id version-stamp="s1">t1</thing-id><type-id name="x">y</type-id>'
            b"<data-xml><a>1</a></data-xml></thing>"
        )
    finally:
        store.close()


def test_a_version_7_store_counts_the_wrong_answers_its_packages_had(tmp_path: Path) -> None:
    """Version 8 counts a package's wrong answers apart from those being
    checked; before, every counted answer had been checked and was wrong."""
    from hvgen_server.store.rows import LOCKED, PackageContent

    database = tmp_path / "store.sqlite"
    store = SqliteStore(database)
    app_id = store.add_application("a", "-", "T")
    content = PackageContent("p", "q?", "x", b"<package/>")
    with store.write() as tx:
        tx.packages.create("PEND-INGA", app_id, content, 1.0, 2e12)
    store.close()
    with sqlite3.connect(database) as conn:  # as version 7 left it: two wrong answers given
        conn.execute("ALTER TABLE packages DROP COLUMN wrong_answers")
        conn.execute("UPDATE packages SET attempts = 2")
        conn.execute("UPDATE meta SET value = '7' WHERE key = 'schema_version'")
    store = SqliteStore(database)
    try:
        assert store.meta("schema_version") == str(SCHEMA_VERSION) == "15"
        with store.write() as tx:
            package = tx.packages.get("PEND-INGA")
            assert package is not None and package.wrong_answers == 2
            assert tx.packages.reserve_attempt("PEND-INGA", 3) == 3
            assert tx.packages.record_wrong("PEND-INGA", 3) == 3  # the third wrong answer locks it
            package = tx.packages.get("PEND-INGA")
            assert package is not None and package.state == LOCKED
            assert tx.packages.record_wrong("PEND-INGA", 3) is None
    finally:
        store.close()


def test_a_version_14_store_looks_up_the_studies_it_indexed_by_reading_them(tmp_path: Path) -> None:
    """Version 15 keeps each indexed study's UID; the studies indexed before
    have none (NULL), so a look-up by UID takes them as candidates, while a
    study indexed since is a candidate only for its own UID."""
    database = tmp_path / "store.sqlite"
    store = SqliteStore(database)
    record, _ = store.add_record("r", [])
    with store.write() as tx:
        for thing in ("t-old", "t-new"):
            tx.things.add(record, thing, "study", f"{thing}-s1", None, "2024-01-01T00:00:00.000Z", 1.0)
            tx.things.add_version(thing, f"{thing}-s1", 1, "Active", b"<thing/>", 1.0, [])
        tx.dicom.replace(record, "t-old", "t-old-s1", [])
    store.close()
    with sqlite3.connect(database) as conn:  # as version 14 left it
        conn.execute("DROP INDEX dicom_studies_by_uid")
        conn.execute("ALTER TABLE dicom_studies DROP COLUMN study_uid")
        conn.execute("UPDATE meta SET value = '14' WHERE key = 'schema_version'")
    store = SqliteStore(database)
    try:
        assert store.meta("schema_version") == str(SCHEMA_VERSION) == "15"
        with store.write() as tx:
            tx.dicom.replace(record, "t-new", "t-new-s1", [], "1.2.3")
        with store.read() as tx:
            assert tx.dicom.study_things(record, {"1.2.3"}, ["study"]) == {"t-old": None, "t-new": "1.2.3"}
            assert tx.dicom.study_things(record, {"1.2.4"}, ["study"]) == {"t-old": None}
        with sqlite3.connect(database) as conn:
            indexes = {r[1] for r in conn.execute("PRAGMA index_list(dicom_studies)")}
        assert "dicom_studies_by_uid" in indexes
    finally:
        store.close()
