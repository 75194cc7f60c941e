"""Existing clients against the local platform, unchanged: every request is
written as bytes on the wire by :mod:`.foreign` (from the published schemas
and the protocol notes, not through this project's client), and the shell's
sign-in flow is driven by an HTTP client following redirects, into a small
web server standing for the application's action URL."""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from .foreign import MEDICAL_IMAGE_STUDY, Application, ForeignClient, local_time, utc_time
from .localserver import Backend, RunningServer, environment, hvgen, start_server
from .webflow import ActionUrl, sign_in_flow

STUDY = (
    "<medical-image-study><when><date><y>2024</y><m>5</m><d>17</d></date></when>"
    "<series><acquisition-datetime><date><y>2024</y><m>5</m><d>17</d></date></acquisition-datetime>"
    "<images><image-blob-name>1.2.3.4</image-blob-name></images></series>"
    "<study-instance-uid>1.2.840.99.{n}</study-instance-uid></medical-image-study>"
)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("interop"), backend=backend)
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


# The times are made when the test runs (a module runs once per backend, minutes apart).
@pytest.mark.parametrize(
    "msg_time",
    [
        lambda: utc_time(digits=7),
        lambda: utc_time(digits=0),
        lambda: local_time(-8) + "-08:00",
        lambda: local_time(10),
        lambda: local_time(-11),
    ],
    ids=["Z-7-digits", "Z-no-fraction", "offset", "no-zone-east", "no-zone-west"],
)
def test_msg_time_forms(platform: RunningServer, app: Application, msg_time: Callable[[], str]):
    client = ForeignClient(platform.url, app)
    assert client.open_v2().code == 0
    answer = client.call("GetAlternateIds", 1, record_id=platform.profile.record_id, msg_time=msg_time())
    assert answer.code == 0, answer.message


@pytest.mark.parametrize(
    "msg_time",
    [
        lambda: utc_time(offset=600),
        lambda: utc_time(offset=-7200),
        lambda: local_time(0, offset=-30 * 3600),
        lambda: local_time(0, offset=16 * 3600),
    ],
    ids=["10-min-ahead", "2-h-old", "no-zone-30-h-old", "no-zone-16-h-ahead"],
)
def test_msg_times_out_of_range_are_refused(platform: RunningServer, app: Application, msg_time: Callable[[], str]):
    client = ForeignClient(platform.url, app)
    assert client.open_v2().code == 0
    answer = client.call("GetAlternateIds", 1, record_id=platform.profile.record_id, msg_time=msg_time(), ttl=1800)
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


def forget_layouts(platform: RunningServer) -> int:
    """Make every stored version as one written before versions had a
    layout; returns how many had one."""
    named = dict(zip(platform.store_options[::2], platform.store_options[1::2], strict=True))
    forget = "UPDATE versions SET layout = NULL WHERE layout IS NOT NULL"
    if "--db" in named:
        import psycopg

        with environment(platform.backend.env), psycopg.connect(named["--db"]) as conn:
            return conn.execute(forget).rowcount
    with sqlite3.connect(platform.data / "store.sqlite") as db:
        return db.execute(forget).rowcount


_FORMATS = (
    "",
    "<section>core</section>",
    "<section>core</section><xml/>",
    "<section>audits</section><section>tags</section><xml/>",
    "<section>core</section><section>blobpayload</section><section>effectivepermissions</section><xml/>",
    "<section>digitalsignatures</section><section>effectivepermissions</section>",
)


