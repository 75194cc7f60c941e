"""Thing flags as the platform kept them: Personal (set by the person in the
viewer; not there for applications: GetThings, PutThings, RemoveThings,
DICOMweb), ReadOnly (set by applications; no update or removal) and
HiddenFromEPrep (the person's, kept through applications' updates).

Applications speak bytes on the wire (:mod:`.foreign`); the person uses the
viewer's form over HTTP, as a browser posts it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from lxml import etree

from hvgen_cli import main

from .foreign import MEDICAL_IMAGE_STUDY, Answer, Application, ForeignClient
from .localserver import Backend
from .test_dicomweb import multipart_body
from .viewerdata import ViewerPlatform, hidden, make_platform, sign_in, upload

STUDY = (
    "<medical-image-study><when><date><y>2024</y><m>5</m><d>17</d></date></when>"
    "<series><acquisition-datetime><date><y>2024</y><m>5</m><d>17</d></date></acquisition-datetime>"
    "<images><image-blob-name>1.2.3.4</image-blob-name></images></series>"
    "<study-instance-uid>1.2.840.99.{n}</study-instance-uid></medical-image-study>"
)


@pytest.fixture(scope="module")
def viewed(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[ViewerPlatform]:
    made = make_platform(tmp_path_factory.mktemp("flags"), backend)
    yield made
    made.server.stop()


@pytest.fixture(scope="module")
def app(viewed: ViewerPlatform) -> ForeignClient:
    profile = viewed.server.profile
    client = ForeignClient(
        viewed.url, Application.load(profile.app_id, Path(profile.key_path), Path(profile.cert_path))
    )
    opened = client.open_v2()
    assert opened.code == 0, opened.message
    return client


def get(app: ForeignClient, viewed: ViewerPlatform, group: str) -> Answer:
    answer = app.call("GetThings", 3, f"<info>{group}</info>", record_id=viewed.record_id)
    assert answer.code == 0, answer.message
    return answer


def by_type(app: ForeignClient, viewed: ViewerPlatform, attributes: str = "") -> Answer:
    return get(
        app,
        viewed,
        f"<group{attributes}><filter><type-id>{MEDICAL_IMAGE_STUDY}</type-id></filter>"
        "<format><section>core</section><xml/></format></group>",
    )


def ids(answer: Answer) -> list[str]:
    return [t.findtext("thing-id") or "" for t in answer.findall("group/thing")]


def current(app: ForeignClient, viewed: ViewerPlatform, thing_id: str) -> tuple[str, int, str]:
    """A thing's version stamp, flags and data-xml (as text), as the application reads it."""
    answer = get(app, viewed, f"<group><id>{thing_id}</id><format><section>core</section><xml/></format></group>")
    thing = answer.find("group/thing")
    assert thing is not None, answer.raw
    data = thing.find("data-xml")
    text = re.search(rb"<data-xml>.*</data-xml>", answer.raw, re.S)
    assert data is not None and text is not None
    return thing.find("thing-id").get("version-stamp"), int(thing.findtext("flags") or "0"), text.group(0).decode()


def put(app: ForeignClient, viewed: ViewerPlatform, body: str) -> Answer:
    return app.call("PutThings", 2, f"<info><thing>{body}</thing></info>", record_id=viewed.record_id)


def set_flags(viewed: ViewerPlatform, thing_id: str, *, personal: bool, hidden_from_eprep: bool) -> str:
    """The person's flags set with the study page's form; returns the study page after."""
    path = f"/viewer/{viewed.record_id}/{thing_id}"
    with sign_in(viewed.url) as browser:
        page = browser.get(path)
        assert page.status_code == 200, page.text
        form = {"hvgen_csrf": hidden(page.text, "hvgen_csrf")}
        if personal:
            form["personal"] = "on"
        if hidden_from_eprep:
            form["hidden-from-eprep"] = "on"
        done = browser.post(path + "/flags", data=form)
        assert done.status_code == 303 and done.headers["location"] == path, done.text
        return browser.get(path).text


