"""The SQLite schema of the local platform, and its migration from older stores."""

from __future__ import annotations

import sqlite3

from ..audits import AUDIT_COLUMNS as _AUDIT_COLUMNS
from ..audits import audit_values
from ..errors import StoreError
from ..layouts import BATCH, layout_of

SCHEMA_VERSION = 8
#: The version that gave versions their layout (filled in for the versions already there).
LAYOUTS = 7

DDL = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS applications (
    app_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    cert_pem TEXT NOT NULL,
    thumbprint TEXT NOT NULL,
    action_url TEXT                   -- where sign-in sends a person back (version 3)
);
CREATE TABLE IF NOT EXISTS persons (
    person_id TEXT PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,       -- lower-case
    name TEXT NOT NULL,
    password_hash TEXT,               -- scrypt (hvgen_server.passwords), NULL: cannot sign in
    created REAL NOT NULL
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
    expires REAL NOT NULL,
    algorithm TEXT NOT NULL DEFAULT 'HMACSHA256'  -- of the requests' HMAC (version 3)
);
CREATE TABLE IF NOT EXISTS person_tokens (
    digest TEXT PRIMARY KEY,          -- SHA-256 of the token, hex
    kind TEXT NOT NULL,               -- wctoken (an application's user-auth-token), browser
    person_id TEXT NOT NULL REFERENCES persons(person_id),
    app_id TEXT REFERENCES applications(app_id),  -- the wctoken's application, NULL for browsers
    created REAL NOT NULL,
    expires REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS person_tokens_by_expiry ON person_tokens(expires);
CREATE TABLE IF NOT EXISTS alternate_ids (
    app_id TEXT NOT NULL REFERENCES applications(app_id),
    alternate_id TEXT NOT NULL,
    person_id TEXT NOT NULL REFERENCES persons(person_id),
    record_id TEXT NOT NULL REFERENCES records(record_id),
    created REAL NOT NULL,
    PRIMARY KEY (app_id, alternate_id)
);
CREATE INDEX IF NOT EXISTS alternate_ids_by_record ON alternate_ids(app_id, person_id, record_id);
CREATE TABLE IF NOT EXISTS sign_in_failures (  -- attempts to sign in, counted until one succeeds (version 5)
    login TEXT NOT NULL,              -- as typed, lower-case: also logins no person has
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sign_in_failures_by_login ON sign_in_failures(login, at);
CREATE INDEX IF NOT EXISTS sign_in_failures_by_time ON sign_in_failures(at);
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
    layout TEXT,                      -- where its top-level nodes are in xml (GetThings cuts without parsing)
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
    files_state TEXT NOT NULL DEFAULT ''   -- where the blob bytes backend has an upload's bytes (version 6)
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
    attempts INTEGER NOT NULL DEFAULT 0,  -- answers wrong or being checked
    created REAL NOT NULL,
    expires REAL NOT NULL,
    picked_record TEXT,
    wrong_answers INTEGER NOT NULL DEFAULT 0  -- answers checked and wrong (version 8)
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
    expires REAL NOT NULL,
    answer BLOB                       -- the response a copy gets, for methods that keep it (version 3)
);
CREATE INDEX IF NOT EXISTS seen_requests_by_expiry ON seen_requests(expires);
CREATE TABLE IF NOT EXISTS dicom_versions (  -- which version of a study thing the DICOM index holds
    thing_id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL,
    version_stamp TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dicom_versions_by_record ON dicom_versions(record_id);
CREATE TABLE IF NOT EXISTS dicom_instances (  -- one row per image of an indexed version
    thing_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    version_stamp TEXT NOT NULL,
    study_uid TEXT NOT NULL,
    series_uid TEXT NOT NULL,
    sop_uid TEXT NOT NULL,
    sop_class_uid TEXT NOT NULL,
    transfer_syntax TEXT NOT NULL,
    blob_name TEXT NOT NULL,
    blob_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    preview_blob_id TEXT,
    patient_name TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    study_date TEXT NOT NULL,
    study_time TEXT NOT NULL,
    accession_number TEXT NOT NULL,
    study_id TEXT NOT NULL,
    referring_physician TEXT NOT NULL,
    study_description TEXT NOT NULL,
    modality TEXT NOT NULL,
    series_number INTEGER,
    series_description TEXT NOT NULL,
    instance_number INTEGER,
    study_json TEXT NOT NULL,           -- DICOM JSON of the attributes a study query returns
    series_json TEXT NOT NULL,
    instance_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dicom_instances_by_thing ON dicom_instances(thing_id);
CREATE INDEX IF NOT EXISTS dicom_instances_by_uid ON dicom_instances(record_id, study_uid, series_uid, sop_uid);
CREATE INDEX IF NOT EXISTS dicom_instances_by_date ON dicom_instances(record_id, study_date);
CREATE INDEX IF NOT EXISTS dicom_instances_by_patient ON dicom_instances(record_id, patient_id);
CREATE INDEX IF NOT EXISTS dicom_instances_by_sop ON dicom_instances(record_id, sop_uid);
"""


#: Columns versions 3, 6 and 7 added to tables that existed before.
_ADDED_COLUMNS = (
    ("applications", "action_url", "TEXT"),
    ("sessions", "algorithm", "TEXT NOT NULL DEFAULT 'HMACSHA256'"),
    ("seen_requests", "answer", "BLOB"),
    ("blobs", "files_state", "TEXT NOT NULL DEFAULT ''"),
    ("versions", "layout", "TEXT"),
)


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def _version(conn: sqlite3.Connection) -> int:
    """The schema version the store says it is at (0: a new store)."""
    if not _columns(conn, "meta"):
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    try:
        return int(row[0]) if row is not None else 0
    except ValueError:
        return 0


def migrate(conn: sqlite3.Connection) -> None:
    """Create the schema, or bring an older store up to it (inside the caller's transaction).

    Version 2 adds the audit columns of versions, filled from their XML.
    Version 3 adds persons: each record of an older store gets a person
    (login ``person-`` and the first digits of the record's person id) who
    cannot sign in until ``hvgen person passwd`` gives them a password.
    Version 4 adds the DICOM index (``dicom_versions``, ``dicom_instances``),
    filled as DICOMweb requests arrive. Version 5 adds ``sign_in_failures``
    (the shell's lockout, kept in memory before). Version 6 adds the upload
    state of blobs (``files_state``: where the blob bytes backend has an
    unfinished upload's bytes; '' for the blob folder). Version 7 adds
    the layout of versions (where their top-level nodes are, for GetThings
    to cut them without parsing), filled in for the versions already there
    (NULL for one that cannot have one: it is parsed when read). Version 8
    counts a package's wrong answers apart from its answers being checked
    (``wrong_answers``; before, every counted answer had been checked, so it
    starts as ``attempts``). Every step is
    idempotent and decided by what the store has, not by its version number:
    a store of any earlier version is brought up to this one.

    Raises:
        StoreError: the store is at a newer version than this code knows.
    """
    found = _version(conn)
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"the store is at schema version {found}, newer than this hvgen knows ({SCHEMA_VERSION}); upgrade hvgen"
        )
    for table, column, kind in _ADDED_COLUMNS:
        existing = _columns(conn, table)
        if existing and column not in existing:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    packages = _columns(conn, "packages")
    if packages and "wrong_answers" not in packages:
        conn.execute("ALTER TABLE packages ADD COLUMN wrong_answers INTEGER NOT NULL DEFAULT 0")
        conn.execute("UPDATE packages SET wrong_answers = attempts")  # every answer counted before was checked
    columns = _columns(conn, "versions")
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
    for statement in DDL.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(
        "INSERT INTO persons(person_id, login, name, password_hash, created) "
        "SELECT DISTINCT r.person_id, 'person-' || substr(r.person_id, 1, 8), 'Local person', NULL, 0 "
        "FROM records r WHERE NOT EXISTS (SELECT 1 FROM persons p WHERE p.person_id = r.person_id)"
    )
    if 0 < found < LAYOUTS:
        _fill_layouts(conn)
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))


def _fill_layouts(conn: sqlite3.Connection) -> None:
    """Give the versions of an older store their layouts, a batch at a time."""
    after = 0
    while True:
        rows = conn.execute(
            "SELECT rowid, version_stamp, xml FROM versions WHERE rowid > ? AND layout IS NULL ORDER BY rowid LIMIT ?",
            (after, BATCH),
        ).fetchall()
        if not rows:
            return
        conn.executemany(
            "UPDATE versions SET layout = ? WHERE version_stamp = ?",
            [(layout_of(bytes(xml)), stamp) for _, stamp, xml in rows],
        )
        after = rows[-1][0]
