"""Store settings, applications, records, sessions and requests seen, in PostgreSQL."""

from __future__ import annotations

import uuid

from ..rows import Application, SessionRow
from ..tables import ApplicationTable, MetaTable, RecordTable, RequestTable, SessionTable
from .db import Db

#: Expired sessions are forgotten this many seconds after they expire.
SESSION_GRACE = 3600
#: Expired rows one write forgets at most (others are forgotten by later writes).
CLEANUP_BATCH = 100


class PostgresMeta(MetaTable):
    def __init__(self, db: Db) -> None:
        self.db = db

    def get(self, key: str) -> str | None:
        row = self.db.one("SELECT value FROM meta WHERE key = %s", (key,))
        return None if row is None else str(row["value"])

    def set(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (key, value),
        )

    def add(self, key: str, value: str) -> bool:
        added = self.db.execute("INSERT INTO meta(key, value) VALUES (%s, %s) ON CONFLICT DO NOTHING", (key, value))
        return added.rowcount == 1


class PostgresApplications(ApplicationTable):
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, name: str, cert_pem: str, thumbprint: str) -> str:
        app_id = str(uuid.uuid4())
        self.db.execute(
            "INSERT INTO applications(app_id, name, cert_pem, thumbprint) VALUES (%s, %s, %s, %s)",
            (app_id, name, cert_pem, thumbprint),
        )
        return app_id

    def get(self, app_id: str) -> Application | None:
        row = self.db.one("SELECT app_id, name, cert_pem, thumbprint FROM applications WHERE app_id = %s", (app_id,))
        return None if row is None else Application(**row)


class PostgresRecords(RecordTable):
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, name: str, app_ids: list[str]) -> tuple[str, str]:
        record_id, person_id = str(uuid.uuid4()), str(uuid.uuid4())
        self.db.execute(
            "INSERT INTO records(record_id, person_id, name) VALUES (%s, %s, %s)", (record_id, person_id, name)
        )
        for app_id in app_ids:
            self.db.execute("INSERT INTO authorizations(app_id, record_id) VALUES (%s, %s)", (app_id, record_id))
        return record_id, person_id

    def exists(self, record_id: str) -> bool:
        return self.db.one("SELECT 1 FROM records WHERE record_id = %s", (record_id,)) is not None

    def person_of(self, record_id: str) -> str:
        row = self.db.one("SELECT person_id FROM records WHERE record_id = %s", (record_id,))
        return "" if row is None else str(row["person_id"])

    def authorized(self, app_id: str, record_id: str) -> bool:
        row = self.db.one("SELECT 1 FROM authorizations WHERE app_id = %s AND record_id = %s", (app_id, record_id))
        return row is not None


def forget_expired(db: Db, table: str, key: str, before: float) -> None:
    """Delete up to :data:`CLEANUP_BATCH` rows of ``table`` expired before
    ``before``, leaving rows another writer is deleting to it (no waiting,
    no deadlock between writers cleaning up at once)."""
    db.execute(
        f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE expires < %s "
        f"ORDER BY expires LIMIT {CLEANUP_BATCH} FOR UPDATE SKIP LOCKED)",
        (before,),
    )


class PostgresSessions(SessionTable):
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, session: SessionRow, now: float) -> None:
        forget_expired(self.db, "sessions", "token", now - SESSION_GRACE)
        self.db.execute(
            "INSERT INTO sessions(token, app_id, secret, expires) VALUES (%s, %s, %s, %s)",
            (session.token, session.app_id, session.secret, session.expires),
        )

    def get(self, token: str) -> SessionRow | None:
        row = self.db.one("SELECT token, app_id, secret, expires FROM sessions WHERE token = %s", (token,))
        return None if row is None else SessionRow(**row)


class PostgresRequests(RequestTable):
    def __init__(self, db: Db) -> None:
        self.db = db

    def remember(self, digest: str, expires: float, now: float) -> bool:
        forget_expired(self.db, "seen_requests", "digest", now)
        added = self.db.execute(
            "INSERT INTO seen_requests(digest, expires) VALUES (%s, %s) ON CONFLICT (digest) DO UPDATE "
            "SET expires = EXCLUDED.expires WHERE seen_requests.expires < %s",
            (digest, expires, now),
        )
        return added.rowcount == 1
