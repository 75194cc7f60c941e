"""The DICOM index of medical image study things, in PostgreSQL.

The same tables as the SQLite store's (``dicom_versions``, which version of
each study thing is indexed; ``dicom_instances``, one row per image of that
version) and the same answers: every query joins ``things`` so that it sees
only current versions of active things, text is compared and ordered byte
by byte (``COLLATE "C"``, as SQLite does), and a group's representative
instance is the first one indexed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields

from ..rows import ACTIVE, INSTANCE, SERIES, STUDY, DicomHit, DicomInstance, DicomMatch, DicomQuery
from ..tables import DicomIndexTable
from .db import Db

#: The columns of an instance row, as :class:`DicomInstance` names them.
_COLUMNS = tuple(f.name for f in fields(DicomInstance))
#: Columns a query may match on.
MATCHABLE = frozenset(_COLUMNS) - {"study_json", "series_json", "instance_json", "blob_id", "preview_blob_id", "size"}
_CURRENT = "JOIN things t ON t.thing_id = i.thing_id AND t.version_stamp = i.version_stamp AND t.state = %s"
#: Grouping columns and order of each query level (``g``: the groups).
_LEVELS = {
    STUDY: (("study_uid",), 'g.study_date DESC, g.study_uid COLLATE "C"'),
    SERIES: (
        ("study_uid", "series_uid"),
        'g.study_date DESC, g.study_uid COLLATE "C", g.series_number NULLS FIRST, g.series_uid COLLATE "C"',
    ),
    INSTANCE: (
        ("study_uid", "series_uid", "sop_uid"),
        'g.study_date DESC, g.study_uid COLLATE "C", g.series_number NULLS FIRST, g.series_uid COLLATE "C", '
        'g.instance_number NULLS FIRST, g.sop_uid COLLATE "C"',
    ),
}


def _marks(count: int) -> str:
    return ",".join(["%s"] * count)


def _like(pattern: str) -> str:
    """A DICOM wildcard value (``*``, ``?``) as a LIKE pattern (escape character ``\\``)."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _column(name: str) -> str:
    if name not in MATCHABLE:
        raise ValueError(f"{name} is not an indexed column")
    return f"i.{name}"


def _condition(match: DicomMatch) -> tuple[str, list[object]]:
    column = _column(match.column)
    values = list(match.values)
    if match.kind == "uids":
        return f"{column} IN ({_marks(len(values))})", list[object](values)
    if match.kind == "value":
        return f"{column} = %s", list[object](values[:1])
    if match.kind == "wildcard":
        return f"{column} LIKE %s ESCAPE '\\'", [_like(values[0])]
    if match.kind == "name":  # case-insensitive for ASCII letters, as SQLite's LIKE
        return f"lower({column}) LIKE lower(%s) ESCAPE '\\'", [_like(values[0])]
    if match.kind == "range":
        first, last = values
        parts: list[str] = []
        args: list[object] = []
        if first:
            parts.append(f'{column} COLLATE "C" >= %s')
            args.append(first)
        if last:
            parts.append(f'{column} COLLATE "C" <= %s')
            args.append(last)
        parts.append(f"{column} <> ''")
        return " AND ".join(parts), args
    raise ValueError(f"unknown kind of match {match.kind!r}")


