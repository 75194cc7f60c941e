"""Existing clients against the local platform, unchanged: every request is
written as bytes on the wire by :mod:`.foreign` (from the published schemas
and the protocol notes, not through this project's client), and the shell's
sign-in flow is driven by an HTTP client following redirects, into a small
web server standing for the application's action URL."""

from __future__ import annotations

import http.server
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from .foreign import MEDICAL_IMAGE_STUDY, Application, ForeignClient, local_time, utc_time
from .platform import RunningServer, start_server

STUDY = (
    "<medical-image-study><when><date><y>2024</y><m>5</m><d>17</d></date></when>"
    "<series><acquisition-datetime><date><y>2024</y><m>5</m><d>17</d></date></acquisition-datetime>"
    "<images><image-blob-name>1.2.3.4</image-blob-name></images></series>"
    "<study-instance-uid>1.2.840.99.{n}</study-instance-uid></medical-image-study>"
)


class ActionUrl:
    """The application's web site: records the query strings it is sent to."""

    def __init__(self) -> None:
        visits: list[dict[str, list[str]]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server name)
                visits.append(parse_qs(urlsplit(self.path).query))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"application page")

            def log_message(self, *args: object) -> None:
                pass

        self.visits = visits
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hv/action"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def hvgen(server: RunningServer, *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hvgen", *args, "--data", str(server.data)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("interop"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def action() -> Iterator[ActionUrl]:
    site = ActionUrl()
    yield site
    site.close()


@pytest.fixture(scope="module")
def app(platform: RunningServer) -> Application:
    """The application hvgen serve made (its key and certificate as an older client would hold them)."""
    profile = platform.profile
    return Application.load(profile.app_id, Path(profile.key_path), Path(profile.cert_path))


@pytest.fixture(scope="module")
def password(platform: RunningServer) -> str:
    """The first person's password, set anew for the tests."""
    hvgen(platform, "person", "passwd", "local", "--password-stdin", stdin="first-person-pw\n")
    return "first-person-pw"


@pytest.fixture(scope="module")
def other_app(platform: RunningServer, action: ActionUrl, tmp_path_factory: pytest.TempPathFactory) -> Application:
    """A second, existing application: registered with its own id, certificate and action URL."""
    from healthvault import crypto

    folder = tmp_path_factory.mktemp("other-app")
    key, cert = crypto.make_key_and_certificate("Older imaging viewer")
    (folder / "key.pem").write_bytes(crypto.key_pem(key))
    (folder / "cert.pem").write_bytes(crypto.cert_pem(cert))
    app_id = str(uuid.uuid4())
    out = hvgen(
        platform, "app", "add", "--cert", str(folder / "cert.pem"), "--app-id", app_id,
        "--name", "Older imaging viewer", "--action-url", action.url,
    )  # fmt: skip
    assert app_id in out
    return Application.load(app_id, folder / "key.pem", folder / "cert.pem")


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
) -> httpx.Response:
    """A browser: the shell redirect, the sign-in form, the authorization form if shown; returns the last response."""
    targetqs = urlencode({"appid": app_id, **(extra or {})})
    with httpx.Client(base_url=platform.url, follow_redirects=True, timeout=30) as browser:
        page = browser.get("/redirect.aspx", params={"target": target, "targetqs": targetqs})
        assert page.status_code == 200 and "/signin" in str(page.url), page.text
        form = dict(re.findall(r'name="(hvgen_csrf|next)" value="([^"]*)"', page.text))
        page = browser.post("/signin", data={**form, "login": login, "password": password})
        if 'action="/redirect.aspx"' in page.text and decision is not None:
            fields = dict(re.findall(r'name="(hvgen_csrf|target|targetqs)" value="([^"]*)"', page.text))
            fields = {k: v.replace("&amp;", "&") for k, v in fields.items()}
            chosen = records if records is not None else re.findall(r'name="record" value="([^"]+)"', page.text)[:1]
            page = browser.post("/redirect.aspx", data={**fields, "decision": decision, "record": chosen})
        return page


# -- algorithms, forms and paths ------------------------------------------------------------------


def test_hmacsha1_session_with_a_mime_wrapped_signature_and_culture_code(platform: RunningServer, app: Application):
    client = ForeignClient(platform.url, app, hmac_alg="HMACSHA1", hash_alg="SHA1", culture="culture-code")
    opened = client.open_v2(mime_sig=True)
    assert opened.code == 0, opened.message
    got = client.call(
        "GetThings", 3, f"<info><group><filter><type-id>{MEDICAL_IMAGE_STUDY}</type-id></filter><format><section>core</section></format></group></info>",
        record_id=platform.profile.record_id,
    )  # fmt: skip
    assert got.code == 0, got.message
    # the session keeps its algorithm: HMACSHA256 in an HMACSHA1 session is refused
    client.hmac_alg = "HMACSHA256"
    refused = client.call("GetThings", 3, "<info><group><format/></group></info>", record_id=platform.profile.record_id)
    assert refused.code == 4 and "opened with HMACSHA1" in refused.message


def test_whitespace_in_every_base64_value(platform: RunningServer, app: Application):
    client = ForeignClient(platform.url, app, culture="language")
    assert client.open_v2(mime_sig=True).code == 0
    header = client.header(
        "GetThings", 3, "<info><group><format/></group></info>", record_id=platform.profile.record_id
    )
    header = re.sub(r'(algName="SHA256">)([^<]{20})', lambda m: m.group(1) + m.group(2) + "\r\n", header)
    body = client.envelope(header, "<info><group><format/></group></info>", mime_hmac=True)
    assert b"\n</hmac-data>" in body
    assert client.post(body).code == 0


