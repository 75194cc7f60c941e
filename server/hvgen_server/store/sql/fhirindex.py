"""The FHIR index: what FHIR searches match of each thing version.

``fhir_versions`` says which version of each thing the index holds, with
its resource as JSON (what a search's page and an export send without
reading the thing's XML); ``fhir_facts`` holds one row per code of that version (its resource type,
category and date beside). The facts are written in the transaction that
writes the version. Every search joins ``things`` so that it sees only
current versions of active things; dates are text of one form
(``YYYY-MM-DDTHH:MM:SS``, UTC), compared byte by byte.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ..fhirtables import FhirIndexTable
from ..rows import ACTIVE, FhirFact, FhirQuery, FhirRow
from .dialect import marks
from .fhirexports import FhirExports

_CURRENT = "JOIN things t ON t.thing_id = f.thing_id AND t.version_stamp = f.version_stamp AND t.state = ?"
_OPERATORS = frozenset({"=", ">=", "<=", ">", "<"})


#: The columns of a :class:`FhirRow`, from ``things t`` and ``fhir_versions v``.
_ROW = "t.thing_id, t.version_stamp, t.type_id, t.updated, t.flags, v.resource, v.form"


def _row(r: Sequence[Any]) -> FhirRow:
    return FhirRow(str(r[0]), str(r[1]), str(r[2]), float(r[3]), int(r[4]), str(r[5] or ""), str(r[6] or ""))


class FhirIndex(FhirExports, FhirIndexTable):
    def replace(
        self,
        record_id: str,
        thing_id: str,
        version_stamp: str,
        facts: Sequence[FhirFact],
        resource: str = "",
        form: str = "",
    ) -> None:
        self.db.run(
            "INSERT INTO fhir_versions(thing_id, record_id, version_stamp, resource, form) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (thing_id) DO UPDATE SET record_id = excluded.record_id, "
            "version_stamp = excluded.version_stamp, resource = excluded.resource, form = excluded.form",
            (thing_id, record_id, version_stamp, resource, form),
        )
        self.db.run("DELETE FROM fhir_facts WHERE thing_id = ?", (thing_id,))
        if facts:
            self.db.many(
                "INSERT INTO fhir_facts(thing_id, record_id, version_stamp, resource_type, code, category, date) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(thing_id, record_id, version_stamp, f.resource_type, f.code, f.category, f.date) for f in facts],
            )

    def stale(self, record_id: str, type_ids: Sequence[str], limit: int, form: str = "") -> list[tuple[str, str]]:
        if not type_ids:
            return []
        same_form = " AND v.form = ?" if form else ""
        rows = self.db.all(
            "SELECT t.thing_id, t.version_stamp FROM things t "
            f"LEFT JOIN fhir_versions v ON v.thing_id = t.thing_id AND v.version_stamp = t.version_stamp{same_form} "
            f"WHERE t.record_id = ? AND t.type_id IN ({marks(len(type_ids))}) AND t.state = ? "
            "AND v.thing_id IS NULL LIMIT ?",
            (*((form,) if form else ()), record_id, *type_ids, ACTIVE, limit),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    def page(self, record_id: str, query: FhirQuery) -> tuple[list[FhirRow], int]:
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
        rows = self.db.all(  # the page with its things and resources, each row with the count of every match
            f"SELECT {_ROW}, p.total FROM (SELECT m.thing_id, m.d, COUNT(*) OVER () AS total FROM ({matched}) m "
            "ORDER BY m.d DESC, m.thing_id LIMIT ? OFFSET ?) p JOIN things t ON t.thing_id = p.thing_id "
            "JOIN fhir_versions v ON v.thing_id = p.thing_id ORDER BY p.d DESC, p.thing_id",
            [*args, query.limit, query.offset],
        )
        if rows:
            return [_row(r) for r in rows], int(rows[0][-1])
        total = self.db.value(f"SELECT count(*) FROM ({matched}) m", args)
        return [], int(total or 0)

    def current(self, record_id: str, type_ids: Sequence[str], since: float | None = None) -> Iterator[FhirRow]:
        if not type_ids:
            return
        after = " AND t.updated > ?" if since is not None else ""
        rows = self.db.stream(
            f"SELECT {_ROW} FROM things t LEFT JOIN fhir_versions v ON v.thing_id = t.thing_id "
            f"AND v.version_stamp = t.version_stamp WHERE t.record_id = ? AND t.type_id IN ({marks(len(type_ids))}) "
            f"AND t.state = ?{after}",
            (record_id, *type_ids, ACTIVE, *((since,) if since is not None else ())),
        )
        try:
            for r in rows:
                yield _row(r)
        finally:
            rows.close()
