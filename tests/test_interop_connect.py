"""What an existing client asks of the platform when it connects, as bytes on
the wire (:mod:`.foreign`, written from the published method schemas):
GetServiceDefinition in both versions, GetApplicationInfo, GetThingType; and
the shell handing the wctoken back by a form post (``trm=post``), its
sign-in lockout surviving a restart and shared by two server processes."""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree

from .foreign import MEDICAL_IMAGE_STUDY, Application, ForeignClient
from .localserver import Backend, RunningServer, hvgen, start_server
from .webflow import ActionUrl, hidden_fields, sign_in_flow

XS = "http://www.w3.org/2001/XMLSchema"
STUDY_V1 = "c75651c8-548e-449f-8942-9e6379b0b88a"
BUILT_IN_TYPES = {
    "ca3c57f4-f4c1-4e15-be67-0a3caf5414ed",  # blood pressure
    "bd0403c5-4ae2-4b0e-a8db-1888678e4528",  # file
    STUDY_V1,
    MEDICAL_IMAGE_STUDY,
    "c9287326-bb43-4194-858c-8b60768f000f",  # password-protected package
    "a5294488-f865-4ce3-92fa-187cd3b58930",  # personal image
}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("connect"), backend=backend)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def action() -> Iterator[ActionUrl]:
    site = ActionUrl()
    yield site
    site.close()


@pytest.fixture(scope="module")
def app(platform: RunningServer) -> Application:
    profile = platform.profile
    return Application.load(profile.app_id, Path(profile.key_path), Path(profile.cert_path))


@pytest.fixture(scope="module")
def viewer(platform: RunningServer, action: ActionUrl, tmp_path_factory: pytest.TempPathFactory) -> Application:
    """An existing application, registered with its own certificate and action URL."""
    from healthvault import crypto

    folder = tmp_path_factory.mktemp("viewer")
    key, cert = crypto.make_key_and_certificate("Imaging viewer")
    (folder / "key.pem").write_bytes(crypto.key_pem(key))
    (folder / "cert.pem").write_bytes(crypto.cert_pem(cert))
    app_id = str(uuid.uuid4())
    hvgen(platform, "app", "add", "--cert", str(folder / "cert.pem"), "--app-id", app_id,
          "--name", "Imaging viewer", "--action-url", action.url)  # fmt: skip
    hvgen(platform, "person", "passwd", "local", "--password-stdin", stdin="first-person-pw\n")
    return Application.load(app_id, folder / "key.pem", folder / "cert.pem")


def xml_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def config_items(answer_platform: etree._Element) -> dict[str, str]:
    return {c.get("key", ""): c.text or "" for c in answer_platform.findall("configuration")}


# -- GetServiceDefinition ---------------------------------------------------------------------------


def test_service_definition_version_1_as_an_older_sdk_reads_it(platform: RunningServer, app: Application):
    client = ForeignClient(platform.url, app, hmac_alg="HMACSHA1", hash_alg="SHA1", culture="language")
    answer = client.call("GetServiceDefinition", 1, anonymous=True)
    assert answer.code == 0, answer.message
    assert answer.info is not None
    assert answer.info.nsmap["wc"] == "urn:com.microsoft.wc.methods.response.GetServiceDefinition"
    assert [c.tag for c in answer.info][:2] == ["platform", "shell"] and answer.info[-1].tag == "updated-date"
    assert answer.text("platform/url") == platform.url + "/wildcat.ashx"
    assert answer.text("platform/version")
    items = config_items(answer.find("platform"))
    assert items["blobStreamTokenTtlMs"] == str(10 * 60 * 1000)  # hvgen serve's default blob read URL TTL
    assert items["blobStreamWriteTokenTtlMs"] == str(2 * 3600 * 1000)
    assert items["maxRequestUncompressedSizeBytes"] == str(32 * 1024 * 1024)
    assert items["MaxFullThingResultsPerGroup"] == "500"
    assert answer.text("shell/url") == platform.url + "/"
    assert answer.text("shell/redirect-url") == platform.url + "/redirect.aspx"
    tokens = {t.findtext("token"): (t.findtext("querystring-parameters") or "").split(",")
              for t in answer.findall("shell/redirect-token")}  # fmt: skip
    assert set(tokens) == {"AUTH", "APPAUTH"} and {"appid", "actionqs", "trm"} <= set(tokens["AUTH"])
    offered = {
        m.findtext("name"): [v.get("number") for v in m.findall("version")] for m in answer.findall("xml-method")
    }
    assert offered["GetServiceDefinition"] == ["1", "2"] and offered["GetThings"] == ["1", "3"]
    assert offered["GetThingType"] == ["1"] and offered["GetApplicationInfo"] == ["1"]
    assert answer.find("instances") is None  # version 2 only
    xml_time(answer.text("updated-date"))
    # the redirect URL is the shell itself: an AUTH there asks the person to sign in
    page = httpx.get(answer.text("shell/redirect-url"), params={"target": "AUTH", "targetqs": f"appid={app.app_id}"},
                     follow_redirects=True)  # fmt: skip
    assert page.status_code == 200 and "/signin" in str(page.url)


