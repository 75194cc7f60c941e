"""End to end against the local platform server, run as a subprocess."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree

from healthvault import codec, status
from healthvault.bindings.base import CodableValue
from healthvault.bindings.dates import Date, DateTime
from healthvault.bindings.thing import Common, DataXml, Thing2, ThingKey, ThingType
from healthvault.bindings.things import medical_image_study_2 as v2
from healthvault.bindings.things.file import File
from healthvault.client import HealthVaultClient, ThingQuery

from .conftest import REFERENCE
from .foreign import RESPONSE_NS, Answer, Application, ForeignClient, read_answer, utc_time
from .localserver import RunningServer

XSD = REFERENCE / "xsd"

MIS = str(v2.MedicalImageStudy.TYPE_ID)
FILE = str(File.TYPE_ID)


def study(uid: str, year: int = 2024, description: str = "CT head", client_id: str | None = None) -> Thing2:
    data = v2.MedicalImageStudy(
        when=DateTime(date=Date(y=year, m=5, d=17)),
        description=description,
        series=[
            v2.MedicalImageStudySeries(
                images=[v2.MedicalImageStudySeriesImage(image_blob_name=f"{uid}.1")],
                modality=CodableValue(text="CT"),
            )
        ],
        study_instance_uid=uid,
    )
    return Thing2(
        type_id=ThingType(value=MIS),
        data_xml=[DataXml(any_element=data, common=Common(client_thing_id=client_id) if client_id else None)],
    )


def a_file(name: str) -> Thing2:
    return Thing2(type_id=ThingType(value=FILE), data_xml=[DataXml(any_element=File(name=name, size=1))])


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[HealthVaultClient]:
    with server.client() as c:
        yield c


def uids(things: list[Thing2]) -> set[str | None]:
    return {
        t.data_xml[0].any_element.study_instance_uid
        for t in things
        if isinstance(t.data_xml[0].any_element, v2.MedicalImageStudy)
    }


def test_profile_written_for_other_shells(server: RunningServer) -> None:
    profile = server.profile
    assert profile.url == server.url
    assert uuid.UUID(profile.app_id) and uuid.UUID(profile.record_id)


def test_put_then_get_by_id_key_and_type(client: HealthVaultClient) -> None:
    tag = uuid.uuid4().hex
    key = client.put_thing(study(f"1.2.{tag}"))
    got = client.get_thing(key.value)
    assert got is not None and got.thing_id == key
    assert isinstance(got.data_xml[0].any_element, v2.MedicalImageStudy)
    assert got.data_xml[0].any_element.study_instance_uid == f"1.2.{tag}"
    assert got.type_id.value == MIS and got.thing_state.value == "Active"
    assert got.eff_date is not None and str(got.eff_date).startswith("2024-05-17")
    by_key = client.get_things(keys=[key])
    assert [t.thing_id for t in by_key] == [key]
    by_type = client.get_things(type_ids=[MIS])
    assert key in [t.thing_id for t in by_type]
    assert all(t.type_id.value == MIS for t in by_type)


def test_get_by_client_thing_id_and_xpath(client: HealthVaultClient) -> None:
    tag = uuid.uuid4().hex
    key = client.put_thing(study(f"9.9.{tag}", client_id=f"c-{tag}"))
    client.put_thing(study(f"9.8.{tag}"))
    assert [t.thing_id for t in client.get_things(client_thing_ids=[f"c-{tag}"])] == [key]
    xpath = f'/thing/data-xml/medical-image-study/study-instance-uid[.="9.9.{tag}"]'
    assert [t.thing_id for t in client.get_things(type_ids=[MIS], xpath=xpath)] == [key]


def test_bad_xpath_is_invalid_filter(client: HealthVaultClient) -> None:
    with pytest.raises(status.InvalidFilter, match="may not use"):
        client.get_things(xpath="//study-instance-uid")
    with pytest.raises(status.InvalidFilter, match="invalid xpath"):
        client.get_things(xpath="/thing[")


def test_date_filter_and_sections(client: HealthVaultClient) -> None:
    tag = uuid.uuid4().hex
    old = client.put_thing(study(f"7.{tag}", year=1999))
    new = client.put_thing(study(f"8.{tag}", year=2031))
    query = ThingQuery(type_ids=[MIS], extra_filters={"eff_date_min": dt.datetime(2030, 1, 1, 0, 0, 0)})
    found = [t.thing_id for t in client.get_things(query)]
    assert new in found and old not in found
    bare = client.get_things(thing_ids=[new.value], sections=("core",), xml=False)[0]
    assert bare.data_xml == [] and bare.created is None
    audited = client.get_things(thing_ids=[new.value], sections=("core", "audits"))[0]
    assert audited.created is not None and audited.created.audit_action.value == "Created"


def test_update_with_current_and_stale_version(client: HealthVaultClient) -> None:
    tag = uuid.uuid4().hex
    first = client.put_thing(study(f"5.{tag}", description="first"))
    thing = client.get_thing(first.value)
    assert thing is not None
    thing.data_xml[0].any_element.description = "second"
    second = client.put_thing(thing)
    assert second.value == first.value and second.version_stamp != first.version_stamp
    assert client.get_thing(first.value).data_xml[0].any_element.description == "second"
    thing.thing_id = first  # stale
    with pytest.raises(status.VersionStampMismatch) as info:
        client.put_thing(thing)
    assert info.value.code == 61 and first.version_stamp in info.value.message
    versions = client.get_things(ThingQuery(thing_ids=[first.value], current_version_only=False))
    assert {v.thing_id.version_stamp for v in versions} == {first.version_stamp, second.version_stamp}


def test_put_is_all_or_nothing(client: HealthVaultClient) -> None:
    tag = uuid.uuid4().hex
    good = study(f"3.{tag}", client_id=f"batch-{tag}")
    bad = Thing2(type_id=ThingType(value=MIS), data_xml=[DataXml(any_element=File(name="x", size=1))])
    with pytest.raises(status.InvalidXml, match="must hold <medical-image-study>"):
        client.put_things([good, bad])
    assert client.get_things(client_thing_ids=[f"batch-{tag}"]) == []


def test_unknown_type_and_invalid_data_refused(client: HealthVaultClient) -> None:
    with pytest.raises(status.InvalidThingType):
        client.put_thing(
            Thing2(type_id=ThingType(value=str(uuid.uuid4())), data_xml=[DataXml(any_element=File(name="a", size=1))])
        )
    broken = study("1.1")
    broken.data_xml[0].any_element.series = []  # at least one series is required
    with pytest.raises(status.InvalidXml):
        client.put_thing(broken)


def test_remove_hides_thing(client: HealthVaultClient) -> None:
    tag = uuid.uuid4().hex
    key = client.put_thing(study(f"4.{tag}", client_id=f"rm-{tag}"))
    with pytest.raises(status.VersionStampMismatch):
        client.remove_things([ThingKey(value=key.value, version_stamp=str(uuid.uuid4()))])
    client.remove_things([key])
    assert client.get_things(client_thing_ids=[f"rm-{tag}"]) == []
    deleted = client.get_things(ThingQuery(client_thing_ids=[f"rm-{tag}"], states=["Deleted"]))
    assert len(deleted) == 1 and deleted[0].thing_state.value == "Deleted"
    gone = deleted[0].thing_id
    assert gone is not None
    with pytest.raises(status.InvalidThing):
        client.remove_things([gone])


def test_paging_of_partial_results(client: HealthVaultClient) -> None:
    tag = uuid.uuid4().hex
    keys = client.put_things([study(f"6.{tag}.{i}", client_id=f"page-{tag}") for i in range(7)])
    first = client.query(ThingQuery(client_thing_ids=[f"page-{tag}"], max_full=3)).group[0]
    assert len(first.thing) == 3 and len(first.unprocessed_thing_key_info) == 4
    everything = client.get_things(ThingQuery(client_thing_ids=[f"page-{tag}"], max_full=3))
    assert sorted(t.thing_id.value for t in everything) == sorted(k.value for k in keys)
    capped = client.get_things(ThingQuery(client_thing_ids=[f"page-{tag}"], max=5))
    assert len(capped) == 5


def test_cross_record_access_denied(server: RunningServer, client: HealthVaultClient) -> None:
    store = server.open_store()
    try:
        other_app = store.add_application("other", "-", "-")
        other_record, _ = store.add_record("Someone else", [other_app])
    finally:
        store.close()
    with pytest.raises(status.AccessDenied):
        client.get_things(type_ids=[MIS], record_id=other_record)
    with pytest.raises(status.AccessDenied):
        client.put_thing(study("2.2"), record_id=other_record)
    with pytest.raises(status.InvalidRecord):
        client.get_things(type_ids=[MIS], record_id=str(uuid.uuid4()))


# -- raw requests: bytes written from the published schemas and PROTOCOL.md (tests/foreign.py),
# answers read with plain lxml, never with the project's own codec ---------------------------------

GET_STUDIES = f"<info><group><filter><type-id>{MIS}</type-id></filter><format><section>core</section><xml/></format></group></info>"


def post(server: RunningServer, body: bytes) -> codec.ResponseEnvelope:
    """Post ``body``; the answer read by the project's codec (for tests of other
    modules that post requests; this module's own read with :func:`send`)."""
    response = httpx.post(server.url + "/wildcat.ashx", content=body, timeout=10)
    assert b"Traceback" not in response.content
    return codec.read_response(response.content)


