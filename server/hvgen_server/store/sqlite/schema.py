"""The SQLite schema of the local platform, and its migration from older stores."""

from __future__ import annotations

import sqlite3

from ..audits import AUDIT_COLUMNS, audit_values
from ..errors import StoreError
from ..layouts import BATCH, layout_of
from ..sql import schema
from .db import SQLITE

SCHEMA_VERSION = 15
#: The version that added the DICOM index's studies (the index is made again for them).
DICOM_STUDIES = 12
#: The version that kept FHIR resources with the index, whose searches read only its indexes (made again).
FHIR_RESOURCES = 13
#: The version that gave versions their layout (filled in for the versions already there).
LAYOUTS = 7

#: The statements that create what a store lacks of the schema (:mod:`..sql.schema`).
DDL = ";\n".join(schema.ddl(SQLITE))


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
    starts as ``attempts``). Version 9 adds ``dicom_nodes`` (remote DICOM
    nodes). Version 10 adds the FHIR index (``fhir_versions``,
    ``fhir_facts``), written with each version from then on and filled for
    older things as FHIR searches arrive. Version 11 adds the flags of
    things (the current version's ``flags``: 0 before, as PutThings kept
    none that applications are refused or hidden by but ReadOnly, which is
    read from the version's XML) and the thing type versions of
    applications. Version 12 adds the DICOM index's studies
    (``dicom_studies``, for the viewer's study list); the index of an older
    store is emptied, to be made again with them. Version 13 keeps each FHIR-indexed
    version's resource (``fhir_versions.resource``, ``form``: made again for
    older versions as FHIR searches arrive) and the bulk export jobs
    (``fhir_exports``), and makes the FHIR index's indexes again with the
    columns searches read. Version 14 adds the stored metadata of indexed
    instances (``metadata_json``; NULL for those indexed before: read from
    their file when asked). Version 15 keeps the Study Instance UID of each
    indexed study thing (``dicom_studies.study_uid``, NULL for those indexed
    before: the ingest then reads their XML to find a study by its UID). Every step is
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
    added = _add_columns(conn)
    if ("packages", "wrong_answers") in added:
        conn.execute("UPDATE packages SET wrong_answers = attempts")  # every answer counted before was checked
    if ("versions", AUDIT_COLUMNS[0][0]) in added:  # a version 1 store
        rows = conn.execute("SELECT version_stamp, xml FROM versions").fetchall()
        for stamp, xml in rows:
            conn.execute(
                "UPDATE versions SET created_app_id = ?, created_person_id = ?, updated_app_id = ?, "
                "updated_person_id = ? WHERE version_stamp = ?",
                (*audit_values(xml), stamp),
            )
    if 0 < found < FHIR_RESOURCES:  # made again with the columns searches read
        conn.execute("DROP INDEX IF EXISTS fhir_facts_by_code")
        conn.execute("DROP INDEX IF EXISTS fhir_facts_by_date")
    for statement in DDL.split(";"):
        conn.execute(statement)
    conn.execute(
        "INSERT INTO persons(person_id, login, name, password_hash, created) "
        "SELECT DISTINCT r.person_id, 'person-' || substr(r.person_id, 1, 8), 'Local person', NULL, 0 "
        "FROM records r WHERE NOT EXISTS (SELECT 1 FROM persons p WHERE p.person_id = r.person_id)"
    )
    if 0 < found < LAYOUTS:
        _fill_layouts(conn)
    if 0 < found < DICOM_STUDIES:
        conn.execute("DELETE FROM dicom_instances")
        conn.execute("DELETE FROM dicom_versions")
    conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))


def _add_columns(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    """Add the columns of the schema that the store's tables lack; returns
    them as (table, column)."""
    added = set()
    for table in schema.TABLES:
        existing = _columns(conn, table.name)
        for column in table.columns:
            if existing and column.name not in existing:
                conn.execute(schema.add_column(table.name, column, SQLITE))
                added.add((table.name, column.name))
    return added


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
