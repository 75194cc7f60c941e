"""The viewer's study list over the DICOM index: a record's study things,
chosen by patient, date range, modality, accession number and description,
sorted by any column, one page at a time.

One statement groups the index rows of the current versions of the
record's active study things by thing (a thing with no indexed image
stands alone, found only when nothing is asked), and numbers the groups
it found (``COUNT(*) OVER ()``) while it returns one page of them.
Sorted by date, studies without a study date come last whichever the order.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..rows import ACTIVE, STUDY_SORTS, StudyListQuery, StudyListRow
from .dialect import Db, marks

#: PatientBirthDate's tag in the study attributes' DICOM JSON.
BIRTH_DATE = "00100030"
#: The study date of a page's row: its files' StudyDate ("" when they have
#: none); the thing's own date when no image of it could be indexed.
STUDY_DATE = "CASE WHEN r.thing_id IS NULL THEN replace(substr(g.eff_date, 1, 10), '-', '') ELSE r.study_date END"


def _folded(column: str) -> str:
    return f"lower(replace({column}, '^', ' '))"


def _sort_key(sort: str, db: Db) -> list[str]:
    """What ``ORDER BY`` sorts a sort column by (on the page's rows ``r`` and groups ``g``)."""
    bytewise = db.dialect.bytewise
    birth = db.dialect.json_value.format(column="r.study_json", tag=BIRTH_DATE)
    return {
        "patient": [f"COALESCE({_folded('r.patient_name')}, ''){bytewise}"],
        "patient_id": [f"COALESCE(r.patient_id, ''){bytewise}"],
        "birth_date": [f"COALESCE({birth}, ''){bytewise}"],
        "date": [f"{STUDY_DATE}{bytewise}", f"COALESCE(r.study_time, ''){bytewise}"],
        "description": [f"COALESCE(lower(r.study_description), ''){bytewise}"],
        "modalities": [f"COALESCE(g.modalities, ''){bytewise}"],
        "accession": [f"COALESCE(r.accession_number, ''){bytewise}"],
        "series": ["g.n_series"],
        "images": ["g.n_images"],
        "size": ["g.size"],
    }[sort]


def study_page(
    db: Db, record_id: str, query: StudyListQuery, type_ids: Sequence[str]
) -> tuple[int, list[StudyListRow]]:
    if query.sort not in STUDY_SORTS:
        raise ValueError(f"cannot sort by {query.sort!r}")
    dialect = db.dialect
    position = dialect.position
    where = ["t.record_id = ?", f"t.type_id IN ({marks(len(type_ids))})", "t.state = ?"]
    args: list[object] = [record_id, *type_ids, ACTIVE]
    for column, pattern in (
        ("patient_name", query.patient),
        ("accession_number", query.accession),
        ("study_description", query.description),
    ):
        if pattern:
            if column == "patient_name":
                where.append(
                    f"({_folded('i.patient_name')} LIKE ? ESCAPE '\\' OR {_folded('i.patient_id')} LIKE ? ESCAPE '\\')"
                )
                args += [pattern, pattern]
            else:
                where.append(f"{_folded('i.' + column)} LIKE ? ESCAPE '\\'")
                args.append(pattern)
    for bound, op in ((query.date_from, ">="), (query.date_to, "<=")):
        if bound:
            where.append(f"i.study_date{dialect.bytewise} {op} ? AND i.study_date <> ''")
            args.append(bound)
    having = ""
    if query.modality:
        having = "HAVING MAX(CASE WHEN upper(i.modality) = ? THEN 1 END) = 1"
        args.append(query.modality.upper())
    direction = "DESC" if query.descending else "ASC"
    order = ", ".join(f"{key} {direction}" for key in _sort_key(query.sort, db))
    if query.sort == "date":  # undated studies last, whichever the order
        order = f"CASE WHEN {STUDY_DATE} = '' THEN 1 ELSE 0 END, {order}"
    sql = (
        "WITH g AS (SELECT t.thing_id, t.version_stamp, t.eff_date, "
        f"MIN(i.{position}) AS first_row, COUNT(DISTINCT i.series_uid) AS n_series, "
        f"COUNT(i.{position}) AS n_images, COALESCE(SUM(i.size), 0) AS size, "
        f"{dialect.distinct_list.format('i.modality')} AS modalities "
        "FROM things t LEFT JOIN dicom_instances i "
        "ON i.thing_id = t.thing_id AND i.version_stamp = t.version_stamp "
        f"WHERE {' AND '.join(where)} GROUP BY t.thing_id, t.version_stamp, t.eff_date {having}) "
        "SELECT g.thing_id, g.version_stamp, r.patient_name, r.patient_id, "
        f"{dialect.json_value.format(column='r.study_json', tag=BIRTH_DATE)}, {STUDY_DATE}, r.study_time, "
        "r.accession_number, r.study_description, g.n_series, g.n_images, g.size, g.modalities, "
        "COUNT(*) OVER () "
        f"FROM g LEFT JOIN dicom_instances r ON r.{position} = g.first_row "
        f"ORDER BY {order}, g.thing_id "
        "LIMIT ? OFFSET ?"
    )
    args += [query.limit, query.offset]
    rows = db.all(sql, args)
    total = int(rows[0][-1]) if rows else 0
    found = [
        StudyListRow(
            thing_id=str(r[0]),
            version_stamp=str(r[1]),
            patient_name=str(r[2] or ""),
            patient_id=str(r[3] or ""),
            birth_date=str(r[4] or ""),
            study_date=str(r[5] or ""),
            study_time=str(r[6] or ""),
            accession_number=str(r[7] or ""),
            study_description=str(r[8] or ""),
            series=int(r[9]),
            images=int(r[10]),
            size=int(r[11]),
            modalities=tuple(sorted(m for m in str(r[12] or "").split(",") if m)),
        )
        for r in rows
    ]
    if not rows and query.offset:  # past the last page: how many there are
        total = study_page(db, record_id, StudyListQuery(**{**query.__dict__, "offset": 0, "limit": 1}), type_ids)[0]
    return total, found
