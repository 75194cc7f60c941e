"""Local platform server: GetThings of 100 medical image studies and PutThings
of one, against the raw HTTP round trip of an empty request to the same
server (the baseline), all in one run. The client checks each thing's
envelope on arrival and binds a study's data-xml when it is first read; the
second GetThings line reads every study.

    .venv/bin/python bench/server.py [--requests N] [--shared]

``--shared`` runs the server on the shared store (PostgreSQL and an S3
bucket, started for the run as the test suite starts them) instead of the
embedded one (SQLite and a blob folder).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from healthvault.client import ThingQuery  # noqa: E402
from tests.engines import Engines  # noqa: E402
from tests.localserver import EMBEDDED, Backend, start_server  # noqa: E402
from tests.test_server import MIS, study  # noqa: E402


def measure(label: str, fn: Callable[[], object], n: int) -> tuple[float, float, float]:
    for _ in range(min(10, n)):
        fn()  # warm up
    times = []
    started = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    times.sort()
    p50 = statistics.median(times) * 1000
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))] * 1000
    rate = n / total
    print(f"{label:42s} {rate:8.1f} req/s   p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")
    return rate, p50, p99


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--shared", action="store_true", help="PostgreSQL and S3 instead of SQLite and files")
    args = ap.parse_args()
    engines = Engines().start() if args.shared else None
    try:
        run(args.requests, EMBEDDED if engines is None else Backend("shared", engines))
    finally:
        if engines is not None:
            engines.stop()


def run(requests: int, backend: Backend) -> None:
    print(f"store: {backend.name}")
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp), backend=backend)
        try:
            with server.client() as client, httpx.Client() as raw:
                client.put_things([study(f"1.2.840.{i}", client_id="bench") for i in range(100)])
                query = ThingQuery(type_ids=[MIS], max_full=100)
                assert len(client.get_things(query)) == 100
                base = measure(
                    "raw HTTP POST of an empty request",
                    lambda: raw.post(server.url + "/wildcat.ashx", content=b""),
                    requests,
                )
                get = measure("GetThings, 100 studies", lambda: client.get_things(query), max(20, requests // 4))

                def read_every_study() -> None:
                    for thing in client.get_things(query):
                        assert thing.data_xml[0].any_element.study_instance_uid

                read = measure("GetThings, 100 studies, each study read", read_every_study, max(20, requests // 4))
                put = measure("PutThings, 1 study", lambda: client.put_thing(study("9.9.9")), requests)
            print(f"ratio GetThings(100) p50 / baseline p50: {get[1] / base[1]:8.1f}")
            print(f"ratio the same, each study read:         {read[1] / base[1]:8.1f}")
            print(f"ratio PutThings(1)   p50 / baseline p50: {put[1] / base[1]:8.1f}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
