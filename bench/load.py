"""Local platform under load and faults.

1. Load: 16 and 64 concurrent clients of mixed PutThings (one study) and
   GetThings (studies by type, max 20) for a bounded time each: throughput,
   p50/p99, errors, lost writes (acknowledged puts not found afterwards),
   server RSS before and after.
2. Faults: SIGKILL rounds while writers put things and an uploader streams
   blobs; after each restart every acknowledged write and upload must be
   there (uploads with the right bytes) and the database must be intact.
3. Growth: GetThings by type with max=1 and a PutThings replacing a blob,
   at 2,000 and at 20,000 stored things.
4. Availability: a second application reads its own record (one thing)
   while the first runs the costliest requests it can make (XPath filters
   over every study, the most things per PutThings, responses near the size
   limit); its p99 against its p99 without them, measured in the same run
   (the baseline).

    .venv/bin/python bench/load.py [--seconds 10] [--kills 5]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import multiprocessing
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from healthvault import crypto, methods, status  # noqa: E402
from healthvault.client import HealthVaultClient, HealthVaultTransportError, ThingQuery  # noqa: E402
from healthvault.schema import GetThings3Params, PutThings2Params
from tests.blobdata import file_thing  # noqa: E402
from tests.localserver import RunningServer, start_server  # noqa: E402
from tests.test_server import MIS, study  # noqa: E402


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(times: list[float], q: float) -> float:
    if not times:
        return float("nan")
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


# -- 1. load ------------------------------------------------------------------------------


def load(server: RunningServer, clients: int, seconds: float) -> None:
    pid = server.process.pid
    before = rss_mib(pid)
    tag = uuid.uuid4().hex[:8]
    times: list[float] = []
    errors: list[str] = []
    acknowledged: list[str] = []
    guard = threading.Lock()
    stop = [0.0]
    ready = threading.Barrier(clients + 1, action=lambda: stop.__setitem__(0, time.monotonic() + seconds))
    query = ThingQuery(type_ids=[MIS], max=20)

    def worker(n: int) -> None:
        with server.client(timeout=60) as client:
            client.create_session()  # sessions are opened before the clock starts
            ready.wait()
            i = 0
            while time.monotonic() < stop[0]:
                i += 1
                started = time.perf_counter()
                try:
                    if i % 2:
                        cid = f"{tag}-{n}-{i}"
                        client.put_thing(study(f"1.{n}.{i}", client_id=cid))
                        with guard:
                            acknowledged.append(cid)
                    else:
                        client.get_things(query)
                except Exception as exc:  # counted, not raised
                    with guard:
                        errors.append(type(exc).__name__)
                    continue
                with guard:
                    times.append(time.perf_counter() - started)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    ready.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    lost = 0
    with server.client() as client:
        for k in range(0, len(acknowledged), 200):
            wanted = acknowledged[k : k + 200]
            found = {str(t.data_xml[0].common.client_thing_id) for t in client.get_things(client_thing_ids=wanted)}
            lost += len(set(wanted) - found)
    print(
        f"load {clients:3d} clients {seconds:.0f} s: {len(times) / elapsed:7.1f} req/s  "
        f"p50 {percentile(times, 0.5):7.1f} ms  p99 {percentile(times, 0.99):7.1f} ms  "
        f"errors {len(errors)}  lost writes {lost} of {len(acknowledged)}  "
        f"server RSS {before:.0f} -> {rss_mib(pid):.0f} MiB (peak {rss_mib(pid, 'VmHWM'):.0f})"
    )


# -- 2. faults ----------------------------------------------------------------------------


def kill_rounds(server: RunningServer, rounds: int) -> None:
    lost_writes = lost_uploads = 0
    writes = uploads = 0
    for round_ in range(rounds):
        tag = uuid.uuid4().hex[:8]
        acknowledged: list[str] = []
        uploaded: list[tuple[str, str]] = []  # (thing id, sha256 of the bytes)
        stop = threading.Event()

        def writer(
            n: int, stop: threading.Event = stop, tag: str = tag, acknowledged: list[str] = acknowledged
        ) -> None:
            with server.client(retries=0, timeout=10) as client:
                i = 0
                while not stop.is_set():
                    i += 1
                    try:
                        client.put_things([study(f"2.{n}.{i}.{k}", client_id=f"{tag}-{n}-{i}") for k in range(4)])
                    except (HealthVaultTransportError, status.HealthVaultStatusError):
                        return
                    acknowledged.append(f"{tag}-{n}-{i}")

        def uploader(stop: threading.Event = stop, tag: str = tag, uploaded: list[tuple[str, str]] = uploaded) -> None:
            with server.client(retries=0, timeout=10) as client:
                while not stop.is_set():
                    data = os.urandom(random.randint(1, 6) * 1024 * 1024 + 123)
                    try:
                        store = client.blobs(file_thing(f"{tag}.bin", len(data)))
                        store.write("scan", io.BytesIO(data), "application/octet-stream")
                        key = store.commit()
                    except Exception:
                        return
                    uploaded.append((key.value, hashlib.sha256(data).hexdigest()))

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)] + [threading.Thread(target=uploader)]
        for t in threads:
            t.start()
        time.sleep(random.uniform(1.0, 2.5))
        server.kill()
        stop.set()
        for t in threads:
            t.join(30)
        db = sqlite3.connect(server.data / "store.sqlite")
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        db.close()
        server.start()
        with server.client() as client:
            for k in range(0, len(acknowledged), 200):
                wanted = acknowledged[k : k + 200]
                found = {str(t.data_xml[0].common.client_thing_id) for t in client.get_things(client_thing_ids=wanted)}
                lost_writes += len(set(wanted) - found)
            for thing_id, digest in uploaded:
                thing = client.get_things(ThingQuery(thing_ids=[thing_id], sections=["core", "blobpayload"]))
                if not thing or not thing[0].blob_payload:
                    lost_uploads += 1
                    continue
                url = str(thing[0].blob_payload.blob[0].blob_ref_url)
                if hashlib.sha256(client.http.get(url).content).hexdigest() != digest:
                    lost_uploads += 1
        writes += len(acknowledged)
        uploads += len(uploaded)
        print(
            f"  kill round {round_ + 1}: {len(acknowledged)} batches and {len(uploaded)} uploads acknowledged; integrity {integrity}"
        )
    print(f"SIGKILL x{rounds}: lost writes {lost_writes} of {writes}, lost uploads {lost_uploads} of {uploads}")


# -- 3. availability ----------------------------------------------------------------------


def second_application(server: RunningServer) -> Callable[[], HealthVaultClient]:
    """Register another application with a record of its own (server stopped meanwhile)."""
    from hvgen_server.bootstrap import add_application
    from hvgen_server.store import SqliteStore

    server.stop()
    store = SqliteStore(server.data / "store.sqlite")
    app_dir = server.data / "app2"
    app_dir.mkdir(exist_ok=True)
    app_id, key_path, cert_path = add_application(store, app_dir, "second application")
    record_id, _ = store.add_record("Second record", [app_id])
    store.close()
    server.start()

    def make() -> HealthVaultClient:
        return HealthVaultClient(
            server.url,
            app_id,
            private_key=crypto.load_private_key(key_path),
            certificate=crypto.load_certificate(cert_path),
            record_id=record_id,
            timeout=60,
        )

    return make


def attack(profile_path: str, stop: Any, results: Any) -> None:
    """The costliest requests one client can make, in a process of its own,
    sent as bytes (the responses are not parsed: only the server's work counts)."""
    costs: dict[str, list[float]] = {"xpath": [], "put1000": [], "bigresponse": []}
    with HealthVaultClient.from_profile(Path(profile_path), timeout=300, retries=0) as attacker:
        session = attacker.create_session()
        xpath = "/thing/data-xml/medical-image-study[count(series[count(images[image-blob-name])>0])>0]/description[contains(.,'zz')]"
        get_info = GetThings3Params
        requests: dict[str, Callable[[], bytes]] = {
            "xpath": lambda: methods.build_request(
                methods.GET_THINGS3,
                get_info(group=[ThingQuery(type_ids=[MIS], xpath=xpath).to_group()]),
                session=session,
                record_id=attacker.record_id,
            ),
            "put1000": lambda: methods.build_request(
                methods.PUT_THINGS,
                PutThings2Params(thing=[study(f"3.p.{uuid.uuid4().hex}") for _ in range(1000)]),
                session=session,
                record_id=attacker.record_id,
            ),
            "bigresponse": lambda: methods.build_request(
                methods.GET_THINGS3,
                get_info(group=[ThingQuery(type_ids=[MIS], max_full=500).to_group()] * 16),
                session=session,
                record_id=attacker.record_id,
            ),
        }
        while not stop.is_set():
            for name, build in requests.items():
                body = build()
                started = time.perf_counter()
                attacker.post(body, retry=False)
                costs[name].append(time.perf_counter() - started)
                if stop.is_set():
                    break
    results.put(costs)


def availability(server: RunningServer, seconds: float) -> None:
    make_victim = second_application(server)
    with make_victim() as victim, server.client(timeout=120) as attacker:
        key = victim.put_thing(study("3.victim"))
        # The attacker's record: many large studies, for XPath scans and big responses.
        big = [study(f"3.a.{i}", description="d" * 4000) for i in range(1000)]
        for _ in range(0, 4000, 1000):
            attacker.put_things(big)

        def victim_p99(duration: float) -> tuple[float, float, int]:
            times = []
            end = time.monotonic() + duration
            while time.monotonic() < end:
                started = time.perf_counter()
                victim.get_things(thing_ids=[key.value])
                times.append(time.perf_counter() - started)
            return percentile(times, 0.5), percentile(times, 0.99), len(times)

        base = victim_p99(seconds / 2)
        ctx = multiprocessing.get_context("spawn")
        stop = ctx.Event()
        results = ctx.Queue()
        attacker_process = ctx.Process(target=attack, args=(str(server.profile_path), stop, results))
        attacker_process.start()
        time.sleep(2.0)  # the attacker's process starts and sends its first request
        loaded = victim_p99(seconds)
        stop.set()
        costs: dict[str, list[float]] = results.get(timeout=300)
        attacker_process.join(60)
    for name, spent in costs.items():
        if spent:
            print(f"  attacker {name:12s}: {len(spent)} requests, median {statistics.median(spent) * 1000:7.0f} ms")
    print(
        f"availability: other application's GetThings p50/p99 {base[0]:.1f}/{base[1]:.1f} ms alone ({base[2]} requests), "
        f"{loaded[0]:.1f}/{loaded[1]:.1f} ms while the costliest requests run ({loaded[2]} requests); "
        f"p99 ratio {loaded[1] / base[1]:.1f}"
    )


# -- 4. growth ----------------------------------------------------------------------------


def growth(server: RunningServer, sizes: tuple[int, ...] = (2_000, 20_000)) -> None:
    """GetThings by type with max=1, and PutThings of one study with a blob
    replaced, as the record grows (the same requests at each size)."""
    from healthvault.bindings.things.file import File

    with server.client(timeout=120) as client:
        stored = 0
        keep = client.blobs(file_thing("kept.bin"))
        keep.write("b", b"first")
        keep.commit()
        for size in sizes:
            while stored < size:
                batch = min(1000, size - stored)
                client.put_things([study(f"4.{stored + i}") for i in range(batch)])
                stored += batch
            one = ThingQuery(type_ids=[str(File.TYPE_ID)], max=1)
            get_times, put_times = [], []
            for i in range(30):
                started = time.perf_counter()
                assert len(client.get_things(one)) == 1
                get_times.append(time.perf_counter() - started)
                keep.write("b", f"version {size}.{i}".encode())
                started = time.perf_counter()
                keep.commit()
                put_times.append(time.perf_counter() - started)
            print(
                f"growth {size:6d} things: GetThings(type, max=1) p50 {percentile(get_times, 0.5):6.1f} ms; "
                f"PutThings replacing a blob p50 {percentile(put_times, 0.5):6.1f} ms"
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--skip", nargs="*", default=[], choices=["load", "kill", "availability", "growth"])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "load")
        try:
            if "load" not in args.skip:
                with server.client() as client:
                    client.put_things([study(f"0.{i}") for i in range(100)])
                for clients in (16, 64):
                    load(server, clients, args.seconds)
            if "kill" not in args.skip:
                kill_rounds(server, args.kills)
        finally:
            server.stop()
        if "growth" not in args.skip:
            server = start_server(Path(tmp) / "growth")
            try:
                growth(server)
            finally:
                server.stop()
        if "availability" not in args.skip:
            server = start_server(Path(tmp) / "availability")
            try:
                availability(server, args.seconds)
            finally:
                server.stop()


if __name__ == "__main__":
    main()
