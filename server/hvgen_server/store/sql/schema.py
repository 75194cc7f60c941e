"""The tables of the store as this version has them, written once.

Columns have the types of :attr:`~.dialect.Dialect.types` (``text``,
``integer``, ``bigint``, ``real``, ``bytes``); a ``positioned`` table's rows
are numbered in the order they were added (the dialect's ``position``
column: SQLite's ``rowid``, a column of its own elsewhere).

The SQLite store creates from this what a store lacks (:func:`ddl`,
:func:`add_column`); the PostgreSQL store reaches it through its versioned
migrations, and ``tests/test_shared.py`` checks that both have exactly these
tables, columns, types and indexes.
"""

from __future__ import annotations

from dataclasses import dataclass

from .dialect import Dialect


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    #: What follows the type: NOT NULL, DEFAULT, PRIMARY KEY, REFERENCES
    #: (``{empty_bytes}`` is the dialect's empty bytes).
    rest: str = ""

    def sql(self, dialect: Dialect) -> str:
        rest = self.rest.format(empty_bytes=dialect.empty_bytes)
        return f"{self.name} {dialect.types[self.type]}" + (f" {rest}" if rest else "")


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    #: Constraints of more than one column.
    constraints: tuple[str, ...] = ()
    positioned: bool = False


@dataclass(frozen=True)
class Index:
    name: str
    table: str
    #: The indexed columns, and a WHERE clause of a partial index.
    columns: str
    where: str = ""


def _c(name: str, kind: str, rest: str = "") -> Column:
    return Column(name, kind, rest)


_NN = "NOT NULL"
_KEY = "PRIMARY KEY"
_APP = "NOT NULL REFERENCES applications(app_id)"