def test_get_things_answers_alike_for_versions_cut_and_parsed(platform: RunningServer, app: Application):
    """GetThings cuts a stored version to the requested sections from its
    layout, or parses versions stored before layouts were kept: the answer
    is the same bytes either way (blob URLs, fresh each time, aside)."""
    client = ForeignClient(platform.url, app)
    assert client.open_v2().code == 0
    record = platform.profile.record_id
    thing = (
        f"<thing>\n  <type-id>{MEDICAL_IMAGE_STUDY}</type-id>\n  <!-- as typed -->\n  <flags>0</flags>"
        f"\n  <data-xml>{STUDY.format(n=7)}<common><note>n &amp; m</note></common></data-xml>"
        "\n  <blob-payload><blob><blob-info><name>1.2.3.4</name><content-type>application/dicom</content-type>"
        "</blob-info><base64data>aGVsbG8=</base64data></blob></blob-payload>"
        "\n  <tags>head, follow-up</tags>\n</thing>"
    )
    put = client.call("PutThings", 2, f"<info>{thing}</info>", record_id=record)
    assert put.code == 0, put.message
    thing_id = put.text("thing-id")

    def answers() -> list[bytes]:
        found = []
        for fmt in _FORMATS:
            got = client.call(
                "GetThings",
                3,
                f"<info><group><id>{thing_id}</id><format>{fmt}</format></group></info>",
                record_id=record,
            )
            assert got.code == 0, got.message
            group = got.raw[got.raw.index(b"<group") : got.raw.index(b"</group>")]
            found.append(re.sub(rb"<blob-ref-url>[^<]*</blob-ref-url>", b"<blob-ref-url/>", group))
        return found

    cut = answers()
    assert b"<!-- as typed -->" not in cut[0] and b"<tags>head, follow-up</tags>" in cut[3]
    assert b"<note>n &amp; m</note>" in cut[2] and b"<blob-ref-url/>" in cut[4] and b"<eff-permissions>" in cut[5]
    assert forget_layouts(platform) >= 1
    assert answers() == cut


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


# -- persons: the shell's sign-in flow, user-auth-token and offline access ------------------------------


def test_auth_redirect_flow_hands_the_application_a_wctoken(
    platform: RunningServer, app: Application, other_app: Application, action: ActionUrl, password: str
):
    record = platform.profile.record_id
    page = sign_in_flow(platform, "AUTH", other_app.app_id, "local", password, extra={"actionqs": "/studies?x=1"})
    assert page.status_code == 200 and page.text == "application page"
    visit = action.visits[-1]
    assert visit["target"] == ["AppAuthSuccess"] and visit["actionqs"] == ["/studies?x=1"]
    wctoken = visit["wctoken"][0]

    client = ForeignClient(platform.url, other_app, hmac_alg="HMACSHA1", hash_alg="SHA1", culture="language")
    assert client.open_v1().code == 0
    person = client.call("GetPersonInfo", 1, user_token=wctoken)
    assert person.code == 0, person.message
    assert person.text("person-info/person-id") == platform.profile.person_id
    assert [r.get("id") for r in person.findall("person-info/record")] == [record]
    assert person.text("person-info/selected-record-id") == record
    records = client.call("GetAuthorizedRecords", 1, f"<info><id>{record}</id></info>", user_token=wctoken)
    assert [r.get("id") for r in records.findall("record")] == [record]
    got = client.call(
        "GetThings", 1, "<info><group><format><section>core</section></format></group></info>",
        record_id=record, user_token=wctoken,
    )  # fmt: skip
    assert got.code == 0, got.message

    # AUTH again: already authorized, so no question, straight back with a new token
    before = len(action.visits)
    sign_in_flow(platform, "AUTH", other_app.app_id, "local", password, decision=None)
    assert len(action.visits) == before + 1 and action.visits[-1]["wctoken"][0] != wctoken

    # the token is good only with the session of the application it was issued to
    mine = ForeignClient(platform.url, app)
    assert mine.open_v2().code == 0
    assert mine.call("GetPersonInfo", 1, user_token=wctoken).code == 8


