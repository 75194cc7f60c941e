"""The local platform under attack: bounded memory and CPU before and after
authentication, atomic lockouts, no single-lock stalls, limits answered with
the platform's statuses. Most requests are built and checked as bytes."""

from __future__ import annotations

import datetime as dt
import io
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from healthvault import codec, connectpackage, crypto, methods, status
from healthvault.bindings.methods.method_createconnectpackage2 import Info as CreatePackage
from healthvault.bindings.thing import BlobPayload, Thing2
from healthvault.client import HealthVaultClient, ThingQuery
from healthvault.schema import GetThings3Params, PutThings2Params

from .blobdata import file_thing
from .localserver import Backend, RunningServer, start_server
from .test_server import MIS, post, study

OPTIONS = (
    "--max-things",
    "50",
    "--max-response-bytes",
    "300000",
    "--max-request-elements",
    "5000",
    "--header-timeout",
    "2",
    "--body-timeout",
    "2",
)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("limited"), *OPTIONS, backend=backend)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(limited: RunningServer) -> Iterator[HealthVaultClient]:
    with limited.client() as c:
        c.create_session()
        yield c


def resign(client: HealthVaultClient, raw: bytes, info: bytes) -> bytes:
    """``raw`` with its info replaced by ``info``, the info-hash and HMAC made anew."""
    session = client.session or client.create_session()
    start = raw.index(b"<info", raw.index(b"</header>"))
    raw = raw[:start] + info + b"</wc-request:request>"
    raw = re.sub(
        rb'(<hash-data algName="SHA256">)[^<]*(<)',
        lambda m: m.group(1) + crypto.info_hash(info).encode() + m.group(2),
        raw,
    )
    header = raw[raw.index(b"<header>") : raw.index(b"</header>") + 9]
    mac = crypto.hmac_digest(session.shared_secret, header).encode()
    return re.sub(rb"(<hmac-data [^>]*>)[^<]*(<)", lambda m: m.group(1) + mac + m.group(2), raw)


def get_request(client: HealthVaultClient, **kwargs: object) -> bytes:
    session = client.session or client.create_session()
    info = GetThings3Params(group=[ThingQuery(type_ids=[MIS]).to_group()])
    return methods.build_request(methods.GET_THINGS3, info, session=session, record_id=client.record_id, **kwargs)  # type: ignore[arg-type]


def put_request(client: HealthVaultClient, *things: Thing2, **kwargs: object) -> bytes:
    session = client.session or client.create_session()
    info = PutThings2Params(thing=list(things))
    return methods.build_request(methods.PUT_THINGS, info, session=session, record_id=client.record_id, **kwargs)  # type: ignore[arg-type]


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


# -- 1, 4: bounded work before (and after) authentication ------------------------------------------


def test_a_body_of_empty_elements_costs_no_tree(limited: RunningServer, client: HealthVaultClient) -> None:
    before = peak_rss_mib(limited.process.pid)
    fake = methods.Session(token="nobody", shared_secret=b"k" * 32, app_id=client.app_id)
    raw = methods.build_request(methods.GET_THINGS3, None, session=fake, record_id=client.record_id)
    flood = raw.replace(b"<info/>", b"<info>" + b"<a/>" * 2_000_000 + b"</info>")
    started = time.perf_counter()
    env = post(limited, flood)
    assert env.status.code in (4, 8)  # refused for its hash or session, its info never parsed
    assert time.perf_counter() - started < 3
    # and with a session, refused by the element limit, not parsed into a tree
    signed = resign(client, get_request(client), b"<info>" + b"<a/>" * 2_000_000 + b"</info>")
    env = post(limited, signed)
    assert env.status.code == 39 and "elements" in env.status.error.message
    grown = peak_rss_mib(limited.process.pid) - before
    assert grown < 120, f"the server grew by {grown:.0f} MiB for an 8 MB body"


def test_many_attributes_are_refused_cheaply(limited: RunningServer, client: HealthVaultClient) -> None:
    attrs = " ".join(f'a{i}="x"' for i in range(40_000)).encode()
    signed = resign(client, get_request(client), b"<info><group " + attrs + b"/></info>")
    started = time.perf_counter()
    env = post(limited, signed)
    assert env.status.code == 39 and "attributes" in env.status.error.message
    assert time.perf_counter() - started < 2


def test_anonymous_requests_are_small(limited: RunningServer, client: HealthVaultClient) -> None:
    raw = methods.build_request(methods.GET_SERVICE_DEFINITION, None, app_id=client.app_id)
    big = raw.replace(b"<version>", b"<version>" + b"x" * 100_000, 1)
    env = post(limited, big)
    assert env.status.code in (3, 39)
    assert post(limited, raw).status.code == 0


# -- 3: XPath within a cost-bounded subset ---------------------------------------------------------


