"""A shared store's new connections are prepared before they serve: the
statements of DICOMweb's reads and the transactions' ``BEGIN`` and
``COMMIT`` are already prepared on every connection the pool opens (checked
in PostgreSQL's ``pg_prepared_statements`` of that connection, against what
the request's own code runs when psycopg prepares everything it runs), and a
warm-up that fails leaves the connection serving."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack
from types import SimpleNamespace
from typing import Any, cast

import pytest

from hvgen_server import appview
from hvgen_server.context import Platform
from hvgen_server.dicomweb import qido, wado
from hvgen_server.dicomweb.index import refresh, warm_reads
from hvgen_server.dicomweb.media import DicomWebError
from hvgen_server.store.base import Transaction
from hvgen_server.store.rows import STUDY

from .engines import Engines

psycopg = pytest.importorskip("psycopg")
from hvgen_server.store.postgres import PostgresStore  # noqa: E402  (needs psycopg)

RECORD, APP, STUDY_UID = "a-record", "an-application", "1.2.3"


def _prepared(conn: Any) -> set[tuple[str, str]]:
    """The statements prepared on one connection, with their parameters' types
    (PostgreSQL's view of its own session: a statement prepared for other types
    is another statement)."""
    rows = conn.execute("SELECT statement, parameter_types::text FROM pg_prepared_statements", prepare=False)
    return {(str(row[0]), str(row[1])) for row in rows.fetchall()}


def _requests(store: PostgresStore) -> None:
    """What DICOMweb requests read, by the routes' own code: a bearer token's
    authorization, QIDO-RS of studies, WADO-RS of a study and its metadata."""
    platform = cast(Platform, SimpleNamespace(store=store))
    store.authorized(APP, RECORD)
    refresh(platform, RECORD)
    with store.read() as tx:
        tx.dicom.search(RECORD, appview.dicom_for_applications(qido.parse(STUDY, [], {}).query))
    for metadata in (False, True):
        with pytest.raises(DicomWebError):  # the store is empty: 404
            wado.instances(platform, RECORD, STUDY_UID, metadata=metadata)


@pytest.fixture
def database(engines: Engines) -> Iterator[str]:
    url = engines.postgres.new_database()
    PostgresStore(url, pool_size=1).close()  # created and migrated
    yield url


def _what_requests_prepare(url: str) -> set[tuple[str, str]]:
    """The statements of :func:`_requests`, as a connection that prepares every
    statement at its first run (psycopg's ``prepare_threshold`` 0) holds them."""
    store = PostgresStore(url, pool_size=1)
    try:
        with store._pool.connection() as conn:
            conn.prepare_threshold = 0
        _requests(store)
        with store._pool.connection() as conn:
            return _prepared(conn)
    finally:
        store.close()


def test_every_new_pooled_connection_has_the_requests_statements_prepared(database: str) -> None:
    wanted = _what_requests_prepare(database)
    assert any("dicom_instances" in s for s, _ in wanted) and any(s.startswith("BEGIN") for s, _ in wanted)
    store = PostgresStore(database, pool_size=3, warm=warm_reads)
    try:
        with ExitStack() as held:  # three at once: the pool opens two more
            connections = [held.enter_context(store._pool.connection()) for _ in range(3)]
            assert len({c.info.backend_pid for c in connections}) == 3
            for conn in connections:
                assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
                assert wanted <= _prepared(conn), wanted - _prepared(conn)
        _requests(store)  # and they serve
    finally:
        store.close()


def test_a_warm_up_that_fails_leaves_the_connection_serving(database: str, caplog: pytest.LogCaptureFixture) -> None:
    def failing(tx: Transaction) -> None:
        warm_reads(tx)
        cast(Any, tx.meta).db.run("SELECT no_such_column FROM meta")

    with caplog.at_level(logging.WARNING, logger="hvgen_server.store"):
        store = PostgresStore(database, pool_size=1, warm=failing)
    try:
        assert "could not prepare a new database connection" in caplog.text
        assert "no_such_column" in caplog.text
        store.set_meta("warmed", "no")
        assert store.meta("warmed") == "no"
        _requests(store)
    finally:
        store.close()


def test_a_unit_that_fails_leaves_the_connection_prepared(database: str) -> None:
    """A unit of work that raises, or whose statement fails, is rolled back
    without deallocating what the warm-up prepared."""
    store = PostgresStore(database, pool_size=1, warm=warm_reads)
    try:
        with store._pool.connection() as conn:
            warmed = _prepared(conn)
        assert any("dicom_instances" in s for s, _ in warmed)
        with pytest.raises(ValueError), store.read():
            raise ValueError("a request that fails")
        with pytest.raises(psycopg.errors.UndefinedColumn), store.write() as tx:
            cast(Any, tx.meta).db.run("SELECT no_such_column FROM meta")
        with store._pool.connection() as conn:
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            assert warmed <= _prepared(conn), warmed - _prepared(conn)
        _requests(store)
    finally:
        store.close()


def test_a_statement_a_schema_change_broke_is_prepared_again(database: str) -> None:
    """A prepared statement whose result type another process changed (a
    column's type) fails once, and the connection prepares it again."""
    store = PostgresStore(database, pool_size=1)
    try:
        with store._pool.connection() as conn:
            conn.prepare_threshold = 0  # (prepared at its first run)
        store.set_meta("kept", "yes")
        assert store.meta("kept") == "yes"
        with store._pool.connection() as conn:
            assert any("meta" in statement for statement, _ in _prepared(conn))
        with psycopg.connect(database, autocommit=True) as other:
            other.execute("ALTER TABLE meta ALTER COLUMN value TYPE VARCHAR(1000)")
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            store.meta("kept")
        assert store.meta("kept") == "yes"
    finally:
        store.close()