def test_user_auth_tokens_and_offline_persons_are_checked(
    platform: RunningServer, app: Application, other_app: Application, password: str
):
    record = platform.profile.record_id
    query = "<info><group><format><section>core</section></format></group></info>"
    client = ForeignClient(platform.url, app, hmac_alg="HMACSHA1")
    assert client.open_v1().code == 0
    assert client.call("GetThings", 1, query, record_id=record, user_token="not-a-real-wctoken").code == 8
    random_person = str(uuid.uuid4())
    assert client.call("GetThings", 1, query, record_id=record, offline_person=random_person).code == 9
    assert client.call("GetPersonInfo", 1, offline_person=random_person).code == 9
    owner = platform.profile.person_id
    allowed = client.call("GetThings", 1, query, record_id=record, offline_person=owner)
    assert allowed.code == 0, allowed.message

    # a second person, with a record of their own they authorized the application for
    out = hvgen(platform, "person", "add", "bob", "--name", "Bob", "--record", "Bob's record", "--json",
                "--password-stdin", stdin="bobs-password\n")  # fmt: skip
    bob = __import__("json").loads(out)
    hvgen(platform, "record", "add", "--person", "bob", "--name", "Bob's second", "--authorize", app.app_id)
    # bob has not authorized the application for the first person's record, nor the other application at all
    assert client.call("GetThings", 1, query, record_id=record, offline_person=bob["person_id"]).code == 11
    assert client.call("GetThings", 1, query, record_id=bob["record_id"], offline_person=bob["person_id"]).code == 11
    other = ForeignClient(platform.url, other_app)
    assert other.open_v2().code == 0
    assert other.call("GetPersonInfo", 1, offline_person=bob["person_id"]).info is not None
    assert other.call("GetPersonInfo", 1, offline_person=bob["person_id"]).findall("person-info/record") == []


def test_appauth_chooses_records_and_reject_gives_no_token(
    platform: RunningServer, other_app: Application, action: ActionUrl
):
    hvgen(platform, "person", "add", "carol", "--password-stdin", stdin="carols-password\n")
    first = hvgen(platform, "record", "add", "--person", "carol", "--name", "Carol A").split()[1]
    second = hvgen(platform, "record", "add", "--person", "carol", "--name", "Carol B").split()[1]
    sign_in_flow(platform, "APPAUTH", other_app.app_id, "carol", "carols-password", decision="reject")
    assert action.visits[-1]["target"] == ["AppAuthReject"] and "wctoken" not in action.visits[-1]
    sign_in_flow(platform, "APPAUTH", other_app.app_id, "carol", "carols-password", records=[second])
    wctoken = action.visits[-1]["wctoken"][0]
    client = ForeignClient(platform.url, other_app)
    assert client.open_v2().code == 0
    query = "<info><group><format><section>core</section></format></group></info>"
    assert client.call("GetThings", 1, query, record_id=second, user_token=wctoken).code == 0
    assert client.call("GetThings", 1, query, record_id=first, user_token=wctoken).code == 11


def test_sign_in_refuses_wrong_passwords_and_unknown_targets(platform: RunningServer, other_app: Application):
    page = sign_in_flow(platform, "AUTH", other_app.app_id, "local", "not-the-password")
    assert page.status_code == 401 and "wrong password" in page.text
    with httpx.Client(base_url=platform.url, follow_redirects=True) as browser:
        page = browser.get("/redirect.aspx", params={"target": "SHARERECORD", "targetqs": f"appid={other_app.app_id}"})
        assert page.status_code == 400 and "SHARERECORD" in page.text and "not offered" in page.text
        page = browser.get("/redirect.aspx", params={"target": "AUTH", "targetqs": f"appid={uuid.uuid4()}"})
        assert page.status_code == 400 and "hvgen app add" in page.text
        # a form posted without the browser's CSRF cookie is refused
        forged = browser.post("/signin", data={"login": "local", "password": "x", "hvgen_csrf": "forged"})
        assert forged.status_code == 400 and "hvgen_session" not in browser.cookies


def test_the_sign_in_page_returns_to_the_page_that_sent_the_person(platform: RunningServer, password: str):
    with httpx.Client(base_url=platform.url, follow_redirects=False) as browser:
        page = browser.get("/signin", params={"next": "/viewer/studies"})
        csrf = re.search(r'name="hvgen_csrf" value="([^"]+)"', page.text).group(1)
        done = browser.post("/signin", data={"login": "LOCAL", "password": password, "next": "/viewer/studies",
                                             "hvgen_csrf": csrf})  # fmt: skip
        assert done.status_code == 303 and done.headers["location"] == "/viewer/studies"
        assert browser.cookies.get("hvgen_session")
        page = browser.get("/signin", params={"next": "https://elsewhere.example/"})  # never another site
        assert page.status_code == 200 and "Signed in as" in page.text


