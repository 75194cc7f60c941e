"""Connect packages and their blobs."""

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
from .dialect import SqlTable, columns, marks, update_returning

_PACKAGE = columns(Package)
_PICKUP = columns(Pickup)
_ADD_PICKUP = f"INSERT INTO pickups({_PICKUP}) VALUES ({marks(len(fields(Pickup)))})"


class Packages(SqlTable, PackageTable):
    def allocate(self, code: str, app_id: str, now: float, expires: float) -> None:
        self.db.run(
            "INSERT INTO packages(identity_code, app_id, state, created, expires) VALUES (?, ?, ?, ?, ?)",
            (code, app_id, ALLOCATED, now, expires),
        )

    def get(self, code: str) -> Package | None:
        row = self.db.one(f"SELECT {_PACKAGE} FROM packages WHERE identity_code = ?{self.db.for_update()}", (code,))
        return None if row is None else Package(*row)

    def fill(self, code: str, content: PackageContent, now: float, expires: float) -> None:
        self.db.run(
            "UPDATE packages SET state = ?, friendly_name = ?, question = ?, external_id = ?, "
            "package_xml = ?, created = ?, expires = ? WHERE identity_code = ?",
            (PENDING, *astuple(content), now, expires, code),
        )

    def create(self, code: str, app_id: str, content: PackageContent, now: float, expires: float) -> None:
        self.db.run(
            "INSERT INTO packages(identity_code, app_id, state, friendly_name, question, external_id, package_xml, "
            "created, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (code, app_id, PENDING, *astuple(content), now, expires),
        )

    def add_blob(self, code: str, blob_id: str) -> None:
        self.db.run("INSERT INTO package_blobs(identity_code, blob_id) VALUES (?, ?)", (code, blob_id))

    def blobs(self, code: str) -> list[BlobRow]:
        rows = self.db.all(
            f"SELECT {columns(BlobRow, 'b.')} FROM package_blobs pb JOIN blobs b ON b.blob_id = pb.blob_id "
            f"WHERE pb.identity_code = ? ORDER BY b.created, b.blob_id{self.db.dialect.bytewise}",
            (code,),
        )
        return [BlobRow(*r) for r in rows]

    def _counted(self, code: str, assignments: str, where: str, args: tuple[object, ...], count: str) -> int | None:
        """Update the package if ``where`` holds of it; its ``count`` as updated."""
        value = update_returning(self.db, "packages", assignments, where, args, "identity_code", code, count)
        return None if value is None else int(value)

    def reserve_attempt(self, code: str, max_attempts: int) -> int | None:
        return self._counted(
            code, "attempts = attempts + 1", "state = ? AND attempts < ?", (PENDING, max_attempts), "attempts"
        )

    def record_wrong(self, code: str, max_attempts: int) -> int | None:
        locks = "wrong_answers = wrong_answers + 1, state = CASE WHEN wrong_answers + 1 >= ? THEN ? ELSE state END"
        return self._counted(code, locks, "state = ?", (max_attempts, LOCKED, PENDING), "wrong_answers")

    def release_attempt(self, code: str) -> None:
        self.db.run(
            "UPDATE packages SET attempts = attempts - 1 WHERE identity_code = ? AND state = ? AND attempts > 0",
            (code, PENDING),
        )

    def start_picking(self, code: str, pickup: Pickup) -> bool:
        updated = self.db.run(
            "UPDATE packages SET state = ?, picked_record = ? WHERE identity_code = ? AND state = ?",
            (PICKING, pickup.record_id, code, PENDING),
        )
        if updated != 1:
            return False
        self.db.run("DELETE FROM pickups WHERE identity_code = ?", (code,))
        self.db.run(_ADD_PICKUP, astuple(pickup))
        return True

    def mark_picked(self, code: str, record_id: str) -> bool:
        updated = self.db.run(
            "UPDATE packages SET state = ? WHERE identity_code = ? AND state = ? AND picked_record = ?",
            (PICKED, code, PICKING, record_id),
        )
        return updated == 1

    def pickup(self, code: str) -> Pickup | None:
        row = self.db.one(f"SELECT {_PICKUP} FROM pickups WHERE identity_code = ?", (code,))
        return None if row is None else Pickup(*row)

    def claim_pickup(self, code: str, now: float, stale_before: float) -> bool:
        updated = self.db.run(
            "UPDATE pickups SET updated = ?, done = 0 WHERE identity_code = ? AND state = ? AND updated < ?",
            (now, code, RUNNING, stale_before),
        )
        return updated == 1

    def pickup_progress(self, code: str, done: int, now: float) -> None:
        self.db.run(
            "UPDATE pickups SET done = ?, updated = ? WHERE identity_code = ? AND state = ?",
            (done, now, code, RUNNING),
        )

    def finish_pickup(self, code: str, thing_keys: str, now: float) -> None:
        self.db.run(
            "UPDATE pickups SET state = ?, done = total, thing_keys = ?, updated = ? WHERE identity_code = ?",
            (DONE, thing_keys, now, code),
        )

    def fail_pickup(self, code: str, error_code: int, message: str, now: float) -> None:
        self.db.run(
            "UPDATE pickups SET state = ?, error_code = ?, error_message = ?, updated = ? WHERE identity_code = ?",
            (FAILED, error_code, message, now, code),
        )