TABLES: tuple[Table, ...] = (
    Table("meta", (_c("key", "text", _KEY), _c("value", "text", _NN))),
    Table(
        "applications",
        (
            _c("app_id", "text", _KEY),
            _c("name", "text", _NN),
            _c("cert_pem", "text", _NN),
            _c("thumbprint", "text", _NN),
            _c("action_url", "text"),  # where sign-in sends a person back (SQLite version 3)
            # the versions of versioned thing types it reads and writes, space-separated type ids (SQLite version 11)
            _c("type_versions", "text", "NOT NULL DEFAULT ''"),
        ),
    ),
    Table(
        "persons",
        (
            _c("person_id", "text", _KEY),
            _c("login", "text", "NOT NULL UNIQUE"),  # lower-case
            _c("name", "text", _NN),
            _c("password_hash", "text"),  # scrypt (hvgen_server.passwords), NULL: cannot sign in
            _c("created", "real", _NN),
        ),
    ),
    Table("records", (_c("record_id", "text", _KEY), _c("person_id", "text", _NN), _c("name", "text", _NN))),
    Table(
        "authorizations",
        (_c("app_id", "text", _APP), _c("record_id", "text", "NOT NULL REFERENCES records(record_id)")),
        ("PRIMARY KEY (app_id, record_id)",),
    ),
    Table(
        "sessions",
        (
            _c("token", "text", _KEY),
            _c("app_id", "text", _APP),
            _c("secret", "bytes", _NN),
            _c("expires", "real", _NN),
            _c("algorithm", "text", "NOT NULL DEFAULT 'HMACSHA256'"),  # of the requests' HMAC (SQLite version 3)
        ),
    ),
    Table(
        "person_tokens",
        (
            _c("digest", "text", _KEY),  # SHA-256 of the token, hex
            _c("kind", "text", _NN),  # wctoken (an application's user-auth-token), browser...
            _c("person_id", "text", "NOT NULL REFERENCES persons(person_id)"),
            _c("app_id", "text", "REFERENCES applications(app_id)"),  # the wctoken's application, NULL for browsers
            _c("created", "real", _NN),
            _c("expires", "real", _NN),
        ),
    ),
    Table(
        "alternate_ids",
        (
            _c("app_id", "text", _APP),
            _c("alternate_id", "text", _NN),
            _c("person_id", "text", "NOT NULL REFERENCES persons(person_id)"),
            _c("record_id", "text", "NOT NULL REFERENCES records(record_id)"),
            _c("created", "real", _NN),
        ),
        ("PRIMARY KEY (app_id, alternate_id)",),
    ),
    Table(  # attempts to sign in, counted until one succeeds (SQLite version 5)
        "sign_in_failures",
        (_c("login", "text", _NN), _c("at", "real", _NN)),  # the login as typed, lower-case: also logins no person has
        positioned=True,
    ),
    Table(
        "things",
        (
            _c("thing_id", "text", _KEY),
            _c("record_id", "text", "NOT NULL REFERENCES records(record_id)"),
            _c("type_id", "text", _NN),
            _c("version_stamp", "text", _NN),
            _c("state", "text", _NN),
            _c("client_thing_id", "text"),
            _c("eff_date", "text", _NN),
            _c("created", "real", _NN),
            _c("updated", "real", _NN),
            _c("flags", "integer", "NOT NULL DEFAULT 0"),  # of the current version (SQLite version 11)
        ),
    ),
    Table(
        "versions",
        (
            _c("version_stamp", "text", _KEY),
            _c("thing_id", "text", "NOT NULL REFERENCES things(thing_id)"),
            _c("seq", "integer", _NN),
            _c("state", "text", _NN),
            _c("xml", "bytes", _NN),
            _c("created", "real", _NN),
            _c("created_app_id", "text"),  # audits, kept for GetThings filters (SQLite version 2)
            _c("created_person_id", "text"),
            _c("updated_app_id", "text"),
            _c("updated_person_id", "text"),
            _c("layout", "text"),  # where its top-level nodes are in xml: GetThings cuts without parsing
        ),
        ("UNIQUE (thing_id, seq)",),
    ),
    Table(
        "blobs",
        (
            _c("blob_id", "text", _KEY),
            _c("record_id", "text", "REFERENCES records(record_id)"),  # NULL for connect-package blobs
            _c("kind", "text", "NOT NULL DEFAULT 'record'"),  # record, package
            _c("chunk_size", "integer"),
            _c("state", "text", _NN),  # uploading, complete, committed
            _c("received", "bigint", "NOT NULL DEFAULT 0"),
            _c("total", "bigint"),
            _c("last_range", "text"),
            _c("block_size", "integer", _NN),
            _c("block_digests", "bytes", "NOT NULL DEFAULT {empty_bytes}"),
            _c("hash", "text"),
            _c("created", "real", _NN),
            _c("expires", "real", _NN),
            _c("files_state", "text", "NOT NULL DEFAULT ''"),  # where the blob bytes backend has an upload's bytes
        ),
    ),
    Table(
        "version_blobs",
        (
            _c("version_stamp", "text", "NOT NULL REFERENCES versions(version_stamp)"),
            _c("name", "text", _NN),
            _c("content_type", "text", _NN),
            _c("blob_id", "text", "NOT NULL REFERENCES blobs(blob_id)"),
        ),
        ("PRIMARY KEY (version_stamp, name)",),
        positioned=True,
    ),
    Table(
        "packages",
        (
            _c("identity_code", "text", _KEY),
            _c("app_id", "text", _APP),
            _c("state", "text", _NN),  # allocated, pending, picking, picked, locked
            _c("friendly_name", "text"),
            _c("question", "text"),
            _c("external_id", "text"),
            _c("package_xml", "bytes"),
            _c("attempts", "integer", "NOT NULL DEFAULT 0"),  # answers wrong or being checked
            _c("created", "real", _NN),
            _c("expires", "real", _NN),
            _c("picked_record", "text"),
            _c("wrong_answers", "integer", "NOT NULL DEFAULT 0"),  # answers checked and wrong (SQLite version 8)
        ),
    ),
    Table(
        "package_blobs",
        (
            _c("identity_code", "text", "NOT NULL REFERENCES packages(identity_code)"),
            _c("blob_id", "text", "NOT NULL REFERENCES blobs(blob_id)"),
        ),
        ("PRIMARY KEY (identity_code, blob_id)",),
    ),
    Table(
        "pickups",
        (
            _c("identity_code", "text", "PRIMARY KEY REFERENCES packages(identity_code)"),
            _c("record_id", "text", _NN),
            _c("verifier", "bytes", _NN),  # SHA-256 of the key the right answer gives
            _c("state", "text", _NN),  # running, done, failed
            _c("done", "bigint", "NOT NULL DEFAULT 0"),  # bytes decrypted so far
            _c("total", "bigint", "NOT NULL DEFAULT 0"),
            _c("error_code", "integer"),
            _c("error_message", "text"),
            _c("thing_keys", "text"),  # "thing-id version-stamp" lines, once done
            _c("started", "real", _NN),
            _c("updated", "real", _NN),
        ),
    ),
    Table(
        "seen_requests",
        (
            _c("digest", "text", _KEY),  # of the header as received
            _c("expires", "real", _NN),
            _c("answer", "bytes"),  # the response a copy gets, for methods that keep it (SQLite version 3)
        ),
    ),
    Table(  # which version of a study thing the DICOM index holds
        "dicom_versions",
        (_c("thing_id", "text", _KEY), _c("record_id", "text", _NN), _c("version_stamp", "text", _NN)),
    ),
    Table(  # one row per image of an indexed version
        "dicom_instances",
        (
            _c("thing_id", "text", _NN),
            _c("record_id", "text", _NN),
            _c("version_stamp", "text", _NN),
            _c("study_uid", "text", _NN),
            _c("series_uid", "text", _NN),
            _c("sop_uid", "text", _NN),
            _c("sop_class_uid", "text", _NN),
            _c("transfer_syntax", "text", _NN),
            _c("blob_name", "text", _NN),
            _c("blob_id", "text", _NN),
            _c("size", "bigint", _NN),
            _c("preview_blob_id", "text"),
            _c("patient_name", "text", _NN),
            _c("patient_id", "text", _NN),
            _c("study_date", "text", _NN),
            _c("study_time", "text", _NN),
            _c("accession_number", "text", _NN),
            _c("study_id", "text", _NN),
            _c("referring_physician", "text", _NN),
            _c("study_description", "text", _NN),
            _c("modality", "text", _NN),
            _c("series_number", "integer"),
            _c("series_description", "text", _NN),
            _c("instance_number", "integer"),
            _c("study_json", "text", _NN),  # DICOM JSON of the attributes a study query returns
            _c("series_json", "text", _NN),
            _c("instance_json", "text", _NN),
            _c("metadata_json", "text"),  # the instance's metadata (DICOM JSON), when stored (SQLite version 14)
        ),
        positioned=True,
    ),
    Table(  # remote DICOM nodes: DIMSE peers and DICOMweb services (SQLite version 9)
        "dicom_nodes",
        (
            _c("name", "text", _KEY),
            _c("kind", "text", _NN),  # dimse or dicomweb
            _c("ae_title", "text", _NN),
            _c("host", "text", _NN),
            _c("port", "integer", _NN),
            _c("url", "text", _NN),
            _c("token_file", "text", _NN),  # where the bearer token of a DICOMweb service is, if it has one
            _c("created", "real", _NN),
        ),
    ),
    Table(  # which version of a thing the FHIR index holds (SQLite version 10)
        "fhir_versions",
        (
            _c("thing_id", "text", _KEY),
            _c("record_id", "text", _NN),
            _c("version_stamp", "text", _NN),
            _c("resource", "text", "NOT NULL DEFAULT ''"),  # the version's resource, JSON (SQLite version 13)
            _c("form", "text", "NOT NULL DEFAULT ''"),  # which form of the mappings made it
        ),
    ),
    Table(  # bulk export jobs ($export), seen by every server process of the store (SQLite version 13)
        "fhir_exports",
        (
            _c("job_id", "text", _KEY),
            _c("record_id", "text", _NN),
            _c("app_id", "text", _NN),  # '' for the person's own view
            _c("types", "text", _NN),  # resource types, comma-separated
            _c("since", "real"),  # epoch seconds; NULL for everything
            _c("state", "text", _NN),  # running, done, failed
            _c("error", "text", _NN),
            _c("counts", "text", _NN),  # JSON: resources of each type's file
            _c("started", "real", _NN),
            _c("heartbeat", "real", _NN),  # when the runner last said it was alive
            _c("request", "text", _NN),
        ),
    ),
    Table(  # what FHIR searches match of an indexed version: one row per code
        "fhir_facts",
        (
            _c("thing_id", "text", _NN),
            _c("record_id", "text", _NN),
            _c("version_stamp", "text", _NN),
            _c("resource_type", "text", _NN),
            _c("code", "text", _NN),
            _c("category", "text", _NN),
            _c("date", "text", _NN),
        ),
        positioned=True,
    ),
    Table(  # one row per indexed version that has images: the study as the viewer's list shows it
        "dicom_studies",
        (
            _c("thing_id", "text", _KEY),
            _c("record_id", "text", _NN),
            _c("version_stamp", "text", _NN),
            _c("patient_name", "text", _NN),
            _c("patient_id", "text", _NN),
            _c("birth_date", "text", _NN),
            _c("study_date", "text", _NN),
            _c("study_time", "text", _NN),
            _c("accession_number", "text", _NN),
            _c("study_description", "text", _NN),
            _c("modalities", "text", _NN),  # distinct, sorted, joined by commas
            _c("series", "integer", _NN),
            _c("images", "integer", _NN),
            _c("size", "bigint", _NN),
            # the thing's Study Instance UID (its data-xml's; NULL: indexed before SQLite version 15 kept it)
            _c("study_uid", "text"),
        ),
    ),
)

