"""The SQLite schema of the local platform."""

SCHEMA_VERSION = 1

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