def test_service_definition_in_a_session_too(platform: RunningServer, app: Application):
    client = ForeignClient(platform.url, app, hmac_alg="HMACSHA1", hash_alg="SHA1")
    assert client.open_v1().code == 0
    for version in (1, 2):
        answer = client.call("GetServiceDefinition", version)
        assert answer.code == 0, answer.message
        assert answer.text("shell/redirect-url") == platform.url + "/redirect.aspx"
    client.secret = b"not the session's secret"
    assert client.call("GetServiceDefinition", 2).code == 4  # a session's request is checked as any other


def test_service_definition_version_2_sections_and_updated_date(platform: RunningServer, app: Application):
    client = ForeignClient(platform.url, app)
    full = client.call("GetServiceDefinition", 2, anonymous=True)
    assert full.code == 0, full.message
    assert [c.tag for c in full.info if c.tag != "xml-method"] == ["platform", "shell", "instances", "updated-date"]
    assert full.text("shell/redirect-url") == platform.url + "/redirect.aspx"
    instance = full.find("instances/instance")
    assert full.find("instances").get("current-instance-id") == instance.findtext("id")
    assert instance.findtext("platform-url") == platform.url + "/wildcat.ashx"
    assert instance.findtext("shell-url") == platform.url + "/"
    updated = full.text("updated-date")

    def sections(*names: str, since: str | None = None):
        parts = f"<updated-date>{since}</updated-date>" if since else ""
        if names:
            parts += "<response-sections>" + "".join(f"<section>{n}</section>" for n in names) + "</response-sections>"
        return client.call("GetServiceDefinition", 2, f"<info>{parts}</info>", anonymous=True)

    shell_only = sections("shell")
    assert [c.tag for c in shell_only.info] == ["shell", "updated-date"]
    assert shell_only.text("updated-date") == updated  # the definition did not change
    both = sections("platform", "xml-over-http-methods")
    assert {c.tag for c in both.info} == {"platform", "xml-method", "updated-date"}
    assert config_items(both.find("platform")) == config_items(full.find("platform"))
    # a caller holding the current definition gets an empty info, one holding an older one the answer
    current = sections("platform", "shell", since=updated)
    assert current.code == 0 and current.info is not None and len(current.info) == 0
    older = (xml_time(updated) - dt.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert [c.tag for c in sections("shell", since=older).info] == ["shell", "updated-date"]
    v1 = client.call("GetServiceDefinition", 1, f"<info><updated-date>{updated}</updated-date></info>", anonymous=True)
    assert v1.code == 0 and v1.info is not None and len(v1.info) == 0
    assert sections("weather").code == 3  # not a section the published schema enumerates


def test_the_definition_changes_only_when_the_server_does(new_server) -> None:
    """The updated-date is kept in the store: the same after a restart with
    the same settings, later after one with other limits."""
    server = new_server()
    profile = server.profile
    client = ForeignClient(
        server.url, Application.load(profile.app_id, Path(profile.key_path), Path(profile.cert_path))
    )
    first = client.call("GetServiceDefinition", 2, anonymous=True).text("updated-date")
    server.stop()
    server.start()
    assert client.call("GetServiceDefinition", 2, anonymous=True).text("updated-date") == first
    server.stop()
    server.options = ["--max-full", "50"]
    server.start()
    changed = client.call("GetServiceDefinition", 2, f"<info><updated-date>{first}</updated-date></info>",
                          anonymous=True)  # fmt: skip
    assert xml_time(changed.text("updated-date")) > xml_time(first)
    assert config_items(changed.find("platform"))["MaxFullThingResultsPerGroup"] == "50"


# -- GetApplicationInfo -----------------------------------------------------------------------------


def test_application_info_of_the_sessions_application(platform: RunningServer, viewer: Application, action: ActionUrl):
    client = ForeignClient(platform.url, viewer, hmac_alg="HMACSHA1", hash_alg="SHA1")
    assert client.open_v1().code == 0
    answer = client.call("GetApplicationInfo", 1, "<info><all-languages>true</all-languages></info>")
    assert answer.code == 0, answer.message
    assert answer.info.nsmap["wc"] == "urn:com.microsoft.wc.methods.response.GetApplicationInfo"
    assert answer.text("application/id") == viewer.app_id
    assert [n.text for n in answer.findall("application/name")] == ["Imaging viewer"]
    assert answer.text("application/action-url") == action.url
    assert answer.text("application/app-auth-required") == "true"
    assert answer.text("application/app-type") == "Web"
    for kind in ("online", "offline"):
        rule = answer.find(f"application/person-{kind}-base-auth-xml/auth/rules/rule")
        assert rule is not None and [p.text for p in rule.findall("permission")] == [
            "Read",
            "Update",
            "Create",
            "Delete",
        ]
    own = client.call("GetApplicationInfo", 1, f"<info><child-app-id>{viewer.app_id}</child-app-id></info>")
    assert own.code == 0 and own.text("application/id") == viewer.app_id
    other = client.call("GetApplicationInfo", 1, f"<info><child-app-id>{uuid.uuid4()}</child-app-id></info>")
    assert other.code == 6 and "child applications" in other.message
    # the application is the session's: a request without one is not authenticated
    refused = ForeignClient(platform.url, viewer).call("GetApplicationInfo", 1, anonymous=True)
    assert refused.code == 4 and refused.info is None


# -- GetThingType -----------------------------------------------------------------------------------


def thing_types(client: ForeignClient, *parts: str, anonymous: bool = False):
    return client.call("GetThingType", 1, "<info>" + "".join(parts) + "</info>", anonymous=anonymous)


def test_thing_type_by_id_with_every_section(platform: RunningServer, app: Application):
    client = ForeignClient(platform.url, app)
    assert client.open_v2().code == 0
    sections = "".join(f"<section>{s}</section>" for s in ("core", "xsd", "columns", "transforms", "versions",
                                                         "effectivedatexpath"))  # fmt: skip
    answer = thing_types(client, f"<id>{MEDICAL_IMAGE_STUDY.upper()}</id>", sections)
    assert answer.code == 0, answer.message
    (study,) = answer.findall("thing-type")
    assert study.findtext("id") == MEDICAL_IMAGE_STUDY and study.findtext("name") == "Medical image study"
    assert [study.findtext(f) for f in ("uncreatable", "immutable", "singleton")] == ["false"] * 3
    schema = etree.fromstring(study.findtext("xsd").encode("utf-8"))
    assert schema.tag == f"{{{XS}}}schema"
    assert [e.get("name") for e in schema.findall(f"{{{XS}}}element")] == ["medical-image-study"]
    assert MEDICAL_IMAGE_STUDY in study.findtext("xsd")
    versions = study.find("versions")
    assert versions.get("thing-type-id") == MEDICAL_IMAGE_STUDY
    found = [(v.get("version-type-id"), v.get("version-sequence")) for v in versions.findall("version-info")]
    assert found == [(STUDY_V1, "1"), (MEDICAL_IMAGE_STUDY, "2")]
    assert study.findtext("effective-date-xpath") == "medical-image-study/when"
    assert study.find("columns") is None and study.find("transforms") is None  # the platform keeps none


def test_thing_types_all_and_default_sections(platform: RunningServer, app: Application):
    client = ForeignClient(platform.url, app, culture="")
    answer = thing_types(client, anonymous=True)  # an application id is enough, as for GetServiceDefinition
    assert answer.code == 0, answer.message
    types = answer.findall("thing-type")
    assert {t.findtext("id") for t in types} == BUILT_IN_TYPES and len(types) == len(BUILT_IN_TYPES)
    assert all(t.find("xsd") is None and t.find("versions") is None for t in types)  # core only
    assert all(t.findtext("name") for t in types)
    two = thing_types(client, f"<id>{STUDY_V1}</id><id>{STUDY_V1}</id>", "<section>xsd</section>", anonymous=True)
    assert [t.findtext("id") for t in two.findall("thing-type")] == [STUDY_V1]
    assert two.find("thing-type/uncreatable") is None and "<version>1</version>" in two.text("thing-type/xsd")


def test_unknown_thing_types_and_refreshes(platform: RunningServer, app: Application):
    client = ForeignClient(platform.url, app)
    unknown = "11111111-2222-3333-4444-555555555555"
    answer = thing_types(client, f"<id>{MEDICAL_IMAGE_STUDY}</id><id>{unknown}</id>", anonymous=True)
    assert answer.code == 19 and unknown in answer.message and "hvgen serve --schemas" in answer.message
    assert thing_types(client, "<id>not-a-guid</id>", anonymous=True).code == 3
    assert thing_types(client, "<section>pictures</section>", anonymous=True).code == 3
    assert thing_types(client, anonymous=True).code == 0
    fetched = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # when the caller had them
    unchanged = thing_types(client, f"<last-client-refresh>{fetched}</last-client-refresh>", anonymous=True)
    assert unchanged.code == 0 and unchanged.findall("thing-type") == []
    long_ago = thing_types(client, "<last-client-refresh>2008-01-01T00:00:00Z</last-client-refresh>", anonymous=True)
    assert len(long_ago.findall("thing-type")) == len(BUILT_IN_TYPES)


# -- the shell: trm=post, and the lockout kept in the store ------------------------------------------


def posted_form(page: httpx.Response) -> tuple[str, dict[str, str]]:
    """The form a hand-back page posts at once: its action and fields."""
    match = re.search(r'<form method="post" action="([^"]+)" id="handback">', page.text)
    assert match is not None, page.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    assert '<script src="/static/handback.js">' in page.text  # the page posts it without the person clicking
    return html.unescape(match.group(1)), {k: html.unescape(v) for k, v in fields.items()}


def test_trm_post_hands_the_wctoken_back_in_a_form(platform: RunningServer, viewer: Application, action: ActionUrl):
    visits = len(action.visits)
    page = sign_in_flow(platform, "APPAUTH", viewer.app_id, "local", "first-person-pw",
                        extra={"trm": "post", "actionqs": "/studies?id=7&x=<1>"})  # fmt: skip
    assert page.status_code == 200 and str(page.url).startswith(platform.url)
    where, fields = posted_form(page)
    assert where == action.url and set(fields) == {"target", "wctoken", "actionqs"}
    assert fields["target"] == "AppAuthSuccess" and fields["actionqs"] == "/studies?id=7&x=<1>"
    posted = httpx.post(where, data=fields)  # what the browser does with the page
    assert posted.status_code == 200 and len(action.visits) == visits  # posted, never in a query string
    assert action.posts[-1]["wctoken"] == [fields["wctoken"]]
    client = ForeignClient(platform.url, viewer)
    assert client.open_v2().code == 0
    person = client.call("GetPersonInfo", 1, user_token=fields["wctoken"])
    assert person.code == 0 and person.text("person-info/person-id") == platform.profile.person_id

    # next to targetqs, as the shell's documentation writes it; a rejection posts no token
    page = sign_in_flow(platform, "APPAUTH", viewer.app_id, "local", "first-person-pw", decision="reject",
                        query={"trm": "POST"})  # fmt: skip
    where, fields = posted_form(page)
    assert where == action.url and fields == {"target": "AppAuthReject"}
    # trm=get (the default) keeps the query string
    sign_in_flow(platform, "AUTH", viewer.app_id, "local", "first-person-pw", extra={"trm": "get"})
    assert len(action.visits) == visits + 1 and action.visits[-1]["wctoken"]


def sign_in(server: RunningServer, login: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        page = browser.get("/signin")
        form = hidden_fields(page.text, "hvgen_csrf")
        return browser.post("/signin", data={**form, "login": login, "password": password})


def test_the_sign_in_lockout_survives_a_restart_and_is_shared_by_processes(new_server, tmp_path: Path) -> None:
    first = new_server()
    hvgen(first, "person", "passwd", "local", "--password-stdin", stdin="right-password\n")
    hvgen(first, "person", "add", "other", "--password-stdin", stdin="others-password\n")
    for _ in range(10):
        assert sign_in(first, "local", "wrong").status_code == 401
    assert sign_in(first, "local", "right-password").status_code == 429  # locked, even with the right one
    second = first.another_process(tmp_path / "second")
    try:  # another process on the same store counts the same attempts
        assert sign_in(second, "local", "right-password").status_code == 429
        assert sign_in(second, "other", "others-password").status_code == 303  # per login
    finally:
        second.stop()
    first.stop()
    first.start()
    assert sign_in(first, "local", "right-password").status_code == 429