def send(server: RunningServer, body: bytes) -> Answer:
    """Post ``body``; the answer read with plain lxml."""
    response = httpx.post(server.url + "/wildcat.ashx", content=body, timeout=30)
    assert b"Traceback" not in response.content
    return read_answer(response)


def foreign(server: RunningServer, **options: object) -> ForeignClient:
    """A client of the platform that shares no code with ours, its session open."""
    profile = server.profile
    app = Application.load(profile.app_id, Path(profile.key_path), Path(profile.cert_path))
    other = ForeignClient(server.url, app, path="/wildcat.ashx", **options)  # type: ignore[arg-type]
    opened = other.open_v2()
    assert opened.code == 0, opened.message
    return other


def signed_get(server: RunningServer, *, msg_time: str | None = None) -> bytes:
    """GetThings version 3 for the server's studies, signed with a session of a foreign client."""
    other = foreign(server)
    header = other.header("GetThings", 3, GET_STUDIES, record_id=server.profile.record_id, msg_time=msg_time)
    return other.envelope(header, GET_STUDIES)


def test_valid_raw_request_succeeds(server: RunningServer) -> None:
    answer = send(server, signed_get(server))
    assert answer.code == 0, answer.message
    assert answer.info is not None and etree.QName(answer.info).namespace == RESPONSE_NS + "GetThings3"
    if (XSD / "response-getthings3.xsd").is_file():  # the published schema of the answer, judged by libxml2
        schema = etree.XMLSchema(etree.parse(str(XSD / "response-getthings3.xsd")))
        assert schema.validate(etree.fromstring(etree.tostring(answer.info))), schema.error_log