def bearer(viewed: ViewerPlatform) -> str:
    """A DICOMweb token of the application (`hvgen token`)."""
    result = CliRunner().invoke(main, ["token", "--json"], env={"HVGEN_PROFILE": str(viewed.server.profile_path)})
    assert result.exit_code == 0, result.output
    return str(json.loads(result.output)["token"])


def dicomweb(viewed: ViewerPlatform, path: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer(viewed)}", "Accept": "application/dicom+json"}
    return httpx.get(viewed.url + "/dicomweb" + path, headers=headers, timeout=60)


def studies_counted(records_page: str, record_id: str) -> int:
    """The number of studies the records page shows for a record."""
    row = next(r for r in records_page.split("<tr") if record_id in r)
    found = re.search(r'<td class="num">([\d,]+)</td>', row)
    assert found, row
    return int(found.group(1).replace(",", ""))


def test_a_personal_study_is_not_there_for_applications(viewed: ViewerPlatform, app: ForeignClient) -> None:
    personal = viewed.unsigned.thing_id
    before = by_type(app, viewed)
    assert personal in ids(before)
    stamp, _, _ = current(app, viewed, personal)
    page = set_flags(viewed, personal, personal=True, hidden_from_eprep=False)
    assert re.search(r'id="personal"[^>]* checked', page), page
    with sign_in(viewed.url) as browser:  # the record's list marks it
        listed = browser.get(f"/viewer/{viewed.record_id}").text
    row = next(r for r in listed.split("<tr") if personal in r)
    assert '<span class="flag">personal</span>' in row

    # GetThings: neither returned nor counted, by type, by id, nor in paging
    after = by_type(app, viewed)
    assert ids(after) == [i for i in ids(before) if i != personal]
    paged = by_type(app, viewed, ' max-full="0"')
    keys = [k.findtext("thing-id") for k in paged.findall("group/unprocessed-thing-key-info")]
    assert keys == ids(after)
    assert ids(by_type(app, viewed, ' max="1"')) == ids(after)[:1]
    alone = get(app, viewed, f"<group><id>{personal}</id><format><section>core</section></format></group>")
    assert alone.findall("group/thing") == []
    # PutThings and RemoveThings: as for a thing that is not there
    update = put(
        app,
        viewed,
        f'<thing-id version-stamp="{stamp}">{personal}</thing-id>'
        f"<type-id>{MEDICAL_IMAGE_STUDY}</type-id><data-xml>{STUDY.format(n=9)}</data-xml>",
    )
    assert update.code == 13, update.raw
    removal = app.call(
        "RemoveThings", 1, f'<info><thing-id version-stamp="{stamp}">{personal}</thing-id></info>',
        record_id=viewed.record_id,
    )  # fmt: skip
    assert removal.code == 13, removal.raw

    # DICOMweb: the study is neither found nor served
    studies = dicomweb(viewed, "/studies")
    assert studies.status_code == 200, studies.text
    found = {s["0020000D"]["Value"][0] for s in studies.json()}
    assert viewed.unsigned.study_uid not in found and viewed.signed.study_uid in found
    assert dicomweb(viewed, f"/studies/{viewed.unsigned.study_uid}/metadata").status_code == 404
    assert dicomweb(viewed, f"/studies/{viewed.signed.study_uid}/metadata").status_code == 200

    # a browser signed in by the application's one-time link sees what the application sees
    with viewed.server.client() as client:
        url = str(client.create_viewer_link().url)
    with httpx.Client(base_url=viewed.url, follow_redirects=False) as linked:
        assert linked.get(url).status_code == 303 and linked.cookies.get("hvgen_session")
        study = f"/viewer/{viewed.record_id}/{personal}"
        for path in (study, study + "/study.zip", study + "/xml"):
            assert linked.get(path).status_code == 404, path
        assert linked.get(f"/viewer/{viewed.record_id}/{viewed.signed.thing_id}").status_code == 200
        listed = linked.get(f"/viewer/{viewed.record_id}").text
        assert personal not in listed and viewed.signed.thing_id in listed
        linked_count = studies_counted(linked.get("/viewer").text, viewed.record_id)
        fhir = linked.get("/fhir/ImagingStudy", params={"patient": viewed.record_id})
        assert fhir.status_code == 200, fhir.text
        uids = json.dumps(fhir.json())
        assert viewed.unsigned.study_uid not in uids and viewed.signed.study_uid in uids
    with sign_in(viewed.url) as browser:  # the person, signed in with the password, still sees it
        assert browser.get(f"/viewer/{viewed.record_id}/{personal}").status_code == 200
        assert personal in browser.get(f"/viewer/{viewed.record_id}").text
        assert studies_counted(browser.get("/viewer").text, viewed.record_id) == linked_count + 1

    # cleared: there again, in a new version
    page = set_flags(viewed, personal, personal=False, hidden_from_eprep=False)
    assert not re.search(r'id="personal"[^>]* checked', page)
    assert ids(by_type(app, viewed)) == ids(before)
    again, flags, _ = current(app, viewed, personal)
    assert again != stamp and flags == 0
    assert dicomweb(viewed, f"/studies/{viewed.unsigned.study_uid}/metadata").status_code == 200


