"""The PostgreSQL schema of the shared platform, as versioned migrations.

Each migration brings the schema from the version before it to its own;
:func:`migrate` applies those a database has not had yet, in one
transaction, under an advisory lock: server processes starting at once on
one database migrate it once, and none of them sees half a migration.

Changing the schema (:mod:`..sql.schema`, where the tables are written
once): append a migration that makes the change here (never edit one that
has shipped); ``tests/test_shared.py`` checks that a database migrated from
any earlier version has exactly the schema.
"""

from __future__ import annotations

from typing import Any

import psycopg

from ..errors import StoreError
from ..layouts import BATCH, layout_of

#: Key of the advisory lock that serializes migrations (any number, the same everywhere).
MIGRATION_LOCK = 0x6876_6765_6E5F_6462

MIGRATIONS: list[tuple[str, str]] = [
    (
        "the schema of the SQLite store (version 3), with a position for each blob of a version",
        """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE applications (
    app_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    cert_pem TEXT NOT NULL,
    thumbprint TEXT NOT NULL
);
CREATE TABLE records (
    record_id TEXT PRIMARY KEY,
    person_id TEXT NOT NULL,
    name TEXT NOT NULL
);
CREATE TABLE authorizations (
    app_id TEXT NOT NULL REFERENCES applications(app_id),
    record_id TEXT NOT NULL REFERENCES records(record_id),
    PRIMARY KEY (app_id, record_id)
);
CREATE TABLE sessions (
    token TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES applications(app_id),
    secret BYTEA NOT NULL,
    expires DOUBLE PRECISION NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions(expires);
CREATE TABLE things (
    thing_id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL REFERENCES records(record_id),
    type_id TEXT NOT NULL,
    version_stamp TEXT NOT NULL,
    state TEXT NOT NULL,
    client_thing_id TEXT,
    eff_date TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL
);
CREATE INDEX things_by_type ON things(record_id, type_id, state);
CREATE INDEX things_by_client_id ON things(record_id, client_thing_id);
CREATE INDEX things_by_version ON things(version_stamp);
CREATE INDEX things_in_order ON things(record_id, eff_date DESC, created DESC);
CREATE TABLE versions (
    version_stamp TEXT PRIMARY KEY,
    thing_id TEXT NOT NULL REFERENCES things(thing_id),
    seq INTEGER NOT NULL,
    state TEXT NOT NULL,
    xml BYTEA NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    created_app_id TEXT,
    created_person_id TEXT,
    updated_app_id TEXT,
    updated_person_id TEXT,
    UNIQUE (thing_id, seq)
);
CREATE TABLE blobs (
    blob_id TEXT PRIMARY KEY,
    record_id TEXT REFERENCES records(record_id),
    kind TEXT NOT NULL DEFAULT 'record',
    chunk_size INTEGER,
    state TEXT NOT NULL,
    received BIGINT NOT NULL DEFAULT 0,
    total BIGINT,
    last_range TEXT,
    block_size INTEGER NOT NULL,
    block_digests BYTEA NOT NULL DEFAULT ''::bytea,
    hash TEXT,
    created DOUBLE PRECISION NOT NULL,
    expires DOUBLE PRECISION NOT NULL,
    files_state TEXT NOT NULL DEFAULT ''
);
CREATE INDEX blobs_by_expiry ON blobs(expires) WHERE state <> 'committed';
CREATE TABLE version_blobs (
    position BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    version_stamp TEXT NOT NULL REFERENCES versions(version_stamp),
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    blob_id TEXT NOT NULL REFERENCES blobs(blob_id),
    PRIMARY KEY (version_stamp, name)
);
CREATE INDEX version_blobs_by_blob ON version_blobs(blob_id);
CREATE TABLE packages (
    identity_code TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES applications(app_id),
    state TEXT NOT NULL,
    friendly_name TEXT,
    question TEXT,
    external_id TEXT,
    package_xml BYTEA,
    attempts INTEGER NOT NULL DEFAULT 0,
    created DOUBLE PRECISION NOT NULL,
    expires DOUBLE PRECISION NOT NULL,
    picked_record TEXT
);
CREATE TABLE package_blobs (
    identity_code TEXT NOT NULL REFERENCES packages(identity_code),
    blob_id TEXT NOT NULL REFERENCES blobs(blob_id),
    PRIMARY KEY (identity_code, blob_id)
);
CREATE INDEX package_blobs_by_blob ON package_blobs(blob_id);
CREATE TABLE pickups (
    identity_code TEXT PRIMARY KEY REFERENCES packages(identity_code),
    record_id TEXT NOT NULL,
    verifier BYTEA NOT NULL,
    state TEXT NOT NULL,
    done BIGINT NOT NULL DEFAULT 0,
    total BIGINT NOT NULL DEFAULT 0,
    error_code INTEGER,
    error_message TEXT,
    thing_keys TEXT,
    started DOUBLE PRECISION NOT NULL,
    updated DOUBLE PRECISION NOT NULL
);
CREATE TABLE seen_requests (
    digest TEXT PRIMARY KEY,
    expires DOUBLE PRECISION NOT NULL
);
CREATE INDEX seen_requests_by_expiry ON seen_requests(expires);
""",
    ),
    (
        "GetThings by type in response order reads only the rows it returns, however rare the type",
        """
CREATE INDEX things_by_type_in_order ON things(record_id, type_id, eff_date DESC, created DESC);
""",
    ),
    (
        "persons (each record of before gets one, who cannot sign in until given a password), their "
        "signed-in tokens, applications' alternate ids; an application's action URL, a session's HMAC "
        "algorithm, the answer kept for a request that is answered once",
        """
CREATE TABLE persons (
    person_id TEXT PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT,
    created DOUBLE PRECISION NOT NULL
);
INSERT INTO persons(person_id, login, name, password_hash, created)
    SELECT DISTINCT person_id, 'person-' || substr(person_id, 1, 8), 'Local person', NULL, 0 FROM records;
ALTER TABLE applications ADD COLUMN action_url TEXT;
ALTER TABLE sessions ADD COLUMN algorithm TEXT NOT NULL DEFAULT 'HMACSHA256';
ALTER TABLE seen_requests ADD COLUMN answer BYTEA;
CREATE INDEX records_by_person ON records(person_id);
CREATE TABLE person_tokens (
    digest TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    person_id TEXT NOT NULL REFERENCES persons(person_id),
    app_id TEXT REFERENCES applications(app_id),
    created DOUBLE PRECISION NOT NULL,
    expires DOUBLE PRECISION NOT NULL
);
CREATE INDEX person_tokens_by_expiry ON person_tokens(expires);
CREATE TABLE alternate_ids (
    app_id TEXT NOT NULL REFERENCES applications(app_id),
    alternate_id TEXT NOT NULL,
    person_id TEXT NOT NULL REFERENCES persons(person_id),
    record_id TEXT NOT NULL REFERENCES records(record_id),
    created DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (app_id, alternate_id)
);
CREATE INDEX alternate_ids_by_record ON alternate_ids(app_id, person_id, record_id);
""",
    ),
    (
        "the DICOM index of medical image study things (DICOMweb)",
        """
CREATE TABLE dicom_versions (
    thing_id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL,
    version_stamp TEXT NOT NULL
);
CREATE INDEX dicom_versions_by_record ON dicom_versions(record_id);
CREATE TABLE dicom_instances (
    position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
    size BIGINT NOT NULL,
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
    study_json TEXT NOT NULL,
    series_json TEXT NOT NULL,
    instance_json TEXT NOT NULL
);
CREATE INDEX dicom_instances_by_thing ON dicom_instances(thing_id);
CREATE INDEX dicom_instances_by_uid ON dicom_instances(record_id, study_uid, series_uid, sop_uid);
CREATE INDEX dicom_instances_by_date ON dicom_instances(record_id, study_date);
CREATE INDEX dicom_instances_by_patient ON dicom_instances(record_id, patient_id);
CREATE INDEX dicom_instances_by_sop ON dicom_instances(record_id, sop_uid);
""",
    ),
    (
        "failed sign-ins per login (the shell's lockout), counted in the store",
        """
CREATE TABLE sign_in_failures (
    position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE INDEX sign_in_failures_by_login ON sign_in_failures(login, at);
CREATE INDEX sign_in_failures_by_time ON sign_in_failures(at);
""",
    ),
    (
        "the layout of versions: where their top-level nodes are, for GetThings to cut them without parsing",
        """
ALTER TABLE versions ADD COLUMN layout TEXT;
""",
    ),
    (
        "a package's wrong answers counted apart from the answers being checked (every answer counted "
        "before was checked)",
        """
ALTER TABLE packages ADD COLUMN wrong_answers INTEGER NOT NULL DEFAULT 0;
UPDATE packages SET wrong_answers = attempts;
""",
    ),
    (
        "remote DICOM nodes (hvgen dicom node): DIMSE peers and DICOMweb services",
        """
CREATE TABLE dicom_nodes (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    ae_title TEXT NOT NULL,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    url TEXT NOT NULL,
    token_file TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL
);
CREATE INDEX dicom_nodes_by_ae_title ON dicom_nodes(ae_title);
""",
    ),
    (
        "the FHIR index: what FHIR searches match of each thing version, written with the version",
        """
CREATE TABLE fhir_versions (
    thing_id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL,
    version_stamp TEXT NOT NULL
);
CREATE TABLE fhir_facts (
    position BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    thing_id TEXT NOT NULL,
    record_id TEXT NOT NULL,
    version_stamp TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    code TEXT NOT NULL,
    category TEXT NOT NULL,
    date TEXT NOT NULL
);
CREATE INDEX fhir_facts_by_thing ON fhir_facts(thing_id);
CREATE INDEX fhir_facts_by_code ON fhir_facts(record_id, resource_type, code, date);
CREATE INDEX fhir_facts_by_date ON fhir_facts(record_id, resource_type, date);
""",
    ),
    (
        "the flags of things (personal things are hidden from applications) and the thing type versions "
        "an application reads and writes",
        """
ALTER TABLE things ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;
ALTER TABLE applications ADD COLUMN type_versions TEXT NOT NULL DEFAULT '';
""",
    ),
    (
        "the DICOM index's studies, for the viewer's study list (the index is made again, with them)",
        """
CREATE TABLE dicom_studies (
    thing_id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL,
    version_stamp TEXT NOT NULL,
    patient_name TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    study_date TEXT NOT NULL,
    study_time TEXT NOT NULL,
    accession_number TEXT NOT NULL,
    study_description TEXT NOT NULL,
    modalities TEXT NOT NULL,
    series INTEGER NOT NULL,
    images INTEGER NOT NULL,
    size BIGINT NOT NULL
);
CREATE INDEX dicom_studies_by_date ON dicom_studies(record_id, study_date);
DELETE FROM dicom_instances;
DELETE FROM dicom_versions;
""",
    ),
    (
        "each FHIR-indexed version's resource (JSON, and the form of the mappings that made it), bulk "
        "export jobs kept in the store, and indexes that FHIR searches read alone",
        """
ALTER TABLE fhir_versions ADD COLUMN resource TEXT NOT NULL DEFAULT '';
ALTER TABLE fhir_versions ADD COLUMN form TEXT NOT NULL DEFAULT '';
CREATE TABLE fhir_exports (
    job_id TEXT PRIMARY KEY,
    record_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    types TEXT NOT NULL,
    since DOUBLE PRECISION,
    state TEXT NOT NULL,
    error TEXT NOT NULL,
    counts TEXT NOT NULL,
    started DOUBLE PRECISION NOT NULL,
    heartbeat DOUBLE PRECISION NOT NULL,
    request TEXT NOT NULL
);
DROP INDEX fhir_facts_by_code;
DROP INDEX fhir_facts_by_date;
CREATE INDEX fhir_facts_by_code ON fhir_facts(record_id, resource_type, code, date, thing_id, version_stamp);
CREATE INDEX fhir_facts_by_date ON fhir_facts(record_id, resource_type, date, thing_id, version_stamp);
CREATE INDEX things_by_id_current ON things(thing_id, version_stamp, state, flags, updated);
""",
    ),
    (
        "the metadata of DICOM index instances, stored when they are indexed (served without reading the file)",
        """
ALTER TABLE dicom_instances ADD COLUMN metadata_json TEXT;
""",
    ),
    (
        "the Study Instance UID of indexed study things, to find a study by its UID without reading every study",
        """
ALTER TABLE dicom_studies ADD COLUMN study_uid TEXT;
CREATE INDEX dicom_studies_by_uid ON dicom_studies(record_id, study_uid);
""",
    ),
]

