"""The shared store's schema: PostgreSQL migrated version by version reaches the
schema written once (store/sql/schema.py), as SQLite creates it; both stores have
every table and column `hvgen migrate` moves."""

from __future__ import annotations

from pathlib import Path

import pytest


def database_at(url: str, version: int) -> None:
    """Make the database as the first ``version`` migrations made it."""
    import psycopg

    from hvgen_server.store.postgres.schema import MIGRATIONS

    with psycopg.connect(url, autocommit=True) as db:
        for _, statements in MIGRATIONS[:version]:
            db.execute(statements.encode())
        db.execute("INSERT INTO meta(key, value) VALUES ('schema_version', %s)", (str(version),))


def layout(url: str) -> tuple[set[tuple[str, str, str]], set[tuple[str, str]]]:
    """The columns (table, column, type) and the indexes (table, definition) of a database."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        columns = db.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public'"
        ).fetchall()
        indexes = db.execute("SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'").fetchall()
    return {tuple(c) for c in columns}, {tuple(i) for i in indexes}


def test_the_schema_is_migrated_version_by_version(engines) -> None:
    import psycopg

    from hvgen_server.store.errors import StoreError
    from hvgen_server.store.postgres import PostgresStore
    from hvgen_server.store.postgres.schema import MIGRATIONS, SCHEMA_VERSION

    wrong_answers = next(n for n, (what, _) in enumerate(MIGRATIONS, 1) if "wrong answers" in what)
    dicom_studies = next(n for n, (what, _) in enumerate(MIGRATIONS, 1) if "DICOM index's studies" in what)
    fresh = engines.postgres.new_database()
    PostgresStore(fresh, pool_size=1).close()  # creates the database and the whole schema
    assert SCHEMA_VERSION >= 5
    for version in range(1, SCHEMA_VERSION):
        url = engines.postgres.new_database()
        PostgresStore(url, pool_size=1).close()
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("DROP SCHEMA public CASCADE")
            db.execute("CREATE SCHEMA public")
        database_at(url, version)
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("INSERT INTO records VALUES ('r1', 'c0ffee00-0000-0000-0000-000000000001', 'Old')")
            db.execute(
                "INSERT INTO things VALUES ('t1', 'r1', 'y', 's1', 'Active', NULL, '2024-01-01T00:00:00.000Z', 1, 1)"
            )
            db.execute(
                "INSERT INTO versions(version_stamp, thing_id, seq, state, xml, created) VALUES (%s, %s, 1, %s, %s, 1)",
                (
                    "s1",
                    "t1",
                    "Active",
                    b'<thing><thing-id version-stamp="s1">t1</thing-id><data-xml><a/></data-xml></thing>',
                ),
            )
            db.execute("INSERT INTO applications(app_id, name, cert_pem, thumbprint) VALUES ('a1', 'a', '-', 'T')")
            db.execute(  # two wrong answers given
                "INSERT INTO packages(identity_code, app_id, state, attempts, created, expires) "
                "VALUES ('P', 'a1', 'pending', 2, 1, 2e12)"
            )
            if version >= 4:  # the DICOM index came with version 4
                db.execute("INSERT INTO dicom_versions VALUES ('t1', 'r1', 's1')")
        store = PostgresStore(url, pool_size=1)
        try:
            assert store.meta("schema_version") == str(SCHEMA_VERSION)
            person = store.person("c0ffee00-0000-0000-0000-000000000001")
            if version < 3:  # version 3 added persons: a record of before gets one, who cannot sign in
                assert person is not None and person.login == "person-c0ffee00" and person.password_hash is None
            with store.read() as tx:  # version 6 keeps the layout of versions: those of before get theirs
                old = tx.things.current("r1", "t1")
                package = tx.packages.get("P")
            assert old is not None and (old.layout is not None or version >= 6)  # (from 6 on, written with one)
            # the version counting wrong answers apart: before, every counted answer was checked and wrong
            assert package is not None and package.wrong_answers == (2 if version < wrong_answers else 0)
            # the version giving things their flags: those of before had none that hides them
            assert old.flags == 0
            # the version summing up the DICOM index's studies: the index of before is made again
            emptied = version < dicom_studies
            assert store.count_rows("dicom_versions") == (0 if emptied else 1), "the old index was emptied"
        finally:
            store.close()
        assert layout(url) == layout(fresh), f"a version {version} database migrated differs from a new one"
    with psycopg.connect(fresh, autocommit=True) as db:
        db.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match="newer than this hvgen knows"):
        PostgresStore(fresh, pool_size=1)


def test_both_stores_have_the_schema_written_once(engines, tmp_path: Path) -> None:
    """The tables, columns, types and indexes of store/sql/schema.py: a new
    SQLite store has them, and so has a PostgreSQL database its migrations
    made (where a positioned table has a ``position`` column of its own)."""
    import sqlite3

    import psycopg

    from hvgen_server.store import SqliteStore
    from hvgen_server.store.postgres import PostgresStore
    from hvgen_server.store.postgres.db import POSTGRES
    from hvgen_server.store.sql import schema
    from hvgen_server.store.sql.dialect import Dialect
    from hvgen_server.store.sqlite.db import SQLITE

    def columns(dialect: Dialect) -> set[tuple[str, str, str]]:
        return {(t.name, c.name, dialect.types[c.type].lower()) for t in schema.TABLES for c in t.columns}

    indexes = {i.name for i in schema.INDEXES}
    url = engines.postgres.new_database()
    PostgresStore(url, pool_size=1).close()
    with psycopg.connect(url, autocommit=True) as pg:
        in_pg = pg.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public'"
        ).fetchall()
        pg_indexes = pg.execute(  # those of constraints (keys, UNIQUE) aside
            "SELECT indexname FROM pg_indexes i WHERE schemaname = 'public' "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
        ).fetchall()
    positions = {(t.name, "position", "bigint") for t in schema.TABLES if t.positioned}
    assert set(in_pg) == columns(POSTGRES) | positions
    assert {name for (name,) in pg_indexes} == indexes
    SqliteStore(tmp_path / "store.sqlite").close()
    with sqlite3.connect(tmp_path / "store.sqlite") as db:
        in_sqlite = {
            (table.name, r[1], r[2].lower())
            for table in schema.TABLES
            for r in db.execute(f"PRAGMA table_info({table.name})")
        }
        sqlite_indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert in_sqlite == columns(SQLITE)
    assert {name for name in sqlite_indexes if not name.startswith("sqlite_autoindex")} == indexes


def test_both_stores_have_every_table_and_column_hvgen_migrate_moves(engines, tmp_path: Path) -> None:
    """Every table of TABLES, with the same columns, in SQLite and in PostgreSQL
    (``position`` is SQLite's rowid)."""
    import sqlite3

    from hvgen_server.store import SqliteStore
    from hvgen_server.store.base import POSITION, TABLES
    from hvgen_server.store.postgres import PostgresStore

    url = engines.postgres.new_database()
    PostgresStore(url, pool_size=1).close()
    SqliteStore(tmp_path / "store.sqlite").close()
    pg_columns, _ = layout(url)
    with sqlite3.connect(tmp_path / "store.sqlite") as db:
        for table, key in TABLES.items():
            in_sqlite = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
            if key == (POSITION,):
                in_sqlite.add(POSITION)
            assert in_sqlite, f"SQLite has no table {table}"
            assert in_sqlite == {c for t, c, _ in pg_columns if t == table}, table
    assert {t for t, _, _ in pg_columns} == set(TABLES)
