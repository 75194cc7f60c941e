"""The store as an interface: units of work over tables.

Method code reads and writes through a :class:`Transaction`: ``with
store.write() as tx:`` commits everything done with ``tx`` when the block
ends, or nothing when it raises; ``with store.read() as tx:`` gives a
consistent snapshot (and must not write). A backend implements
:class:`Store` and the tables of :mod:`.tables`; blob bytes are not here but
behind :class:`~.files.BlobFiles`.

The one-call helpers on :class:`Store` each run their own unit of work.

A backend whose writers can run at once (PostgreSQL) raises
:class:`Conflict` when a write transaction loses to another one (a
deadlock, a lock waited on too long): nothing of it was committed, and the
caller may do it again.

:data:`TABLES` names every table with the columns that order its rows;
:meth:`Store.export_rows` and :meth:`Store.import_rows` copy rows between
backends (``hvgen migrate``) in that logical form, the same in every backend.
"""

from __future__ import annotations

import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import ServerError
from .dicomtables import DicomIndexTable, DicomNodeTable
from .fhirtables import FhirIndexTable
from .rows import Application, Person, PersonToken, RecordRow, SessionRow
from .tables import (
    AlternateIdTable,
    ApplicationTable,
    BlobTable,
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


class Conflict(ServerError):
    """A write transaction lost to a concurrent one and was rolled back;
    doing it again may succeed."""


#: Times work is done again when its write lost to a concurrent one.
CONFLICT_RETRIES = 4

_T = TypeVar("_T")


def retried(work: Callable[[], _T], retries: int = CONFLICT_RETRIES) -> _T:
    """Do ``work``; again (after a short, random pause) when it raised
    :class:`Conflict`, up to ``retries`` times, then let the last one through."""
    for attempt in range(retries):
        try:
            return work()
        except Conflict:
            time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
    return work()


#: Every table, in an order rows can be added in (what a row names comes
#: first), with the columns that order its rows. Tables ordered by
#: ``position`` (``version_blobs``: the order of a version's blobs;
#: ``sign_in_failures`` and ``dicom_instances``, which have no key of their
#: own) are exported in the order their rows were added in, a column every
#: backend exports and none imports.
TABLES: dict[str, tuple[str, ...]] = {
    "meta": ("key",),
    "applications": ("app_id",),
    "persons": ("person_id",),
    "records": ("record_id",),
    "authorizations": ("app_id", "record_id"),
    "sessions": ("token",),
    "person_tokens": ("digest",),
    "alternate_ids": ("app_id", "alternate_id"),
    "sign_in_failures": ("position",),
    "things": ("thing_id",),
    "versions": ("version_stamp",),
    "blobs": ("blob_id",),
    "version_blobs": ("position",),
    "packages": ("identity_code",),
    "package_blobs": ("identity_code", "blob_id"),
    "pickups": ("identity_code",),
    "seen_requests": ("digest",),
    "dicom_versions": ("thing_id",),
    "dicom_instances": ("position",),
    "dicom_nodes": ("name",),
    "fhir_versions": ("thing_id",),
    "fhir_facts": ("position",),
    "fhir_exports": ("job_id",),
    "dicom_studies": ("thing_id",),
}

#: The column of the tables ordered by the order their rows were added in.
POSITION = "position"

#: A row as :meth:`Store.export_rows` gives it: column name to value.
Row = dict[str, Any]


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
    fhir: FhirIndexTable
    sign_in_failures: SignInFailureTable
    dicom_nodes: DicomNodeTable


class Store(ABC):
    """Where the platform keeps applications, records, sessions, things,
    blob state and packages."""

    _holds: dict[str, threading.Lock]
    _holds_guard = threading.Lock()

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        """Work longer than a unit of work (many requests) that must not run
        twice at once for ``name``: a second holder waits until the first
        ends. Among the threads of this process; a shared store's backend
        makes every server process of the store wait (PostgreSQL does)."""
        with Store._holds_guard:
            if not hasattr(self, "_holds"):
                self._holds = {}
            lock = self._holds.setdefault(name, threading.Lock())
        with lock:
            yield

    @abstractmethod
    def read(self) -> AbstractContextManager[Transaction]:
        """A consistent snapshot for reads."""

    @abstractmethod
    def write(self) -> AbstractContextManager[Transaction]:
        """One write transaction: committed if the block succeeds, else rolled back."""

    @abstractmethod
    def close(self) -> None: ...

    # -- copying a store (hvgen migrate) -----------------------------------------

    @abstractmethod
    def tables(self) -> set[str]:
        """The names of the tables this store's schema has."""

    @abstractmethod
    def export_rows(
        self, table: str, after: Sequence[Any] | None, limit: int, columns: Sequence[str] | None = None
    ) -> list[Row]:
        """Up to ``limit`` rows of ``table`` (one of :data:`TABLES`) whose key
        columns come after ``after`` (from the first when None), in key order;
        only ``columns`` of them if given (key columns among them)."""

    @abstractmethod
    def import_rows(self, table: str, rows: list[Row]) -> int:
        """Add rows as :meth:`export_rows` gives them, in one transaction,
        leaving out those whose key is there already; returns how many were added."""

    @abstractmethod
    def count_rows(self, table: str) -> int: ...

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
