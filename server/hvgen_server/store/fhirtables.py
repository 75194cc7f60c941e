"""What the store keeps for FHIR: the index of thing versions (what
searches match, and each version's resource as JSON) and the bulk export
jobs (``$export``), so that every server process of a store sees them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence

from .rows import FhirExport, FhirFact, FhirQuery, FhirRow


class FhirExportTable(ABC):
    """Bulk export jobs, kept until they are deleted."""

    @abstractmethod
    def add_export(self, job: FhirExport) -> None:
        """Keep a new job."""

    @abstractmethod
    def export(self, job_id: str) -> FhirExport | None:
        """The job, if there is one of that id."""

    @abstractmethod
    def exports(self) -> list[FhirExport]:
        """Every job, oldest first."""

    @abstractmethod
    def claim_export(self, job_id: str, heartbeat: float, stale_before: float) -> bool:
        """Set the heartbeat of a running job whose last one is before
        ``stale_before``; True when it was set. Its runner beats with
        ``stale_before`` = infinity; a process taking over the job of a
        runner that stopped passes the time before which a heartbeat means
        so (of callers at once, only one wins)."""

    @abstractmethod
    def finish_export(self, job_id: str, state: str, error: str, counts: str) -> None:
        """The job ended (``done`` or ``failed``), with its files' counts (JSON)."""

    @abstractmethod
    def remove_export(self, job_id: str) -> bool:
        """Forget the job; False when there was none."""


class FhirIndexTable(FhirExportTable):
    """The FHIR-searchable facts of things (:class:`FhirFact`) and their
    resources, by thing version, written with the version in the same
    transaction. A search finds only what the current version of an active
    thing holds."""

    @abstractmethod
    def replace(
        self,
        record_id: str,
        thing_id: str,
        version_stamp: str,
        facts: Sequence[FhirFact],
        resource: str = "",
        form: str = "",
    ) -> None:
        """The thing's facts are ``facts``, as of ``version_stamp``, and its
        resource ``resource`` (JSON text made in ``form``; '' for none)."""

    @abstractmethod
    def stale(self, record_id: str, type_ids: Sequence[str], limit: int, form: str = "") -> list[tuple[str, str]]:
        """(thing id, version stamp) of up to ``limit`` active things of those
        types whose current version has no facts yet (written before the
        index knew their type), or (``form`` given) a resource made in
        another form."""

    @abstractmethod
    def page(self, record_id: str, query: FhirQuery) -> tuple[list[FhirRow], int]:
        """The things that match, newest first (a page of ``query.limit``
        from ``query.offset``), and how many match in all."""

    def search(self, record_id: str, query: FhirQuery) -> tuple[list[str], int]:
        """The ids of the things :meth:`page` finds, and how many match in all."""
        rows, total = self.page(record_id, query)
        return [r.thing_id for r in rows], total

    @abstractmethod
    def current(self, record_id: str, type_ids: Sequence[str], since: float | None = None) -> Iterator[FhirRow]:
        """The active things of those types (updated after ``since``, if
        given), with their current versions' resources (read as the caller
        goes: close the iterator when stopping early)."""
