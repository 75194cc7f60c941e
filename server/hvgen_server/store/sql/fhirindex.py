"""The FHIR index: what FHIR searches match of each thing version.

``fhir_versions`` says which version of each thing the index holds;
``fhir_facts`` holds one row per code of that version (its resource type,
category and date beside). The facts are written in the transaction that
writes the version. Every search joins ``things`` so that it sees only
current versions of active things; dates are text of one form
(``YYYY-MM-DDTHH:MM:SS``, UTC), compared byte by byte.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..rows import ACTIVE, FhirFact, FhirQuery
from ..tables import FhirIndexTable
from .dialect import SqlTable, marks

_CURRENT = "JOIN things t ON t.thing_id = f.thing_id AND t.version_stamp = f.version_stamp AND t.state = ?"
_OPERATORS = frozenset({"=", ">=", "<=", ">", "<"})


class FhirIndex(SqlTable, FhirIndexTable):
    def replace(self, record_id: str, thing_id: str, version_stamp: str, facts: Sequence[FhirFact]) -> None:
        self.db.run(
            "INSERT INTO fhir_versions(thing_id, record_id, version_stamp) VALUES (?, ?, ?) "
            "ON CONFLICT (thing_id) DO UPDATE SET record_id = excluded.record_id, "
            "version_stamp = excluded.version_stamp",
            (thing_id, record_id, version_stamp),
        )
        self.db.run("DELETE FROM fhir_facts WHERE thing_id = ?", (thing_id,))
        if facts:
            self.db.many(
                "INSERT INTO fhir_facts(thing_id, record_id, version_stamp, resource_type, code, category, date) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(thing_id, record_id, version_stamp, f.resource_type, f.code, f.category, f.date) for f in facts],
            )

    def stale(self, record_id: str, type_ids: Sequence[str], limit: int) -> list[tuple[str, str]]:
        if not type_ids:
            return []
        rows = self.db.all(
            "SELECT t.thing_id, t.version_stamp FROM things t "
            "LEFT JOIN fhir_versions v ON v.thing_id = t.thing_id AND v.version_stamp = t.version_stamp "
            f"WHERE t.record_id = ? AND t.type_id IN ({marks(len(type_ids))}) AND t.state = ? "
            "AND v.thing_id IS NULL LIMIT ?",
            (record_id, *type_ids, ACTIVE, limit),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    def search(self, record_id: str, query: FhirQuery) -> tuple[list[str], int]:
        where = ["f.record_id = ?", "f.resource_type = ?"]
        args: list[object] = [ACTIVE, record_id, query.resource_type]
        for column, values in (("f.code", query.codes), ("f.category", query.categories), ("f.thing_id", query.ids)):
            if values:
                where.append(f"{column} IN ({marks(len(values))})")
                args.extend(values)
        for column, bounds in (("f.date", query.dates), ("t.updated", query.updated)):
            for op, value in bounds:
                if op not in _OPERATORS:
                    raise ValueError(f"unknown operator {op!r}")
                where.append(f"{column} {op} ?")
                args.append(value)
        if query.hidden_flags:
            where.append("(t.flags & ?) = 0")
            args.append(query.hidden_flags)
        matched = (
            f"SELECT f.thing_id, MAX(f.date) AS d FROM fhir_facts f {_CURRENT} WHERE {' AND '.join(where)} "
            "GROUP BY f.thing_id"
        )
        rows = self.db.all(  # the page, each row with the count of every match
            f"SELECT m.thing_id, COUNT(*) OVER () FROM ({matched}) m ORDER BY m.d DESC, m.thing_id LIMIT ? OFFSET ?",
            [*args, query.limit, query.offset],
        )
        if rows:
            return [str(r[0]) for r in rows], int(rows[0][1])
        total = self.db.value(f"SELECT count(*) FROM ({matched}) m", args)
        return [], int(total or 0)
