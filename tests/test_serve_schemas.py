"""``hvgen serve --schemas DIR``: the platform learns thing types from a schema
folder, validates their data against it and stores them.

Requests go as bytes on the wire through the hand-written client of
``tests/foreign.py``; the published catalog is used when ../shared/reference
is present.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from lxml import etree

from healthvault.loading import load_generated, submodule

from .conftest import REFERENCE
from .foreign import Application, ForeignClient
from .localserver import Backend, RunningServer, start_server

PET_TYPE = "5b0c1f2e-7d3a-4c1e-9a57-2f0d4c8e6a11"
PET_SCHEMA = textwrap.dedent(
    f"""\
    <?xml version="1.0" encoding="utf-8"?>
    <schema xmlns="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:example:pet-weight">
      <annotation>
        <documentation>
          <type-id>{PET_TYPE}</type-id>
          <type-name>Pet weight</type-name>
        </documentation>
      </annotation>
      <element name="pet-weight">
        <complexType>
          <sequence>
            <element name="name" type="string"/>
            <element name="kg" type="decimal"/>
          </sequence>
        </complexType>
      </element>
    </schema>
    """
)
CATALOG = REFERENCE / "catalog"


def thing(type_id: str, data: str, name: str = "") -> str:
    named = f' name="{name}"' if name else ""
    return f"<thing><type-id{named}>{type_id}</type-id><data-xml>{data}</data-xml></thing>"


def client_of(server: RunningServer) -> ForeignClient:
    profile = server.profile
    client = ForeignClient(
        server.url, Application.load(profile.app_id, Path(profile.key_path), Path(profile.cert_path))
    )
    opened = client.open_v2()
    assert opened.code == 0, opened.message
    return client


def put(client: ForeignClient, server: RunningServer, *things: str):
    return client.call("PutThings", 2, "<info>" + "".join(things) + "</info>", record_id=server.profile.record_id)


def things_of_type(client: ForeignClient, server: RunningServer, type_id: str) -> list[etree._Element]:
    got = client.call(
        "GetThings", 3,
        f"<info><group><filter><type-id>{type_id}</type-id></filter><format><section>core</section>"
        "<xml/></format></group></info>",
        record_id=server.profile.record_id,
    )  # fmt: skip
    assert got.code == 0, got.message
    return got.findall("group/thing")


@pytest.fixture(scope="module")
def pets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pets")
    (folder / "pet-weight.xsd").write_text(PET_SCHEMA, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def taught(tmp_path_factory: pytest.TempPathFactory, pets: Path, backend: Backend) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("taught"), "--schemas", str(pets), backend=backend)
    yield running
    running.stop()


def test_a_type_from_the_schema_folder_is_stored_and_read_back_as_sent(taught: RunningServer) -> None:
    client = client_of(taught)
    data = "<pet-weight><name>Rex</name><kg>04.50</kg></pet-weight>"
    answer = put(client, taught, thing(PET_TYPE, data))
    assert answer.code == 0, answer.message
    (stored,) = [
        t for t in things_of_type(client, taught, PET_TYPE) if t.findtext("thing-id") == answer.text("thing-id")
    ]
    type_id = stored.find("type-id")
    assert type_id is not None and type_id.get("name") == "Pet weight"
    root = stored.find("data-xml/pet-weight")
    assert root is not None
    assert etree.tostring(root, method="c14n", exclusive=True) == data.encode()  # the lexical form 04.50 is kept


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ("<pet-weight><name>Rex</name><kg>heavy</kg></pet-weight>", "kg"),
        ("<pet-weight><kg>4.5</kg></pet-weight>", "name"),
        ("<dog-weight><name>Rex</name><kg>4.5</kg></dog-weight>", "must hold <pet-weight>"),
    ],
)
def test_data_that_breaks_the_schema_is_refused_and_nothing_is_stored(
    taught: RunningServer, data: str, said: str
) -> None:
    client = client_of(taught)
    before = len(things_of_type(client, taught, PET_TYPE))
    good = thing(PET_TYPE, "<pet-weight><name>Tom</name><kg>3</kg></pet-weight>")
    answer = put(client, taught, good, thing(PET_TYPE, data))  # one bad thing fails the whole request
    assert answer.code == 3, answer.message
    assert said in answer.message
    assert len(things_of_type(client, taught, PET_TYPE)) == before


def test_without_the_folder_the_type_is_unknown_and_the_message_says_how_to_teach_it(server: RunningServer) -> None:
    client = client_of(server)
    answer = put(client, server, thing(PET_TYPE, "<pet-weight><name>Rex</name><kg>4.5</kg></pet-weight>", "Pet weight"))
    assert answer.code == 19
    assert PET_TYPE in answer.message and "(Pet weight)" in answer.message and "hvgen serve --schemas" in answer.message


def test_get_thing_type_describes_the_taught_types_with_their_schema(taught: RunningServer, pets: Path) -> None:
    client = client_of(taught)
    answer = client.call(
        "GetThingType", 1,
        f"<info><id>{PET_TYPE}</id><section>core</section><section>xsd</section><section>versions</section>"
        "<section>effectivedatexpath</section></info>",
    )  # fmt: skip
    assert answer.code == 0, answer.message
    (pet,) = answer.findall("thing-type")
    assert pet.findtext("id") == PET_TYPE and pet.findtext("name") == "Pet weight"
    assert pet.findtext("xsd") == (pets / "pet-weight.xsd").read_text(encoding="utf-8")  # the schema as taught
    versions = [(v.get("version-type-id"), v.get("version-sequence")) for v in pet.findall("versions/version-info")]
    assert versions == [(PET_TYPE, "1")]
    assert pet.find("effective-date-xpath") is None  # its schema names no effective date
    every = client.call("GetThingType", 1, "<info/>", anonymous=True)
    ids = [t.findtext("id") for t in every.findall("thing-type")]
    assert PET_TYPE in ids and "ca3c57f4-f4c1-4e15-be67-0a3caf5414ed" in ids and len(ids) == len(set(ids))


def test_built_in_types_still_come_from_healthvault(taught: RunningServer) -> None:
    client = client_of(taught)
    blood_pressure = "ca3c57f4-f4c1-4e15-be67-0a3caf5414ed"
    data = "<blood-pressure><when><date><y>2024</y><m>5</m><d>1</d></date></when><systolic>120</systolic><diastolic>80</diastolic></blood-pressure>"
    assert put(client, taught, thing(blood_pressure, data)).code == 0


def run_serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hvgen_cli", "serve", "--no-profile", "--init-only", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_bad_schema_folders_get_one_clear_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.xsd").write_text("<schema xmlns='http://www.w3.org/2001/XMLSchema'><element", encoding="utf-8")
    for folder, said in (
        (tmp_path / "missing", "is not a folder"),
        (empty, "holds no .xsd files"),
        (broken, "x.xsd"),
    ):
        result = run_serve("--data", str(tmp_path / "data"), "--schemas", str(folder))
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        assert f"--schemas {folder}" in result.stderr and said in result.stderr
        assert not (tmp_path / "data" / "platform.db").exists(), "nothing is created when a folder is refused"


def test_a_second_start_uses_the_compiled_package(tmp_path: Path, pets: Path) -> None:
    first = run_serve("--data", str(tmp_path / "data"), "--schemas", str(pets))
    assert first.returncode == 0, first.stderr
    assert "1 thing types (compiled now" in first.stderr
    again = run_serve("--data", str(tmp_path / "data"), "--schemas", str(pets))
    assert again.returncode == 0, again.stderr
    assert "1 thing types (compiled before" in again.stderr
    (pets / "pet-weight.xsd").write_text(PET_SCHEMA.replace("Pet weight", "Pet mass"), encoding="utf-8")
    try:
        changed = run_serve("--data", str(tmp_path / "data"), "--schemas", str(pets))
        assert changed.returncode == 0 and "compiled now" in changed.stderr
    finally:
        (pets / "pet-weight.xsd").write_text(PET_SCHEMA, encoding="utf-8")


# -- the published catalog -------------------------------------------------------------------------


@pytest.mark.skipif(not CATALOG.is_dir(), reason="../shared/reference/catalog is not present")
def test_the_published_catalog_teaches_the_platform_its_types(tmp_path: Path) -> None:
    """Every catalog sample of a type healthvault does not have, put as a thing:
    the platform accepts exactly those the catalog's own package reads
    strictly, returns them unchanged, and refuses the rest as INVALID_XML."""
    compiled = run_serve("--data", str(tmp_path / "data"), "--schemas", str(CATALOG / "xsd"))
    assert compiled.returncode == 0, compiled.stderr
    assert "105 thing types" in compiled.stderr
    package_dir = next((tmp_path / "data" / "schemas").glob("*/hvschemas"))
    catalog = load_generated(package_dir)
    codec, validation, registry = (submodule(catalog, n) for n in ("codec", "validation", "registry"))
    errors = submodule(catalog, "errors")
    refusals = (errors.HealthVaultXmlError, errors.HealthVaultDecodeWarning)  # what the oracle refuses with
    from healthvault import registry as builtin

    # What a taught type changes is in the server's codec, not its store (the taught
    # fixture runs on both backends): the catalog's hundreds of puts run on the embedded one.
    server = start_server(tmp_path, "--schemas", str(CATALOG / "xsd"))
    try:
        client = client_of(server)
        tried = accepted = 0
        for sample in sorted((CATALOG / "samples").glob("*.xml")):
            type_id = str(UUID(sample.stem))
            if builtin.thing_class(type_id) is not None or registry.thing_class(type_id) is None:
                continue
            root = etree.fromstring(sample.read_bytes())
            try:  # the oracle: the catalog package itself, strictly
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    validation.validate_data(root, type_id)
                    codec.decode_data(root, type_id, strict=True)
                valid = True
            except refusals:  # a crash of the oracle is not a refusal: it fails the test
                valid = False
            data = etree.tostring(root, encoding="unicode")
            answer = put(client, server, thing(type_id, data))
            tried += 1
            if valid:
                assert answer.code == 0, (sample.name, answer.message)
                accepted += 1
                back = things_of_type(client, server, type_id)[0].find("data-xml")
                assert back is not None
                assert etree.tostring(back[0], method="c14n", exclusive=True) == etree.tostring(
                    root, method="c14n", exclusive=True
                ), sample.name
            else:
                assert answer.code == 3, (sample.name, answer.code, answer.message)
        assert tried >= 20 and accepted >= tried // 2, (tried, accepted)
        # GetThingType: a catalog type in two versions, with the effective date its schema names
        hba1c_v1, hba1c_v2 = "227f55fb-1001-4d4e-9f6a-8d893e07b451", "62160199-b80f-4905-a55a-ac4ba825ceae"
        described = client.call(
            "GetThingType", 1,
            f"<info><id>{hba1c_v2}</id><section>xsd</section><section>versions</section>"
            "<section>effectivedatexpath</section></info>",
        )  # fmt: skip
        assert described.code == 0, described.message
        assert described.text("thing-type/name") == "HbA1C"
        assert described.text("thing-type/xsd") == (CATALOG / "xsd" / "HbA1C.2.xsd").read_text(encoding="utf-8")
        versions = described.findall("thing-type/versions/version-info")
        assert [(v.get("version-type-id"), v.get("version-sequence")) for v in versions] == [
            (hba1c_v1, "1"),
            (hba1c_v2, "2"),
        ]
        assert described.text("thing-type/effective-date-xpath") == "HbA1C/when"
    finally:
        server.stop()
