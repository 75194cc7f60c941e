"""Choosing studies as people ask for them, the same way in ``hvgen study
list`` and the viewer's study list.

Text patterns use DICOM's wildcards (PS3.4 C.2.2.2.4): ``*`` any run of
characters, ``?`` one character. A pattern with a wildcard must match the
whole value; a pattern without one matches anywhere in it (``doe`` finds
``DOE^JANE``). Matching ignores case and the ``^`` between name parts is
matched by a space too (``jane doe`` does not match ``DOE^JANE``, but
``doe jane`` does). Dates are ``YYYY-MM-DD`` or DICOM's ``YYYYMMDD``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from .errors import ImagingError

__all__ = ["BadQuery", "StudyQuery", "parse_day", "pattern_matches", "sql_like"]


class BadQuery(ImagingError, ValueError):
    """A query value that cannot be read (a malformed date, a reversed range)."""


def _fold(text: str) -> str:
    return text.replace("^", " ").casefold()


def has_wildcards(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def pattern_matches(pattern: str, value: str | None) -> bool:
    """Whether ``value`` matches ``pattern`` (an empty pattern matches everything)."""
    pattern = pattern.strip()
    if not pattern:
        return True
    text = _fold(value or "")
    wanted = _fold(pattern)
    if not has_wildcards(wanted):
        return wanted in text
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in wanted)
    return re.fullmatch(regex, text, re.DOTALL) is not None


def sql_like(pattern: str) -> str:
    """The pattern as an SQL ``LIKE`` pattern with ``\\`` as escape character,
    for values folded as :func:`fold_for_sql` folds them."""
    wanted = _fold(pattern.strip())
    escaped = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    like = escaped.replace("*", "%").replace("?", "_")
    return like if has_wildcards(wanted) else f"%{like}%"


def fold_for_sql(value: str) -> str:
    """How a value is stored to be searched with :func:`sql_like` patterns."""
    return _fold(value)


def parse_day(text: str | None, what: str) -> dt.date | None:
    """``YYYY-MM-DD`` or ``YYYYMMDD`` as a date; None for an empty value."""
    text = (text or "").strip()
    if not text:
        return None
    for form in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, form).date()
        except ValueError:
            continue
    raise BadQuery(f"{what}: {text!r} is not a date (YYYY-MM-DD)")


@dataclass(frozen=True)
class StudyQuery:
    """What a person asks of a list of studies (every given condition applies)."""

    #: Pattern for the patient's name or ID.
    patient: str = ""
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    #: A modality code one of the study's series has (CT, MR...), any case.
    modality: str = ""
    accession: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise BadQuery(f"the date range is reversed: from {self.date_from} to {self.date_to}")

    @property
    def empty(self) -> bool:
        return self == StudyQuery()

    def matches(
        self,
        *,
        patient_name: str | None,
        patient_id: str | None,
        day: dt.date | None,
        modalities: tuple[str, ...] | list[str],
        accession: str | None,
        description: str | None,
    ) -> bool:
        """Whether a study with these values is one asked for (a study without
        a date is never in a date range)."""
        if self.patient and not (
            pattern_matches(self.patient, patient_name) or pattern_matches(self.patient, patient_id)
        ):
            return False
        if (self.date_from or self.date_to) and day is None:
            return False
        if self.date_from and day is not None and day < self.date_from:
            return False
        if self.date_to and day is not None and day > self.date_to:
            return False
        if self.modality and self.modality.strip().upper() not in {m.strip().upper() for m in modalities}:
            return False
        return pattern_matches(self.accession, accession) and pattern_matches(self.description, description)
