"""Study viewer: time to the first page of a record with 100 studies, the
other pages, the study list searched and sorted at 10,000 studies, and the
server's memory while it streams a large study's ZIP.

At scale (``--list-studies``), study things are cloned straight into the
store from an uploaded one (each with index rows of its own patient, date,
modality and accession; one in 50 undated), and the list's first page is
timed against the same query through QIDO-RS, measured in the same run.

Baselines, measured in the same run against the same server: an empty
GetThings round trip (the project's client, a query that matches nothing)
and the server's plain 404 answer. "cold" is the first request after the
server started (templates compiled, nothing read yet); then p50/p99 over
``--requests`` requests.

    .venv/bin/python bench/viewer.py [--studies 100] [--requests 200] [--list-studies 10000] [--zip-mb 256]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tests.conftest  # noqa: E402,F401  (first: the test helpers import one another through it)
from healthvault import crypto  # noqa: E402
from healthvault.client import ThingQuery  # noqa: E402
from hvgen_imaging import dicom, study, workflow  # noqa: E402
from hvgen_imaging.sending import Signer  # noqa: E402
from hvgen_server.store.rows import ACTIVE, INSTANCE, DicomMatch, DicomQuery, ThingFilter, ThingSelection  # noqa: E402
from hvgen_server.viewer.studies import STUDY_TYPES  # noqa: E402
from tests.dicomgen import make_study  # noqa: E402
from tests.localserver import RunningServer, hvgen, start_server  # noqa: E402
from tests.viewerdata import PASSWORD, sign_in  # noqa: E402


def measure(label: str, fn: Callable[[], object], n: int) -> float:
    """p50 in milliseconds (printed with p99)."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    p50 = statistics.median(times) * 1000
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))] * 1000
    print(f"{label:52s} p50 {p50:8.2f} ms   p99 {p99:8.2f} ms")
    return p50


def upload_studies(server: RunningServer, base: Path, count: int) -> None:
    """``count`` studies of 2 series x 2 images, every other one signed."""
    key, cert = crypto.make_key_and_certificate("Bench Radiologist")
    started = time.perf_counter()
    with server.client() as client:
        studies = workflow.Studies(client, journal_dir=base / "journal")
        for n in range(count):
            folder = base / f"s{n}"
            make_study(folder, series=2, images=2, size=64, seed=n, patient=f"PATIENT^{n:03d}")
            built = study.build(dicom.scan(folder).studies[0])
            studies.upload(built, signer=Signer(key, cert) if n % 2 == 0 else None)
    print(f"uploaded {count} studies (2 series x 2 images, half signed) in {time.perf_counter() - started:.1f} s")


def rss(pid: int) -> int:
    """Resident memory of a process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def zip_memory(server: RunningServer, base: Path, megabytes: int) -> None:
    """Upload one study of about ``megabytes`` MB and download its ZIP,
    sampling the server's resident memory meanwhile."""
    images = max(1, megabytes // 8)  # 2048 x 2048 x 16 bits: 8 MiB an image
    folder = base / "large"
    make_study(folder, series=1, images=images, size=2048, seed=7, patient="LARGE^STUDY")
    built = study.build(dicom.scan(folder).studies[0])
    with server.client() as client:
        result = workflow.Studies(client, journal_dir=base / "journal").upload(built)
    assert server.process is not None
    pid = server.process.pid
    path = f"/viewer/{server.profile.record_id}/{result.thing_id}/study.zip"
    with sign_in(server.url) as browser:
        before = rss(pid)
        peak = before
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss(pid))
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        received = 0
        started = time.perf_counter()
        with browser.stream("GET", path) as response:
            for piece in response.iter_bytes():
                received += len(piece)
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
    print(
        f"ZIP of a {result.images}-image study: {received / 1e6:.0f} MB in {elapsed:.2f} s "
        f"({received / 1e6 / elapsed:.0f} MB/s); server memory {before / 1e6:.0f} MB before, "
        f"peak {peak / 1e6:.0f} MB while streaming (+{(peak - before) / 1e6:.1f} MB)"
    )


def clone_studies(server: RunningServer, count: int) -> None:
    """``count`` copies of one indexed study thing of the record, written
    straight into the (stopped) server's store, each with its own index rows."""
    store = server.open_store()
    record = server.profile.record_id
    try:
        with store.read() as tx:
            (match,) = tx.things.select(
                record, ThingSelection(), [ThingFilter(type_ids=STUDY_TYPES)], limit=1, offset=0
            )
            template = match.version
            xml, refs = tx.things.xml(template.version_stamp), tx.things.blob_refs(template.version_stamp)
            uid = tx.dicom.search(record, DicomQuery(INSTANCE, limit=1))[0].instance.study_uid
            rows = [
                h.instance
                for h in tx.dicom.search(record, DicomQuery(INSTANCE, (DicomMatch("study_uid", "uids", (uid,)),)))
            ]
        now = time.time()
        for start in range(0, count, 500):
            with store.write() as tx:
                for n in range(start, min(count, start + 500)):
                    thing_id, stamp = str(uuid.uuid4()), str(uuid.uuid4())
                    day = dt.date(2000, 1, 1) + dt.timedelta(days=n * 7 % 9000)
                    tx.things.add(record, thing_id, template.type_id, stamp, None, day.isoformat() + "T00:00:00", now)
                    tx.things.add_version(thing_id, stamp, 1, ACTIVE, xml, now, refs)
                    changed: dict[str, Any] = {
                        "study_uid": f"1.2.826.0.1.3680043.10.{n}",
                        "patient_name": f"PATIENT^{n:05d}",
                        "patient_id": f"ID{n:05d}",
                        "study_date": day.strftime("%Y%m%d") if n % 50 else "",
                        "accession_number": f"A{n:06d}",
                        "modality": ("CT", "MR", "US", "CR")[n % 4],
                    }
                    tx.dicom.replace(record, thing_id, stamp, [dataclasses.replace(r, **changed) for r in rows])
    finally:
        store.close()


