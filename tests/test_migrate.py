"""hvgen migrate: an embedded store into PostgreSQL + S3 and back, verified,
resumable, and refusing what it cannot vouch for."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from healthvault import methods
from healthvault.bindings.methods.method_pickupconnectpackage import Info as PickUp
from healthvault.bindings.thing import BlobPayload
from healthvault.client import ThingQuery
from hvgen_cli import main
from hvgen_server.config import ServerConfig
from hvgen_server.migration import MigrationError, migrate

from .blobdata import file_thing, pattern
from .localserver import EMBEDDED, Backend, RunningServer, free_port, start_server
from .test_hardening import create_package
from .test_server import MIS, study

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def shared(engines) -> Backend:
    return Backend("shared", engines)


def serve_on(base: Path, backend: Backend, store_options: list[str]) -> RunningServer:
    base.mkdir(parents=True, exist_ok=True)
    return RunningServer(
        data=base / "data",
        port=free_port(),
        profile_path=base / "profile.json",
        options=["--chunk-size", str(2 * MIB)],
        backend=backend,
        store_options=store_options,
    ).start()


def fill(server: RunningServer) -> dict[str, Any]:
    """Things with versions, blobs of every size, packages, a session and an
    upload left in progress; what to find again."""
    with server.client() as client:
        kept = client.put_things([study(f"1.2.{i}", client_id=f"m-{i}") for i in range(30)])
        updated = client.get_thing(kept[0].value)
        assert updated is not None
        updated.data_xml[0].any_element.description = "second version"
        client.put_thing(updated)
        client.remove_things([kept[1]])
        blobs = {}
        for size in (100, 3 * MIB + 1, 11 * MIB + 5):
            data = pattern(size, seed=size)
            thing = file_thing(size=size)
            thing.blob_payload = BlobPayload(blob=[client.upload_blob(iter([data]), name="b")])
            key = client.put_thing(thing)
            got = client.get_thing(key.value, blob_payload=True)
            blobs[key.value] = (data, str(got.blob_payload.blob[0].blob_ref_url))
        pending = create_package(client, "the answer is here")
        picked = create_package(client, "open sesame")
        done = client.call(methods.PICK_UP_CONNECT_PACKAGE, PickUp(identity_code=picked, answer="open sesame"))
        assert done.state == "done"
        upload = str(client.begin_put_blob().blob_ref_url)
        assert httpx.post(upload, content=b"x" * 1000, headers={"Content-Range": "bytes 0-999/*"}).status_code == 200
        return {"blobs": blobs, "pending": pending, "picked": picked, "things": everything(client), "mis": 29}


#: Tables main's persons, sign-in and DICOMweb added, which fill_people gives rows.
PEOPLE_TABLES = ("persons", "person_tokens", "alternate_ids", "sign_in_failures", "dicom_versions", "dicom_instances")


def table_counts(server: RunningServer) -> dict[str, int]:
    """Rows of every table of an embedded server's store."""
    import sqlite3

    from hvgen_server.store.base import TABLES

    db = sqlite3.connect(server.data / "store.sqlite")
    try:
        return {table: int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) for table in TABLES}
    finally:
        db.close()


