"""Availability while the local platform is attacked.

A second application reads its own record (GetThings of one thing) first
alone (the baseline, measured in the same run), then while another process
runs, all at once and in raw bytes, the attacks the server's limits are for:

* gzip bombs before authentication (32 kB inflating to 33 MB each);
* plain 32 MB bodies before authentication;
* bodies trickling in (from 127.0.0.2, 400 connections);
* idle connections from five addresses (1,100, opened again when closed);
* sign-in forms of 23 MB;
* GetThings comparing two node-sets of a 20,000-image thing;
* STOW-RS of 20,000 one-byte parts, and of 150 parts that are not DICOM;
* de-identified ZIP downloads of a study with a 32 MB image;
* QIDO with offset=10^30.

It prints the second application's p50/p99 alone and under attack (the
availability figure: its p99 should stay under 100 ms), how each attack was
answered, and the server's RSS.

    .venv/bin/python bench/attacks.py [--seconds 20] [--only gzip idle ...]
"""

from __future__ import annotations

import argparse
import collections
import gzip
import multiprocessing
import os
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

from bench.load import percentile, rss_mib, second_application  # noqa: E402
from healthvault import methods  # noqa: E402
from healthvault.client import HealthVaultClient, ThingQuery  # noqa: E402
from healthvault.schema import GetThings3Params  # noqa: E402
from tests.localserver import RunningServer, hvgen, start_server  # noqa: E402
from tests.rawhttp import connect, head, open_files_allowed, request  # noqa: E402
from tests.test_server import MIS, study  # noqa: E402
from tests.test_xpath_cost import IMAGES, big_study  # noqa: E402
from tests.viewerdata import PASSWORD, sign_in, upload  # noqa: E402

XML = {"Content-Type": "text/xml; charset=utf-8"}