def study_list_at_scale(server: RunningServer, count: int, requests: int) -> None:
    """The study list's first page (plain, searched, sorted) at ``count`` studies,
    against the same queries through QIDO-RS."""
    server.stop()
    started = time.perf_counter()
    clone_studies(server, count)
    print(f"cloned {count} study things into the store in {time.perf_counter() - started:.1f} s")
    server.start()
    record = server.profile.record_id
    with sign_in(server.url) as browser, server.client() as client:
        token = client.dicomweb_token(3600).token
        qido = httpx.Client(
            base_url=server.url + "/dicomweb", headers={"Authorization": f"Bearer {token}"}, timeout=600
        )
        qido.get("/studies", params={"limit": "1"}).raise_for_status()
        page = browser.get(f"/viewer/{record}")
        assert page.status_code == 200 and "Studies 1–50 of" in page.text, page.text[-2000:]
        pairs = [
            ("every study, newest first", {}, {"limit": "50"}),
            ("patient PATIENT^012*", {"patient": "PATIENT^012*"}, {"PatientName": "PATIENT^012*", "limit": "50"}),
            (
                "dates 2005-01-01 to 2010-12-31",
                {"from": "2005-01-01", "to": "2010-12-31"},
                {"StudyDate": "20050101-20101231", "limit": "50"},
            ),
            ("modality MR", {"modality": "MR"}, {"ModalitiesInStudy": "MR", "limit": "50"}),
        ]
        for label, viewer_params, qido_params in pairs:
            browser.get(f"/viewer/{record}", params=viewer_params)  # its 50 studies read once
            base = measure(
                f"  QIDO-RS {label} (limit 50)",
                lambda p=qido_params: qido.get("/studies", params=p).raise_for_status(),  # type: ignore[misc]
                requests,
            )
            mine = measure(
                f"  study list {label}, page 1",
                lambda p=viewer_params: browser.get(f"/viewer/{record}", params=p).raise_for_status(),  # type: ignore[misc]
                requests,
            )
            print(f"  ratio (study list / QIDO-RS): {mine / base:.2f}x")
        browser.get(f"/viewer/{record}", params={"sort": "patient", "order": "asc"})
        measure(
            "  study list sorted by patient, page 1",
            lambda: browser.get(f"/viewer/{record}", params={"sort": "patient", "order": "asc"}).raise_for_status(),
            requests,
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--studies", type=int, default=100)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--list-studies", type=int, default=10_000, help="study things the list is timed at (0: skip)")
    ap.add_argument("--zip-mb", type=int, default=256, help="size of the study whose ZIP is streamed (0: skip)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        server = start_server(base / "platform")
        try:
            hvgen(server, "person", "passwd", "local", "--password-stdin", stdin=PASSWORD + "\n")
            upload_studies(server, base, args.studies)
            server.stop()
            server.start()  # nothing read yet: the first page is cold
            record = server.profile.record_id
            with sign_in(server.url) as browser, server.client() as client, httpx.Client() as raw:
                started = time.perf_counter()
                first = browser.get(f"/viewer/{record}")
                cold = (time.perf_counter() - started) * 1000
                assert first.status_code == 200 and first.text.count('<tr class="study">') == min(50, args.studies)
                print(f"{'first page of the study list, cold':52s} {cold:8.2f} ms")
                nothing = ThingQuery(type_ids=["00000000-0000-0000-0000-000000000000"])
                client.query(nothing)  # opens the session
                get_things = measure(
                    "baseline: empty GetThings round trip", lambda: client.query(nothing), args.requests
                )
                not_found = measure("baseline: plain 404", lambda: raw.get(server.url + "/no-such-page"), args.requests)
                page = measure(
                    f"study list, page 1 of {args.studies} studies",
                    lambda: browser.get(f"/viewer/{record}"),
                    args.requests,
                )
                last = measure(
                    "study list, last page", lambda: browser.get(f"/viewer/{record}?page=999"), args.requests
                )
                thing = re.search(rf'href="/viewer/{record}/([0-9a-f-]+)"', first.text)
                assert thing is not None
                here = f"/viewer/{record}/{thing.group(1)}"
                one = measure("a study", lambda: browser.get(here), args.requests)
                series = measure("a series, image 2", lambda: browser.get(here + "/series/1?image=2"), args.requests)
                preview = re.search(r'src="([^"]+/preview/[^"]+)"', browser.get(here).text)
                assert preview is not None
                jpeg = measure("a preview (JPEG)", lambda: browser.get(preview.group(1)), args.requests)
                print(
                    f"ratios to the empty GetThings / to the plain 404: first page cold {cold / get_things:.1f}x / "
                    f"{cold / not_found:.1f}x; page 1 {page / get_things:.1f}x / {page / not_found:.1f}x; "
                    f"last page {last / get_things:.1f}x; study {one / get_things:.1f}x; "
                    f"series {series / get_things:.1f}x; preview {jpeg / get_things:.1f}x"
                )
            if args.list_studies:
                print(f"study list at {args.list_studies} more studies:")
                study_list_at_scale(server, args.list_studies, args.requests)
            if args.zip_mb:
                zip_memory(server, base, args.zip_mb)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