def fill_people(server: RunningServer, filled: dict[str, Any], base: Path) -> None:
    """A person who signs in (and one who fails to), an alternate id, and a
    DICOM study indexed by a DICOMweb query; what to find again, in ``filled``."""
    from .foreign import Application, ForeignClient
    from .localserver import hvgen
    from .viewerdata import hidden, upload
    from .viewerdata import sign_in as viewer_sign_in

    hvgen(server, "person", "add", "alice", "--record", "Alice", "--password-stdin", stdin="alices-password\n")
    with httpx.Client(base_url=server.url, follow_redirects=False) as browser:
        page = browser.get("/signin")
        form = {"login": "nobody", "password": "wrong", "hvgen_csrf": hidden(page.text, "hvgen_csrf")}
        assert browser.post("/signin", data=form).status_code == 401  # counted in sign_in_failures
        form.update(login="alice", password="alices-password")
        assert browser.post("/signin", data=form).status_code == 303  # a browser token in person_tokens
    profile = server.profile
    app = Application.load(profile.app_id, Path(profile.key_path), Path(profile.cert_path))
    foreign = ForeignClient(server.url, app)
    assert foreign.open_v2().code == 0
    info = "<info><alternate-id>MRN-7</alternate-id></info>"
    done = foreign.call("AssociateAlternateId", 1, info, record_id=profile.record_id, offline_person=profile.person_id)
    assert done.code == 0, done.message
    # flags: read-only and hidden-from-eprep from the application, personal from the person in the viewer
    data = "<medical-image-study><when><date><y>2024</y><m>1</m><d>2</d></date></when><series><images>"
    data += "<image-blob-name>1.2</image-blob-name></images></series></medical-image-study>"
    put = foreign.call(
        "PutThings", 2,
        f"<info><thing><type-id>{MIS}</type-id><flags>24</flags><data-xml>{data}</data-xml></thing></info>",
        record_id=profile.record_id,
    )  # fmt: skip
    assert put.code == 0, put.message
    filled["flagged"] = put.text("thing-id")
    hvgen(server, "person", "passwd", "local", "--password-stdin", stdin="locals-password\n")
    with viewer_sign_in(server.url, password="locals-password") as browser:
        path = f"/viewer/{profile.record_id}/{filled['flagged']}"
        form = {"hvgen_csrf": hidden(browser.get(path).text, "hvgen_csrf"), "personal": "on", "hidden-from-eprep": "on"}
        assert browser.post(path + "/flags", data=form).status_code == 303
    made = upload(server, base / "study", series=1, images=2, size=32, seed=5)
    with server.client() as client:
        token = client.dicomweb_token().token
        filled["mis"] = len(client.get_things(ThingQuery(type_ids=[MIS], max_full=500)))
        filled["things"] = everything(client)
    found = httpx.get(f"{server.url}/dicomweb/studies", headers={"Authorization": f"Bearer {token}"})
    assert made.study_uid in found.text  # and now in the DICOM index
    filled["study_uid"] = made.study_uid


def check_people(server: RunningServer, filled: dict[str, Any]) -> None:
    """What fill_people made, found on ``server``."""
    from .foreign import Application, ForeignClient
    from .viewerdata import hidden
    from .viewerdata import sign_in as viewer_sign_in

    with httpx.Client(base_url=server.url, follow_redirects=False) as browser:
        page = browser.get("/signin")
        form = {"login": "alice", "password": "alices-password", "hvgen_csrf": hidden(page.text, "hvgen_csrf")}
        assert browser.post("/signin", data=form).status_code == 303
    profile = server.profile
    foreign = ForeignClient(
        server.url, Application.load(profile.app_id, Path(profile.key_path), Path(profile.cert_path))
    )
    assert foreign.open_v2().code == 0
    listed = foreign.call("GetAlternateIds", 1, record_id=profile.record_id, offline_person=profile.person_id)
    assert [e.text for e in listed.findall("alternate-ids/alternate-id")] == ["MRN-7"]
    with server.client() as client:
        token = client.dicomweb_token().token
    found = httpx.get(f"{server.url}/dicomweb/studies", headers={"Authorization": f"Bearer {token}"})
    assert found.status_code == 200 and filled["study_uid"] in found.text
    # the flags came along: personal (not there for the application), read-only and hidden for the person
    group = f"<info><group><id>{filled['flagged']}</id><format><section>core</section></format></group></info>"
    got = foreign.call("GetThings", 3, group, record_id=profile.record_id)
    assert got.code == 0 and got.findall("group/thing") == [], got.raw
    with viewer_sign_in(server.url, password="locals-password") as browser:
        shown = browser.get(f"/viewer/{profile.record_id}/{filled['flagged']}").text
    assert re.search(r'id="personal"[^>]* checked', shown) and re.search(r'id="hidden-from-eprep"[^>]* checked', shown)
    assert 'id="read-only">yes' in shown


def everything(client) -> list[tuple[str, str, str]]:
    """Every version of every thing, as (thing id, version stamp, XML)."""
    from healthvault import codec

    found = client.get_things(
        ThingQuery(states=("Active", "Deleted"), current_version_only=False, max_full=500, sections=("core", "audits"))
    )
    return sorted((t.thing_id.value, t.thing_id.version_stamp, codec.write_thing(t).decode()) for t in found)