@pytest.mark.parametrize(
    "xpath",
    [
        "/thing[count(/thing/data-xml/medical-image-study/series[count(/thing/data-xml/medical-image-study/series)>0])>0]",
        "/thing/data-xml/medical-image-study/series/images[count(../images)>1]",
        "/thing[count(parent::node())=0]",
        "/thing[$x]",
        "/a[b[c[d[e]]]]",
    ],
)
def test_costly_xpath_is_refused(client: HealthVaultClient, xpath: str) -> None:
    with pytest.raises(status.InvalidFilter):
        client.get_things(type_ids=[MIS], xpath=xpath)


def test_nested_relative_xpath_still_works(client: HealthVaultClient) -> None:
    tag = uuid.uuid4().hex
    key = client.put_thing(study(f"3.{tag}"))
    xpath = (
        "/thing/data-xml/medical-image-study[count(series[count(images[image-blob-name])>0])=1]"
        f'/study-instance-uid[.="3.{tag}"]'
    )
    assert [t.thing_id for t in client.get_things(type_ids=[MIS], xpath=xpath)] == [key]


def test_readers_do_not_wait_for_a_writer(new_store) -> None:
    store = new_store()
    store.set_meta("k", "v")
    holding = threading.Event()
    release = threading.Event()

    failed: list[BaseException] = []

    def writer() -> None:
        try:
            with store.write() as tx:
                tx.meta.set("k", "w")
                holding.set()
                release.wait(120)  # held until the reader has its answer (a reader that waited would see "w")
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(60)
        assert store.meta("k") == "v"  # the committed value, at once:
        assert thread.is_alive() and not release.is_set()  # while the writer still holds its transaction
    finally:
        release.set()
        thread.join(120)
    assert not thread.is_alive() and not failed, failed
    assert store.meta("k") == "w"
    store.close()


# -- 5, 6, 7: response size, things per request, work that grows with the store -------------------


def test_response_too_long(client: HealthVaultClient) -> None:
    tag = uuid.uuid4().hex
    keys = client.put_things([study(f"5.{tag}.{i}", description="d" * 4000) for i in range(20)])
    group = ThingQuery(thing_ids=[k.value for k in keys]).to_group()
    info = GetThings3Params(group=[group] * 16)
    with pytest.raises(status.ResponseTooLong):
        client.call(methods.GET_THINGS3, info)
    assert len(client.get_things(thing_ids=[k.value for k in keys])) == 20  # one group fits


def test_things_per_request_limited(limited: RunningServer, client: HealthVaultClient) -> None:
    tag = uuid.uuid4().hex
    env = post(limited, put_request(client, *[study(f"6.{tag}.{i}", client_id=f"6-{tag}") for i in range(51)]))
    assert env.status.code == 124
    assert client.get_things(client_thing_ids=[f"6-{tag}"]) == []


def test_queries_read_only_what_they_return(new_store) -> None:
    from hvgen_server.store.rows import COMMITTED, BlobRow, ThingFilter, ThingSelection

    store = new_store()
    record, _ = store.add_record("r", [])
    with store.write() as tx:
        for i in range(300):
            stamp = str(uuid.uuid4())
            thing_id = str(uuid.uuid4())
            type_id = "b" if i == 7 else "a"
            tx.things.add(record, thing_id, type_id, stamp, None, f"2024-01-01T00:00:{i % 60:02d}.000Z", float(i))
            tx.things.add_version(thing_id, stamp, 1, "Active", b"<thing/>", float(i), [])
        tx.blobs.add(BlobRow(str(uuid.uuid4()), record, "record", None, COMMITTED, 1, 1, None, 1, b"", "h", 0.0, 0.0))
    with store.read() as tx:
        found = list(tx.things.select(record, ThingSelection(), [ThingFilter(type_ids=("b",))], limit=1))
        assert [m.version.type_id for m in found] == ["b"] and found[0].version.xml == b""
        assert len(list(tx.things.select(record, ThingSelection(), [ThingFilter(type_ids=("a",))], limit=5))) == 5
    with store.write() as tx:
        # Only blobs a write replaced are looked at, not every blob of the store.
        assert tx.blobs.drop_unreferenced([]) == []
    store.close()


# -- 2, 9: packages ---------------------------------------------------------------------------------


def create_package(client: HealthVaultClient, answer: str, iterations: int | None = None) -> str:
    things_xml = codec.write_thing(file_thing("packaged.txt"))
    salt, sealed = connectpackage.seal(things_xml, answer)
    package = connectpackage.package_thing(salt, sealed)
    if iterations is not None:
        package.data_xml[0].any_element.encrypt_algorithm.parameters.iteration_count = iterations
    info = CreatePackage(friendly_name="p", question="q?", external_id=str(uuid.uuid4()), package=package)
    return str(client.call(methods.CREATE_CONNECT_PACKAGE, info).identity_code)


