"""The viewer's study list as the DICOM index answers it (the interface;
``sql/studylist.py`` writes it in SQL)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from .rows import StudyListQuery, StudyListRow


class StudyListTable(ABC):
    """The DICOM index's studies, one row per indexed study thing version."""

    @abstractmethod
    def study_list(self, record_id: str, query: StudyListQuery) -> tuple[int, list[StudyListRow]]:
        """How many indexed study things of the record the query finds, and
        one page of them in the asked order."""

    @abstractmethod
    def changes(self, record_id: str, type_ids: Sequence[str]) -> tuple[int, float, float]:
        """A cheap fingerprint of the record's things of those types (in any
        state): how many there are, and the sum and latest of their times of
        change. Every version written or deletion changes it, so that when it
        is what it was at an index refresh, the index is still current."""