class Attacks:
    """The attacks, each a loop in a thread of the attacker's process."""

    def __init__(self, port: int, profile: str, token: str, zip_url: str, stop: Any, only: list[str]) -> None:
        self.only = only
        self.port = port
        self.profile = profile
        self.token = token
        self.zip_url = zip_url
        self.stop = stop
        self.seen: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self.browser: httpx.Client | None = None
        self.signed_in: Any = None
        self.guard = threading.Lock()

    def count(self, attack: str, outcome: str) -> None:
        with self.guard:
            self.seen[attack][outcome] += 1

    def loop(self, attack: str, once: Callable[[], str]) -> None:
        while not self.stop.is_set():
            try:
                outcome = once()
            except Exception as exc:  # counted: a connection the server closed, a reset
                outcome = type(exc).__name__
            self.count(attack, outcome)

    def post(self, body: bytes, headers: dict[str, str], path: str = "/wildcat.ashx") -> str:
        return str(request(self.port, "POST", path, body, headers, timeout=120).status)

    def run(self) -> dict[str, dict[str, int]]:
        bomb = gzip.compress(b"<a/>" * 8_250_000, 9)
        plain = b"<a/>" * 8_000_000
        form = b"&".join(b"f%d=" % i + b"x" * 900_000 for i in range(26))
        boundary = uuid.uuid4().hex
        tiny_parts = self.multipart([("application/dicom", b"x")] * 20_000, boundary)
        junk_parts = self.multipart([("text/plain", b"junk")] * 150, boundary)
        stow = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        }
        with HealthVaultClient.from_profile(Path(self.profile), timeout=120, retries=0) as client:
            session = client.create_session()
            info = GetThings3Params(
                group=[
                    ThingQuery(
                        type_ids=[MIS], xpath=f"/thing[{IMAGES}/image-blob-name = {IMAGES}/image-preview-blob-name]"
                    ).to_group()
                ]
            )
            record = client.record_id
            jobs: dict[str, Callable[[], str]] = {
                "gzip bombs": lambda: self.post(bomb, {**XML, "Content-Encoding": "gzip"}),
                "32 MB bodies": lambda: self.post(plain, XML),
                "sign-in forms of 23 MB": lambda: self.post(
                    form, {"Content-Type": "application/x-www-form-urlencoded"}, "/signin"
                ),
                "XPath node-set = node-set": lambda: self.post(
                    methods.build_request(methods.GET_THINGS3, info, session=session, record_id=record), XML
                ),
                "STOW 20,000 one-byte parts": lambda: self.post(tiny_parts, stow, "/dicomweb/studies"),
                "STOW 150 parts not DICOM": lambda: self.post(junk_parts, stow, "/dicomweb/studies"),
                "QIDO offset=10^30": lambda: str(
                    request(
                        self.port,
                        "GET",
                        "/dicomweb/studies?offset=" + "1" + "0" * 30,
                        headers={"Authorization": f"Bearer {self.token}"},
                    ).status
                ),
                "de-identified ZIP": self.deidentified_zip,
            }
            jobs = {name: job for name, job in jobs.items() if self.chosen(name)}
            threads = [threading.Thread(target=self.loop, args=item, daemon=True) for item in jobs.items()]
            if self.chosen("trickling bodies"):
                threads.append(threading.Thread(target=self.trickle, daemon=True))
            if self.chosen("idle connections"):
                threads.append(threading.Thread(target=self.idle_flood, daemon=True))
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        return {name: dict(counts) for name, counts in self.seen.items()}

    def chosen(self, name: str) -> bool:
        return not self.only or any(word.lower() in name.lower() for word in self.only)

    @staticmethod
    def multipart(parts: list[tuple[str, bytes]], boundary: str) -> bytes:
        out = [f"--{boundary}\r\nContent-Type: {media}\r\n\r\n".encode() + data + b"\r\n" for media, data in parts]
        return b"".join(out) + f"--{boundary}--\r\n".encode()

    def deidentified_zip(self) -> str:
        """Downloads by one browser, signed in once (signing in is not the attack measured here)."""
        if self.browser is None:
            self.signed_in = sign_in(f"http://127.0.0.1:{self.port}", password=PASSWORD)
            self.browser = self.signed_in.__enter__()
        try:
            with self.browser.stream("GET", self.zip_url, timeout=300) as got:
                for _ in got.iter_bytes():
                    pass
                return str(got.status_code)
        except httpx.TransportError:
            self.browser = None  # its connection was closed (idle too long under the flood): sign in again
            raise

    def trickle(self) -> None:
        """Bodies sent a few bytes at a time, kept at 400 connections from one address."""
        open_: list[Any] = []
        while not self.stop.is_set():
            while len(open_) < 400:
                try:
                    sock = connect(self.port, source="127.0.0.2", timeout=1)
                    sock.sendall(head("POST", "/wildcat.ashx", {**XML, "Content-Length": "1000000"}))
                except OSError:
                    self.count("trickling bodies", "refused")
                    break
                open_.append(sock)
                self.count("trickling bodies", "opened")
            for sock in list(open_):
                try:
                    sock.send(b"x")
                except OSError:
                    open_.remove(sock)
                    sock.close()
                    self.count("trickling bodies", "closed by the server")
            time.sleep(0.5)
        for sock in open_:
            sock.close()

    def idle_flood(self) -> None:
        """1,100 idle connections from five addresses, opened again when the server closes them."""
        open_: list[Any] = []
        n = 0
        while not self.stop.is_set():
            while len(open_) < 1100:
                n += 1
                try:
                    open_.append(connect(self.port, source=f"127.0.0.{3 + n % 5}", timeout=1))
                    self.count("idle connections", "opened")
                except OSError:
                    self.count("idle connections", "refused")
                    break
            for sock in list(open_):
                sock.setblocking(False)
                try:
                    if sock.recv(1) == b"":
                        raise ConnectionResetError
                except BlockingIOError:
                    continue
                except OSError:
                    open_.remove(sock)
                    sock.close()
                    self.count("idle connections", "closed by the server")
            time.sleep(0.2)
        for sock in open_:
            sock.close()


def attacker(port: int, profile: str, token: str, zip_url: str, stop: Any, results: Any, only: list[str]) -> None:
    with open_files_allowed(8192):
        results.put(Attacks(port, profile, token, zip_url, stop, only).run())


