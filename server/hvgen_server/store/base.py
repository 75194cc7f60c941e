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

from .rows import Application, SessionRow
from .tables import (
    ApplicationTable,
    BlobTable,
    DicomIndexTable,
    MetaTable,
    PackageTable,
    RecordTable,
    RequestTable,
    SessionTable,
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
    dicom: DicomIndexTable


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

    def add_application(self, name: str, cert_pem: str, thumbprint: str) -> str:
        with self.write() as tx:
            return tx.applications.add(name, cert_pem, thumbprint)

    def add_record(self, name: str, app_ids: list[str]) -> tuple[str, str]:
        """A new record (and its person), authorized for the given applications."""
        with self.write() as tx:
            return tx.records.add(name, app_ids)

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
