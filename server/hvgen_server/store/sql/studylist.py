"""The viewer's study list over the DICOM index: a record's study things,
chosen by patient, date range, modality, accession number and description,
sorted by any column, one page at a time.

When a version is indexed, a row of ``dicom_studies`` sums it up
(:func:`study_row`: the first image's study attributes, the counts, the
modalities; a version without an indexed image is dated by its thing), so
that a page reads one table, one row per study, and counts what it found
with one statement and returns one page with another. The index is brought up to
date before a page is read (:func:`..dicomweb.index.refresh`), and the
viewer checks the version of each study it shows. Sorted by date, studies
without a study date come last whichever the order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..rows import STUDY_SORTS, DicomInstance, StudyListQuery, StudyListRow
from .dialect import Db, marks

#: PatientBirthDate's tag in the study attributes' DICOM JSON.
BIRTH_DATE = "00100030"
_STUDY_COLUMNS = (
    "thing_id, record_id, version_stamp, patient_name, patient_id, birth_date, study_date, study_time, "
    "accession_number, study_description, modalities, series, images, size"
)
ADD_STUDY = f"INSERT INTO dicom_studies({_STUDY_COLUMNS}, study_uid) VALUES ({marks(15)})"


def _birth_date(study_json: str) -> str:
    try:
        value = json.loads(study_json).get(BIRTH_DATE, {}).get("Value", [""])[0]
    except (ValueError, AttributeError, IndexError, TypeError):
        return ""
    return value if isinstance(value, str) else ""


def study_row(
    record_id: str,
    thing_id: str,
    version_stamp: str,
    rows: Sequence[DicomInstance],
    thing_date: str,
    study_uid: str | None,
) -> tuple[object, ...]:
    """The ``dicom_studies`` row of a version whose images are ``rows``
    (none: dated ``thing_date``, the thing's effective date) and whose
    data-xml names ``study_uid`` (None: not known)."""
    if not rows:
        day = thing_date[:10].replace("-", "")
        return (thing_id, record_id, version_stamp, "", "", "", day, "", "", "", "", 0, 0, 0, study_uid)
    first = rows[0]
    return (
        thing_id,
        record_id,
        version_stamp,
        first.patient_name,
        first.patient_id,
        _birth_date(first.study_json),
        first.study_date,
        first.study_time,
        first.accession_number,
        first.study_description,
        ",".join(sorted({r.modality.upper() for r in rows if r.modality})),
        len({r.series_uid for r in rows}),
        len({r.sop_uid for r in rows}),
        sum(r.size for r in rows),
        study_uid,
    )


def _folded(column: str) -> str:
    return f"lower(replace({column}, '^', ' '))"


def _sort_key(sort: str, db: Db) -> list[str]:
    """What ``ORDER BY`` sorts a sort column by."""
    b = db.dialect.bytewise
    return {
        "patient": [f"{_folded('s.patient_name')}{b}"],
        "patient_id": [f"s.patient_id{b}"],
        "birth_date": [f"s.birth_date{b}"],
        "date": [f"s.study_date{b}", f"s.study_time{b}"],
        "description": [f"lower(s.study_description){b}"],
        "modalities": [f"s.modalities{b}"],
        "accession": [f"s.accession_number{b}"],
        "series": ["s.series"],
        "images": ["s.images"],
        "size": ["s.size"],
    }[sort]


def study_page(db: Db, record_id: str, query: StudyListQuery) -> tuple[int, list[StudyListRow]]:
    if query.sort not in STUDY_SORTS:
        raise ValueError(f"cannot sort by {query.sort!r}")
    b = db.dialect.bytewise
    where = ["s.record_id = ?"]
    args: list[object] = [record_id]
    if query.patient:
        where.append(
            f"({_folded('s.patient_name')} LIKE ? ESCAPE '\\' OR {_folded('s.patient_id')} LIKE ? ESCAPE '\\')"
        )
        args += [query.patient, query.patient]
    for column, pattern in (("accession_number", query.accession), ("study_description", query.description)):
        if pattern:
            where.append(f"{_folded('s.' + column)} LIKE ? ESCAPE '\\'")
            args.append(pattern)
    for bound, op in ((query.date_from, ">="), (query.date_to, "<=")):
        if bound:
            where.append(f"s.study_date{b} {op} ? AND s.study_date <> ''")
            args.append(bound)
    if query.modality:
        where.append("(',' || s.modalities || ',') LIKE ? ESCAPE '\\'")
        args.append("%," + query.modality.upper().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ",%")
    if query.hidden_flags:
        where.append("NOT EXISTS (SELECT 1 FROM things t WHERE t.thing_id = s.thing_id AND (t.flags & ?) <> 0)")
        args.append(int(query.hidden_flags))
    direction = "DESC" if query.descending else "ASC"
    order = ", ".join(f"{key} {direction}" for key in _sort_key(query.sort, db))
    if query.sort == "date" and not query.descending:  # undated studies last ("" sorts last when descending)
        order = f"CASE WHEN s.study_date = '' THEN 1 ELSE 0 END, {order}"
    condition = " AND ".join(where)
    counted = db.one(f"SELECT COUNT(*) FROM dicom_studies s WHERE {condition}", args)
    total = int(counted[0]) if counted else 0
    rows = db.all(
        f"SELECT {_STUDY_COLUMNS} FROM dicom_studies s WHERE {condition} "
        f"ORDER BY {order}, s.thing_id {direction} LIMIT ? OFFSET ?",
        [*args, query.limit, query.offset],
    )
    found = [
        StudyListRow(
            thing_id=str(r[0]),
            version_stamp=str(r[2]),
            patient_name=str(r[3]),
            patient_id=str(r[4]),
            birth_date=str(r[5]),
            study_date=str(r[6]),
            study_time=str(r[7]),
            accession_number=str(r[8]),
            study_description=str(r[9]),
            modalities=tuple(m for m in str(r[10]).split(",") if m),
            series=int(r[11]),
            images=int(r[12]),
            size=int(r[13]),
        )
        for r in rows
    ]
    return total, found


def changes(db: Db, record_id: str, type_ids: Sequence[str]) -> tuple[int, float, float]:
    """The record's things of ``type_ids``: their number, and the sum and latest of their
    ``updated`` times (one statement over the index of things by record and type)."""
    row = db.one(
        "SELECT COUNT(*), COALESCE(SUM(updated), 0), COALESCE(MAX(updated), 0) FROM things "
        f"WHERE record_id = ? AND type_id IN ({marks(len(type_ids))})",
        (record_id, *type_ids),
    )
    return (int(row[0]), float(row[1]), float(row[2])) if row else (0, 0.0, 0.0)
