"""The things queries every SQL backend runs: one text, two dialects."""

from __future__ import annotations

import sqlite3

from hvgen_server.store.postgres.db import POSTGRES
from hvgen_server.store.rows import DELETED, ThingFilter, ThingSelection
from hvgen_server.store.sql import thingsql
from hvgen_server.store.sql.dialect import Dialect
from hvgen_server.store.sqlite.db import SQLITE

SELECTION = ThingSelection(thing_ids=("a", "b"), client_thing_ids=("c",), keys={"a": "", "d": "s1"})
FILTERS = [
    ThingFilter(type_ids=("t1", "t2"), eff_date_min="2020-01-01", created_max=5.0),
    ThingFilter(states=("Active", DELETED), updated_app_id="app"),
]


def test_every_argument_has_its_mark_in_both_dialects() -> None:
    for dialect in (SQLITE, POSTGRES):
        for filters in ([], FILTERS):
            query = thingsql.select_query(dialect, "rec", SELECTION, filters, limit=None, offset=0, with_xml=False)
            assert query.sql.count("?") == len(query.args)
            assert query.filters == len(filters)


def test_the_dialects_differ_only_where_sql_does() -> None:
    def text(dialect: Dialect, **kw: object) -> str:
        args = {"limit": None, "offset": 0, "with_xml": False, **kw}
        return thingsql.select_query(dialect, "rec", SELECTION, FILTERS, **args).sql  # type: ignore[arg-type]

    lite, pg = text(SQLITE), text(POSTGRES)
    assert lite.replace("x'' AS xml", "''::bytea AS xml") == pg
    assert text(SQLITE, offset=20).endswith(" LIMIT -1 OFFSET 20")  # SQLite needs a LIMIT
    assert text(POSTGRES, offset=20).endswith("v.seq DESC OFFSET 20")
    assert text(SQLITE, limit=5, offset=20).endswith(" LIMIT 5 OFFSET 20")
    assert "v.xml" in text(POSTGRES, with_xml=True)


def test_the_sqlite_text_runs_and_matches_what_it_should() -> None:
    db = sqlite3.connect(":memory:")
    db.executescript(
        "CREATE TABLE things(thing_id, record_id, type_id, version_stamp, state, client_thing_id, eff_date,"
        " created, updated, flags);"
        "CREATE TABLE versions(version_stamp, thing_id, state, xml, seq, created_app_id, created_person_id,"
        " updated_app_id, updated_person_id, layout);"
    )
    for n, (type_id, eff) in enumerate([("t1", "2021-01-01"), ("t1", "2019-01-01"), ("t9", "2022-01-01")]):
        db.execute(
            "INSERT INTO things VALUES (?, 'rec', ?, ?, 'Active', NULL, ?, 1.0, 1.0, ?)",
            (f"x{n}", type_id, f"s{n}", eff, 1 if n == 1 else 0),
        )
        db.execute(
            "INSERT INTO versions VALUES (?, ?, 'Active', x'00', ?, NULL, NULL, NULL, NULL, NULL)",
            (f"s{n}", f"x{n}", n),
        )
    query = thingsql.select_query(
        SQLITE, "rec", ThingSelection(), [ThingFilter(type_ids=("t1",)), ThingFilter(eff_date_min="2020-06-01")],
        limit=None, offset=0, with_xml=False,
    )  # fmt: skip
    rows = db.execute(query.sql, query.args).fetchall()
    # newest first; x0 matches both filters, x2 only the date, x1 only the type
    assert [(r[0], r[11], r[12]) for r in rows] == [("x2", 0, 1), ("x0", 1, 1), ("x1", 1, 0)]
    # things with a hidden flag (x1: personal) are left out, as if they were not there
    hiding = ThingSelection(hidden_flags=1)
    query = thingsql.select_query(
        SQLITE, "rec", hiding, [ThingFilter(type_ids=("t1",))], limit=None, offset=0, with_xml=False
    )
    assert [r[0] for r in db.execute(query.sql, query.args)] == ["x0"]
