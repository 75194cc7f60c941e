"""A platform with a victim, an attacker and their applications, and a web
site on another port of 127.0.0.1, for the tests of attacks on the
platform's pages (:mod:`.test_web_attacks`, :mod:`.test_web_browser_attacks`).

The victim is the first person (``local``, :data:`PASSWORD`) with the
default record and a record authorized for the trusted application. The
attacker is the person ``mallory`` with her own record, authorized for her
own application, which can therefore store blobs on the platform. Both
applications have their action URLs on :class:`Site`.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from healthvault import crypto
from healthvault.client import HealthVaultClient

from .localserver import Backend, RunningServer, hvgen, start_server

PASSWORD = "victim-password-1"
MALLORY_PASSWORD = "mallory-password-1"


class Site:
    """A web site on another port of 127.0.0.1 (the attacker's, and where
    the applications' action URLs are): serves :attr:`pages` by path and
    records every request (path, query and posted fields)."""

    def __init__(self) -> None:
        self.pages: dict[str, bytes] = {}
        self.visits: list[tuple[str, str, dict[str, list[str]]]] = []  # (method, path, fields)
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server name)
                parts = urlsplit(self.path)
                site.visits.append(("GET", parts.path, parse_qs(parts.query)))
                self.answer(site.pages.get(parts.path, b"<!doctype html><title>site</title><p>site page"))

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                site.visits.append(("POST", urlsplit(self.path).path, parse_qs(body.decode("ascii", "replace"))))
                self.answer(b"<!doctype html><title>site</title><p>posted")

            def answer(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def tokens(self) -> list[str]:
        """Every wctoken the site was handed (in a query string or a posted form)."""
        return [t for _, _, fields in self.visits for t in fields.get("wctoken", [])]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class App:
    """A registered application with its key and certificate."""

    app_id: str
    folder: Path
    action_url: str | None

    def client(self, url: str, record_id: str) -> HealthVaultClient:
        key = crypto.load_private_key(self.folder / "key.pem")
        cert = crypto.load_certificate(self.folder / "cert.pem")
        return HealthVaultClient(url, self.app_id, private_key=key, certificate=cert, record_id=record_id)


@dataclass
class Platform:
    server: RunningServer
    site: Site
    victim_record: str
    trusted: App
    trusted_record: str
    attacker: App
    attacker_record: str
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def authorized(self, app_id: str, record_id: str) -> bool:
        store = self.server.open_store()
        try:
            return store.authorized(app_id, record_id)
        finally:
            store.close()

    def close(self) -> None:
        self.server.stop()
        self.site.close()


def register(server: RunningServer, folder: Path, name: str, action_url: str | None) -> App:
    folder.mkdir(parents=True, exist_ok=True)
    key, cert = crypto.make_key_and_certificate(name)
    (folder / "key.pem").write_bytes(crypto.key_pem(key))
    (folder / "cert.pem").write_bytes(crypto.cert_pem(cert))
    listed = hvgen(server, "app", "add", "--cert", str(folder / "cert.pem"), "--name", name,
                   *(["--action-url", action_url] if action_url else []), "--json")  # fmt: skip
    return App(json.loads(listed)["app_id"], folder, action_url)


def make_platform(base: Path, backend: Backend, *options: str) -> Platform:
    server = start_server(base, *options, backend=backend)
    site = Site()
    hvgen(server, "person", "passwd", "local", "--password-stdin", stdin=PASSWORD + "\n")
    hvgen(server, "person", "add", "mallory", "--name", "Mallory", "--password-stdin", stdin=MALLORY_PASSWORD + "\n")
    trusted = register(server, base / "trusted", "Trusted application", site.origin + "/trusted/back")
    attacker = register(server, base / "attacker", "Attacker's application", site.origin + "/attacker/back")
    trusted_record = json.loads(
        hvgen(server, "record", "add", "--person", "local", "--name", "Shared", "--authorize", trusted.app_id, "--json")
    )["record_id"]
    attacker_record = json.loads(
        hvgen(
            server,
            "record",
            "add",
            "--person",
            "mallory",
            "--name",
            "Mallory",
            "--authorize",
            attacker.app_id,
            "--json",
        )  # fmt: skip
    )["record_id"]
    return Platform(server, site, server.profile.record_id, trusted, trusted_record, attacker, attacker_record)


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, page
    return found.group(1)


@contextmanager
def signed_in_browser(url: str, login: str = "local", password: str = PASSWORD) -> Iterator[httpx.Client]:
    """An HTTP client that signed in with the sign-in form, as a browser would
    (cookies kept, redirects not followed)."""
    with httpx.Client(base_url=url, follow_redirects=False, timeout=30) as browser:
        page = browser.get("/signin", params={"next": "/viewer"})
        form = {"login": login, "password": password, "next": "/viewer", "hvgen_csrf": hidden(page.text, "hvgen_csrf")}
        done = browser.post("/signin", data=form)
        assert done.status_code == 303 and done.headers["location"] == "/viewer", done.text
        yield browser


def store_blob(platform: Platform, data: bytes, content_type: str, name: str = "report") -> str:
    """The attacker's application stores a blob in Mallory's record; its download URL."""
    from .blobdata import file_thing

    with platform.attacker.client(platform.url, platform.attacker_record) as client:
        blobs = client.blobs(file_thing())
        blobs.write(name, data, content_type)
        blobs.commit()
        return blobs.url(name)
