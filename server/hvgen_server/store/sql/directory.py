"""Store settings, applications, records and their authorizations, sessions and requests seen."""

from __future__ import annotations

import time
import uuid

from ..rows import Application, RecordRow, SessionRow
from ..tables import ApplicationTable, MetaTable, RecordTable, RequestTable, SessionTable
from .dialect import Db, SqlTable, columns, skip_locked

#: Expired sessions are forgotten this many seconds after they expire.
SESSION_GRACE = 3600
#: Expired rows one write forgets at most (others are forgotten by later writes).
CLEANUP_BATCH = 100


def forget_expired(db: Db, table: str, key: str, before: float) -> None:
    """Delete up to :data:`CLEANUP_BATCH` rows of ``table`` expired before
    ``before``, leaving rows another writer is deleting to it (no waiting,
    no deadlock between writers cleaning up at once)."""
    db.run(
        f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE expires < ? "
        f"ORDER BY expires LIMIT {CLEANUP_BATCH}{skip_locked(db)})",
        (before,),
    )


class Meta(SqlTable, MetaTable):
    def get(self, key: str) -> str | None:
        value = self.db.value("SELECT value FROM meta WHERE key = ?", (key,))
        return None if value is None else str(value)

    def set(self, key: str, value: str) -> None:
        self.db.run(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def add(self, key: str, value: str) -> bool:
        return self.db.run("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT DO NOTHING", (key, value)) == 1


_APPLICATION = columns(Application)
_RECORD = columns(RecordRow)
_SESSION = columns(SessionRow)


class Applications(SqlTable, ApplicationTable):
    def add(
        self, name: str, cert_pem: str, thumbprint: str, app_id: str | None = None, action_url: str | None = None
    ) -> str:
        app_id = app_id or str(uuid.uuid4())
        self.db.run(
            "INSERT INTO applications(app_id, name, cert_pem, thumbprint, action_url) VALUES (?, ?, ?, ?, ?)",
            (app_id, name, cert_pem, thumbprint, action_url),
        )
        return app_id

    def get(self, app_id: str) -> Application | None:
        row = self.db.one(f"SELECT {_APPLICATION} FROM applications WHERE app_id = ?", (app_id,))
        return None if row is None else Application(*row)

    def all(self) -> list[Application]:
        c = self.db.dialect.bytewise
        rows = self.db.all(f"SELECT {_APPLICATION} FROM applications ORDER BY name{c}, app_id{c}")
        return [Application(*r) for r in rows]

    def set_type_versions(self, app_id: str, type_ids: str) -> bool:
        return self.db.run("UPDATE applications SET type_versions = ? WHERE app_id = ?", (type_ids, app_id)) == 1


class Records(SqlTable, RecordTable):
    def add(self, name: str, app_ids: list[str], person_id: str | None = None) -> tuple[str, str]:
        record_id = str(uuid.uuid4())
        if person_id is None:
            person_id = str(uuid.uuid4())
            self.db.run(
                "INSERT INTO persons(person_id, login, name, password_hash, created) VALUES (?, ?, ?, NULL, ?)",
                (person_id, f"person-{person_id[:8]}", name, time.time()),
            )
        self.db.run("INSERT INTO records(record_id, person_id, name) VALUES (?, ?, ?)", (record_id, person_id, name))
        for app_id in app_ids:
            self.authorize(app_id, record_id)
        return record_id, person_id

    def exists(self, record_id: str) -> bool:
        return self.db.one("SELECT 1 FROM records WHERE record_id = ?", (record_id,)) is not None

    def get(self, record_id: str) -> RecordRow | None:
        row = self.db.one(f"SELECT {_RECORD} FROM records WHERE record_id = ?", (record_id,))
        return None if row is None else RecordRow(*row)

    def of_person(self, person_id: str) -> list[RecordRow]:
        c = self.db.dialect.bytewise
        rows = self.db.all(
            f"SELECT {_RECORD} FROM records WHERE person_id = ? ORDER BY name{c}, record_id{c}", (person_id,)
        )
        return [RecordRow(*r) for r in rows]

    def person_of(self, record_id: str) -> str:
        person_id = self.db.value("SELECT person_id FROM records WHERE record_id = ?", (record_id,))
        return "" if person_id is None else str(person_id)

    def authorized(self, app_id: str, record_id: str) -> bool:
        found = self.db.one("SELECT 1 FROM authorizations WHERE app_id = ? AND record_id = ?", (app_id, record_id))
        return found is not None

    def authorize(self, app_id: str, record_id: str) -> None:
        self.db.run(
            "INSERT INTO authorizations(app_id, record_id) VALUES (?, ?) ON CONFLICT (app_id, record_id) DO NOTHING",
            (app_id, record_id),
        )

    def authorized_for(self, app_id: str, person_id: str) -> list[RecordRow]:
        c = self.db.dialect.bytewise
        rows = self.db.all(
            f"SELECT {columns(RecordRow, 'r.')} FROM records r JOIN authorizations a ON a.record_id = r.record_id "
            f"WHERE a.app_id = ? AND r.person_id = ? ORDER BY r.name{c}, r.record_id{c}",
            (app_id, person_id),
        )
        return [RecordRow(*r) for r in rows]


class Sessions(SqlTable, SessionTable):
    def add(self, session: SessionRow, now: float) -> None:
        forget_expired(self.db, "sessions", "token", now - SESSION_GRACE)
        self.db.run(
            "INSERT INTO sessions(token, app_id, secret, expires, algorithm) VALUES (?, ?, ?, ?, ?)",
            (session.token, session.app_id, session.secret, session.expires, session.algorithm),
        )

    def get(self, token: str) -> SessionRow | None:
        row = self.db.one(f"SELECT {_SESSION} FROM sessions WHERE token = ?", (token,))
        return None if row is None else SessionRow(*row)

    def unsealed(self, prefix: str) -> list[SessionRow]:
        rows = self.db.all(
            f"SELECT {_SESSION} FROM sessions WHERE substr(token, 1, ?) <> ?{self.db.for_update()}",
            (len(prefix), prefix),
        )
        return [SessionRow(*r) for r in rows]

    def replace(self, token: str, session: SessionRow) -> None:
        self.db.run(
            "UPDATE sessions SET token = ?, app_id = ?, secret = ?, expires = ?, algorithm = ? WHERE token = ?",
            (session.token, session.app_id, session.secret, session.expires, session.algorithm, token),
        )


class Requests(SqlTable, RequestTable):
    def remember(self, digest: str, expires: float, now: float) -> bool:
        forget_expired(self.db, "seen_requests", "digest", now)
        added = self.db.run(  # or one expired that a cleanup left: noted again
            "INSERT INTO seen_requests(digest, expires) VALUES (?, ?) ON CONFLICT (digest) DO UPDATE "
            "SET expires = excluded.expires, answer = NULL WHERE seen_requests.expires < ?",
            (digest, expires, now),
        )
        return added == 1

    def answer(self, digest: str) -> bytes | None:
        answer = self.db.value("SELECT answer FROM seen_requests WHERE digest = ?", (digest,))
        return None if answer is None else bytes(answer)

    def keep_answer(self, digest: str, answer: bytes) -> None:
        self.db.run("UPDATE seen_requests SET answer = ? WHERE digest = ?", (answer, digest))