@pytest.mark.parametrize("path", ["/platform/wildcat.ashx", "/wildcat.ashx"])
def test_both_method_paths(platform: RunningServer, app: Application, path: str):
    client = ForeignClient(platform.url, app, path=path, culture="")
    assert client.call("GetServiceDefinition", 2, anonymous=True).code == 0
    assert client.open_v2().code == 0


def test_a_session_request_over_the_signature_algorithms_offered(platform: RunningServer, app: Application):
    client = ForeignClient(platform.url, app, hmac_alg="HMACMD5")
    refused = client.open_v2()
    assert refused.code == 3  # not one of the values the published schema enumerates


# -- msg-time ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "msg_time",
    [utc_time(digits=7), utc_time(digits=0), local_time(-8) + "-08:00", local_time(10), local_time(-11)],
    ids=["Z-7-digits", "Z-no-fraction", "offset", "no-zone-east", "no-zone-west"],
)
def test_msg_time_forms(platform: RunningServer, app: Application, msg_time: str):
    client = ForeignClient(platform.url, app)
    assert client.open_v2().code == 0
    answer = client.call("GetAlternateIds", 1, record_id=platform.profile.record_id, msg_time=msg_time)
    assert answer.code == 0, answer.message


@pytest.mark.parametrize(
    "msg_time",
    [utc_time(offset=600), utc_time(offset=-7200), local_time(0, offset=-30 * 3600), local_time(0, offset=16 * 3600)],
    ids=["10-min-ahead", "2-h-old", "no-zone-30-h-old", "no-zone-16-h-ahead"],
)
def test_msg_times_out_of_range_are_refused(platform: RunningServer, app: Application, msg_time: str):
    client = ForeignClient(platform.url, app)
    assert client.open_v2().code == 0
    answer = client.call("GetAlternateIds", 1, record_id=platform.profile.record_id, msg_time=msg_time, ttl=1800)
    assert answer.code == 49, answer.message


# -- the older client: session version 1, GetThings version 1 -------------------------------------------


def test_session_v1_with_a_fixed_msg_time_years_ago_and_its_retry(platform: RunningServer, app: Application):
    client = ForeignClient(platform.url, app, hmac_alg="HMACSHA1", hash_alg="SHA1", culture="language")
    request = client.open_v1_request(msg_time="2008-06-02T10:00:00", mime_sig=True)
    first = client.post(request)
    assert first.code == 0, first.message
    token = first.text("token")
    assert first.find("token").get("app-id") == app.app_id
    again = client.post(request)  # resent after a lost response: the same session, not a new one
    assert again.code == 0 and again.text("token") == token
    client.token = token
    got = client.call("GetAlternateIds", 1, record_id=platform.profile.record_id, msg_time=local_time(-7))
    assert got.code == 0, got.message


def test_session_v1_signature_must_verify(platform: RunningServer, app: Application):
    client = ForeignClient(platform.url, app, hmac_alg="HMACSHA1")
    request = client.open_v1_request()
    tampered = re.sub(rb'(algName="HMACSHA1">)[^<]+', lambda m: m.group(1) + b"AAAA", request)
    assert client.post(tampered).code == 11


def test_get_things_v1_answers_in_the_original_format(platform: RunningServer, app: Application):
    writer = ForeignClient(platform.url, app)
    assert writer.open_v2().code == 0
    record = platform.profile.record_id
    data = STUDY.format(n=1)
    put = writer.call(
        "PutThings", 2,
        f"<info><thing><type-id>{MEDICAL_IMAGE_STUDY}</type-id><data-xml>{data}</data-xml>"
        "<blob-payload><blob><blob-info><name></name><content-type>text/plain</content-type></blob-info>"
        "<base64data>aGVsbG8gd29ybGQ=</base64data></blob></blob-payload></thing></info>",
        record_id=record,
    )  # fmt: skip
    assert put.code == 0, put.message
    thing_id = put.text("thing-id")
    reader = ForeignClient(platform.url, app, hmac_alg="HMACSHA1", hash_alg="SHA1")
    assert reader.open_v1().code == 0
    got = reader.call(
        "GetThings", 1,
        f"<info><group><id>{thing_id}</id><format><section>core</section><section>otherdata</section>"
        "<section>audits</section><xml/></format></group></info>",
        record_id=record,
    )  # fmt: skip
    assert got.code == 0, got.message
    assert got.info.nsmap["wc"] == "urn:com.microsoft.wc.methods.response.GetThings"
    thing = got.find("group/thing")
    assert thing is not None and thing.findtext("thing-id") == thing_id
    assert [c.tag for c in thing][-2:] == ["data-xml", "data-other"]
    assert thing.find("blob-payload") is None and thing.find("created/master-app-id") is None
    other = thing.find("data-other")
    assert other.text == "aGVsbG8gd29ybGQ=" and other.get("content-type") == "text/plain"


def test_unknown_thing_types_name_the_type_and_the_way_to_teach_it(platform: RunningServer, app: Application):
    client = ForeignClient(platform.url, app)
    assert client.open_v2().code == 0
    unknown = "11111111-2222-3333-4444-555555555555"
    put = client.call(
        "PutThings", 2,
        f'<info><thing><type-id name="Vitals">{unknown}</type-id><data-xml><vitals/></data-xml></thing></info>',
        record_id=platform.profile.record_id,
    )  # fmt: skip
    assert put.code == 19
    assert unknown in put.message and "(Vitals)" in put.message and "hvgen serve --schemas" in put.message