def check(server: RunningServer, filled: dict[str, Any], tmp_path: Path) -> None:
    with server.client() as client:
        assert everything(client) == filled["things"]
        assert len(client.get_things(ThingQuery(type_ids=[MIS], max_full=500))) == filled["mis"]
        for key, (data, old_url) in filled["blobs"].items():
            got = client.get_thing(key, blob_payload=True)
            assert got is not None
            out = tmp_path / f"{key}.bin"
            client.blobs(got).save("b", out)
            assert out.read_bytes() == data
            # A URL issued before the move still works: the token key moved with the store.
            moved = old_url.replace(old_url.split("/streaming")[0], server.url)
            assert httpx.get(moved).content == data
        with pytest.raises(Exception, match="already picked|no package"):
            client.call(methods.PICK_UP_CONNECT_PACKAGE, PickUp(identity_code=filled["picked"], answer="wrong answer"))
        opened = client.call(
            methods.PICK_UP_CONNECT_PACKAGE, PickUp(identity_code=filled["pending"], answer="the answer is here")
        )
        assert opened.state == "done"


def test_round_trip_into_postgres_and_s3_and_back(shared: Backend, tmp_path: Path) -> None:
    embedded = start_server(tmp_path / "embedded", "--chunk-size", str(2 * MIB))
    filled = fill(embedded)
    before = table_counts(embedded)
    fill_people(embedded, filled, tmp_path)
    embedded.stop()
    counts = table_counts(embedded)
    study_blobs, study_versions = (counts[t] - before[t] for t in ("blobs", "versions"))
    assert all(counts[t] > 0 for t in PEOPLE_TABLES), counts

    target = shared.options()
    runner = CliRunner()
    moved = runner.invoke(
        main,
        ["migrate", "--from", str(embedded.data), "--to-db", target[1], "--to-blobs", target[3], "--json"],
        env=shared.env,
    )
    assert moved.exit_code == 0, moved.output
    report = json.loads(moved.output)
    assert report["blobs_copied"] == 3 + study_blobs and report["uploads_left"] == 1
    assert (
        report["rows"]["versions"] == 30 + 1 + 1 + 3 + 1 + study_versions and report["verified_rows"] >= 36 + 34 + 3 + 3
    )  # versions, things, blobs, their names
    assert {t: report["rows"][t] for t in PEOPLE_TABLES} == {t: counts[t] for t in PEOPLE_TABLES}

    again = runner.invoke(
        main,
        ["migrate", "--from", str(embedded.data), "--to-db", target[1], "--to-blobs", target[3], "--json"],
        env=shared.env,
    )
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["blobs_present"] == 3 + study_blobs
    assert sum(json.loads(again.output)["rows"].values()) == 0

    on_shared = serve_on(tmp_path / "shared", shared, target)
    try:
        assert on_shared.profile.app_id == embedded.profile.app_id
        check(on_shared, filled, tmp_path)
        check_people(on_shared, filled)
        after = fill_one(on_shared)
    finally:
        on_shared.stop()

    back = tmp_path / "back"
    returned = runner.invoke(
        main,
        ["migrate", "--from-db", target[1], "--from-blobs", target[3], "--to", str(back / "data"), "--json"],
        env=shared.env,
    )
    assert returned.exit_code == 0, returned.output
    assert json.loads(returned.output)["verified_rows"] > 0
    on_embedded = serve_on(back, EMBEDDED, [])
    try:
        returned_counts = table_counts(on_embedded)
        # the sign-ins on the shared store added a browser token, and the study put there was indexed
        # as PutThings stored it; nothing else of these changed
        expected = {t: counts[t] for t in PEOPLE_TABLES if t != "person_tokens"}
        expected["dicom_versions"] += 1
        assert {t: returned_counts[t] for t in PEOPLE_TABLES if t != "person_tokens"} == expected
        check_people(on_embedded, filled)
        with on_embedded.client() as client:
            assert client.get_thing(after) is not None
            assert len(client.get_things(ThingQuery(type_ids=[MIS], max_full=500))) == filled["mis"] + 1
    finally:
        on_embedded.stop()


def fill_one(server: RunningServer) -> str:
    with server.client() as client:
        return client.put_thing(study(f"9.{uuid.uuid4().hex}")).value


