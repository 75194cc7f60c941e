"""The server is killed (SIGKILL) in the middle of a stream of writes and
restarted: nothing acknowledged is lost and no batch is half visible."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid

from healthvault.client import HealthVaultClient, HealthVaultTransportError

from .localserver import RunningServer
from .test_server import study

BATCH = 8


def writer(
    client: HealthVaultClient, tag: str, acknowledged: list[int], attempted: list[int], stop: threading.Event
) -> None:
    i = 0
    while not stop.is_set():
        attempted.append(i)
        try:
            client.put_things([study(f"{tag}.{i}.{k}", client_id=f"{tag}-{i}") for k in range(BATCH)])
        except HealthVaultTransportError:
            return
        acknowledged.append(i)
        i += 1


ORPHANS = "SELECT COUNT(*) FROM things t LEFT JOIN versions v ON v.version_stamp = t.version_stamp WHERE v.xml IS NULL"


def orphan_things(server: RunningServer) -> int:
    """Things whose current version is not stored (after checking the database file, for SQLite)."""
    if server.shared:
        import psycopg

        with psycopg.connect(server.config().database_url or "") as pg:
            row = pg.execute(ORPHANS).fetchone()
            assert row is not None
            return int(row[0])
    db = sqlite3.connect(server.data / "store.sqlite")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return int(db.execute(ORPHANS).fetchone()[0])
    finally:
        db.close()


def test_kill_during_writes_loses_nothing(new_server) -> None:
    server = new_server()
    for round_ in range(3):
        tag = uuid.uuid4().hex[:8]
        acknowledged: list[int] = []
        attempted: list[int] = []
        stop = threading.Event()
        with server.client(retries=0, timeout=5) as client:
            client.create_session()
            thread = threading.Thread(target=writer, args=(client, tag, acknowledged, attempted, stop))
            thread.start()
            deadline = time.monotonic() + 10
            while len(acknowledged) < 3 + round_ and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.013 * (round_ + 1))  # land somewhere inside a request
            server.kill()
            stop.set()
            thread.join(10)
        assert acknowledged, "the writer made no progress"

        assert orphan_things(server) == 0

        server.start()
        with server.client() as client:
            for i in attempted:
                found = client.get_things(client_thing_ids=[f"{tag}-{i}"])
                if i in acknowledged:
                    assert len(found) == BATCH, f"acknowledged batch {i} lost things"
                else:
                    assert len(found) in (0, BATCH), f"batch {i} is half visible ({len(found)})"
