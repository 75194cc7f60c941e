"""Store settings, applications, records, sessions and requests seen, in SQLite."""

from __future__ import annotations

import sqlite3
import uuid

from ..rows import Application, SessionRow
from ..tables import ApplicationTable, MetaTable, RecordTable, RequestTable, SessionTable

#: Expired sessions are forgotten this many seconds after they expire.
SESSION_GRACE = 3600


class SqliteMeta(MetaTable):
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def get(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def add(self, key: str, value: str) -> bool:
        added = self.db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, value))
        return added.rowcount == 1


class SqliteApplications(ApplicationTable):
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def add(self, name: str, cert_pem: str, thumbprint: str) -> str:
        app_id = str(uuid.uuid4())
        self.db.execute(
            "INSERT INTO applications(app_id, name, cert_pem, thumbprint) VALUES (?, ?, ?, ?)",
            (app_id, name, cert_pem, thumbprint),
        )
        return app_id

    def get(self, app_id: str) -> Application | None:
        row = self.db.execute("SELECT * FROM applications WHERE app_id = ?", (app_id,)).fetchone()
        return None if row is None else Application(**dict(row))


class SqliteRecords(RecordTable):
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def add(self, name: str, app_ids: list[str]) -> tuple[str, str]:
        record_id, person_id = str(uuid.uuid4()), str(uuid.uuid4())
        self.db.execute(
            "INSERT INTO records(record_id, person_id, name) VALUES (?, ?, ?)",
            (record_id, person_id, name),
        )
        for app_id in app_ids:
            self.db.execute("INSERT INTO authorizations(app_id, record_id) VALUES (?, ?)", (app_id, record_id))
        return record_id, person_id

    def exists(self, record_id: str) -> bool:
        found = self.db.execute("SELECT 1 FROM records WHERE record_id = ?", (record_id,)).fetchone()
        return found is not None

    def person_of(self, record_id: str) -> str:
        row = self.db.execute("SELECT person_id FROM records WHERE record_id = ?", (record_id,)).fetchone()
        return "" if row is None else str(row["person_id"])

    def authorized(self, app_id: str, record_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM authorizations WHERE app_id = ? AND record_id = ?", (app_id, record_id)
        ).fetchone()
        return row is not None


class SqliteSessions(SessionTable):
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def add(self, session: SessionRow, now: float) -> None:
        self.db.execute("DELETE FROM sessions WHERE expires < ?", (now - SESSION_GRACE,))
        self.db.execute(
            "INSERT INTO sessions(token, app_id, secret, expires) VALUES (?, ?, ?, ?)",
            (session.token, session.app_id, session.secret, session.expires),
        )

    def get(self, token: str) -> SessionRow | None:
        row = self.db.execute("SELECT * FROM sessions WHERE token = ?", (token,)).fetchone()
        return None if row is None else SessionRow(**dict(row))


class SqliteRequests(RequestTable):
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def remember(self, digest: str, expires: float, now: float) -> bool:
        self.db.execute("DELETE FROM seen_requests WHERE expires < ?", (now,))
        added = self.db.execute("INSERT OR IGNORE INTO seen_requests(digest, expires) VALUES (?, ?)", (digest, expires))
        return added.rowcount == 1
