"""Persons, their signed-in tokens, failed sign-ins and applications' alternate ids, in SQLite."""

from __future__ import annotations

import sqlite3
import time
import uuid

from ..rows import AlternateId, Person, PersonToken
from ..tables import AlternateIdTable, PersonTable, PersonTokenTable, SignInFailureTable


class SqlitePersons(PersonTable):
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def add(self, login: str, name: str, password_hash: str | None) -> str:
        person_id = str(uuid.uuid4())
        self.db.execute(
            "INSERT INTO persons(person_id, login, name, password_hash, created) VALUES (?, ?, ?, ?, ?)",
            (person_id, login.strip().lower(), name, password_hash, time.time()),
        )
        return person_id

    def get(self, person_id: str) -> Person | None:
        row = self.db.execute("SELECT * FROM persons WHERE person_id = ?", (person_id,)).fetchone()
        return None if row is None else Person(**dict(row))

    def by_login(self, login: str) -> Person | None:
        row = self.db.execute("SELECT * FROM persons WHERE login = ?", (login.strip().lower(),)).fetchone()
        return None if row is None else Person(**dict(row))

    def set_password(self, person_id: str, password_hash: str | None) -> None:
        self.db.execute("UPDATE persons SET password_hash = ? WHERE person_id = ?", (password_hash, person_id))

    def all(self) -> list[Person]:
        return [Person(**dict(r)) for r in self.db.execute("SELECT * FROM persons ORDER BY login").fetchall()]


class SqlitePersonTokens(PersonTokenTable):
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def add(self, token: PersonToken, now: float) -> None:
        self.db.execute("DELETE FROM person_tokens WHERE expires < ?", (now,))
        self.db.execute(
            "INSERT INTO person_tokens(digest, kind, person_id, app_id, created, expires) VALUES (?, ?, ?, ?, ?, ?)",
            (token.digest, token.kind, token.person_id, token.app_id, token.created, token.expires),
        )

    def get(self, digest: str) -> PersonToken | None:
        row = self.db.execute("SELECT * FROM person_tokens WHERE digest = ?", (digest,)).fetchone()
        return None if row is None else PersonToken(**dict(row))

    def remove(self, digest: str) -> None:
        self.db.execute("DELETE FROM person_tokens WHERE digest = ?", (digest,))


class SqliteSignInFailures(SignInFailureTable):
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def reserve(self, login: str, now: float, window: float, limit: int) -> bool:
        self.db.execute("DELETE FROM sign_in_failures WHERE at <= ?", (now - window,))
        (counted,) = self.db.execute("SELECT count(*) FROM sign_in_failures WHERE login = ?", (login,)).fetchone()
        if counted >= limit:
            return False
        self.db.execute("INSERT INTO sign_in_failures(login, at) VALUES (?, ?)", (login, now))
        return True

    def clear(self, login: str) -> None:
        self.db.execute("DELETE FROM sign_in_failures WHERE login = ?", (login,))

    def release(self, login: str, at: float) -> None:
        self.db.execute(
            "DELETE FROM sign_in_failures WHERE rowid = "
            "(SELECT rowid FROM sign_in_failures WHERE login = ? AND at = ? LIMIT 1)",
            (login, at),
        )


class SqliteAlternateIds(AlternateIdTable):
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def add(self, row: AlternateId) -> None:
        self.db.execute(
            "INSERT INTO alternate_ids(app_id, alternate_id, person_id, record_id, created) VALUES (?, ?, ?, ?, ?)",
            (row.app_id, row.alternate_id, row.person_id, row.record_id, row.created),
        )

    def get(self, app_id: str, alternate_id: str) -> AlternateId | None:
        row = self.db.execute(
            "SELECT * FROM alternate_ids WHERE app_id = ? AND alternate_id = ?", (app_id, alternate_id)
        ).fetchone()
        return None if row is None else AlternateId(**dict(row))

    def remove(self, app_id: str, alternate_id: str) -> None:
        self.db.execute("DELETE FROM alternate_ids WHERE app_id = ? AND alternate_id = ?", (app_id, alternate_id))

    def of(self, app_id: str, person_id: str, record_id: str) -> list[str]:
        rows = self.db.execute(
            "SELECT alternate_id FROM alternate_ids WHERE app_id = ? AND person_id = ? AND record_id = ? "
            "ORDER BY created, alternate_id",
            (app_id, person_id, record_id),
        ).fetchall()
        return [str(r["alternate_id"]) for r in rows]
