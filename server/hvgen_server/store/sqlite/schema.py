"""The SQLite schema of the local platform, and its migration from older stores."""

from __future__ import annotations

import sqlite3

from ..audits import AUDIT_COLUMNS as _AUDIT_COLUMNS
from ..audits import audit_values

SCHEMA_VERSION = 3

DDL = """
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
CREATE INDEX IF NOT EXISTS things_by_version ON things(version_stamp);
CREATE INDEX IF NOT EXISTS things_in_order ON things(record_id, eff_date DESC, created DESC);
CREATE TABLE IF NOT EXISTS versions (
    version_stamp TEXT PRIMARY KEY,
    thing_id TEXT NOT NULL REFERENCES things(thing_id),
    seq INTEGER NOT NULL,
    state TEXT NOT NULL,
    xml BLOB NOT NULL,
    created REAL NOT NULL,
    created_app_id TEXT,              -- audits, kept for GetThings filters
    created_person_id TEXT,
    updated_app_id TEXT,
    updated_person_id TEXT,
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
    expires REAL NOT NULL,
    files_state TEXT NOT NULL DEFAULT ''   -- where the blob bytes backend has an upload's bytes
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
CREATE TABLE IF NOT EXISTS pickups (
    identity_code TEXT PRIMARY KEY REFERENCES packages(identity_code),
    record_id TEXT NOT NULL,
    verifier BLOB NOT NULL,           -- SHA-256 of the key the right answer gives
    state TEXT NOT NULL,              -- running, done, failed
    done INTEGER NOT NULL DEFAULT 0,  -- bytes decrypted so far
    total INTEGER NOT NULL DEFAULT 0,
    error_code INTEGER,
    error_message TEXT,
    thing_keys TEXT,                  -- "thing-id version-stamp" lines, once done
    started REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS seen_requests (
    digest TEXT PRIMARY KEY,          -- of the header as received
    expires REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS seen_requests_by_expiry ON seen_requests(expires);
"""


def migrate(conn: sqlite3.Connection) -> None:
    """Create the schema, or bring an older store up to it (inside the caller's transaction)."""
    columns = {r[1] for r in conn.execute("PRAGMA table_info(versions)")}
    if columns and "created_app_id" not in columns:  # a version 1 store
        for name, _ in _AUDIT_COLUMNS:
            conn.execute(f"ALTER TABLE versions ADD COLUMN {name} TEXT")
        rows = conn.execute("SELECT version_stamp, xml FROM versions").fetchall()
        for stamp, xml in rows:
            conn.execute(
                "UPDATE versions SET created_app_id = ?, created_person_id = ?, updated_app_id = ?, "
                "updated_person_id = ? WHERE version_stamp = ?",
                (*audit_values(xml), stamp),
            )
    blob_columns = {r[1] for r in conn.execute("PRAGMA table_info(blobs)")}
    if blob_columns and "files_state" not in blob_columns:  # a version 1 or 2 store
        conn.execute("ALTER TABLE blobs ADD COLUMN files_state TEXT NOT NULL DEFAULT ''")
    for statement in DDL.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
