"""An application's web site and a person's browser for the shell's sign-in
flow, and the hvgen command run against a test server (the interop tests)."""

from __future__ import annotations

import html
import http.server
import re
import threading
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from .localserver import RunningServer


class ActionUrl:
    """The application's web site: records the query strings it is sent to,
    and the forms posted to it (``trm=post``)."""

    def __init__(self) -> None:
        visits: list[dict[str, list[str]]] = []
        posts: list[dict[str, list[str]]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server name)
                visits.append(parse_qs(urlsplit(self.path).query))
                self.answer()

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                assert self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded")
                posts.append(parse_qs(body.decode("ascii"), keep_blank_values=True))
                self.answer()

            def answer(self) -> None:
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"application page")

            def log_message(self, *args: object) -> None:
                pass

        self.visits = visits
        self.posts = posts
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hv/action"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def hidden_fields(page: str, *names: str) -> dict[str, str]:
    """The values of a page's hidden form fields, as a browser sends them."""
    pattern = r'name="(' + "|".join(names) + r')" value="([^"]*)"'
    return {name: html.unescape(value) for name, value in re.findall(pattern, page)}


def sign_in_flow(
    platform: RunningServer,
    target: str,
    app_id: str,
    login: str,
    password: str,
    *,
    extra: dict[str, str] | None = None,
    decision: str | None = "authorize",
    records: list[str] | None = None,
    query: dict[str, str] | None = None,
) -> httpx.Response:
    """A browser: the shell redirect (``query``: more parameters next to
    target and targetqs), the sign-in form, the authorization form if shown;
    returns the last response."""
    targetqs = urlencode({"appid": app_id, **(extra or {})})
    with httpx.Client(base_url=platform.url, follow_redirects=True, timeout=30) as browser:
        page = browser.get("/redirect.aspx", params={"target": target, "targetqs": targetqs, **(query or {})})
        assert page.status_code == 200 and "/signin" in str(page.url), page.text
        form = hidden_fields(page.text, "hvgen_csrf", "next")
        page = browser.post("/signin", data={**form, "login": login, "password": password})
        if 'action="/redirect.aspx"' in page.text and decision is not None:
            fields = hidden_fields(page.text, "hvgen_csrf", "target", "targetqs")
            chosen = records if records is not None else re.findall(r'name="record" value="([^"]+)"', page.text)[:1]
            page = browser.post("/redirect.aspx", data={**fields, "decision": decision, "record": chosen})
        return page
