"""What the store keeps for DICOM: the index of medical image study things
(what QIDO-RS and WADO-RS read, and the viewer's study list) and the remote
DICOM nodes, so that every server process of a store sees them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Sequence

from .rows import DicomHit, DicomInstance, DicomNode, DicomQuery
from .studylist import StudyListTable


class DicomIndexTable(StudyListTable):
    """The DICOM attributes of the images of medical image study things, by
    thing version, for DICOMweb queries (QIDO-RS) and retrieval (WADO-RS).

    A version is indexed once (:meth:`replace`); what a query finds is only
    what the current version of a thing still active holds, so an index that
    lags behind the things (a version not indexed yet, a deleted thing not
    forgotten yet) never answers with what is not there.
    """

    @abstractmethod
    def stale(self, record_id: str, type_ids: Sequence[str]) -> list[tuple[str, str]]:
        """(thing id, version stamp) of the active things of those types whose current version is not indexed."""

    @abstractmethod
    def gone(self, record_id: str) -> list[str]:
        """Thing ids indexed at a version that is no longer their current
        active one (updated or deleted since)."""

    @abstractmethod
    def replace(
        self,
        record_id: str,
        thing_id: str,
        version_stamp: str,
        rows: Sequence[DicomInstance],
        study_uid: str | None = None,
    ) -> None:
        """The thing's index is ``rows``, as of ``version_stamp``, whose data-xml
        names ``study_uid`` (None: not known)."""

    @abstractmethod
    def extend(
        self,
        record_id: str,
        thing_id: str,
        old_stamp: str,
        new_stamp: str,
        rows: Sequence[DicomInstance],
        study_uid: str | None = None,
    ) -> bool:
        """Move the thing's index from ``old_stamp`` to ``new_stamp``, a version
        that kept every image of the old one (and its Study Instance UID,
        ``study_uid`` when the index did not know it) and added the images of
        ``rows``; False (nothing changed) when it is not indexed at ``old_stamp``."""

    @abstractmethod
    def study_things(
        self, record_id: str, study_uids: Collection[str], type_ids: Sequence[str]
    ) -> dict[str, str | None]:
        """The record's active things (of ``type_ids``, study types) whose current
        version may name one of ``study_uids`` (a superset: their XML says), with
        the UID the index holds: indexed with one of them, or None: indexed
        without its UID known (:meth:`name_studies`), or not indexed yet."""

    @abstractmethod
    def name_studies(self, named: Sequence[tuple[str, str, str]]) -> None:
        """Keep the Study Instance UID of indexed versions whose UID was not
        known: (thing id, version stamp, UID its XML names)."""

    @abstractmethod
    def forget(self, thing_ids: Iterable[str]) -> None:
        """Drop what the index holds of those things."""

    @abstractmethod
    def follow(self, thing_id: str, old_stamp: str, new_stamp: str, previews: dict[str, str]) -> bool: ...

    @abstractmethod
    def search(self, record_id: str, query: DicomQuery) -> list[DicomHit]:
        """Studies, series or instances (``query.level``) of the record that
        match every key of the query, newest study first."""


class DicomNodeTable(ABC):
    """Remote DICOM nodes by name (``hvgen dicom node``), shared by every
    server process of the store."""

    @abstractmethod
    def put(self, node: DicomNode) -> bool:
        """Add ``node``, or replace the node of that name; True when it was new."""

    @abstractmethod
    def get(self, name: str) -> DicomNode | None: ...

    @abstractmethod
    def by_ae_title(self, ae_title: str) -> DicomNode | None:
        """The DIMSE node of an AE title (a C-MOVE destination), if there is one."""

    @abstractmethod
    def all(self) -> list[DicomNode]:
        """Every node, by name."""

    @abstractmethod
    def remove(self, name: str) -> bool:
        """Forget a node; False when there was none of that name."""
