"""Store settings, applications, records and their authorizations, sessions and requests seen, in SQLite."""

from __future__ import annotations

import sqlite3
import time
import uuid

from ..rows import Application, RecordRow, SessionRow
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

    def add(
        self, name: str, cert_pem: str, thumbprint: str, app_id: str | None = None, action_url: str | None = None
    ) -> str:
        app_id = app_id or str(uuid.uuid4())
        self.db.execute(
            "INSERT INTO applications(app_id, name, cert_pem, thumbprint, action_url) VALUES (?, ?, ?, ?, ?)",
            (app_id, name, cert_pem, thumbprint, action_url),
        )
        return app_id

    def get(self, app_id: str) -> Application | None:
        row = self.db.execute("SELECT * FROM applications WHERE app_id = ?", (app_id,)).fetchone()
        return None if row is None else Application(**dict(row))

    def all(self) -> list[Application]:
        rows = self.db.execute("SELECT * FROM applications ORDER BY name, app_id").fetchall()
        return [Application(**dict(r)) for r in rows]


class SqliteRecords(RecordTable):
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def add(self, name: str, app_ids: list[str], person_id: str | None = None) -> tuple[str, str]:
        record_id = str(uuid.uuid4())
        if person_id is None:
            person_id = str(uuid.uuid4())
            self.db.execute(
                "INSERT INTO persons(person_id, login, name, password_hash, created) VALUES (?, ?, ?, NULL, ?)",
                (person_id, f"person-{person_id[:8]}", name, time.time()),
            )
        self.db.execute(
            "INSERT INTO records(record_id, person_id, name) VALUES (?, ?, ?)",
            (record_id, person_id, name),
        )
        for app_id in app_ids:
            self.authorize(app_id, record_id)
        return record_id, person_id

    def exists(self, record_id: str) -> bool:
        found = self.db.execute("SELECT 1 FROM records WHERE record_id = ?", (record_id,)).fetchone()
        return found is not None

    def get(self, record_id: str) -> RecordRow | None:
        row = self.db.execute("SELECT record_id, person_id, name FROM records WHERE record_id = ?", (record_id,))
        found = row.fetchone()
        return None if found is None else RecordRow(**dict(found))

    def of_person(self, person_id: str) -> list[RecordRow]:
        rows = self.db.execute(
            "SELECT record_id, person_id, name FROM records WHERE person_id = ? ORDER BY name, record_id",
            (person_id,),
        ).fetchall()
        return [RecordRow(**dict(r)) for r in rows]

    def authorize(self, app_id: str, record_id: str) -> None:
        self.db.execute(
            "INSERT INTO authorizations(app_id, record_id) VALUES (?, ?) ON CONFLICT (app_id, record_id) DO NOTHING",
            (app_id, record_id),
        )

    def authorized_for(self, app_id: str, person_id: str) -> list[RecordRow]:
        rows = self.db.execute(
            "SELECT r.record_id, r.person_id, r.name FROM records r JOIN authorizations a "
            "ON a.record_id = r.record_id WHERE a.app_id = ? AND r.person_id = ? ORDER BY r.name, r.record_id",
            (app_id, person_id),
        ).fetchall()
        return [RecordRow(**dict(r)) for r in rows]

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
            "INSERT INTO sessions(token, app_id, secret, expires, algorithm) VALUES (?, ?, ?, ?, ?)",
            (session.token, session.app_id, session.secret, session.expires, session.algorithm),
        )

    def get(self, token: str) -> SessionRow | None:
        row = self.db.execute("SELECT * FROM sessions WHERE token = ?", (token,)).fetchone()
        return None if row is None else SessionRow(**dict(row))

    def unsealed(self, prefix: str) -> list[SessionRow]:
        rows = self.db.execute("SELECT * FROM sessions WHERE substr(token, 1, ?) <> ?", (len(prefix), prefix))
        return [SessionRow(**dict(r)) for r in rows.fetchall()]

    def replace(self, token: str, session: SessionRow) -> None:
        self.db.execute(
            "UPDATE sessions SET token = ?, app_id = ?, secret = ?, expires = ?, algorithm = ? WHERE token = ?",
            (session.token, session.app_id, session.secret, session.expires, session.algorithm, token),
        )


class SqliteRequests(RequestTable):
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def remember(self, digest: str, expires: float, now: float) -> bool:
        self.db.execute("DELETE FROM seen_requests WHERE expires < ?", (now,))
        added = self.db.execute("INSERT OR IGNORE INTO seen_requests(digest, expires) VALUES (?, ?)", (digest, expires))
        return added.rowcount == 1

    def answer(self, digest: str) -> bytes | None:
        row = self.db.execute("SELECT answer FROM seen_requests WHERE digest = ?", (digest,)).fetchone()
        return None if row is None or row["answer"] is None else bytes(row["answer"])

    def keep_answer(self, digest: str, answer: bytes) -> None:
        self.db.execute("UPDATE seen_requests SET answer = ? WHERE digest = ?", (answer, digest))
