"""Store settings, applications, records and their authorizations, sessions and requests seen, in PostgreSQL."""

from __future__ import annotations

import time
import uuid

from ..rows import Application, RecordRow, SessionRow
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

    def add(
        self, name: str, cert_pem: str, thumbprint: str, app_id: str | None = None, action_url: str | None = None
    ) -> str:
        app_id = app_id or str(uuid.uuid4())
        self.db.execute(
            "INSERT INTO applications(app_id, name, cert_pem, thumbprint, action_url) VALUES (%s, %s, %s, %s, %s)",
            (app_id, name, cert_pem, thumbprint, action_url),
        )
        return app_id

    def get(self, app_id: str) -> Application | None:
        row = self.db.one(f"SELECT {_APPLICATION} FROM applications WHERE app_id = %s", (app_id,))
        return None if row is None else Application(**row)

    def all(self) -> list[Application]:
        rows = self.db.execute(
            f'SELECT {_APPLICATION} FROM applications ORDER BY name COLLATE "C", app_id COLLATE "C"'
        ).fetchall()
        return [Application(**r) for r in rows]


_APPLICATION = "app_id, name, cert_pem, thumbprint, action_url"
_RECORD = "record_id, person_id, name"
_BY_NAME = 'ORDER BY name COLLATE "C", record_id COLLATE "C"'


class PostgresRecords(RecordTable):
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, name: str, app_ids: list[str], person_id: str | None = None) -> tuple[str, str]:
        record_id = str(uuid.uuid4())
        if person_id is None:
            person_id = str(uuid.uuid4())
            self.db.execute(
                "INSERT INTO persons(person_id, login, name, password_hash, created) VALUES (%s, %s, %s, NULL, %s)",
                (person_id, f"person-{person_id[:8]}", name, time.time()),
            )
        self.db.execute(
            "INSERT INTO records(record_id, person_id, name) VALUES (%s, %s, %s)", (record_id, person_id, name)
        )
        for app_id in app_ids:
            self.authorize(app_id, record_id)
        return record_id, person_id

    def exists(self, record_id: str) -> bool:
        return self.db.one("SELECT 1 FROM records WHERE record_id = %s", (record_id,)) is not None

    def get(self, record_id: str) -> RecordRow | None:
        row = self.db.one(f"SELECT {_RECORD} FROM records WHERE record_id = %s", (record_id,))
        return None if row is None else RecordRow(**row)

    def of_person(self, person_id: str) -> list[RecordRow]:
        rows = self.db.execute(f"SELECT {_RECORD} FROM records WHERE person_id = %s {_BY_NAME}", (person_id,))
        return [RecordRow(**r) for r in rows.fetchall()]

    def person_of(self, record_id: str) -> str:
        row = self.db.one("SELECT person_id FROM records WHERE record_id = %s", (record_id,))
        return "" if row is None else str(row["person_id"])

    def authorized(self, app_id: str, record_id: str) -> bool:
        row = self.db.one("SELECT 1 FROM authorizations WHERE app_id = %s AND record_id = %s", (app_id, record_id))
        return row is not None

    def authorize(self, app_id: str, record_id: str) -> None:
        self.db.execute(
            "INSERT INTO authorizations(app_id, record_id) VALUES (%s, %s) ON CONFLICT (app_id, record_id) DO NOTHING",
            (app_id, record_id),
        )

    def authorized_for(self, app_id: str, person_id: str) -> list[RecordRow]:
        rows = self.db.execute(
            "SELECT r.record_id, r.person_id, r.name FROM records r JOIN authorizations a "
            "ON a.record_id = r.record_id WHERE a.app_id = %s AND r.person_id = %s "
            'ORDER BY r.name COLLATE "C", r.record_id COLLATE "C"',
            (app_id, person_id),
        ).fetchall()
        return [RecordRow(**r) for r in rows]


def forget_expired(db: Db, table: str, key: str, before: float) -> None:
    """Delete up to :data:`CLEANUP_BATCH` rows of ``table`` expired before
    ``before``, leaving rows another writer is deleting to it (no waiting,
    no deadlock between writers cleaning up at once)."""
    db.execute(
        f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE expires < %s "
        f"ORDER BY expires LIMIT {CLEANUP_BATCH} FOR UPDATE SKIP LOCKED)",
        (before,),
    )


_SESSION = "token, app_id, secret, expires, algorithm"


class PostgresSessions(SessionTable):
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, session: SessionRow, now: float) -> None:
        forget_expired(self.db, "sessions", "token", now - SESSION_GRACE)
        self.db.execute(
            "INSERT INTO sessions(token, app_id, secret, expires, algorithm) VALUES (%s, %s, %s, %s, %s)",
            (session.token, session.app_id, session.secret, session.expires, session.algorithm),
        )

    def get(self, token: str) -> SessionRow | None:
        row = self.db.one(f"SELECT {_SESSION} FROM sessions WHERE token = %s", (token,))
        return None if row is None else SessionRow(**row)

    def unsealed(self, prefix: str) -> list[SessionRow]:
        rows = self.db.execute(
            f"SELECT {_SESSION} FROM sessions WHERE left(token, %s) <> %s{self.db.for_update}", (len(prefix), prefix)
        ).fetchall()
        return [SessionRow(**r) for r in rows]

    def replace(self, token: str, session: SessionRow) -> None:
        self.db.execute(
            "UPDATE sessions SET token = %s, app_id = %s, secret = %s, expires = %s, algorithm = %s WHERE token = %s",
            (session.token, session.app_id, session.secret, session.expires, session.algorithm, token),
        )


class PostgresRequests(RequestTable):
    def __init__(self, db: Db) -> None:
        self.db = db

    def remember(self, digest: str, expires: float, now: float) -> bool:
        forget_expired(self.db, "seen_requests", "digest", now)
        added = self.db.execute(
            "INSERT INTO seen_requests(digest, expires) VALUES (%s, %s) ON CONFLICT (digest) DO UPDATE "
            "SET expires = EXCLUDED.expires, answer = NULL WHERE seen_requests.expires < %s",
            (digest, expires, now),
        )
        return added.rowcount == 1

    def answer(self, digest: str) -> bytes | None:
        row = self.db.one("SELECT answer FROM seen_requests WHERE digest = %s", (digest,))
        return None if row is None or row["answer"] is None else bytes(row["answer"])

    def keep_answer(self, digest: str, answer: bytes) -> None:
        self.db.execute("UPDATE seen_requests SET answer = %s WHERE digest = %s", (answer, digest))