def test_an_interrupted_migration_goes_on_where_it_stopped(shared: Backend, tmp_path: Path) -> None:
    embedded = start_server(tmp_path / "embedded", "--chunk-size", str(2 * MIB))
    with embedded.client() as client:
        for i in range(4):
            thing = file_thing(size=3 * MIB)
            thing.blob_payload = BlobPayload(blob=[client.upload_blob(iter([pattern(3 * MIB, seed=i)]), name="b")])
            client.put_thing(thing)
    embedded.stop()
    options = shared.options()
    source = ServerConfig(data_dir=embedded.data)
    target = ServerConfig(data_dir=tmp_path / "unused", database_url=options[1], blobs_url=options[3])

    def stop_after_two(what: str, done: int, total: int | None) -> None:
        if what == "blob bytes" and done > 6 * MIB:  # inside the third blob
            raise KeyboardInterrupt

    from .localserver import environment

    with environment(shared.env):
        with pytest.raises(KeyboardInterrupt):
            migrate(source, target, stop_after_two)
        report = migrate(source, target)
    assert report.blobs_present == 2 and report.blobs_copied == 2
    assert report.rows["blobs"] == 2 and report.verified_rows > 0


def test_a_blob_that_does_not_match_its_hash_is_not_moved(shared: Backend, tmp_path: Path) -> None:
    embedded = start_server(tmp_path / "embedded")
    with embedded.client() as client:
        thing = file_thing(size=3 * MIB)
        item = client.upload_blob(iter([pattern(3 * MIB)]), name="b")
        thing.blob_payload = BlobPayload(blob=[item])
        key = client.put_thing(thing)
        url = str(client.get_thing(key.value, blob_payload=True).blob_payload.blob[0].blob_ref_url)
    embedded.stop()
    embedded.flip_byte(embedded.blob_id(url), MIB + 3)
    options = shared.options()
    result = CliRunner().invoke(
        main, ["migrate", "--from", str(embedded.data), "--to-db", options[1], "--to-blobs", options[3]], env=shared.env
    )
    assert result.exit_code == 1
    assert "do not match the blob's hash" in result.output and "Traceback" not in result.output


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["migrate", "--from", str(tmp_path / "nothing"), "--to", str(tmp_path / "x")])
    assert missing.exit_code == 1 and "holds no store" in missing.output
    half = runner.invoke(main, ["migrate", "--from", str(tmp_path), "--to-db", "postgresql://u@h:1/d"])
    assert half.exit_code == 2 and "--to-blobs" in half.output
    bad = runner.invoke(main, ["migrate", "--from", str(tmp_path), "--to-db", "mysql://x/y", "--to-blobs", "s3://bkt"])
    assert bad.exit_code == 2 and "postgresql://USER@HOST:PORT/DBNAME" in bad.output
    bucket = runner.invoke(
        main, ["migrate", "--from", str(tmp_path), "--to-db", "postgresql://u@h/d", "--to-blobs", "s3://B_"]
    )
    assert bucket.exit_code == 2 and "not a bucket name" in bucket.output
    with pytest.raises(MigrationError, match="same store"):
        migrate(ServerConfig(data_dir=tmp_path), ServerConfig(data_dir=tmp_path))


def test_an_older_sqlite_store_gains_the_upload_state_column(tmp_path: Path) -> None:
    import sqlite3

    from hvgen_server.store import SqliteStore
    from hvgen_server.store.rows import UPLOADING, BlobRow
    from hvgen_server.store.sqlite.schema import SCHEMA_VERSION

    store = SqliteStore(tmp_path / "store.sqlite")
    record, _ = store.add_record("r", [])
    blob_id = str(uuid.uuid4())
    with store.write() as tx:
        tx.blobs.add(BlobRow(blob_id, record, "record", 4, UPLOADING, 0, None, None, 2, b"", None, 0.0, 9e9))
    store.close()
    db = sqlite3.connect(tmp_path / "store.sqlite")  # as version 5 made it (the column is version 6's)
    db.execute("ALTER TABLE blobs DROP COLUMN files_state")
    db.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    store = SqliteStore(tmp_path / "store.sqlite")
    try:
        assert store.meta("schema_version") == str(SCHEMA_VERSION) == "15"
        with store.read() as tx:
            found = tx.blobs.get(blob_id)
        assert found is not None and found.files_state == "" and found.state == UPLOADING
    finally:
        store.close()


def test_a_server_key_cut_short_is_not_migrated(tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(main, ["serve", "--data", str(tmp_path / "from"), "--init-only", "--no-profile"])
    assert made.exit_code == 0, made.output
    (tmp_path / "from" / "server.key").write_bytes(b"short")
    moved = runner.invoke(main, ["migrate", "--from", str(tmp_path / "from"), "--to", str(tmp_path / "to")])
    assert moved.exit_code == 1 and "Traceback" not in moved.output
    assert "server.key holds 5 bytes, not a key of 32" in moved.output
    assert not (tmp_path / "to" / "server.key").exists()
