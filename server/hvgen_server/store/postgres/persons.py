"""Persons, their signed-in tokens, failed sign-ins and applications' alternate ids, in PostgreSQL."""

from __future__ import annotations

import time
import uuid

from ..rows import AlternateId, Person, PersonToken
from ..tables import AlternateIdTable, PersonTable, PersonTokenTable, SignInFailureTable
from .db import Db
from .directory import CLEANUP_BATCH, forget_expired

_PERSON = "person_id, login, name, password_hash, created"
_TOKEN = "digest, kind, person_id, app_id, created, expires"
#: Namespaces (the first key) of the advisory locks that make one login's
#: sign-ins, and one application's changes of alternate ids, wait for each other.
SIGN_IN_LOCKS, ALTERNATE_ID_LOCKS = 0x6876_7369, 0x6876_6169


class PostgresPersons(PersonTable):
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, login: str, name: str, password_hash: str | None) -> str:
        person_id = str(uuid.uuid4())
        self.db.execute(
            "INSERT INTO persons(person_id, login, name, password_hash, created) VALUES (%s, %s, %s, %s, %s)",
            (person_id, login.strip().lower(), name, password_hash, time.time()),
        )
        return person_id

    def get(self, person_id: str) -> Person | None:
        row = self.db.one(f"SELECT {_PERSON} FROM persons WHERE person_id = %s", (person_id,))
        return None if row is None else Person(**row)

    def by_login(self, login: str) -> Person | None:
        row = self.db.one(f"SELECT {_PERSON} FROM persons WHERE login = %s", (login.strip().lower(),))
        return None if row is None else Person(**row)

    def set_password(self, person_id: str, password_hash: str | None) -> None:
        self.db.execute("UPDATE persons SET password_hash = %s WHERE person_id = %s", (password_hash, person_id))

    def all(self) -> list[Person]:
        rows = self.db.execute(f'SELECT {_PERSON} FROM persons ORDER BY login COLLATE "C"').fetchall()
        return [Person(**r) for r in rows]


class PostgresPersonTokens(PersonTokenTable):
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, token: PersonToken, now: float) -> None:
        forget_expired(self.db, "person_tokens", "digest", now)
        self.db.execute(
            "INSERT INTO person_tokens(digest, kind, person_id, app_id, created, expires) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (token.digest, token.kind, token.person_id, token.app_id, token.created, token.expires),
        )

    def get(self, digest: str) -> PersonToken | None:
        row = self.db.one(f"SELECT {_TOKEN} FROM person_tokens WHERE digest = %s", (digest,))
        return None if row is None else PersonToken(**row)

    def remove(self, digest: str) -> None:
        self.db.execute("DELETE FROM person_tokens WHERE digest = %s", (digest,))


class PostgresSignInFailures(SignInFailureTable):
    """Attempts of one login are counted one writer at a time (a transaction
    lock on the login), so that instances checking the same login at once
    cannot both take the last attempt left."""

    def __init__(self, db: Db) -> None:
        self.db = db

    def reserve(self, login: str, now: float, window: float, limit: int) -> bool:
        self.db.execute("SELECT pg_advisory_xact_lock(%s::integer, hashtext(%s))", (SIGN_IN_LOCKS, login))
        self.db.execute(
            "DELETE FROM sign_in_failures WHERE position IN (SELECT position FROM sign_in_failures "
            f"WHERE at <= %s ORDER BY at LIMIT {CLEANUP_BATCH} FOR UPDATE SKIP LOCKED)",
            (now - window,),
        )
        counted = self.db.one(
            "SELECT count(*) AS n FROM sign_in_failures WHERE login = %s AND at > %s", (login, now - window)
        )
        if counted is not None and int(counted["n"]) >= limit:
            return False
        self.db.execute("INSERT INTO sign_in_failures(login, at) VALUES (%s, %s)", (login, now))
        return True

    def clear(self, login: str) -> None:
        self.db.execute("SELECT pg_advisory_xact_lock(%s::integer, hashtext(%s))", (SIGN_IN_LOCKS, login))
        self.db.execute("DELETE FROM sign_in_failures WHERE login = %s", (login,))

    def release(self, login: str, at: float) -> None:
        self.db.execute("SELECT pg_advisory_xact_lock(%s::integer, hashtext(%s))", (SIGN_IN_LOCKS, login))
        self.db.execute(
            "DELETE FROM sign_in_failures WHERE position = "
            "(SELECT position FROM sign_in_failures WHERE login = %s AND at = %s LIMIT 1)",
            (login, at),
        )


class PostgresAlternateIds(AlternateIdTable):
    def __init__(self, db: Db) -> None:
        self.db = db

    def add(self, row: AlternateId) -> None:
        self.db.execute(
            "INSERT INTO alternate_ids(app_id, alternate_id, person_id, record_id, created) "
            "VALUES (%s, %s, %s, %s, %s)",
            (row.app_id, row.alternate_id, row.person_id, row.record_id, row.created),
        )

    def get(self, app_id: str, alternate_id: str) -> AlternateId | None:
        if self.db.locking:  # a write decides on the application's ids (which are free, how many): one at a time
            self.db.execute("SELECT pg_advisory_xact_lock(%s::integer, hashtext(%s))", (ALTERNATE_ID_LOCKS, app_id))
        row = self.db.one(
            "SELECT app_id, alternate_id, person_id, record_id, created FROM alternate_ids "
            "WHERE app_id = %s AND alternate_id = %s",
            (app_id, alternate_id),
        )
        return None if row is None else AlternateId(**row)

    def remove(self, app_id: str, alternate_id: str) -> None:
        self.db.execute("DELETE FROM alternate_ids WHERE app_id = %s AND alternate_id = %s", (app_id, alternate_id))

    def of(self, app_id: str, person_id: str, record_id: str) -> list[str]:
        rows = self.db.execute(
            "SELECT alternate_id FROM alternate_ids WHERE app_id = %s AND person_id = %s AND record_id = %s "
            'ORDER BY created, alternate_id COLLATE "C"',
            (app_id, person_id, record_id),
        ).fetchall()
        return [str(r["alternate_id"]) for r in rows]
