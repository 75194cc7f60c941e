"""Thing type versioning on the wire: an application that supports only one
version of a type reads things stored in another version transformed to its
own (flags Downversioned 0x2 / Upversioned 0x4), finds them by its version's
type-id, and cannot write an older version over a newer one (85).

Requests are bytes on the wire (:mod:`.foreign`); the study is uploaded by
``hvgen study upload``; versions are registered with ``hvgen app``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from healthvault import crypto

from .dicomgen import make_study
from .foreign import Answer, Application, ForeignClient
from .localserver import Backend, RunningServer, start_server
from .terminal import hvgen_env, in_terminal, invoke, piped

V1 = "c75651c8-548e-449f-8942-9e6379b0b88a"
V2 = "cdfc0a9b-6d3b-4d16-afa8-02b86d621a8d"
STUDY_V1 = (
    "<medical-image-study><when><date><y>2024</y><m>5</m><d>17</d></date></when>"
    "<series><acquisition-datetime><date><y>2024</y><m>5</m><d>17</d></date></acquisition-datetime>"
    "<images><image-blob-name>1.2.3.4</image-blob-name></images>"
    "<referring-physician><name><full>Dr Ada</full></name></referring-physician></series>"
    "<study-instance-uid>1.2.840.99.77</study-instance-uid></medical-image-study>"
)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("versions"), backend=backend)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def env(platform: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return hvgen_env(tmp_path_factory.mktemp("home"), platform.profile_path)


@pytest.fixture(scope="module")
def uploaded(platform: RunningServer, env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """The thing id of a study uploaded by `hvgen study upload` (version 2)."""
    folder = tmp_path_factory.mktemp("study")
    make_study(folder, series=2, images=1, size=32, seed=5)
    run = in_terminal(["study", "upload", str(folder), "--json"], env)
    assert run.code == 0, run.output
    return str(json.loads(run.output)["studies"][0]["thing_id"])


@pytest.fixture
def app(platform: RunningServer) -> ForeignClient:
    profile = platform.profile
    client = ForeignClient(
        platform.url, Application.load(profile.app_id, Path(profile.key_path), Path(profile.cert_path))
    )
    assert client.open_v2().code == 0
    return client


def versions(platform: RunningServer, env: dict[str, str], *type_ids: str) -> None:
    run = invoke(["app", "versions", platform.profile.app_id, *type_ids, *platform.store_args], env)
    assert run.code == 0, run.output


def get(app: ForeignClient, platform: RunningServer, group: str) -> Answer:
    answer = app.call("GetThings", 3, f"<info>{group}</info>", record_id=platform.profile.record_id)
    assert answer.code == 0, answer.message
    return answer


def only(answer: Answer) -> etree._Element:
    things = answer.findall("group/thing")
    assert len(things) == 1, answer.raw
    return things[0]


def format_(*type_versions: str) -> str:
    return (
        "<format><section>core</section><xml/>"
        + "".join(f"<type-version-format>{t}</type-version-format>" for t in type_versions)
        + "</format>"
    )


def test_a_v1_application_reads_a_v2_study_uploaded_by_study_upload(
    platform: RunningServer, env: dict[str, str], uploaded: str, app: ForeignClient
) -> None:
    stored = only(get(app, platform, f"<group><id>{uploaded}</id>{format_()}</group>"))
    assert stored.findtext("type-id") == V2 and int(stored.findtext("flags") or 0) == 0
    assert stored.findtext("data-xml/medical-image-study/accession-number")
    physician = stored.find("data-xml/medical-image-study/referring-physician")
    assert physician is not None

    versions(platform, env, V1)
    try:
        found = get(app, platform, f"<group><filter><type-id>{V1}</type-id></filter>{format_()}</group>")
        thing = only(found)  # found by version 1's type-id
        assert thing.findtext("thing-id") == uploaded
        assert thing.findtext("type-id") == V1 and int(thing.findtext("flags")) & 0x2
        study = thing.find("data-xml/medical-image-study")
        assert study.find("accession-number") is None and study.find("referring-physician") is None
        for series in study.findall("series"):  # moved to each series, as version 1 has it
            assert etree.tostring(series.find("referring-physician")) == etree.tostring(physician)
            assert series.find("acquisition-datetime") is not None
        assert [c.tag for c in study.find("series")][:3] == ["acquisition-datetime", "description", "images"]

        # the request's type-version-format wins over the registration
        as_stored = only(get(app, platform, f"<group><id>{uploaded}</id>{format_(V2)}</group>"))
        assert as_stored.findtext("type-id") == V2 and int(as_stored.findtext("flags") or 0) == 0

        # an update written in version 1 would drop what version 2 holds: refused
        key = thing.find("thing-id")
        data = etree.tostring(study).decode()
        update = app.call(
            "PutThings", 2,
            f'<info><thing><thing-id version-stamp="{key.get("version-stamp")}">{uploaded}</thing-id>'
            f"<type-id>{V1}</type-id><data-xml>{data}</data-xml></thing></info>",
            record_id=platform.profile.record_id,
        )  # fmt: skip
        assert update.code == 85, update.raw
        after = only(get(app, platform, f"<group><id>{uploaded}</id>{format_(V2)}</group>"))
        assert after.find("thing-id").get("version-stamp") == key.get("version-stamp")
    finally:
        versions(platform, env)
    assert only(get(app, platform, f"<group><id>{uploaded}</id>{format_()}</group>")).findtext("type-id") == V2


def test_a_v2_application_reads_a_v1_thing_up_versioned_and_may_upgrade_it(
    platform: RunningServer, env: dict[str, str], app: ForeignClient
) -> None:
    record = platform.profile.record_id
    put = app.call(
        "PutThings", 2, f"<info><thing><type-id>{V1}</type-id><data-xml>{STUDY_V1}</data-xml></thing></info>",
        record_id=record,
    )  # fmt: skip
    assert put.code == 0, put.message
    thing_id = put.text("thing-id")
    by_v2 = get(app, platform, f"<group><filter><type-id>{V2}</type-id></filter>{format_(V2)}</group>")
    thing = next(t for t in by_v2.findall("group/thing") if t.findtext("thing-id") == thing_id)
    assert thing.findtext("type-id") == V2 and int(thing.findtext("flags")) & 0x4
    study = thing.find("data-xml/medical-image-study")
    assert study.findtext("referring-physician/name/full") == "Dr Ada"
    assert study.find("series/referring-physician") is None

    # written back in version 2: the thing is upgraded
    stamp = thing.find("thing-id").get("version-stamp")
    update = app.call(
        "PutThings", 2,
        f'<info><thing><thing-id version-stamp="{stamp}">{thing_id}</thing-id><type-id>{V2}</type-id>'
        f"<data-xml>{etree.tostring(study).decode()}</data-xml></thing></info>",
        record_id=record,
    )  # fmt: skip
    assert update.code == 0, update.raw
    stored = only(get(app, platform, f"<group><id>{thing_id}</id>{format_()}</group>"))
    assert stored.findtext("type-id") == V2 and int(stored.findtext("flags") or 0) == 0


def test_app_commands_register_versions(platform: RunningServer, env: dict[str, str], tmp_path: Path) -> None:
    key, cert = crypto.make_key_and_certificate("Version one viewer")
    (tmp_path / "cert.pem").write_bytes(crypto.cert_pem(cert))
    app_id = str(uuid.uuid4())
    added = piped(
        ["app", "add", "--cert", str(tmp_path / "cert.pem"), "--app-id", app_id, "--type-version", V1.upper(),
         "--json", *platform.store_args],
        env,
    )  # fmt: skip
    assert added.code == 0, added.stderr
    assert json.loads(added.output)["type_versions"] == [V1]
    listed = piped(["app", "list", "--json", *platform.store_args], env)
    assert next(a for a in json.loads(listed.output) if a["app_id"] == app_id)["type_versions"] == [V1]
    unknown = piped(["app", "versions", str(uuid.uuid4()), V2, *platform.store_args], env)
    assert unknown.code == 1 and "no application" in unknown.stderr and "Traceback" not in unknown.stderr
    bad = piped(["app", "versions", app_id, "not-a-type", *platform.store_args], env)
    assert bad.code == 2 and "not a thing type id" in bad.stderr
    stranger = str(uuid.uuid4())  # (a type of a --schemas package, or a mistake: said, and kept)
    odd = piped(["app", "versions", app_id, V1, stranger, *platform.store_args], env)
    assert odd.code == 0 and f"note: {stranger} is not a thing type of this hvgen" in odd.stderr, odd.stderr
    assert V1 not in odd.stderr