INDEXES: tuple[Index, ...] = (
    Index("sessions_by_expiry", "sessions", "expires"),
    Index("records_by_person", "records", "person_id"),
    Index("person_tokens_by_expiry", "person_tokens", "expires"),
    Index("alternate_ids_by_record", "alternate_ids", "app_id, person_id, record_id"),
    Index("sign_in_failures_by_login", "sign_in_failures", "login, at"),
    Index("sign_in_failures_by_time", "sign_in_failures", "at"),
    Index("things_by_type", "things", "record_id, type_id, state"),
    Index("things_by_client_id", "things", "record_id, client_thing_id"),
    Index("things_by_version", "things", "version_stamp"),
    Index("things_in_order", "things", "record_id, eff_date DESC, created DESC"),
    # GetThings by type in response order reads only the rows it returns, however rare the type
    Index("things_by_type_in_order", "things", "record_id, type_id, eff_date DESC, created DESC"),
    Index("blobs_by_expiry", "blobs", "expires", "state <> 'committed'"),
    Index("version_blobs_by_blob", "version_blobs", "blob_id"),
    Index("package_blobs_by_blob", "package_blobs", "blob_id"),
    Index("seen_requests_by_expiry", "seen_requests", "expires"),
    Index("dicom_versions_by_record", "dicom_versions", "record_id"),
    Index("dicom_instances_by_thing", "dicom_instances", "thing_id"),
    Index("dicom_instances_by_uid", "dicom_instances", "record_id, study_uid, series_uid, sop_uid"),
    Index("dicom_instances_by_date", "dicom_instances", "record_id, study_date"),
    Index("dicom_instances_by_patient", "dicom_instances", "record_id, patient_id"),
    Index("dicom_instances_by_sop", "dicom_instances", "record_id, sop_uid"),
    Index("dicom_nodes_by_ae_title", "dicom_nodes", "ae_title"),
    Index("fhir_facts_by_thing", "fhir_facts", "thing_id"),
    # FHIR searches read only these indexes (covering: SQLite version 13)
    Index("fhir_facts_by_code", "fhir_facts", "record_id, resource_type, code, date, thing_id, version_stamp"),
    Index("fhir_facts_by_date", "fhir_facts", "record_id, resource_type, date, thing_id, version_stamp"),
    Index("things_by_id_current", "things", "thing_id, version_stamp, state, flags, updated"),
    Index("dicom_studies_by_date", "dicom_studies", "record_id, study_date"),
    Index("dicom_studies_by_uid", "dicom_studies", "record_id, study_uid"),
)


def ddl(dialect: Dialect) -> list[str]:
    """Statements that create the tables and indexes a database lacks (a
    ``positioned`` table's position is the dialect's own: SQLite's rowid)."""
    statements = []
    for table in TABLES:
        parts = [column.sql(dialect) for column in table.columns] + list(table.constraints)
        statements.append(f"CREATE TABLE IF NOT EXISTS {table.name} (\n    " + ",\n    ".join(parts) + "\n)")
    for index in INDEXES:
        where = f" WHERE {index.where}" if index.where else ""
        statements.append(f"CREATE INDEX IF NOT EXISTS {index.name} ON {index.table}({index.columns}){where}")
    return statements


def add_column(table: str, column: Column, dialect: Dialect) -> str:
    """The statement that adds a column to a table made before it existed
    (it must allow what ``ALTER TABLE ... ADD COLUMN`` allows: no key, and a
    default where it is NOT NULL)."""
    return f"ALTER TABLE {table} ADD COLUMN {column.sql(dialect)}"
