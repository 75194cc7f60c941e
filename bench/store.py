"""The store's GetThings hot path without HTTP: the versions of 100 things
of one type, with their XML, read through the store's tables, against the
same query run on the bare driver (the baseline: the same SQL text, rows
made into ThingVersion the same way), in one run. The ratio is what the
store's layers cost over the driver.

    .venv/bin/python bench/store.py [--rounds N] [--shared]

``--shared`` measures PostgreSQL (started for the run as the tests start
it) instead of SQLite.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hvgen_server.store import SqliteStore, Store  # noqa: E402
from hvgen_server.store.rows import ThingFilter, ThingSelection, ThingVersion  # noqa: E402

TYPE = "cf8c0fd6-7a3c-4a9d-b7f0-7a0a7e0b9d1d"
THINGS = 100
#: The query the store runs for this selection, written out for the bare driver.
SQL = (
    "SELECT t.thing_id, t.type_id, v.version_stamp, v.state, t.eff_date, t.created, t.updated, v.xml, v.seq, "
    "v.layout, ((v.state IN ({m}) AND t.type_id IN ({m}))) AS m0 FROM things t JOIN versions v "
    "ON v.version_stamp = t.version_stamp WHERE t.record_id = {m} AND ((v.state IN ({m}) AND t.type_id IN ({m}))) "
    "ORDER BY t.eff_date DESC, t.created DESC, v.seq DESC LIMIT 100"
)


def fill(store: Store) -> str:
    record, _ = store.add_record("bench", [])
    with store.write() as tx:
        for i in range(THINGS):
            thing_id, stamp = str(uuid.uuid4()), str(uuid.uuid4())
            xml = b"<thing><data-xml>" + os.urandom(2000).hex().encode() + b"</data-xml></thing>"
            tx.things.add(record, thing_id, TYPE, stamp, None, f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}.000Z", i)
            tx.things.add_version(thing_id, stamp, 1, "Active", xml, float(i), [])
    return record


def measure(label: str, fn: Callable[[], int], rounds: int) -> float:
    for _ in range(20):
        assert fn() == THINGS
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    p50 = statistics.median(times) * 1000
    print(f"{label:44s} p50 {p50:7.3f} ms   best {times[0] * 1000:7.3f} ms")
    return p50


def through_store(store: Store, record: str) -> Callable[[], int]:
    selection, filters = ThingSelection(), [ThingFilter(type_ids=(TYPE,))]

    def read() -> int:
        with store.read() as tx:
            return len(list(tx.things.select(record, selection, filters, limit=THINGS, with_xml=True)))

    return read


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=500)
    ap.add_argument("--shared", action="store_true", help="PostgreSQL instead of SQLite")
    args = ap.parse_args()
    if args.shared:
        shared(args.rounds)
    else:
        embedded(args.rounds)


def embedded(rounds: int) -> None:
    import sqlite3

    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "store.sqlite")
        record = fill(store)
        conn = sqlite3.connect(Path(tmp) / "store.sqlite", isolation_level=None)
        args: list[Any] = ["Active", TYPE, record, "Active", TYPE]
        sql = SQL.format(m="?")

        def bare() -> int:
            conn.execute("BEGIN")
            rows = [(ThingVersion._make(r[:10]), r[10:]) for r in conn.execute(sql, args)]
            conn.execute("COMMIT")
            return len(rows)

        report("SQLite", bare, through_store(store, record), rounds)
        conn.close()
        store.close()


def shared(rounds: int) -> None:
    import psycopg

    from hvgen_server.store.postgres import PostgresStore
    from tests.engines import Postgres

    engine = Postgres().start()
    try:
        url = engine.new_database()
        store = PostgresStore(url, pool_size=2)
        record = fill(store)
        conn = psycopg.connect(url, autocommit=True)
        args: list[Any] = ["Active", TYPE, record, "Active", TYPE]
        sql = SQL.format(m="%s").encode()

        def bare() -> int:
            conn.execute(b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            rows = [(ThingVersion._make(r[:10]), r[10:]) for r in conn.execute(sql, args).fetchall()]
            conn.execute(b"COMMIT")
            return len(rows)

        report("PostgreSQL", bare, through_store(store, record), rounds)
        conn.close()
        store.close()
    finally:
        engine.stop()


def report(name: str, bare: Callable[[], int], store: Callable[[], int], rounds: int) -> None:
    print(f"store: {name}, {THINGS} versions of ~4 KB per query, {rounds} queries each")
    base = measure("the query on the bare driver (baseline)", bare, rounds)
    got = measure("the same through the store's tables", store, rounds)
    print(f"ratio store / bare driver p50: {got / base:6.2f}")


if __name__ == "__main__":
    main()
