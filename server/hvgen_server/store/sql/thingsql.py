"""The text of the things queries (GetThings, the hot path).

GetThings selections and filters become one SELECT over things (t) and
versions (v), the same in every SQL backend but for the empty-bytes literal
and how an offset without a limit is written: the :class:`~.dialect.Dialect`
says those.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..rows import ACTIVE, ThingFilter, ThingSelection
from .dialect import Dialect, marks

#: A version with its thing's dates, in :class:`~..rows.ThingVersion`'s field order.
VERSION_COLUMNS = (
    "t.thing_id, t.type_id, v.version_stamp, v.state, t.eff_date, t.created, t.updated, v.xml, v.seq, v.layout, t.flags"
)

#: Bounds of a filter: (ThingFilter field, column, operator).
_BOUNDS = (
    ("eff_date_min", "t.eff_date", ">="),
    ("eff_date_max", "t.eff_date", "<="),
    ("created_min", "t.created", ">="),
    ("created_max", "t.created", "<="),
    ("updated_min", "t.updated", ">="),
    ("updated_max", "t.updated", "<="),
    ("created_app_id", "v.created_app_id", "="),
    ("created_person_id", "v.created_person_id", "="),
    ("updated_app_id", "v.updated_app_id", "="),
    ("updated_person_id", "v.updated_person_id", "="),
)


def filter_clause(spec: ThingFilter) -> tuple[str, list[object]]:
    """A filter as an SQL condition on things (t) and versions (v)."""
    parts = [f"v.state IN ({marks(len(spec.states))})"]
    args: list[object] = list(spec.states)
    if spec.type_ids:
        parts.append(f"t.type_id IN ({marks(len(spec.type_ids))})")
        args.extend(spec.type_ids)
    for name, column, op in _BOUNDS:
        value = getattr(spec, name)
        if value is not None:
            parts.append(f"{column} {op} ?")
            args.append(value)
    return "(" + " AND ".join(parts) + ")", args


@dataclass(frozen=True)
class SelectQuery:
    """A selection's SELECT and its arguments; each row has the version's
    columns, then ``m0``, ``m1``... telling which of the filters it matched."""

    sql: str
    args: list[object]
    filters: int


def select_query(
    dialect: Dialect,
    record_id: str,
    selection: ThingSelection,
    filters: Sequence[ThingFilter],
    *,
    limit: int | None,
    offset: int,
    with_xml: bool,
) -> SelectQuery:
    """The versions of ``record_id`` a selection names that match any of
    ``filters`` (active ones when there are none), in response order."""
    where = ["t.record_id = ?"]
    args: list[object] = [record_id]
    if selection.thing_ids:
        where.append(f"t.thing_id IN ({marks(len(selection.thing_ids))})")
        args.extend(selection.thing_ids)
    if selection.client_thing_ids:
        where.append(f"t.client_thing_id IN ({marks(len(selection.client_thing_ids))})")
        args.extend(selection.client_thing_ids)
    keys = selection.keys
    if keys:
        wanted = []
        for thing_id, stamp in keys.items():
            wanted.append("(t.thing_id = ? AND (? = '' OR v.version_stamp = ?))")
            args.extend((thing_id, stamp, stamp))
        where.append("(" + " OR ".join(wanted) + ")")
    if selection.hidden_flags:
        where.append("(t.flags & ?) = 0")
        args.append(int(selection.hidden_flags))
    every_version = selection.all_versions or bool(keys)
    join = "v.thing_id = t.thing_id" if every_version else "v.version_stamp = t.version_stamp"
    flags: list[str] = []
    flag_args: list[object] = []
    if filters:
        for spec in filters:
            clause, clause_args = filter_clause(spec)
            flags.append(clause)
            flag_args.extend(clause_args)
        where.append("(" + " OR ".join(flags) + ")")
        args.extend(flag_args)
    else:
        where.append("v.state = ?")
        args.append(ACTIVE)
    columns = VERSION_COLUMNS if with_xml else VERSION_COLUMNS.replace("v.xml", f"{dialect.empty_bytes} AS xml")
    flag_columns = "".join(f", ({clause}) AS m{i}" for i, clause in enumerate(flags))
    sql = (
        f"SELECT {columns}{flag_columns} FROM things t JOIN versions v ON {join} WHERE "
        + " AND ".join(where)
        + " ORDER BY t.eff_date DESC, t.created DESC, v.seq DESC"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    elif offset and dialect.no_limit is not None:
        sql += f" LIMIT {dialect.no_limit}"
    if offset:
        sql += f" OFFSET {int(offset)}"
    # The flag columns come first in the statement, so their arguments do too.
    return SelectQuery(sql, [*flag_args, *args], len(flags))
