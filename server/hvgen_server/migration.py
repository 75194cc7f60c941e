"""Moving a platform between stores: ``hvgen migrate``.

Everything of one store goes into another (the embedded one of a data
folder, or a shared one: a PostgreSQL database and an S3 bucket), in
either direction: every table's rows in the order their references need
(:data:`~.store.base.TABLES`), every blob's bytes, the key of blob tokens
(so that issued blob URLs keep working) and the default application's key
and certificate.

Each blob's bytes are checked against the blob's SHA256Block hash as they
are read, written to the target and read back there; only then is its row
added. Rows are added leaving out those already there, so a migration that
was interrupted is resumed by running it again: blobs whose rows are in
the target are not copied again. At the end every row of every table
(thing versions and their XML included) is compared between the two stores.

Uploads still in progress are not moved (their bytes are where the source
backend keeps unfinished uploads); they are counted in the report. Stop the
servers of the source before migrating; the target must be new, or hold
what an earlier run of the same migration put there.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from healthvault import filemodes
from healthvault.blobhash import SHA256Block

from .backends import open_blob_files, open_store
from .bootstrap import APP_CERT, APP_KEY, FILE_MODES, TOKEN_KEY, read_server_key, write_app_files
from .config import ServerConfig
from .dicomweb.gateway import GATEWAY_CERT, GATEWAY_KEY
from .errors import ServerError
from .store import BlobFiles, Store
from .store.base import POSITION, TABLES, Row
from .store.rows import RECORD_BLOB, UPLOADING

#: Rows read or added at a time.
PAGE = 500
#: Settings of a store that are its own, not the platform's.
OWN_META = ("schema_version", TOKEN_KEY, "migrated_from", FILE_MODES)
#: Tables of a backend's own that hold nothing of the platform.
INTERNAL = ("sqlite_sequence", "sqlite_stat1")

#: Told (what, done, total) as the migration goes ("blob bytes" in bytes, else rows).
Progress = Callable[[str, int, int | None], None]


class MigrationError(ServerError):
    """The migration cannot go on (a message for people)."""


@dataclass
class Report:
    rows: dict[str, int] = field(default_factory=dict)  # rows added, by table
    blobs_copied: int = 0
    bytes_copied: int = 0
    blobs_present: int = 0  # already in the target (an earlier run)
    uploads_left: int = 0  # in progress in the source, not moved
    verified_rows: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "blobs_copied": self.blobs_copied,
            "bytes_copied": self.bytes_copied,
            "blobs_present": self.blobs_present,
            "uploads_left": self.uploads_left,
            "verified_rows": self.verified_rows,
        }


def describe(config: ServerConfig) -> str:
    db = config.database_url or str(config.database)
    return f"{db} + {config.blobs_url or config.blob_dir}"


def migrate(source: ServerConfig, target: ServerConfig, progress: Progress | None = None) -> Report:
    """Move everything of the ``source`` store into ``target`` and verify it.

    Raises:
        MigrationError: naming what is wrong (nothing is left half-added:
            running it again goes on where it stopped).
        StoreError: a store cannot be reached or used.
    """
    if describe(source) == describe(target):
        raise MigrationError("the source and the target are the same store")
    if source.database_url is None and not source.database.exists():
        raise MigrationError(f"{source.data_dir} holds no store ({source.database.name} is missing)")
    report = Report()
    tell = progress or (lambda what, done, total: None)
    src, dst = open_store(source), open_store(target)
    try:
        src_files, dst_files = open_blob_files(source), open_blob_files(target)
        for store, side in ((src, "source"), (dst, "target")):
            unknown = store.tables() - set(TABLES) - set(INTERNAL)
            if unknown:
                raise MigrationError(f"the {side} store has tables hvgen migrate does not know: {sorted(unknown)}")
        _claim(src, dst)
        _move_keys(source, src, target, dst)
        for table in TABLES:
            if table == "blobs":
                _copy_blobs(src, dst, src_files, dst_files, report, tell)
            else:
                report.rows[table] = _copy_rows(src, dst, table, tell)
        if target.database_url is None:
            write_app_files(dst, target.data_dir / "app")
        report.verified_rows = _verify(src, dst, tell)
    finally:
        src.close()
        dst.close()
    return report


def _claim(src: Store, dst: Store) -> None:
    """Mark the target as this source's, refusing one that holds another platform."""
    with src.write() as tx:
        tx.meta.add("store_id", str(uuid.uuid4()))
    source_id = src.meta("store_id") or ""
    holds_applications = dst.count_rows("applications") > 0
    with dst.write() as tx:
        claimed = tx.meta.get("migrated_from")
        if claimed is None and holds_applications:
            raise MigrationError("the target already holds a platform; migrate into a new database or folder")
        if claimed is not None and claimed != source_id:
            raise MigrationError("the target holds the migration of another store")
        tx.meta.add("migrated_from", source_id)


def _token_key(config: ServerConfig, store: Store) -> bytes | None:
    if config.database_url is not None:
        found = store.meta(TOKEN_KEY)
        return bytes.fromhex(found) if found else None
    path = config.data_dir / "server.key"
    if not path.exists():
        return None
    try:
        return read_server_key(path)
    except ServerError as exc:  # (a key cut short: said, nothing moved)
        raise MigrationError(str(exc)) from None


