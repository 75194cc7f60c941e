"""The DICOM index of medical image study things, in SQLite.

``dicom_versions`` says which version of each study thing is indexed;
``dicom_instances`` holds one row per image of that version. Every query
joins ``things`` so that it sees only current versions of active things.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import fields

from ..rows import ACTIVE, INSTANCE, SERIES, STUDY, DicomHit, DicomInstance, DicomMatch, DicomQuery
from ..tables import DicomIndexTable

#: The columns of an instance row, as :class:`DicomInstance` names them.
_COLUMNS = tuple(f.name for f in fields(DicomInstance))
#: Columns a query may match on.
MATCHABLE = frozenset(_COLUMNS) - {"study_json", "series_json", "instance_json", "blob_id", "preview_blob_id", "size"}
_CURRENT = "JOIN things t ON t.thing_id = i.thing_id AND t.version_stamp = i.version_stamp AND t.state = ?"


def _marks(count: int) -> str:
    return ",".join("?" * count)


def _glob(pattern: str) -> str:
    """A DICOM wildcard value (``*``, ``?``) as a GLOB pattern matching it literally otherwise."""
    return pattern.replace("[", "[[]")


def _like(pattern: str) -> str:
    """A DICOM wildcard value as a LIKE pattern (escape character ``\\``)."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _condition(match: DicomMatch) -> tuple[str, list[object]]:
    if match.column not in MATCHABLE:
        raise ValueError(f"{match.column} is not an indexed column")
    column = f"i.{match.column}"
    values = list(match.values)
    if match.kind == "uids":
        return f"{column} IN ({_marks(len(values))})", list[object](values)
    if match.kind == "value":
        return f"{column} = ?", list[object](values[:1])
    if match.kind == "wildcard":
        return f"{column} GLOB ?", [_glob(values[0])]
    if match.kind == "name":
        return f"{column} LIKE ? ESCAPE '\\'", [_like(values[0])]
    if match.kind == "range":
        first, last = values
        parts: list[str] = []
        args: list[object] = []
        if first:
            parts.append(f"{column} >= ?")
            args.append(first)
        if last:
            parts.append(f"{column} <= ?")
            args.append(last)
        parts.append(f"{column} != ''")
        return " AND ".join(parts), args
    raise ValueError(f"unknown kind of match {match.kind!r}")


class SqliteDicomIndex(DicomIndexTable):
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def stale(self, record_id: str, type_ids: Sequence[str]) -> list[tuple[str, str]]:
        rows = self.db.execute(
            "SELECT t.thing_id, t.version_stamp FROM things t "
            "LEFT JOIN dicom_versions d ON d.thing_id = t.thing_id AND d.version_stamp = t.version_stamp "
            f"WHERE t.record_id = ? AND t.type_id IN ({_marks(len(type_ids))}) AND t.state = ? "
            "AND d.thing_id IS NULL",
            (record_id, *type_ids, ACTIVE),
        ).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    def gone(self, record_id: str) -> list[str]:
        rows = self.db.execute(
            "SELECT d.thing_id FROM dicom_versions d LEFT JOIN things t "
            "ON t.thing_id = d.thing_id AND t.version_stamp = d.version_stamp AND t.state = ? "
            "WHERE d.record_id = ? AND t.thing_id IS NULL",
            (ACTIVE, record_id),
        ).fetchall()
        return [str(r[0]) for r in rows]

    def replace(self, record_id: str, thing_id: str, version_stamp: str, rows: Sequence[DicomInstance]) -> None:
        self.forget([thing_id])
        self.db.execute(
            "INSERT INTO dicom_versions(thing_id, record_id, version_stamp) VALUES (?, ?, ?)",
            (thing_id, record_id, version_stamp),
        )
        names = [c for c in _COLUMNS if c != "thing_id"]
        self.db.executemany(
            f"INSERT INTO dicom_instances(thing_id, record_id, version_stamp, {', '.join(names)}) "
            f"VALUES (?, ?, ?, {_marks(len(names))})",
            [(thing_id, record_id, version_stamp, *(getattr(r, n) for n in names)) for r in rows],
        )

    def forget(self, thing_ids: Iterable[str]) -> None:
        for thing_id in thing_ids:
            self.db.execute("DELETE FROM dicom_instances WHERE thing_id = ?", (thing_id,))
            self.db.execute("DELETE FROM dicom_versions WHERE thing_id = ?", (thing_id,))

    def search(self, record_id: str, query: DicomQuery) -> list[DicomHit]:
        where = ["i.record_id = ?"]
        args: list[object] = [ACTIVE, record_id]
        having: list[str] = []
        having_args: list[object] = []
        for match in query.matches:
            if match.kind == "any":
                if match.column not in MATCHABLE:
                    raise ValueError(f"{match.column} is not an indexed column")
                having.append(f"SUM(i.{match.column} IN ({_marks(len(match.values))})) > 0")
                having_args.extend(match.values)
                continue
            clause, clause_args = _condition(match)
            where.append(clause)
            args.extend(clause_args)
        columns = ", ".join(f"i.{c}" for c in _COLUMNS)
        if query.level == STUDY:
            group, order = "GROUP BY i.study_uid", "ORDER BY MAX(i.study_date) DESC, i.study_uid"
        elif query.level == SERIES:
            group = "GROUP BY i.study_uid, i.series_uid"
            order = "ORDER BY MAX(i.study_date) DESC, i.study_uid, MIN(i.series_number), i.series_uid"
        elif query.level == INSTANCE:
            group = "GROUP BY i.study_uid, i.series_uid, i.sop_uid"
            order = (
                "ORDER BY MAX(i.study_date) DESC, i.study_uid, MIN(i.series_number), i.series_uid, "
                "MIN(i.instance_number), i.sop_uid"
            )
        else:
            raise ValueError(f"unknown query level {query.level!r}")
        sql = (
            f"SELECT {columns}, COUNT(DISTINCT i.series_uid) AS n_series, COUNT(DISTINCT i.sop_uid) AS n_instances, "
            f"GROUP_CONCAT(DISTINCT i.modality) AS modalities FROM dicom_instances i {_CURRENT} "
            f"WHERE {' AND '.join(where)} {group} "
            + (f"HAVING {' AND '.join(having)} " if having else "")
            + order
            + " LIMIT ? OFFSET ?"
        )
        args.extend(having_args)
        args.extend([query.limit if query.limit is not None else -1, query.offset])
        hits = []
        for row in self.db.execute(sql, args):
            instance = DicomInstance(**{c: row[c] for c in _COLUMNS})
            modalities = tuple(sorted(m for m in (row["modalities"] or "").split(",") if m))
            hits.append(DicomHit(instance, int(row["n_series"]), int(row["n_instances"]), modalities))
        return hits
