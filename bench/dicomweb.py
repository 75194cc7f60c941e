"""DICOMweb on the local platform: QIDO-RS latency over many studies, and
WADO-RS retrieve throughput.

1. ``--studies`` studies (1 series, 2 small images each, no previews) are
   uploaded with the study workflow. The first QIDO-RS query indexes them
   (timed on its own); then each query kind is timed ``--repeat`` times
   (median and 95th percentile). Baseline, in the same run: the same
   question answered without the index, as a client of the XML methods does
   (GetThings of every study thing, then matching in Python: what
   ``Studies.summaries()`` does for ``hvgen study list``).
2. A study of ``--images`` images of 512 x 512 x 16 bits is retrieved whole
   with WADO-RS (multipart/related, streamed), against plain downloads of
   the same bytes in the same run: its blobs by their blob URLs, one after
   the other, and one blob holding all of them.

    .venv/bin/python bench/dicomweb.py [--studies 1000] [--images 64] [--repeat 30]

(``--studies 0`` measures WADO-RS only.)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from healthvault import transfer  # noqa: E402
from hvgen_imaging import dicom, study, workflow  # noqa: E402
from tests.dicomgen import make_study  # noqa: E402
from tests.localserver import start_server  # noqa: E402


def timed(call, repeat: int) -> tuple[float, float]:
    """Median and 95th percentile of ``repeat`` calls, in milliseconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


def populate(client: object, root: Path, count: int) -> None:
    studies = workflow.Studies(client, journal_dir=root / "journal")  # type: ignore[arg-type]
    t0 = time.perf_counter()
    for n in range(count):
        folder = root / f"s{n}"
        make_study(
            folder,
            series=1,
            images=2,
            size=16,
            seed=n,
            patient=f"PATIENT{n % 97:02d}^TEST",
            patient_id=f"ID{n:05d}",
            study_date=f"{2000 + n % 25}{1 + n % 12:02d}{1 + n % 28:02d}",
            modality=("CT", "MR", "CR", "US")[n % 4],
        )
        studies.upload(study.build(dicom.scan(folder).studies[0], previews=False))
        if (n + 1) % 100 == 0:
            print(f"  {n + 1} studies uploaded ({time.perf_counter() - t0:.0f} s)", flush=True)


def qido(server_url: str, token: str, client: object, repeat: int) -> None:
    http = httpx.Client(base_url=server_url + "/dicomweb", headers={"Authorization": f"Bearer {token}"}, timeout=600)
    t0 = time.perf_counter()
    first = http.get("/studies", params={"limit": "1"})
    first.raise_for_status()
    print(f"first query, indexing every study: {time.perf_counter() - t0:.2f} s")
    queries = {
        "every study": {},
        "PatientName=patient1* (wildcard)": {"PatientName": "patient1*"},
        "PatientID=ID00500": {"PatientID": "ID00500"},
        "StudyDate=20100101-20121231": {"StudyDate": "20100101-20121231"},
        "ModalitiesInStudy=MR": {"ModalitiesInStudy": "MR"},
        "limit=20 (a page)": {"limit": "20"},
    }
    for name, params in queries.items():
        found = len(http.get("/studies", params=params).json())
        median, p95 = timed(lambda params=params: http.get("/studies", params=params).raise_for_status(), repeat)
        print(f"  QIDO-RS {name:38s} {found:5d} found  median {median:7.1f} ms  p95 {p95:7.1f} ms")

    studies = workflow.Studies(client)  # type: ignore[arg-type]

    def baseline() -> int:
        return sum(1 for s in studies.summaries() if (s.patient or "").lower().startswith("patient1"))

    found = baseline()
    median, p95 = timed(baseline, max(3, repeat // 5))
    q_median, _ = timed(lambda: http.get("/studies", params={"PatientName": "patient1*"}).raise_for_status(), repeat)
    print(
        f"  baseline: GetThings of every study + match in Python   {found:5d} found  median {median:7.1f} ms  p95 {p95:7.1f} ms"
    )
    print(f"  ratio (baseline / QIDO-RS, PatientName wildcard): {median / q_median:.1f}x")


def wado(server_url: str, token: str, client: object, root: Path, images: int, repeat: int) -> None:
    folder = root / "big"
    made = make_study(folder, series=1, images=images, size=512, seed=99, patient_id="BIG")
    studies = workflow.Studies(client, journal_dir=root / "journal")  # type: ignore[arg-type]
    studies.upload(study.build(dicom.scan(folder).studies[0], previews=False))
    thing = studies.find(str(made["study_uid"]))
    assert thing is not None
    store = client.blobs(thing)  # type: ignore[attr-defined]
    names = [str(s) for s in made["sops"]]
    urls = [store.url(name) for name in names]
    size = sum(p.stat().st_size for p in folder.rglob("*.dcm"))
    joined = root / "joined.bin"  # the same bytes as one blob
    with open(joined, "wb") as f:
        for path in sorted(folder.rglob("*.dcm")):
            f.write(path.read_bytes())
    one_url = transfer.put_file(client, joined).url  # type: ignore[arg-type]
    http = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=600)
    url = f"{server_url}/dicomweb/studies/{made['study_uid']}"

    def retrieve() -> int:
        got = 0
        with http.stream("GET", url) as response:
            response.raise_for_status()
            for chunk in response.iter_raw():
                got += len(chunk)
        return got

    def plain(targets: list[str]) -> int:
        got = 0
        for target in targets:
            with http.stream("GET", target) as response:
                response.raise_for_status()
                for chunk in response.iter_raw():
                    got += len(chunk)
        return got

    assert retrieve() >= size and plain(urls) == size and plain([one_url]) == size
    w_median, _ = timed(retrieve, repeat)
    b_median, _ = timed(lambda: plain(urls), repeat)
    o_median, _ = timed(lambda: plain([one_url]), repeat)
    mb = size / 1e6
    print(f"WADO-RS retrieve of a study of {images} images ({mb:.1f} MB):")
    print(f"  WADO-RS multipart/related           median {w_median:7.1f} ms  {mb / w_median * 1000:7.1f} MB/s")
    print(f"  plain blob downloads, image by image median {b_median:7.1f} ms  {mb / b_median * 1000:7.1f} MB/s")
    print(f"  plain download of one blob of them  median {o_median:7.1f} ms  {mb / o_median * 1000:7.1f} MB/s")
    print(
        f"  ratio (WADO-RS / plain throughput): {b_median / w_median:.2f} (image by image), {o_median / w_median:.2f} (one blob)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=1000)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = start_server(root / "server")
        try:
            with server.client(timeout=600) as client:
                token = client.dicomweb_token(3600).token
                if args.studies:
                    print(f"uploading {args.studies} studies...")
                    populate(client, root / "studies", args.studies)
                    qido(server.url, token, client, args.repeat)
                wado(server.url, token, client, root, args.images, max(3, args.repeat // 5))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
