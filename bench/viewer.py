"""Study viewer: time to the first page of a record with 100 studies, the
other pages, and the server's memory while it streams a large study's ZIP.

Baselines, measured in the same run against the same server: an empty
GetThings round trip (the project's client, a query that matches nothing)
and the server's plain 404 answer. "cold" is the first request after the
server started (templates compiled, nothing read yet); then p50/p99 over
``--requests`` requests.

    .venv/bin/python bench/viewer.py [--studies 100] [--requests 200] [--zip-mb 256]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from healthvault import crypto  # noqa: E402
from healthvault.client import ThingQuery  # noqa: E402
from hvgen_imaging import dicom, study, workflow  # noqa: E402
from hvgen_imaging.sending import Signer  # noqa: E402
from tests.dicomgen import make_study  # noqa: E402
from tests.localserver import RunningServer, start_server  # noqa: E402
from tests.viewerdata import PASSWORD, hvgen, sign_in  # noqa: E402


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--studies", type=int, default=100)
    ap.add_argument("--requests", type=int, default=200)
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
            if args.zip_mb:
                zip_memory(server, base, args.zip_mb)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