def prepare(server: RunningServer, base: Path) -> tuple[Callable[[], HealthVaultClient], str, str]:
    """The second application, a 20,000-image thing, a study with a 32 MB image, a DICOMweb token."""
    make_victim = second_application(server)
    hvgen(server, "person", "passwd", "local", "--password-stdin", stdin=PASSWORD + "\n")
    with server.client(timeout=120) as client:
        client.put_thing(big_study(20_000))
        token = str(client.dicomweb_token().token)
    uploaded = upload(server, base / "study", series=1, images=1, size=4000, seed=7)
    zip_url = f"/viewer/{server.profile.record_id}/{uploaded.thing_id}/study-deidentified.zip"
    return make_victim, token, zip_url


NAMES = [
    "gzip bombs",
    "32 MB bodies",
    "sign-in forms",
    "trickling bodies",
    "idle connections",
    "XPath node-set",
    "STOW 20,000",
    "STOW 150",
    "QIDO offset",
    "de-identified ZIP",
]


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def under_attack(
    server: RunningServer, token: str, zip_url: str, only: list[str], seconds: float, victim: Callable[[float], Any]
) -> tuple[Any, dict[str, dict[str, int]], str]:
    """The victim's figures while the attacker's process runs the ``only`` attacks
    (all when empty), what the attacks met, and the CPU the server and attacker used."""
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    results = ctx.Queue()
    process = ctx.Process(
        target=attacker, args=(server.port, str(server.profile_path), token, zip_url, stop, results, only)
    )
    process.start()
    time.sleep(3.0)  # the attacks are under way
    assert process.pid is not None and server.process is not None
    server_cpu, attacker_cpu, started = cpu_seconds(server.process.pid), cpu_seconds(process.pid), time.monotonic()
    loaded = victim(seconds)
    spent = time.monotonic() - started
    cpu = (
        f"server {100 * (cpu_seconds(server.process.pid) - server_cpu) / spent:.0f}% of a core, "
        f"attacker {100 * (cpu_seconds(process.pid) - attacker_cpu) / spent:.0f}%"
    )
    stop.set()
    seen: dict[str, dict[str, int]] = results.get(timeout=600)
    process.join(60)
    return loaded, seen, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--only", nargs="*", default=[], help="run only the attacks whose names hold one of these words")
    ap.add_argument("--each", action="store_true", help="also run each attack alone first")
    args = ap.parse_args()
    with open_files_allowed(8192):
        run(args)


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "attacks")
        try:
            make_victim, token, zip_url = prepare(server, Path(tmp))
            pid = server.process.pid
            with make_victim() as victim:
                key = victim.put_thing(study("9.victim"))

                def victim_times(duration: float) -> tuple[float, float, int]:
                    times = []
                    end = time.monotonic() + duration
                    while time.monotonic() < end:
                        started = time.perf_counter()
                        victim.get_things(thing_ids=[key.value])
                        times.append(time.perf_counter() - started)
                    return percentile(times, 0.5), percentile(times, 0.99), len(times)

                victim_times(2)  # warm
                base = victim_times(args.seconds / 2)
                print(
                    f"other application's GetThings alone: p50/p99 {base[0]:.1f}/{base[1]:.1f} ms ({base[2]} requests)"
                )
                if args.each:
                    for name in NAMES:
                        alone, _, cpu = under_attack(server, token, zip_url, [name], args.seconds / 2, victim_times)
                        print(
                            f"  under {name:18s} alone: p50/p99 {alone[0]:6.1f}/{alone[1]:7.1f} ms "
                            f"({alone[2]} requests; {cpu})"
                        )
                rss_before = rss_mib(pid)
                loaded, seen, cpu = under_attack(server, token, zip_url, args.only, args.seconds, victim_times)
            for name, counts in sorted(seen.items()):
                print(f"  attack {name:28s}: " + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items())))
            print(
                f"server RSS {rss_before:.0f} -> {rss_mib(pid):.0f} MiB during the attacks "
                f"(peak {rss_mib(pid, 'VmHWM'):.0f} MiB over the whole run)"
            )
            print(
                f"availability under attack: other application's GetThings p50/p99 {base[0]:.1f}/{base[1]:.1f} ms "
                f"alone ({base[2]} requests), {loaded[0]:.1f}/{loaded[1]:.1f} ms under "
                f"{'all the attacks' if not args.only else ', '.join(args.only)} ({loaded[2]} requests); "
                f"p99 ratio {loaded[1] / base[1]:.1f}; {cpu}"
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
