"""The store as an interface: units of work over tables.

Method code reads and writes through a :class:`Transaction`: ``with
store.write() as tx:`` commits everything done with ``tx`` when the block
ends, or nothing when it raises; ``with store.read() as tx:`` gives a
consistent snapshot (and must not write). A backend implements
:class:`Store` and the tables of :mod:`.tables`; blob bytes are not here but
behind :class:`~.files.BlobFiles`.

The one-call helpers on :class:`Store` each run their own unit of work.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass

from .rows import Application, Person, PersonToken, RecordRow, SessionRow
from .tables import (
    AlternateIdTable,
    ApplicationTable,
    BlobTable,
    DicomIndexTable,
    MetaTable,
    PackageTable,
    PersonTable,
    PersonTokenTable,
    RecordTable,
    RequestTable,
    SessionTable,
    SignInFailureTable,
    ThingTable,
)


@dataclass(frozen=True)
class Transaction:
    """One unit of work and the tables it reaches."""

    meta: MetaTable
    applications: ApplicationTable
    records: RecordTable
    sessions: SessionTable
    things: ThingTable
    blobs: BlobTable
    packages: PackageTable
    requests: RequestTable
    persons: PersonTable
    person_tokens: PersonTokenTable
    alternate_ids: AlternateIdTable
    dicom: DicomIndexTable
    sign_in_failures: SignInFailureTable


class Store(ABC):
    """Where the platform keeps applications, records, sessions, things,
    blob state and packages."""

    @abstractmethod
    def read(self) -> AbstractContextManager[Transaction]:
        """A consistent snapshot for reads."""

    @abstractmethod
    def write(self) -> AbstractContextManager[Transaction]:
        """One write transaction: committed if the block succeeds, else rolled back."""

    @abstractmethod
    def close(self) -> None: ...

    # -- one-call helpers ----------------------------------------------------------

    def meta(self, key: str) -> str | None:
        with self.read() as tx:
            return tx.meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        with self.write() as tx:
            tx.meta.set(key, value)

    def add_application(
        self, name: str, cert_pem: str, thumbprint: str, app_id: str | None = None, action_url: str | None = None
    ) -> str:
        with self.write() as tx:
            return tx.applications.add(name, cert_pem, thumbprint, app_id, action_url)

    def add_record(self, name: str, app_ids: list[str], person_id: str | None = None) -> tuple[str, str]:
        """A new record of the person (a new person when None), authorized for the given applications."""
        with self.write() as tx:
            return tx.records.add(name, app_ids, person_id)

    def add_person(self, login: str, name: str, password_hash: str | None) -> str:
        with self.write() as tx:
            return tx.persons.add(login, name, password_hash)

    def person(self, person_id: str) -> Person | None:
        with self.read() as tx:
            return tx.persons.get(person_id)

    def person_by_login(self, login: str) -> Person | None:
        with self.read() as tx:
            return tx.persons.by_login(login)

    def record(self, record_id: str) -> RecordRow | None:
        with self.read() as tx:
            return tx.records.get(record_id)

    def person_token(self, digest: str) -> PersonToken | None:
        with self.read() as tx:
            return tx.person_tokens.get(digest)

    def application(self, app_id: str) -> Application | None:
        with self.read() as tx:
            return tx.applications.get(app_id)

    def record_exists(self, record_id: str) -> bool:
        with self.read() as tx:
            return tx.records.exists(record_id)

    def person_of(self, record_id: str) -> str:
        with self.read() as tx:
            return tx.records.person_of(record_id)

    def authorized(self, app_id: str, record_id: str) -> bool:
        with self.read() as tx:
            return tx.records.authorized(app_id, record_id)

    def add_session(self, session: SessionRow, now: float) -> None:
        with self.write() as tx:
            tx.sessions.add(session, now)

    def session(self, token: str) -> SessionRow | None:
        with self.read() as tx:
            return tx.sessions.get(token)