def _move_keys(source: ServerConfig, src: Store, target: ServerConfig, dst: Store) -> None:
    """The token key, and the default application's key and certificate."""
    key = _token_key(source, src)
    if key is not None:
        found = _token_key(target, dst)
        if found is not None and found != key:
            raise MigrationError("the target already has another key for blob tokens")
        if target.database_url is not None:
            with dst.write() as tx:
                tx.meta.add(TOKEN_KEY, key.hex())
        elif found is None:
            filemodes.private_dir(target.data_dir)
            filemodes.write_private(target.data_dir / "server.key", key)
    # Stores older than the copy of these in the store have them in files only.
    for folder, key_setting, cert_setting in (
        ("app", APP_KEY, APP_CERT),
        ("gateway", GATEWAY_KEY, GATEWAY_CERT),
    ):
        key_path, cert_path = source.data_dir / folder / "key.pem", source.data_dir / folder / "cert.pem"
        if src.meta(key_setting) is None and key_path.exists() and cert_path.exists():
            with dst.write() as tx:
                tx.meta.add(key_setting, key_path.read_text("ascii"))
                tx.meta.add(cert_setting, cert_path.read_text("ascii"))


def pages(store: Store, table: str, columns: list[str] | None = None) -> Iterator[list[Row]]:
    """The rows of a table, a page at a time, in key order."""
    key = TABLES[table]
    after: list[Any] | None = None
    while True:
        rows = store.export_rows(table, after, PAGE, columns)
        if not rows:
            return
        yield rows
        after = [rows[-1][k] for k in key]


def _copy_rows(src: Store, dst: Store, table: str, tell: Progress) -> int:
    """Add the rows of ``table`` the target lacks. A table ordered by
    position is added a page per transaction in that order, so what an
    earlier run added is the first rows of the source: those are skipped
    (such a table may have no key that would leave them out)."""
    added = done = 0
    total = src.count_rows(table)
    skip = dst.count_rows(table) if TABLES[table] == (POSITION,) else 0
    for rows in pages(src, table):
        done += len(rows)
        if skip:
            rows, skip = rows[skip:], max(0, skip - len(rows))
        if table == "meta":
            rows = [r for r in rows if r["key"] not in OWN_META]
        if rows:
            added += dst.import_rows(table, rows)
        tell(table, done, total)
    return added


class _Keys:
    """Whether keys are in a table, for keys asked in ascending order."""

    def __init__(self, store: Store, table: str) -> None:
        self._rows = (r[TABLES[table][0]] for rows in pages(store, table, list(TABLES[table])) for r in rows)
        self._current: Any = next(self._rows, None)

    def __contains__(self, key: Any) -> bool:
        while self._current is not None and self._current < key:
            self._current = next(self._rows, None)
        return bool(self._current == key)


def _copy_blobs(
    src: Store, dst: Store, src_files: BlobFiles, dst_files: BlobFiles, report: Report, tell: Progress
) -> None:
    present = _Keys(dst, "blobs")
    added = 0
    for rows in pages(src, "blobs"):
        for row in rows:
            if row["state"] == UPLOADING:
                report.uploads_left += 1
            elif row["blob_id"] in present:
                report.blobs_present += 1
            else:
                report.bytes_copied += _copy_bytes(row, src_files, dst_files, report, tell)
                report.blobs_copied += 1
                added += dst.import_rows("blobs", [{**row, "files_state": ""}])  # once its bytes are there
    report.rows["blobs"] = added


def _copy_bytes(row: Row, src_files: BlobFiles, dst_files: BlobFiles, report: Report, tell: Progress) -> int:
    """Copy a complete blob's bytes, checked against its hash and read back."""
    blob_id = str(row["blob_id"])
    checked = SHA256Block(int(row["block_size"])) if row["hash"] and row["kind"] == RECORD_BLOB else None
    digest = hashlib.sha256()

    def pieces() -> Iterator[bytes]:
        done = report.bytes_copied
        for piece in src_files.read(blob_id):
            digest.update(piece)
            if checked is not None:
                checked.update(piece)
            done += len(piece)
            tell("blob bytes", done, None)
            yield piece

    try:
        length = dst_files.put(blob_id, pieces())
    except FileNotFoundError:
        raise MigrationError(f"blob {blob_id}: the source has no bytes for it") from None
    if length != int(row["received"]):
        raise MigrationError(f"blob {blob_id}: the source holds {length} bytes, its row says {row['received']}")
    if checked is not None and checked.b64digest() != row["hash"]:
        raise MigrationError(f"blob {blob_id}: the source's bytes do not match the blob's hash")
    back = hashlib.sha256()
    for piece in dst_files.read(blob_id):
        back.update(piece)
    if back.digest() != digest.digest():
        dst_files.delete(blob_id)
        raise MigrationError(f"blob {blob_id}: the bytes read back from the target differ from the source's")
    return length


def _comparable(table: str, row: Row) -> Row:
    skip = {POSITION} | ({"files_state"} if table == "blobs" else set())
    return {k: (bytes(v) if isinstance(v, memoryview) else v) for k, v in row.items() if k not in skip}


def _verify(src: Store, dst: Store, tell: Progress) -> int:
    """Every row of the source (but uploads in progress) is in the target, the same."""
    checked = 0
    for table in TABLES:
        if table == "meta":
            theirs = {r["key"]: r["value"] for rows in pages(dst, table) for r in rows}
            for rows in pages(src, table):
                for r in rows:
                    if r["key"] not in OWN_META and theirs.get(r["key"]) != r["value"]:
                        raise MigrationError(f"setting {r['key']} differs in the target")
            continue
        theirs_rows = (r for rows in pages(dst, table) for r in rows)
        for rows in pages(src, table):
            for r in rows:
                if table == "blobs" and r["state"] == UPLOADING:
                    continue
                other = next(theirs_rows, None)
                if other is None or _comparable(table, other) != _comparable(table, r):
                    key = ", ".join(str(r[k]) for k in TABLES[table])
                    raise MigrationError(f"{table} row {key} is missing or different in the target")
                checked += 1
                tell("verified", checked, None)
        if next(theirs_rows, None) is not None:
            raise MigrationError(f"the target has {table} rows the source does not")
    return checked