def test_an_application_sets_only_read_only(viewed: ViewerPlatform, app: ForeignClient) -> None:
    """The thing types' documentation: "Applications can set the ReadOnly flag, and the other
    flags can be set by the record custodian ..." (HiddenFromEPrep, Personal: the person's)."""
    for sent, kept in (("8", 0), ("24", 16), ("31", 16)):
        made = put(
            app,
            viewed,
            f"<type-id>{MEDICAL_IMAGE_STUDY}</type-id><flags>{sent}</flags><data-xml>{STUDY.format(n=5)}</data-xml>",
        )
        assert made.code == 0, made.message
        assert current(app, viewed, made.text("thing-id"))[1] == kept, sent


def test_read_only_things_cannot_be_updated_or_removed(viewed: ViewerPlatform, app: ForeignClient) -> None:
    made = put(
        app,
        viewed,
        f"<type-id>{MEDICAL_IMAGE_STUDY}</type-id><flags>16</flags><data-xml>{STUDY.format(n=1)}</data-xml>",
    )
    assert made.code == 0, made.message
    thing_id = made.text("thing-id")
    stamp, flags, _ = current(app, viewed, thing_id)
    assert flags == 16
    key = f'<thing-id version-stamp="{stamp}">{thing_id}</thing-id>'
    update = put(app, viewed, f"{key}<type-id>{MEDICAL_IMAGE_STUDY}</type-id><data-xml>{STUDY.format(n=2)}</data-xml>")
    assert update.code == 154 and "read-only" in update.message, update.raw
    removal = app.call("RemoveThings", 1, f"<info>{key}</info>", record_id=viewed.record_id)
    assert removal.code == 154, removal.raw
    assert current(app, viewed, thing_id)[0] == stamp  # unchanged
    with sign_in(viewed.url) as browser:  # the viewer shows it
        page = browser.get(f"/viewer/{viewed.record_id}/{thing_id}")
    assert re.search(r'id="read-only">yes', page.text), page.text