# -- alternate ids: an older client's only writes, and its retries -------------------------------------------


def test_alternate_ids_and_their_retries(platform: RunningServer, app: Application):
    record, owner = platform.profile.record_id, platform.profile.person_id
    client = ForeignClient(platform.url, app, hmac_alg="HMACSHA1", hash_alg="SHA1", culture="language")
    assert client.open_v1(msg_time="2009-01-01T00:00:00").code == 0
    info = "<info><alternate-id>MRN-0042</alternate-id></info>"
    header = client.header("AssociateAlternateId", 1, info, record_id=record, offline_person=owner,
                           msg_time=local_time(-5))  # fmt: skip
    request = client.envelope(header, info)
    assert client.post(request).code == 0
    assert client.post(request).code == 0  # the same bytes again (a retry): the first answer, nothing done twice
    listed = client.call("GetAlternateIds", 1, record_id=record, offline_person=owner)
    assert [e.text for e in listed.findall("alternate-ids/alternate-id")] == ["MRN-0042"]
    # associating it again in a new request changes nothing
    assert client.call("AssociateAlternateId", 1, info, record_id=record, offline_person=owner).code == 0
    # the id names one person and record: not another record
    other_record = hvgen(platform, "record", "add", "--person", "local", "--authorize", app.app_id).split()[1]
    assert client.call("AssociateAlternateId", 1, info, record_id=other_record).code == 139
    assert client.call("DisassociateAlternateId", 1, info, record_id=record, offline_person=owner).code == 0
    assert client.call("DisassociateAlternateId", 1, info, record_id=record, offline_person=owner).code == 140
    listed = client.call("GetAlternateIds", 1, record_id=record, offline_person=owner)
    assert listed.code == 0 and listed.findall("alternate-ids/alternate-id") == []


def register(platform: RunningServer, folder: Path, name: str, action_url: str) -> Application:
    """A new application with its own key and certificate, registered with an action URL."""
    from healthvault import crypto

    key, cert = crypto.make_key_and_certificate(name)
    (folder / "key.pem").write_bytes(crypto.key_pem(key))
    (folder / "cert.pem").write_bytes(crypto.cert_pem(cert))
    app_id = str(uuid.uuid4())
    hvgen(platform, "app", "add", "--cert", str(folder / "cert.pem"), "--app-id", app_id, "--name", name,
          "--action-url", action_url)  # fmt: skip
    return Application.load(app_id, folder / "key.pem", folder / "cert.pem")


def test_an_expired_wctoken_is_refused_and_writes_are_audited_online(
    new_server, action: ActionUrl, tmp_path: Path
) -> None:
    platform = new_server("--user-token-ttl", "2")
    hvgen(platform, "person", "passwd", "local", "--password-stdin", stdin="first-person-pw\n")
    profile = platform.profile
    app = register(platform, tmp_path, "Web application", action.url.rsplit("/", 1)[0] + "/registered")
    # `redirect` goes elsewhere at the origin of the registered action URL
    sign_in_flow(platform, "AUTH", app.app_id, "local", "first-person-pw", extra={"redirect": action.url})
    wctoken = action.visits[-1]["wctoken"][0]
    client = ForeignClient(platform.url, app)
    assert client.open_v2().code == 0
    put = client.call(
        "PutThings", 2,
        f"<info><thing><type-id>{MEDICAL_IMAGE_STUDY}</type-id><data-xml>{STUDY.format(n=9)}</data-xml></thing></info>",
        record_id=profile.record_id, user_token=wctoken,
    )  # fmt: skip
    assert put.code == 0, put.message
    got = client.call(
        "GetThings", 3,
        f"<info><group><id>{put.text('thing-id')}</id><format><section>audits</section></format></group></info>",
        record_id=profile.record_id, user_token=wctoken,
    )  # fmt: skip
    created = got.find("group/thing/created")
    assert created.findtext("person-id") == profile.person_id and created.findtext("access-avenue") == "Online"
    time.sleep(2.5)
    expired = client.call("GetPersonInfo", 1, user_token=wctoken)
    assert expired.code == 7 and "sign in again" in expired.message
