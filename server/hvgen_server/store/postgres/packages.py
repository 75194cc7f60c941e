"""Connect packages and their blobs in PostgreSQL."""

from __future__ import annotations

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
from .db import Db

_PICKUP_COLUMNS = [f.name for f in fields(Pickup)]
_PACKAGE_COLUMNS = ", ".join(f.name for f in fields(Package))
_BLOB_COLUMNS = ", ".join(f"b.{f.name}" for f in fields(BlobRow))


class PostgresPackages(PackageTable):
    def __init__(self, db: Db) -> None:
        self.db = db

    def allocate(self, code: str, app_id: str, now: float, expires: float) -> None:
        self.db.execute(
            "INSERT INTO packages(identity_code, app_id, state, created, expires) VALUES (%s, %s, %s, %s, %s)",
            (code, app_id, ALLOCATED, now, expires),
        )

    def get(self, code: str) -> Package | None:
        row = self.db.one(
            f"SELECT {_PACKAGE_COLUMNS} FROM packages WHERE identity_code = %s{self.db.for_update}", (code,)
        )
        return None if row is None else Package(**row)

    def fill(self, code: str, content: PackageContent, now: float, expires: float) -> None:
        self.db.execute(
            "UPDATE packages SET state = %s, friendly_name = %s, question = %s, external_id = %s, "
            "package_xml = %s, created = %s, expires = %s WHERE identity_code = %s",
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
            "created, expires) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
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
        self.db.execute("INSERT INTO package_blobs(identity_code, blob_id) VALUES (%s, %s)", (code, blob_id))

    def blobs(self, code: str) -> list[BlobRow]:
        rows = self.db.execute(
            f"SELECT {_BLOB_COLUMNS} FROM package_blobs pb JOIN blobs b ON b.blob_id = pb.blob_id "
            "WHERE pb.identity_code = %s ORDER BY b.created, b.blob_id",
            (code,),
        ).fetchall()
        return [BlobRow(**r) for r in rows]

    def reserve_attempt(self, code: str, max_attempts: int) -> int | None:
        row = self.db.one(
            "UPDATE packages SET attempts = attempts + 1 WHERE identity_code = %s AND state = %s AND attempts < %s "
            "RETURNING attempts",
            (code, PENDING, max_attempts),
        )
        return None if row is None else int(row["attempts"])

    def record_wrong(self, code: str, max_attempts: int) -> int | None:
        row = self.db.one(
            "UPDATE packages SET wrong_answers = wrong_answers + 1, "
            "state = CASE WHEN wrong_answers + 1 >= %s THEN %s ELSE state END "
            "WHERE identity_code = %s AND state = %s RETURNING wrong_answers",
            (max_attempts, LOCKED, code, PENDING),
        )
        return None if row is None else int(row["wrong_answers"])

    def release_attempt(self, code: str) -> None:
        self.db.execute(
            "UPDATE packages SET attempts = attempts - 1 WHERE identity_code = %s AND state = %s AND attempts > 0",
            (code, PENDING),
        )

    def start_picking(self, code: str, pickup: Pickup) -> bool:
        updated = self.db.execute(
            "UPDATE packages SET state = %s, picked_record = %s WHERE identity_code = %s AND state = %s",
            (PICKING, pickup.record_id, code, PENDING),
        )
        if updated.rowcount != 1:
            return False
        self.db.execute("DELETE FROM pickups WHERE identity_code = %s", (code,))
        self.db.execute(
            f"INSERT INTO pickups({', '.join(_PICKUP_COLUMNS)}) VALUES ({', '.join(['%s'] * len(_PICKUP_COLUMNS))})",
            astuple(pickup),
        )
        return True

    def mark_picked(self, code: str, record_id: str) -> bool:
        updated = self.db.execute(
            "UPDATE packages SET state = %s WHERE identity_code = %s AND state = %s AND picked_record = %s",
            (PICKED, code, PICKING, record_id),
        )
        return updated.rowcount == 1

    def pickup(self, code: str) -> Pickup | None:
        row = self.db.one(f"SELECT {', '.join(_PICKUP_COLUMNS)} FROM pickups WHERE identity_code = %s", (code,))
        return None if row is None else Pickup(**row)

    def claim_pickup(self, code: str, now: float, stale_before: float) -> bool:
        updated = self.db.execute(
            "UPDATE pickups SET updated = %s, done = 0 WHERE identity_code = %s AND state = %s AND updated < %s",
            (now, code, RUNNING, stale_before),
        )
        return updated.rowcount == 1

    def pickup_progress(self, code: str, done: int, now: float) -> None:
        self.db.execute(
            "UPDATE pickups SET done = %s, updated = %s WHERE identity_code = %s AND state = %s",
            (done, now, code, RUNNING),
        )

    def finish_pickup(self, code: str, thing_keys: str, now: float) -> None:
        self.db.execute(
            "UPDATE pickups SET state = %s, done = total, thing_keys = %s, updated = %s WHERE identity_code = %s",
            (DONE, thing_keys, now, code),
        )

    def fail_pickup(self, code: str, error_code: int, message: str, now: float) -> None:
        self.db.execute(
            "UPDATE pickups SET state = %s, error_code = %s, error_message = %s, updated = %s WHERE identity_code = %s",
            (FAILED, error_code, message, now, code),
        )