def test_wrong_answers_are_counted_before_they_are_checked(limited: RunningServer, client: HealthVaultClient) -> None:
    from healthvault.bindings.methods.method_pickupconnectpackage import Info as PickUp

    code = create_package(client, "the right answer")
    answers = [f"wrong answer {i}" for i in range(12)] + ["the right answer"]
    outcomes: list[str] = []

    failed: list[BaseException] = []

    def attempt(answer: str) -> None:
        try:
            with limited.client() as c:
                try:
                    c.call(methods.PICK_UP_CONNECT_PACKAGE, PickUp(identity_code=code, answer=answer))
                    outcomes.append("picked")
                except status.HealthVaultStatusError as exc:
                    outcomes.append("wrong" if exc.message.startswith("wrong answer;") else "refused")
                    if not exc.message.startswith("wrong answer;"):
                        refusals.append(exc.message)
        except BaseException as exc:  # lost in the thread otherwise
            failed.append(exc)

    refusals: list[str] = []
    threads = [threading.Thread(target=attempt, args=(a,)) for a in answers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads) and not failed, failed
    assert len(outcomes) == len(answers), outcomes  # every attempt got an answer
    assert outcomes.count("wrong") <= 3, outcomes  # never more than three answers checked
    assert outcomes.count("picked") <= 1
    # The right answer is picked, or three wrong answers were checked first and locked the package.
    assert outcomes.count("picked") == 1 or outcomes.count("wrong") == 3, outcomes
    assert all("locked" in m or "already picked up" in m for m in refusals), refusals
    # Whatever happened, a wrong answer now cannot turn a picked package into a locked one.
    if "picked" in outcomes:
        with pytest.raises(status.InvalidIdentityCode, match="already picked up"):
            client.call(methods.PICK_UP_CONNECT_PACKAGE, PickUp(identity_code=code, answer="wrong again"))
        again = client.call(methods.PICK_UP_CONNECT_PACKAGE, PickUp(identity_code=code, answer="the right answer"))
        assert again.state == "done" and len(again.thing_id) == 1
    else:
        with pytest.raises(status.AccessDenied, match="locked"):
            client.call(methods.PICK_UP_CONNECT_PACKAGE, PickUp(identity_code=code, answer="the right answer"))


def test_pickup_retry_follows_the_same_job(client: HealthVaultClient) -> None:
    from healthvault.bindings.methods.method_pickupconnectpackage import Info as PickUp

    code = create_package(client, "open sesame")
    first = client.call(methods.PICK_UP_CONNECT_PACKAGE, PickUp(identity_code=code, answer="Open Sesame"))
    again = client.call(methods.PICK_UP_CONNECT_PACKAGE, PickUp(identity_code=code, answer="open sesame"))
    assert first.state == again.state == "done"
    assert [k.value for k in first.thing_id] == [k.value for k in again.thing_id]


def test_package_iterations_within_range(client: HealthVaultClient) -> None:
    started = time.perf_counter()
    with pytest.raises(status.InvalidPackageContents, match="iterations"):
        create_package(client, "some answer", iterations=20_000_000)
    assert time.perf_counter() - started < 5


# -- 8: connections ---------------------------------------------------------------------------------


def test_idle_and_slow_connections_are_closed(limited: RunningServer) -> None:
    idle = [socket.create_connection(("127.0.0.1", limited.port)) for _ in range(300)]
    slow = socket.create_connection(("127.0.0.1", limited.port))
    slow.sendall(b"POST /wildcat.ashx HTTP/1.1\r\nHost: x\r\n")
    body = socket.create_connection(("127.0.0.1", limited.port))
    body.sendall(b"POST /wildcat.ashx HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n<wc-r\r\n")
    try:
        assert httpx.get(limited.url + "/health", timeout=2).status_code == 200  # served meanwhile
        time.sleep(4.5)
        still_open = [i for i, s in enumerate([*idle[:20], slow, body]) if not _closed(s)]
        assert still_open == [], f"connections {still_open} that sent no complete request are still open"
        assert httpx.get(limited.url + "/health", timeout=2).status_code == 200
    finally:
        for s in [*idle, slow, body]:
            s.close()


def _closed(s: socket.socket) -> bool:
    s.settimeout(2)
    try:
        return s.recv(65536) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


# -- 10, 11: dates, ranges, storage errors, replays --------------------------------------------------


