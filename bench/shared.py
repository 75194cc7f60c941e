"""The shared store against the embedded one, in one run.

1. Things: 16 concurrent clients (4 processes of 4 threads), each a mix of
   GetThings (studies by type, max 20) and PutThings (one study), for a
   bounded time, on SQLite with one server process (the baseline), on
   PostgreSQL with one process and with two processes (clients split
   between them): requests per second and p50/p99 of each method, and the
   ratio of each figure to the baseline's.
2. Blobs: upload and download of one generated blob (never held in memory)
   with the runtime client, to the blob folder (the baseline) and to the S3
   store (SeaweedFS): MB/s and the ratio.

PostgreSQL and SeaweedFS are started here as the tests start them
(tests/engines.py) and stopped at the end.

    .venv/bin/python bench/shared.py [--seconds 15] [--mib 256]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from healthvault import blobs  # noqa: E402
from healthvault.bindings.thing import BlobPayload  # noqa: E402
from healthvault.client import HealthVaultClient, ThingQuery  # noqa: E402
from tests.bigblob import generated  # noqa: E402
from tests.blobdata import file_thing  # noqa: E402
from tests.engines import Engines  # noqa: E402
from tests.localserver import EMBEDDED, Backend, RunningServer, start_server  # noqa: E402
from tests.test_server import MIS, study  # noqa: E402

CLIENTS, PROCESSES = 16, 4
MIB = 1024 * 1024


def percentile(times: list[float], q: float) -> float:
    if not times:
        return float("nan")
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def client_process(profiles: list[str], first: int, threads: int, start_at: float, seconds: float, out: Any) -> None:
    """``threads`` clients, client n on profiles[n % len(profiles)]; puts (method, seconds) pairs on ``out``."""
    times: list[tuple[str, float]] = []
    errors: list[str] = []
    guard = threading.Lock()
    query = ThingQuery(type_ids=[MIS], max=20)

    def worker(n: int) -> None:
        with HealthVaultClient.from_profile(Path(profiles[n % len(profiles)]), timeout=60) as client:
            client.create_session()  # before the clock starts
            while time.time() < start_at:
                time.sleep(0.005)
            i = 0
            while time.time() < start_at + seconds:
                i += 1
                began = time.perf_counter()
                try:
                    if i % 2:
                        client.put_thing(study(f"3.{n}.{i}", client_id=f"bench-{n}-{i}"))
                        method = "PutThings"
                    else:
                        client.get_things(query)
                        method = "GetThings"
                except Exception as exc:  # counted, not raised
                    with guard:
                        errors.append(type(exc).__name__)
                    continue
                with guard:
                    times.append((method, time.perf_counter() - began))

    pool = [threading.Thread(target=worker, args=(first + k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put((times, errors))


def load(servers: list[RunningServer], seconds: float) -> dict[str, tuple[float, float, float]]:
    """(requests/s, p50 ms, p99 ms) by method, with CLIENTS clients spread over ``servers``."""
    with servers[0].client() as client:
        client.put_things([study(f"1.2.{i}", client_id="preload") for i in range(200)])
    profiles = [str(s.profile_path) for s in servers]
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 8  # room for the processes to start and open their sessions
    per = CLIENTS // PROCESSES
    procs = [
        ctx.Process(target=client_process, args=(profiles, p * per, per, start_at, seconds, out))
        for p in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(30)
    figures = {}
    errors = [e for _, errs in results for e in errs]
    for method in ("GetThings", "PutThings"):
        times = [t for found, _ in results for m, t in found if m == method]
        figures[method] = (len(times) / seconds, percentile(times, 0.5), percentile(times, 0.99))
    if errors:
        print(f"    errors: {len(errors)} ({', '.join(sorted(set(errors)))})")
    return figures


def blob_rates(server: RunningServer, size: int) -> tuple[float, float]:
    """MB/s of one upload and one download of ``size`` bytes."""
    with server.client(timeout=300) as client:
        began = time.perf_counter()
        item = client.upload_blob(generated(size), name="big")
        up = time.perf_counter() - began
        thing = file_thing(size=size)
        thing.blob_payload = BlobPayload(blob=[item])
        key = client.put_thing(thing)
        url = str(client.get_thing(key.value, blob_payload=True).blob_payload.blob[0].blob_ref_url)

        class Sink:
            def write(self, data: bytes) -> int:
                return len(data)

        began = time.perf_counter()
        blobs.download(client.http, url, Sink(), expected_hash=item.blob_info.hash_info.hash)  # type: ignore[arg-type]
        down = time.perf_counter() - began
    return size / up / 1e6, size / down / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--mib", type=int, default=256)
    args = ap.parse_args()
    engines = Engines().start()
    shared = Backend("shared", engines)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            print(f"things: {CLIENTS} clients ({PROCESSES} processes), {args.seconds:.0f} s each, mixed Get/Put")
            rows: dict[str, dict[str, tuple[float, float, float]]] = {}
            for label, backend, instances in (
                ("SQLite, 1 instance", EMBEDDED, 1),
                ("PostgreSQL, 1 instance", shared, 1),
                ("PostgreSQL, 2 instances", shared, 2),
            ):
                first = start_server(base / uuid.uuid4().hex, backend=backend)
                servers = [first] + [first.sibling(base / uuid.uuid4().hex) for _ in range(instances - 1)]
                try:
                    rows[label] = load(servers, args.seconds)
                finally:
                    for s in servers:
                        s.stop()
            baseline = rows["SQLite, 1 instance"]
            for label, figures in rows.items():
                for method, (rate, p50, p99) in figures.items():
                    b_rate, _, b_p99 = baseline[method]
                    print(
                        f"  {label:24s} {method:9s} {rate:7.1f} req/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms"
                        f"   ratio to SQLite: rate {rate / b_rate:5.2f}  p99 {p99 / b_p99:5.2f}"
                    )

            size = args.mib * MIB
            print(f"blobs: one {args.mib} MiB blob up and down (4 MiB chunks)")
            rates = {}
            for label, backend in (("files", EMBEDDED), ("S3 (SeaweedFS)", shared)):
                server = start_server(base / uuid.uuid4().hex, "--max-blob-size", str(2 * size), backend=backend)
                try:
                    rates[label] = blob_rates(server, size)
                finally:
                    server.stop()
            b_up, b_down = rates["files"]
            for label, (up, down) in rates.items():
                print(
                    f"  {label:16s} upload {up:7.1f} MB/s  download {down:7.1f} MB/s"
                    f"   ratio to files: upload {up / b_up:5.2f}  download {down / b_down:5.2f}"
                )
    finally:
        engines.stop()


if __name__ == "__main__":
    main()
