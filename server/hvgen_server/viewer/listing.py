"""One page of a record's study list: the DICOM index chooses and orders
the study things (:mod:`..store.sql.studylist`), the studies themselves
(for their signatures and links) are read as every page reads them,
through the viewer's cache."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from ..store.rows import StudyListRow
from .search import PAGE_SIZE, Search
from .studies import Studies, Study, Unreadable


def dicom_day(text: str) -> dt.date | None:
    """A DICOM DA value as a date (None when empty or malformed)."""
    text = text.strip()
    try:
        return dt.datetime.strptime(text[:8], "%Y%m%d").date() if len(text) >= 8 else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Listed:
    """A row of the list: what the index says of a study, and the study."""

    row: StudyListRow
    study: Study | Unreadable

    @property
    def date(self) -> dt.date | dt.datetime | None:
        """The study date (and time, when they say it) its files give (None: undated)."""
        day = dicom_day(self.row.study_date)
        time = self.row.study_time.strip()
        if day is None or len(time) < 4 or not time[:6].isdigit() and not time[:4].isdigit():
            return day
        try:
            return dt.datetime(day.year, day.month, day.day, int(time[:2]), int(time[2:4]))
        except ValueError:
            return day

    @property
    def birth_date(self) -> dt.date | None:
        return dicom_day(self.row.birth_date)


@dataclass(frozen=True)
class Listing:
    rows: list[Listed]
    number: int
    pages: int
    total: int

    @property
    def first(self) -> int:
        return (self.number - 1) * PAGE_SIZE + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.rows else 0


def listing(studies: Studies, record_id: str, search: Search, hidden_flags: int = 0) -> Listing:
    """The page of the record's studies ``search`` asks for (past the last page: the last),
    those with any of ``hidden_flags`` left out."""
    with studies.store.read() as tx:
        total, rows = tx.dicom.study_list(record_id, replace(search.store_query(), hidden_flags=hidden_flags))
    pages = max(1, -(-total // PAGE_SIZE))
    if search.page > pages:
        search = replace(search, page=pages)
        with studies.store.read() as tx:
            total, rows = tx.dicom.study_list(record_id, replace(search.store_query(), hidden_flags=hidden_flags))
    listed = []
    for row in rows:
        study = studies.cache.get(row.version_stamp)
        if study is None:
            study = studies.study(record_id, row.thing_id, hidden_flags)
        if study is None or study.version_stamp != row.version_stamp or study.flags & hidden_flags:
            continue  # changed or deleted since the list was read: the next page view shows it as it is
        listed.append(Listed(row, study))
    return Listing(listed, search.page, pages, total)


def _row(study: Study | Unreadable) -> StudyListRow:
    """What the list shows of a study read from its thing alone."""
    if isinstance(study, Unreadable):
        return StudyListRow(study.thing_id, study.version_stamp, "", "", "", "", "", "", "", 0, 0, 0, ())
    when = study.when
    return StudyListRow(
        thing_id=study.thing_id,
        version_stamp=study.version_stamp,
        patient_name=study.patient or "",
        patient_id="",
        birth_date="",
        study_date=when.strftime("%Y%m%d"),
        study_time=when.strftime("%H%M%S") if isinstance(when, dt.datetime) else "",
        accession_number=study.accession_number or "",
        study_description=study.description or "",
        series=len(study.series),
        images=study.images,
        size=study.size,
        modalities=study.modalities,
    )


def unsearched(studies: Studies, record_id: str, search: Search, hidden_flags: int = 0) -> Listing:
    """The page without the DICOM index (a server without the imaging extra
    cannot read DICOM headers): the studies newest first by their things' dates
    (those with any of ``hidden_flags`` left out)."""
    page = studies.page(record_id, search.page, hidden_flags)
    return Listing([Listed(_row(s), s) for s in page.rows], page.number, page.pages, page.total)


__all__ = ["Listed", "Listing", "dicom_day", "listing", "unsearched"]
