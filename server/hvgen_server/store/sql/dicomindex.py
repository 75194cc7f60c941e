"""The DICOM index of medical image study things.

``dicom_versions`` says which version of each study thing is indexed;
``dicom_instances`` holds one row per image of that version. Every query
joins ``things`` so that it sees only current versions of active things;
text is compared and ordered byte by byte, and a group's representative
instance is the first one indexed, in every backend.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import fields

from ..dicomtables import DicomIndexTable
from ..rows import (
    ACTIVE,
    INSTANCE,
    SERIES,
    STUDY,
    DicomHit,
    DicomInstance,
    DicomMatch,
    DicomQuery,
    StudyListQuery,
    StudyListRow,
)
from .dialect import Dialect, SqlTable, delete_keys, marks
from .studylist import ADD_STUDY, changes, study_page, study_row

#: The columns of an instance row, as :class:`DicomInstance` names them.
_COLUMNS = tuple(f.name for f in fields(DicomInstance))
#: Columns a query may match on.
MATCHABLE = frozenset(_COLUMNS) - {
    "study_json",
    "series_json",
    "instance_json",
    "metadata_json",
    "blob_id",
    "preview_blob_id",
    "size",
}
_CURRENT = "JOIN things t ON t.thing_id = i.thing_id AND t.version_stamp = i.version_stamp AND t.state = ?"
_STORED = [c for c in _COLUMNS if c != "thing_id"]
_ADD = (
    f"INSERT INTO dicom_instances(thing_id, record_id, version_stamp, {', '.join(_STORED)}) "
    f"VALUES (?, ?, ?, {marks(len(_STORED))})"
)
#: Grouping columns of each query level (``g``: the groups; their order
#: puts a missing series or instance number first).
_LEVELS = {
    STUDY: ("study_uid",),
    SERIES: ("study_uid", "series_uid"),
    INSTANCE: ("study_uid", "series_uid", "sop_uid"),
}
_NUMBERS = {"series_uid": "series_number", "sop_uid": "instance_number"}


def _selected(metadata: bool) -> str:
    """The instance columns a search reads (the stored metadata only when asked: it is large)."""
    return ", ".join("NULL" if c == "metadata_json" and not metadata else f"i.{c}" for c in _COLUMNS)


def _order(keys: Sequence[str], bytewise: str) -> str:
    order = ["g.study_date DESC"]
    for key in keys:
        if key in _NUMBERS:
            number = f"g.{_NUMBERS[key]}"
            order += [f"{number} IS NOT NULL", number]
        order.append(f"g.{key}{bytewise}")
    return ", ".join(order)


def _glob(pattern: str) -> str:
    """A DICOM wildcard value (``*``, ``?``) as a GLOB pattern matching it literally otherwise."""
    return pattern.replace("[", "[[]")


def _like(pattern: str) -> str:
    """A DICOM wildcard value (``*``, ``?``) as a LIKE pattern (escape character ``\\``)."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _column(name: str) -> str:
    if name not in MATCHABLE:
        raise ValueError(f"{name} is not an indexed column")
    return f"i.{name}"


def _condition(match: DicomMatch, dialect: Dialect) -> tuple[str, list[object]]:
    column = _column(match.column)
    values = list(match.values)
    if match.kind == "uids":
        return f"{column} IN ({marks(len(values))})", list[object](values)
    if match.kind == "value":
        return f"{column} = ?", list[object](values[:1])
    if match.kind == "wildcard":  # letters' cases told apart
        if dialect.like_has_case:
            return f"{column} LIKE ? ESCAPE '\\'", [_like(values[0])]
        return f"{column} GLOB ?", [_glob(values[0])]
    if match.kind == "name":  # case-insensitive for ASCII letters
        return f"lower({column}) LIKE lower(?) ESCAPE '\\'", [_like(values[0])]
    if match.kind == "range":
        first, last = values
        parts: list[str] = []
        args: list[object] = []
        if first:
            parts.append(f"{column}{dialect.bytewise} >= ?")
            args.append(first)
        if last:
            parts.append(f"{column}{dialect.bytewise} <= ?")
            args.append(last)
        parts.append(f"{column} <> ''")
        return " AND ".join(parts), args
    raise ValueError(f"unknown kind of match {match.kind!r}")


