"""The SQLite store of the local platform.

One database file in WAL mode with ``synchronous=FULL``: a committed
transaction survives the process being killed at any moment, and an
uncommitted one leaves no trace. Every method request that writes runs in a
single transaction (:meth:`Store.write`), so a PutThings either stores all of
its things or none.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS applications (
    app_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    cert_pem TEXT NOT NULL,
    thumbprint TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    record_id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS authorizations (
    app_id TEXT NOT NULL REFERENCES applications(app_id),
    record_id TEXT NOT NULL REFERENCES records(record_id),
    PRIMARY KEY (app_id, record_id)
);
CREATE TABLE IF NOT EXISTS sessions (
    token TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES applications(app_id),
    secret BLOB NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS things (
    thing_id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL REFERENCES records(record_id),
    type_id TEXT NOT NULL,
    version_stamp TEXT NOT NULL,
    state TEXT NOT NULL,
    client_thing_id TEXT,
    eff_date TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS things_by_type ON things(record_id, type_id, state);
CREATE INDEX IF NOT EXISTS things_by_client_id ON things(record_id, client_thing_id);
CREATE TABLE IF NOT EXISTS versions (
    version_stamp TEXT PRIMARY KEY,
    thing_id TEXT NOT NULL REFERENCES things(thing_id),
    seq INTEGER NOT NULL,
    state TEXT NOT NULL,
    xml BLOB NOT NULL,
    created REAL NOT NULL,
    UNIQUE (thing_id, seq)
);
CREATE TABLE IF NOT EXISTS blobs (
    blob_id TEXT PRIMARY KEY,
    record_id TEXT REFERENCES records(record_id),  -- NULL for connect-package blobs
    kind TEXT NOT NULL DEFAULT 'record',           -- record, package
    chunk_size INTEGER,
    state TEXT NOT NULL,              -- uploading, complete, committed
    received INTEGER NOT NULL DEFAULT 0,
    total INTEGER,
    last_range TEXT,
    block_size INTEGER NOT NULL,
    block_digests BLOB NOT NULL DEFAULT x'',
    hash TEXT,
    created REAL NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS version_blobs (
    version_stamp TEXT NOT NULL REFERENCES versions(version_stamp),
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    blob_id TEXT NOT NULL REFERENCES blobs(blob_id),
    PRIMARY KEY (version_stamp, name)
);
CREATE INDEX IF NOT EXISTS version_blobs_by_blob ON version_blobs(blob_id);
CREATE TABLE IF NOT EXISTS packages (
    identity_code TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES applications(app_id),
    state TEXT NOT NULL,              -- allocated, pending, picked, locked
    friendly_name TEXT,
    question TEXT,
    external_id TEXT,
    package_xml BLOB,
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    picked_record TEXT
);
CREATE TABLE IF NOT EXISTS package_blobs (
    identity_code TEXT NOT NULL REFERENCES packages(identity_code),
    blob_id TEXT NOT NULL REFERENCES blobs(blob_id),
    PRIMARY KEY (identity_code, blob_id)
);
"""


@dataclass(frozen=True)
class Application:
    app_id: str
    name: str
    cert_pem: str
    thumbprint: str


@dataclass(frozen=True)
class SessionRow:
    token: str
    app_id: str
    secret: bytes
    expires: float


class Store:
    """The database, shared by the server's worker threads.

    SQLite allows one writer at a time; a lock serializes access so that a
    write transaction is never interleaved with another thread's statements.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA busy_timeout=10000")
            self._conn.executescript(_SCHEMA)
            self._conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for reads."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed if the block succeeds, else rolled back."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    # -- setup ---------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        with self.read() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        with self.write() as db:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def add_application(self, name: str, cert_pem: str, thumbprint: str) -> str:
        app_id = str(uuid.uuid4())
        with self.write() as db:
            db.execute(
                "INSERT INTO applications(app_id, name, cert_pem, thumbprint) VALUES (?, ?, ?, ?)",
                (app_id, name, cert_pem, thumbprint),
            )
        return app_id

    def add_record(self, name: str, app_ids: list[str]) -> tuple[str, str]:
        """A new record (and its person), authorized for the given applications."""
        record_id, person_id = str(uuid.uuid4()), str(uuid.uuid4())
        with self.write() as db:
            db.execute(
                "INSERT INTO records(record_id, person_id, name) VALUES (?, ?, ?)",
                (record_id, person_id, name),
            )
            for app_id in app_ids:
                db.execute(
                    "INSERT INTO authorizations(app_id, record_id) VALUES (?, ?)", (app_id, record_id)
                )
        return record_id, person_id

    # -- lookups ---------------------------------------------------------------

    def application(self, app_id: str) -> Application | None:
        with self.read() as db:
            row = db.execute("SELECT * FROM applications WHERE app_id = ?", (app_id,)).fetchone()
        return None if row is None else Application(**dict(row))

    def record_exists(self, record_id: str) -> bool:
        with self.read() as db:
            return db.execute("SELECT 1 FROM records WHERE record_id = ?", (record_id,)).fetchone() is not None

    def person_of(self, record_id: str) -> str:
        with self.read() as db:
            row = db.execute("SELECT person_id FROM records WHERE record_id = ?", (record_id,)).fetchone()
        return "" if row is None else str(row["person_id"])

    def authorized(self, app_id: str, record_id: str) -> bool:
        with self.read() as db:
            row = db.execute(
                "SELECT 1 FROM authorizations WHERE app_id = ? AND record_id = ?", (app_id, record_id)
            ).fetchone()
        return row is not None

    # -- sessions ----------------------------------------------------------------

    def add_session(self, token: str, app_id: str, secret: bytes, expires: float) -> None:
        with self.write() as db:
            db.execute("DELETE FROM sessions WHERE expires < ?", (time.time() - 3600,))
            db.execute(
                "INSERT INTO sessions(token, app_id, secret, expires) VALUES (?, ?, ?, ?)",
                (token, app_id, secret, expires),
            )

    def session(self, token: str) -> SessionRow | None:
        with self.read() as db:
            row = db.execute("SELECT * FROM sessions WHERE token = ?", (token,)).fetchone()
        return None if row is None else SessionRow(**dict(row))