def test_the_persons_flags_stay_through_an_applications_update(viewed: ViewerPlatform, app: ForeignClient) -> None:
    made = put(
        app, viewed, f"<type-id>{MEDICAL_IMAGE_STUDY}</type-id><flags>1</flags><data-xml>{STUDY.format(n=3)}</data-xml>"
    )
    assert made.code == 0, made.message
    thing_id = made.text("thing-id")
    stamp, flags, _ = current(app, viewed, thing_id)
    assert flags == 0  # an application cannot make a thing personal (it would lose it)
    page = set_flags(viewed, thing_id, personal=False, hidden_from_eprep=True)
    assert re.search(r'id="hidden-from-eprep"[^>]* checked', page), page
    stamp, flags, _ = current(app, viewed, thing_id)
    assert flags == 8
    update = put(
        app,
        viewed,
        f'<thing-id version-stamp="{stamp}">{thing_id}</thing-id><type-id>{MEDICAL_IMAGE_STUDY}</type-id>'
        f"<flags>0</flags><data-xml>{STUDY.format(n=4)}</data-xml>",
    )
    assert update.code == 0, update.message
    _, flags, data = current(app, viewed, thing_id)
    assert flags == 8 and "1.2.840.99.4" in data


def test_flags_come_through_a_connect_package(viewed: ViewerPlatform, app: ForeignClient) -> None:
    from healthvault import codec, connectpackage, methods
    from healthvault.bindings.methods.method_createconnectpackage2 import Info as CreatePackage
    from healthvault.bindings.methods.method_pickupconnectpackage import Info as PickUp

    from .blobdata import file_thing

    written = codec.write_thing(file_thing("flagged.txt"))
    flagged = written.replace(b"</type-id>", b"</type-id><flags>25</flags>", 1)  # read-only, hidden, personal
    assert flagged != written
    salt, sealed = connectpackage.seal(flagged, "the answer")
    package = connectpackage.package_thing(salt, sealed)
    with viewed.server.client() as client:
        info = CreatePackage(friendly_name="p", question="q?", external_id="flags", package=package)
        code = str(client.call(methods.CREATE_CONNECT_PACKAGE, info).identity_code)
        done = client.call(methods.PICK_UP_CONNECT_PACKAGE, PickUp(identity_code=code, answer="the answer"))
    assert done.state == "done"
    (key,) = done.thing_id
    _, flags, data = current(app, viewed, key.value)
    # what the application wrote comes through; personal is the person's to set, not a package's
    assert flags == 16 and "flagged.txt" in data  # (an application sets ReadOnly only)


def test_an_application_storing_a_personal_study_again_makes_a_new_one(
    viewed: ViewerPlatform, app: ForeignClient, tmp_path: Path
) -> None:
    """STOW-RS (an application) of a study the person made personal: the personal study is as
    if absent (stored as a new study; no answer names it), and stays as the person left it."""
    made = upload(viewed.server, tmp_path / "again", series=1, images=2, size=32, seed=77, patient="AGAIN^ONCE")
    set_flags(viewed, made.thing_id, personal=True, hidden_from_eprep=False)
    before = stamp_of(viewed, made.thing_id)
    body, content_type = multipart_body([p.read_bytes() for p in made.files.values()])
    stored = httpx.post(
        viewed.url + "/dicomweb/studies",
        content=body,
        headers={
            "Content-Type": content_type,
            "Authorization": f"Bearer {bearer(viewed)}",
            "Accept": "application/dicom+json",
        },
        timeout=120,
    )
    assert stored.status_code == 200, (stored.status_code, stored.headers.get("warning"), stored.text)
    assert made.thing_id not in stored.text + stored.headers.get("warning", "")
    studies = dicomweb(viewed, f"/studies?StudyInstanceUID={made.study_uid}")
    assert studies.status_code == 200 and len(studies.json()) == 1  # the new one, for the application
    theirs = [
        t.findtext("thing-id")
        for t in by_type(app, viewed).findall("group/thing")
        if made.study_uid.encode() in etree.tostring(t)
    ]
    assert len(theirs) == 1 and theirs[0] != made.thing_id
    assert stamp_of(viewed, made.thing_id) == before  # the person's study is as they left it


def stamp_of(viewed: ViewerPlatform, thing_id: str) -> str:
    """The version stamp of a thing's current version, read in the store."""
    store = viewed.server.open_store()
    try:
        with store.read() as tx:
            found = tx.things.current(viewed.record_id, thing_id)
    finally:
        store.close()
    assert found is not None
    return found.version_stamp