class DicomIndex(SqlTable, DicomIndexTable):
    def stale(self, record_id: str, type_ids: Sequence[str]) -> list[tuple[str, str]]:
        rows = self.db.all(
            "SELECT t.thing_id, t.version_stamp FROM things t "
            "LEFT JOIN dicom_versions d ON d.thing_id = t.thing_id AND d.version_stamp = t.version_stamp "
            f"WHERE t.record_id = ? AND t.type_id IN ({marks(len(type_ids))}) AND t.state = ? "
            "AND d.thing_id IS NULL",
            (record_id, *type_ids, ACTIVE),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    def gone(self, record_id: str) -> list[str]:
        rows = self.db.all(
            "SELECT d.thing_id FROM dicom_versions d LEFT JOIN things t "
            "ON t.thing_id = d.thing_id AND t.version_stamp = d.version_stamp AND t.state = ? "
            "WHERE d.record_id = ? AND t.thing_id IS NULL",
            (ACTIVE, record_id),
        )
        return [str(r[0]) for r in rows]

    def replace(
        self,
        record_id: str,
        thing_id: str,
        version_stamp: str,
        rows: Sequence[DicomInstance],
        study_uid: str | None = None,
    ) -> None:
        # The version row first: a writer indexing the same thing at once waits here until this one ends.
        self.db.run(
            "INSERT INTO dicom_versions(thing_id, record_id, version_stamp) VALUES (?, ?, ?) "
            "ON CONFLICT (thing_id) DO UPDATE SET record_id = excluded.record_id, "
            "version_stamp = excluded.version_stamp",
            (thing_id, record_id, version_stamp),
        )
        self.db.run("DELETE FROM dicom_instances WHERE thing_id = ?", (thing_id,))
        self._add(record_id, thing_id, version_stamp, rows)
        self._sum_up(record_id, thing_id, version_stamp, rows, study_uid)

    def extend(
        self,
        record_id: str,
        thing_id: str,
        old_stamp: str,
        new_stamp: str,
        rows: Sequence[DicomInstance],
        study_uid: str | None = None,
    ) -> bool:
        if not self._move(thing_id, old_stamp, new_stamp):
            return False
        self._add(record_id, thing_id, new_stamp, rows)
        every = [
            DicomInstance(*r)
            for r in self.db.all(
                f"SELECT {_selected(False)} FROM dicom_instances i WHERE i.thing_id = ? "
                f"ORDER BY i.{self.db.dialect.position}",
                (thing_id,),
            )
        ]
        kept = self.db.one("SELECT study_uid FROM dicom_studies WHERE thing_id = ?", (thing_id,))
        if kept is not None and kept[0] is not None:
            study_uid = str(kept[0])  # (not changed by an added image)
        self._sum_up(record_id, thing_id, new_stamp, every, study_uid)
        return True

    def _move(self, thing_id: str, old_stamp: str, new_stamp: str) -> bool:
        """The thing's version row and instance rows moved from ``old_stamp`` to ``new_stamp``
        (False, nothing changed, when it is not indexed at ``old_stamp``)."""
        moved = self.db.run(
            "UPDATE dicom_versions SET version_stamp = ? WHERE thing_id = ? AND version_stamp = ?",
            (new_stamp, thing_id, old_stamp),
        )
        if moved:
            self.db.run("UPDATE dicom_instances SET version_stamp = ? WHERE thing_id = ?", (new_stamp, thing_id))
        return bool(moved)

    def _add(self, record_id: str, thing_id: str, version_stamp: str, rows: Sequence[DicomInstance]) -> None:
        if rows:
            self.db.many(_ADD, [(thing_id, record_id, version_stamp, *(getattr(r, n) for n in _STORED)) for r in rows])

    def _sum_up(
        self, record_id: str, thing_id: str, version_stamp: str, rows: Sequence[DicomInstance], study_uid: str | None
    ) -> None:
        """The thing's ``dicom_studies`` row, made again from all its instance rows ``rows``."""
        thing = self.db.one("SELECT eff_date FROM things WHERE thing_id = ?", (thing_id,))
        self.db.run("DELETE FROM dicom_studies WHERE thing_id = ?", (thing_id,))
        self.db.run(
            ADD_STUDY, study_row(record_id, thing_id, version_stamp, rows, str(thing[0]) if thing else "", study_uid)
        )

    def study_things(
        self, record_id: str, study_uids: Collection[str], type_ids: Sequence[str]
    ) -> dict[str, str | None]:
        uids = sorted(study_uids)
        found: dict[str, str | None] = {}
        if uids:
            rows = self.db.all(
                "SELECT s.thing_id, s.study_uid FROM dicom_studies s JOIN things t ON t.thing_id = s.thing_id "
                "AND t.version_stamp = s.version_stamp AND t.state = ? "
                f"WHERE s.record_id = ? AND (s.study_uid IN ({marks(len(uids))}) OR s.study_uid IS NULL)",
                (ACTIVE, record_id, *uids),
            )
            found.update((str(r[0]), None if r[1] is None else str(r[1])) for r in rows)
        found.update((thing_id, None) for thing_id, _ in self.stale(record_id, type_ids))
        return found

    def name_studies(self, named: Sequence[tuple[str, str, str]]) -> None:
        self.db.many(
            "UPDATE dicom_studies SET study_uid = ? WHERE thing_id = ? AND version_stamp = ? AND study_uid IS NULL",
            [(uid, thing_id, stamp) for thing_id, stamp, uid in named],
        )

    def forget(self, thing_ids: Iterable[str]) -> None:
        ids = set(thing_ids)
        delete_keys(self.db, "dicom_versions", "thing_id", ids)
        delete_keys(self.db, "dicom_instances", "thing_id", ids)
        delete_keys(self.db, "dicom_studies", "thing_id", ids)

    def study_list(self, record_id: str, query: StudyListQuery) -> tuple[int, list[StudyListRow]]:
        return study_page(self.db, record_id, query)

    def changes(self, record_id: str, type_ids: Sequence[str]) -> tuple[int, float, float]:
        return changes(self.db, record_id, type_ids)

    def follow(self, thing_id: str, old_stamp: str, new_stamp: str, previews: dict[str, str]) -> bool:
        """Move the thing's index from ``old_stamp`` to ``new_stamp``, a version that only
        gave images previews (preview blob id by image blob name); False (nothing
        changed) when it is not indexed at ``old_stamp``."""
        if not self._move(thing_id, old_stamp, new_stamp):
            return False
        self.db.run("UPDATE dicom_studies SET version_stamp = ? WHERE thing_id = ?", (new_stamp, thing_id))
        self.db.many(
            "UPDATE dicom_instances SET preview_blob_id = ? WHERE thing_id = ? AND blob_name = ?",
            [(preview, thing_id, name) for name, preview in sorted(previews.items())],
        )
        return True

    def search(self, record_id: str, query: DicomQuery) -> list[DicomHit]:
        if query.level not in _LEVELS:
            raise ValueError(f"unknown query level {query.level!r}")
        dialect = self.db.dialect
        keys = _LEVELS[query.level]
        where = ["i.record_id = ?"]
        args: list[object] = [ACTIVE, record_id]
        if query.hidden_flags:
            where.append("(t.flags & ?) = 0")
            args.append(int(query.hidden_flags))
        having: list[str] = []
        having_args: list[object] = []
        for match in query.matches:
            if match.kind == "any":  # one row of the group has one of the values
                having.append(f"MAX(CASE WHEN {_column(match.column)} IN ({marks(len(match.values))}) THEN 1 END) = 1")
                having_args.extend(match.values)
                continue
            clause, clause_args = _condition(match, dialect)
            where.append(clause)
            args.extend(clause_args)
        group = ", ".join(f"i.{k}" for k in keys)
        position = dialect.position
        sql = (
            f"WITH g AS (SELECT {group}, MIN(i.{position}) AS first_row, "
            f"MAX(i.study_date{dialect.bytewise}) AS study_date, "
            "MIN(i.series_number) AS series_number, MIN(i.instance_number) AS instance_number, "
            "COUNT(DISTINCT i.series_uid) AS n_series, COUNT(DISTINCT i.sop_uid) AS n_instances, "
            f"{dialect.distinct_list.format('i.modality')} AS modalities "
            f"FROM dicom_instances i {_CURRENT} WHERE {' AND '.join(where)} GROUP BY {group}"
            + (f" HAVING {' AND '.join(having)}" if having else "")
            + f") SELECT {_selected(query.metadata)}, g.n_series, g.n_instances, g.modalities "
            f"FROM g JOIN dicom_instances i ON i.{position} = g.first_row "
            f"ORDER BY {_order(keys, dialect.bytewise)} LIMIT ? OFFSET ?"
        )
        args.extend(having_args)
        args.extend([dialect.unbounded if query.limit is None else query.limit, query.offset])
        hits = []
        width = len(_COLUMNS)
        for row in self.db.all(sql, args):
            modalities = tuple(sorted(m for m in (row[width + 2] or "").split(",") if m))
            hits.append(DicomHit(DicomInstance(*row[:width]), int(row[width]), int(row[width + 1]), modalities))
        return hits