def test_tampered_hmac_rejected(server: RunningServer) -> None:
    body = signed_get(server)
    start = body.index(b"<hmac-data")
    value_at = body.index(b">", start) + 1
    flipped = body[:value_at] + (b"A" if body[value_at : value_at + 1] != b"A" else b"B") + body[value_at + 1 :]
    answer = send(server, flipped)
    assert answer.code == 4 and "HMAC" in answer.message


def test_tampered_header_rejected(server: RunningServer) -> None:
    body = signed_get(server)
    assert b"<msg-ttl>1800</msg-ttl>" in body
    assert send(server, body.replace(b"<msg-ttl>1800</msg-ttl>", b"<msg-ttl>1801</msg-ttl>")).code == 4


def test_tampered_info_rejected(server: RunningServer) -> None:
    body = signed_get(server).replace(MIS.encode(), FILE.encode())
    answer = send(server, body)
    assert answer.code == 4 and "info-hash" in answer.message


def test_old_request_timed_out(server: RunningServer) -> None:
    assert send(server, signed_get(server, msg_time=utc_time(-2 * 3600))).code == 49


def test_unknown_session_and_method(server: RunningServer, client: HealthVaultClient) -> None:
    fake = foreign(server)
    fake.token, fake.secret = "nope", b"k" * 32
    assert fake.call("GetThings", 3, GET_STUDIES, record_id=client.record_id).code == 8
    body = signed_get(server).replace(b"<method-version>3</method-version>", b"<method-version>9</method-version>")
    assert send(server, body).code == 5


