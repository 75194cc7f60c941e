"""Connect packages and their blobs in SQLite."""

from __future__ import annotations

import sqlite3
from dataclasses import astuple, fields

from ..rows import (
    ALLOCATED,
    DONE,
    FAILED,
    LOCKED,
    PENDING,
    PICKED,
    PICKING,
    RUNNING,
    BlobRow,
    Package,
    PackageContent,
    Pickup,
)
from ..tables import PackageTable

_PICKUP_COLUMNS = [f.name for f in fields(Pickup)]


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
            (
                PENDING,
                content.friendly_name,
                content.question,
                content.external_id,
                content.package_xml,
                now,
                expires,
                code,
            ),
        )

    def create(self, code: str, app_id: str, content: PackageContent, now: float, expires: float) -> None:
        self.db.execute(
            "INSERT INTO packages(identity_code, app_id, state, friendly_name, question, external_id, package_xml, "
            "created, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                code,
                app_id,
                PENDING,
                content.friendly_name,
                content.question,
                content.external_id,
                content.package_xml,
                now,
                expires,
            ),
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

    def reserve_attempt(self, code: str, max_attempts: int) -> int | None:
        updated = self.db.execute(
            "UPDATE packages SET attempts = attempts + 1 WHERE identity_code = ? AND state = ? AND attempts < ?",
            (code, PENDING, max_attempts),
        )
        if updated.rowcount != 1:
            return None
        row = self.db.execute("SELECT attempts FROM packages WHERE identity_code = ?", (code,)).fetchone()
        return int(row["attempts"])

    def record_wrong(self, code: str, max_attempts: int) -> int | None:
        updated = self.db.execute(
            "UPDATE packages SET wrong_answers = wrong_answers + 1, "
            "state = CASE WHEN wrong_answers + 1 >= ? THEN ? ELSE state END WHERE identity_code = ? AND state = ?",
            (max_attempts, LOCKED, code, PENDING),
        )
        if updated.rowcount != 1:
            return None
        row = self.db.execute("SELECT wrong_answers FROM packages WHERE identity_code = ?", (code,)).fetchone()
        return int(row["wrong_answers"])

    def release_attempt(self, code: str) -> None:
        self.db.execute(
            "UPDATE packages SET attempts = attempts - 1 WHERE identity_code = ? AND state = ? AND attempts > 0",
            (code, PENDING),
        )

    def start_picking(self, code: str, pickup: Pickup) -> bool:
        updated = self.db.execute(
            "UPDATE packages SET state = ?, picked_record = ? WHERE identity_code = ? AND state = ?",
            (PICKING, pickup.record_id, code, PENDING),
        )
        if updated.rowcount != 1:
            return False
        self.db.execute("DELETE FROM pickups WHERE identity_code = ?", (code,))
        self.db.execute(
            f"INSERT INTO pickups({', '.join(_PICKUP_COLUMNS)}) VALUES ({', '.join('?' * len(_PICKUP_COLUMNS))})",
            astuple(pickup),
        )
        return True

    def mark_picked(self, code: str, record_id: str) -> bool:
        updated = self.db.execute(
            "UPDATE packages SET state = ? WHERE identity_code = ? AND state = ? AND picked_record = ?",
            (PICKED, code, PICKING, record_id),
        )
        return updated.rowcount == 1

    def pickup(self, code: str) -> Pickup | None:
        row = self.db.execute("SELECT * FROM pickups WHERE identity_code = ?", (code,)).fetchone()
        return None if row is None else Pickup(**dict(row))

    def claim_pickup(self, code: str, now: float, stale_before: float) -> bool:
        updated = self.db.execute(
            "UPDATE pickups SET updated = ?, done = 0 WHERE identity_code = ? AND state = ? AND updated < ?",
            (now, code, RUNNING, stale_before),
        )
        return updated.rowcount == 1

    def pickup_progress(self, code: str, done: int, now: float) -> None:
        self.db.execute(
            "UPDATE pickups SET done = ?, updated = ? WHERE identity_code = ? AND state = ?",
            (done, now, code, RUNNING),
        )

    def finish_pickup(self, code: str, thing_keys: str, now: float) -> None:
        self.db.execute(
            "UPDATE pickups SET state = ?, done = total, thing_keys = ?, updated = ? WHERE identity_code = ?",
            (DONE, thing_keys, now, code),
        )

    def fail_pickup(self, code: str, error_code: int, message: str, now: float) -> None:
        self.db.execute(
            "UPDATE pickups SET state = ?, error_code = ?, error_message = ?, updated = ? WHERE identity_code = ?",
            (FAILED, error_code, message, now, code),
        )