class PostgresDicomIndex(DicomIndexTable):
    def __init__(self, db: Db) -> None:
        self.db = db

    def stale(self, record_id: str, type_ids: Sequence[str]) -> list[tuple[str, str]]:
        rows = self.db.execute(
            "SELECT t.thing_id, t.version_stamp FROM things t "
            "LEFT JOIN dicom_versions d ON d.thing_id = t.thing_id AND d.version_stamp = t.version_stamp "
            f"WHERE t.record_id = %s AND t.type_id IN ({_marks(len(type_ids))}) AND t.state = %s "
            "AND d.thing_id IS NULL",
            (record_id, *type_ids, ACTIVE),
        ).fetchall()
        return [(str(r["thing_id"]), str(r["version_stamp"])) for r in rows]

    def gone(self, record_id: str) -> list[str]:
        rows = self.db.execute(
            "SELECT d.thing_id FROM dicom_versions d LEFT JOIN things t "
            "ON t.thing_id = d.thing_id AND t.version_stamp = d.version_stamp AND t.state = %s "
            "WHERE d.record_id = %s AND t.thing_id IS NULL",
            (ACTIVE, record_id),
        ).fetchall()
        return [str(r["thing_id"]) for r in rows]

    def replace(self, record_id: str, thing_id: str, version_stamp: str, rows: Sequence[DicomInstance]) -> None:
        # The version row first: a process indexing the same thing at once waits here until this one ends.
        self.db.execute(
            "INSERT INTO dicom_versions(thing_id, record_id, version_stamp) VALUES (%s, %s, %s) "
            "ON CONFLICT (thing_id) DO UPDATE SET record_id = EXCLUDED.record_id, "
            "version_stamp = EXCLUDED.version_stamp",
            (thing_id, record_id, version_stamp),
        )
        self.db.execute("DELETE FROM dicom_instances WHERE thing_id = %s", (thing_id,))
        names = [c for c in _COLUMNS if c != "thing_id"]
        if rows:
            with self.db.conn.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO dicom_instances(thing_id, record_id, version_stamp, {', '.join(names)}) "
                    f"VALUES (%s, %s, %s, {_marks(len(names))})".encode(),
                    [(thing_id, record_id, version_stamp, *(getattr(r, n) for n in names)) for r in rows],
                )

    def forget(self, thing_ids: Iterable[str]) -> None:
        ids = sorted(set(thing_ids))  # one order for every writer: no deadlock between two
        if not ids:
            return
        self.db.execute("DELETE FROM dicom_versions WHERE thing_id = ANY(%s)", (ids,))
        self.db.execute("DELETE FROM dicom_instances WHERE thing_id = ANY(%s)", (ids,))

    def search(self, record_id: str, query: DicomQuery) -> list[DicomHit]:
        if query.level not in _LEVELS:
            raise ValueError(f"unknown query level {query.level!r}")
        keys, order = _LEVELS[query.level]
        where = ["i.record_id = %s"]
        args: list[object] = [ACTIVE, record_id]
        having: list[str] = []
        having_args: list[object] = []
        for match in query.matches:
            if match.kind == "any":
                having.append(f"bool_or({_column(match.column)} IN ({_marks(len(match.values))}))")
                having_args.extend(match.values)
                continue
            clause, clause_args = _condition(match)
            where.append(clause)
            args.extend(clause_args)
        group = ", ".join(f"i.{k}" for k in keys)
        sql = (
            f'WITH g AS (SELECT {group}, MIN(i.position) AS first, MAX(i.study_date COLLATE "C") AS study_date, '
            "MIN(i.series_number) AS series_number, MIN(i.instance_number) AS instance_number, "
            "COUNT(DISTINCT i.series_uid) AS n_series, COUNT(DISTINCT i.sop_uid) AS n_instances, "
            "string_agg(DISTINCT i.modality, ',') AS modalities "
            f"FROM dicom_instances i {_CURRENT} WHERE {' AND '.join(where)} GROUP BY {group}"
            + (f" HAVING {' AND '.join(having)}" if having else "")
            + f") SELECT {', '.join(f'i.{c}' for c in _COLUMNS)}, g.n_series, g.n_instances, g.modalities "
            f"FROM g JOIN dicom_instances i ON i.position = g.first ORDER BY {order} LIMIT %s OFFSET %s"
        )
        args.extend(having_args)
        args.extend([query.limit, query.offset])
        hits = []
        for row in self.db.execute(sql, args).fetchall():
            instance = DicomInstance(**{c: row[c] for c in _COLUMNS})
            modalities = tuple(sorted(m for m in (row["modalities"] or "").split(",") if m))
            hits.append(DicomHit(instance, int(row["n_series"]), int(row["n_instances"]), modalities))
        return hits
