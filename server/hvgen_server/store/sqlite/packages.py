"""Connect packages and their blobs in SQLite."""

from __future__ import annotations

import sqlite3

from ..rows import ALLOCATED, PENDING, PICKED, BlobRow, Package, PackageContent
from ..tables import PackageTable


class SqlitePackages(PackageTable):
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def allocate(self, code: str, app_id: str, now: float, expires: float) -> None:
        self.db.execute(
            "INSERT INTO packages(identity_code, app_id, state, created, expires) VALUES (?, ?, ?, ?, ?)",
            (code, app_id, ALLOCATED, now, expires),
        )

    def get(self, code: str) -> Package | None:
        row = self.db.execute("SELECT * FROM packages WHERE identity_code = ?", (code,)).fetchone()
        return None if row is None else Package(**dict(row))

    def fill(self, code: str, content: PackageContent, now: float, expires: float) -> None:
        self.db.execute(
            "UPDATE packages SET state = ?, friendly_name = ?, question = ?, external_id = ?, "
            "package_xml = ?, created = ?, expires = ? WHERE identity_code = ?",
            (PENDING, content.friendly_name, content.question, content.external_id, content.package_xml,
             now, expires, code),
        )

    def create(self, code: str, app_id: str, content: PackageContent, now: float, expires: float) -> None:
        self.db.execute(
            "INSERT INTO packages(identity_code, app_id, state, friendly_name, question, external_id, package_xml, "
            "created, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (code, app_id, PENDING, content.friendly_name, content.question, content.external_id,
             content.package_xml, now, expires),
        )

    def add_blob(self, code: str, blob_id: str) -> None:
        self.db.execute("INSERT INTO package_blobs(identity_code, blob_id) VALUES (?, ?)", (code, blob_id))

    def blobs(self, code: str) -> list[BlobRow]:
        return [
            BlobRow(**dict(r))
            for r in self.db.execute(
                "SELECT b.* FROM package_blobs pb JOIN blobs b ON b.blob_id = pb.blob_id WHERE pb.identity_code = ?",
                (code,),
            )
        ]

    def record_attempt(self, code: str, attempts: int, state: str) -> None:
        self.db.execute(
            "UPDATE packages SET attempts = ?, state = ? WHERE identity_code = ?", (attempts, state, code)
        )

    def mark_picked(self, code: str, record_id: str) -> bool:
        updated = self.db.execute(
            "UPDATE packages SET state = ?, picked_record = ? WHERE identity_code = ? AND state = ?",
            (PICKED, record_id, code, PENDING),
        )
        return updated.rowcount == 1