def test_hostile_and_garbage_requests(server: RunningServer) -> None:
    for body in (b"not xml", b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>', b"<thing/>"):
        answer = send(server, body)
        assert answer.code == 3 and answer.message


def test_wrong_application_key_denied(server: RunningServer) -> None:
    from healthvault import crypto

    profile = server.profile
    key, _ = crypto.make_key_and_certificate("impostor")
    with HealthVaultClient(
        profile.url,
        profile.app_id,
        private_key=key,
        certificate=crypto.load_certificate(profile.cert_path),
        record_id=profile.record_id,
    ) as impostor:
        with pytest.raises(status.AccessDenied, match="signature"):
            impostor.create_session()


def test_expired_session(new_server) -> None:
    server = new_server("--session-ttl", "1")
    with server.client() as c:
        c.create_session()
        import time

        body = signed_get(server)  # a session of its own, opened now
        time.sleep(1.5)
        assert send(server, body).code == 65
        old_token = c.session.token
        assert c.get_things(type_ids=[MIS]) == []  # renews the session and resends
        assert c.session is not None and c.session.token != old_token


def test_oversized_request_rejected(new_server) -> None:
    server = new_server("--max-request-bytes", "20000")
    with server.client() as c:
        big = study("1.2.3", description="x" * 30000)
        with pytest.raises(status.RequestTooLong):
            c.put_thing(big)
        assert c.get_things(type_ids=[MIS]) == []

        # also when the body arrives without a Content-Length
        def chunks():
            yield b"<wc-request:request>"
            yield b"x" * 30000

        response = httpx.post(server.url + "/wildcat.ashx", content=chunks(), timeout=10)
        assert read_answer(response).code == 39


def test_begin_put_blob_announces_upload(client: HealthVaultClient) -> None:
    result = client.begin_put_blob()
    assert "blob-ref-token=" in result.blob_ref_url
    assert result.blob_hash_algorithm == "SHA256Block"
    block_size = result.blob_hash_parameters.block_size
    assert block_size and result.blob_chunk_size % block_size == 0


def test_created_and_updated_date_filters(client: HealthVaultClient) -> None:
    tag = uuid.uuid4().hex
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    key = client.put_thing(study(f"11.{tag}", client_id=f"cd-{tag}"))
    after = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    since = ThingQuery(client_thing_ids=[f"cd-{tag}"], extra_filters={"created_date_min": before})
    assert [t.thing_id for t in client.get_things(since)] == [key]
    later = ThingQuery(client_thing_ids=[f"cd-{tag}"], extra_filters={"created_date_min": after})
    assert client.get_things(later) == []
    until = ThingQuery(client_thing_ids=[f"cd-{tag}"], extra_filters={"updated_date_max": before})
    assert client.get_things(until) == []


def test_the_client_reads_what_the_platform_says_of_itself(client: HealthVaultClient, server: RunningServer) -> None:
    config = client.service_definition(refresh=True)
    assert config["MaxFullThingResultsPerGroup"] == "500" and client.config_int("maxGroupsPerRequest", 0) == 16
    info = client.application_info()
    assert info.application.id == server.profile.app_id and info.application.name == ["hvgen local application"]
    types = client.thing_types([MIS], sections=["core", "versions", "effectivedatexpath"])
    (study_type,) = types.thing_type
    assert study_type.name == "Medical image study" and study_type.effective_date_xpath == "medical-image-study/when"
    assert study_type.versions is not None
    assert [v.version_sequence for v in study_type.versions.version_info] == [1, 2]
    assert {t.id for t in client.thing_types().thing_type} >= {MIS, FILE}
    with pytest.raises(status.InvalidThingType):
        client.thing_types([str(uuid.uuid4())])