@pytest.mark.parametrize("when", ["0000-01-01T00:00:00Z", "-0044-03-15T00:00:00Z", "12345-01-01T00:00:00Z", "tomorrow"])
def test_impossible_msg_times_are_invalid_xml(limited: RunningServer, client: HealthVaultClient, when: str) -> None:
    raw = get_request(client)
    raw = re.sub(rb"<msg-time>[^<]*</msg-time>", b"<msg-time>" + when.encode() + b"</msg-time>", raw)
    header = raw[raw.index(b"<header>") : raw.index(b"</header>") + 9]
    mac = crypto.hmac_digest(client.session.shared_secret, header).encode()
    raw = re.sub(rb"(<hmac-data [^>]*>)[^<]*(<)", lambda m: m.group(1) + mac + m.group(2), raw)
    env = post(limited, raw)
    assert env.status.code == 3 and "msg" in env.status.error.message.replace("_", "-")


def test_a_non_date_signing_time_is_invalid_xml(limited: RunningServer) -> None:
    captured: list[bytes] = []
    with limited.client() as c:
        send = c.post

        def spy(body: bytes, *, retry: bool) -> bytes:
            captured.append(body)
            return send(body, retry=retry)

        c.post = spy  # type: ignore[method-assign]
        c.create_session()
    raw = re.sub(rb"<signing-time>[^<]*</signing-time>", b"<signing-time>yesterday</signing-time>", captured[0])
    raw = re.sub(rb"<info-hash>.*?</info-hash>", b"", raw)  # anonymous: the hash is optional
    env = post(limited, raw)
    assert env.status.code == 3 and "signing-time" in env.status.error.message


def test_time_zones_and_fractions_are_read() -> None:
    from hvgen_server.freshness import parse_time

    assert parse_time("2024-05-17T10:00:00.1234567+02:00", "t") == pytest.approx(
        dt.datetime(2024, 5, 17, 8, 0, 0, 123456, tzinfo=dt.UTC).timestamp(), abs=1e-3
    )


def test_huge_range_numbers_answer_xml(client: HealthVaultClient) -> None:
    url = str(client.begin_put_blob().blob_ref_url)
    digits = "9" * 5000
    response = httpx.post(url, content=b"x", headers={"Content-Range": f"bytes {digits}-{digits}/*"})
    assert response.status_code == 400 and codec.read_response(response.content).status.code == 2
    store = client.blobs(file_thing())
    store.write("b", b"hello")
    store.commit()
    read_url = store.url("b")
    response = httpx.get(read_url, headers={"Range": f"bytes={digits}-"})
    assert response.status_code == 416 and codec.read_response(response.content).status.code == 2


def test_disk_full_is_an_xml_status() -> None:
    import errno

    from hvgen_server.streaming import _internal

    response = _internal(OSError(errno.ENOSPC, "No space left on device"), "storing a chunk")
    assert response.status_code == 507
    envelope = codec.read_response(response.body)
    assert envelope.status.code == 1 and "disk is full" in envelope.status.error.message


def test_a_replayed_put_is_refused(limited: RunningServer, client: HealthVaultClient) -> None:
    tag = uuid.uuid4().hex
    raw = put_request(client, study(f"11.{tag}", client_id=f"11-{tag}"))
    assert post(limited, raw).status.code == 0
    env = post(limited, raw)
    assert env.status.code == 49 and "replay" in env.status.error.message
    assert len(client.get_things(client_thing_ids=[f"11-{tag}"])) == 1
    assert post(limited, get_request(client)).status.code == 0  # reads may repeat


def test_msg_ttl_is_capped(limited: RunningServer, client: HealthVaultClient) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    env = post(limited, get_request(client, msg_time=old, msg_ttl=10**12))
    assert env.status.code == 49


# -- 12, 13: blob URLs and names ---------------------------------------------------------------------


def test_removed_things_blobs_are_not_served(client: HealthVaultClient) -> None:
    store = client.blobs(file_thing("removed.bin"))
    store.write("p", b"private bytes")
    key = store.commit()
    url = store.url("p")
    assert httpx.get(url).content == b"private bytes"
    token = url.split("blob-ref-token=")[1]
    assert client.record_id.encode() not in token.encode() and b'"r"' not in _unb64(token)
    client.remove_things([key])
    response = httpx.get(url)
    assert response.status_code == 404 and b"private bytes" not in response.content


def _unb64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_access_log_hides_tokens() -> None:
    import logging

    from hvgen_server.app import RedactTokens

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", "/streaming/wildcatblob.ashx?blob-ref-token=SECRET123", "1.1", 200),
        None,
    )
    RedactTokens().filter(record)
    assert "SECRET123" not in record.getMessage()


def test_one_blob_cannot_have_two_names(client: HealthVaultClient) -> None:
    item = client.upload_blob(io.BytesIO(b"once"), name="first")
    twin = item.__class__(
        blob_info=item.blob_info.__class__(name="second", content_type="a/b"), blob_ref_url=item.blob_ref_url
    )
    thing = file_thing()
    thing.blob_payload = BlobPayload(blob=[item, twin])
    with pytest.raises(status.DuplicateBlob, match="named both"):
        client.put_thing(thing)
