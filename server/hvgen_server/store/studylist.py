"""The viewer's study list as the DICOM index answers it (the interface;
``sql/studylist.py`` writes it in SQL)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from .rows import StudyListQuery, StudyListRow


class StudyListTable(ABC):
    """The DICOM index's studies, one row per indexed study thing version."""

    @abstractmethod
    def study_list(self, record_id: str, query: StudyListQuery) -> tuple[int, list[StudyListRow]]:
        """How many indexed study things of the record the query finds, and
        one page of them in the asked order."""