#: The schema version this code writes and reads.
SCHEMA_VERSION = len(MIGRATIONS)
#: The version that gave versions their layout (filled in for the versions already there).
LAYOUTS = 6


def _fill_layouts(conn: psycopg.Connection[Any]) -> None:
    """Give the versions of an older database their layouts, a batch at a time."""
    after = ""
    while True:
        rows = conn.execute(
            "SELECT version_stamp, xml FROM versions WHERE version_stamp > %s AND layout IS NULL "
            "ORDER BY version_stamp LIMIT %s",
            (after, BATCH),
        ).fetchall()
        if not rows:
            return
        with conn.cursor() as cursor:
            cursor.executemany(
                "UPDATE versions SET layout = %s WHERE version_stamp = %s",
                [(layout_of(bytes(r["xml"])), r["version_stamp"]) for r in rows],
            )
        after = rows[-1]["version_stamp"]


def migrate(conn: psycopg.Connection[Any]) -> int:
    """Create the schema or bring it up to :data:`SCHEMA_VERSION`; returns
    the version the database was at.

    Raises:
        StoreError: the database is at a newer version than this code knows.
    """
    conn.execute("BEGIN")
    try:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        found = int(row["value"]) if row is not None else 0
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"the database is at schema version {found}, newer than this hvgen knows ({SCHEMA_VERSION}); "
                "upgrade hvgen"
            )
        for version in range(found + 1, SCHEMA_VERSION + 1):
            conn.execute(MIGRATIONS[version - 1][1].encode("utf-8"))
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (str(version),),
            )
        if 0 < found < LAYOUTS:
            _fill_layouts(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return found
