"""Persons, their signed-in tokens, failed sign-ins and applications' alternate ids."""

from __future__ import annotations

import time
import uuid

from ..rows import AlternateId, Person, PersonToken
from ..tables import AlternateIdTable, PersonTable, PersonTokenTable, SignInFailureTable
from .dialect import SqlTable, columns, skip_locked
from .directory import CLEANUP_BATCH, forget_expired

_PERSON = columns(Person)
_TOKEN = columns(PersonToken)
_ALTERNATE_ID = columns(AlternateId)
#: Namespaces (the first key) of the locks that make one login's sign-ins,
#: and one application's changes of alternate ids, wait for each other.
SIGN_IN_LOCKS, ALTERNATE_ID_LOCKS = 0x6876_7369, 0x6876_6169


class Persons(SqlTable, PersonTable):
    def add(self, login: str, name: str, password_hash: str | None) -> str:
        person_id = str(uuid.uuid4())
        self.db.run(
            "INSERT INTO persons(person_id, login, name, password_hash, created) VALUES (?, ?, ?, ?, ?)",
            (person_id, login.strip().lower(), name, password_hash, time.time()),
        )
        return person_id

    def get(self, person_id: str) -> Person | None:
        row = self.db.one(f"SELECT {_PERSON} FROM persons WHERE person_id = ?", (person_id,))
        return None if row is None else Person(*row)

    def by_login(self, login: str) -> Person | None:
        row = self.db.one(f"SELECT {_PERSON} FROM persons WHERE login = ?", (login.strip().lower(),))
        return None if row is None else Person(*row)

    def set_password(self, person_id: str, password_hash: str | None) -> None:
        self.db.run("UPDATE persons SET password_hash = ? WHERE person_id = ?", (password_hash, person_id))

    def all(self) -> list[Person]:
        rows = self.db.all(f"SELECT {_PERSON} FROM persons ORDER BY login{self.db.dialect.bytewise}")
        return [Person(*r) for r in rows]


class PersonTokens(SqlTable, PersonTokenTable):
    def add(self, token: PersonToken, now: float) -> None:
        forget_expired(self.db, "person_tokens", "digest", now)
        self.db.run(
            "INSERT INTO person_tokens(digest, kind, person_id, app_id, created, expires) VALUES (?, ?, ?, ?, ?, ?)",
            (token.digest, token.kind, token.person_id, token.app_id, token.created, token.expires),
        )

    def get(self, digest: str) -> PersonToken | None:
        row = self.db.one(f"SELECT {_TOKEN} FROM person_tokens WHERE digest = ?", (digest,))
        return None if row is None else PersonToken(*row)

    def remove(self, digest: str) -> None:
        self.db.run("DELETE FROM person_tokens WHERE digest = ?", (digest,))

    def remove_person(self, person_id: str) -> int:
        counted = self.db.value("SELECT count(*) FROM person_tokens WHERE person_id = ?", (person_id,))
        self.db.run("DELETE FROM person_tokens WHERE person_id = ?", (person_id,))
        return int(counted or 0)


class SignInFailures(SqlTable, SignInFailureTable):
    """Attempts of one login are counted one writer at a time (a lock on the
    login), so that server processes checking the same login at once cannot
    both take the last attempt left."""

    def reserve(self, login: str, now: float, window: float, limit: int) -> bool:
        self.db.lock(SIGN_IN_LOCKS, login)
        position = self.db.dialect.position
        self.db.run(
            f"DELETE FROM sign_in_failures WHERE {position} IN (SELECT {position} FROM sign_in_failures "
            f"WHERE at <= ? ORDER BY at LIMIT {CLEANUP_BATCH}{skip_locked(self.db)})",
            (now - window,),
        )
        counted = self.db.value(
            "SELECT count(*) FROM sign_in_failures WHERE login = ? AND at > ?", (login, now - window)
        )
        if int(counted) >= limit:
            return False
        self.db.run("INSERT INTO sign_in_failures(login, at) VALUES (?, ?)", (login, now))
        return True

    def clear(self, login: str) -> None:
        self.db.lock(SIGN_IN_LOCKS, login)
        self.db.run("DELETE FROM sign_in_failures WHERE login = ?", (login,))

    def release(self, login: str, at: float) -> None:
        self.db.lock(SIGN_IN_LOCKS, login)
        position = self.db.dialect.position
        self.db.run(
            f"DELETE FROM sign_in_failures WHERE {position} = "
            f"(SELECT {position} FROM sign_in_failures WHERE login = ? AND at = ? LIMIT 1)",
            (login, at),
        )


class AlternateIds(SqlTable, AlternateIdTable):
    def add(self, row: AlternateId) -> None:
        self.db.run(
            "INSERT INTO alternate_ids(app_id, alternate_id, person_id, record_id, created) VALUES (?, ?, ?, ?, ?)",
            (row.app_id, row.alternate_id, row.person_id, row.record_id, row.created),
        )

    def get(self, app_id: str, alternate_id: str) -> AlternateId | None:
        if self.db.locking:  # a write decides on the application's ids (which are free, how many): one at a time
            self.db.lock(ALTERNATE_ID_LOCKS, app_id)
        row = self.db.one(
            f"SELECT {_ALTERNATE_ID} FROM alternate_ids WHERE app_id = ? AND alternate_id = ?", (app_id, alternate_id)
        )
        return None if row is None else AlternateId(*row)

    def remove(self, app_id: str, alternate_id: str) -> None:
        self.db.run("DELETE FROM alternate_ids WHERE app_id = ? AND alternate_id = ?", (app_id, alternate_id))

    def of(self, app_id: str, person_id: str, record_id: str) -> list[str]:
        rows = self.db.all(
            "SELECT alternate_id FROM alternate_ids WHERE app_id = ? AND person_id = ? AND record_id = ? "
            f"ORDER BY created, alternate_id{self.db.dialect.bytewise}",
            (app_id, person_id, record_id),
        )
        return [str(r[0]) for r in rows]
