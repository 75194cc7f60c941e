"""XPath filters whose cost grows as the product of two node-sets are refused
before they run; filters that compare a path with a value still run."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from lxml import etree

from healthvault import codec, methods
from healthvault.bindings.base import CodableValue
from healthvault.bindings.dates import Date, DateTime
from healthvault.bindings.thing import DataXml, Thing2, ThingType
from healthvault.bindings.things import medical_image_study_2 as v2
from healthvault.client import HealthVaultClient, ThingQuery
from healthvault.schema import GetThings3Params
from hvgen_server import xpathfilter
from hvgen_server.errors import PlatformError

from .localserver import Backend, RunningServer, start_server
from .test_server import MIS

IMAGES = "data-xml/medical-image-study/series/images"

ALLOWED = [
    '/thing/data-xml/medical-image-study/study-instance-uid[.="9.9"]',
    "/thing/data-xml/medical-image-study[count(series[count(images[image-blob-name])>0])=1]",
    "/thing/data-xml/medical-image-study[count(series[count(images)>0])>0]/description[contains(.,'zz')]",
    f'/thing[{IMAGES}/image-blob-name = "x"]',
    "/thing[@a = @b]",
    "/thing[. = a]",
    "/thing[self::node() = a]",
    "/thing[self::thing/@a = b]",
    "/thing[attribute::a = b]",
    "/thing[string(a/b) = c/d]",
    "/thing[count(a) = count(b)]",
    "/thing[a/b != 3]",
    "/thing[-a < 5]",
    '/thing[(a | b) = "q"]',
    "/thing[not(a = @c) or true()]",
    "/thing/and[or = 1]",
    '/thing[a[1] = "x"]',
    "/thing[position() = last()]",
    '/thing[text() = "x"]',
    "/thing[sum(a) div 2 mod 3 = 1]",
    "/thing[a=1][b=2]",
    "/thing[a - b = 1]",
    "/thing[a-b = 1]",
    "/thing[concat(a, b) = c]",
]

REFUSED = [
    f"/thing[{IMAGES}/image-blob-name = {IMAGES}/image-preview-blob-name]",
    "/thing[a = b]",
    "/thing[a != b]",
    "/thing[a < b]",
    "/thing[a >= b/@c]",
    "/thing[(a | b) = c]",
    "/thing[(a) = (b)]",
    "/thing[a[1] = b]",
    "/thing[text() = a]",
    "/thing[a/@x = b/@y]",
    "/thing[not(a = b/@c)]",
    "/thing[x or a = b]",
    "/thing/a = /thing/b",
]


@pytest.mark.parametrize("expression", ALLOWED)
def test_comparisons_with_a_value_or_one_node_are_allowed(expression: str) -> None:
    xpathfilter.compile_filter(expression)


@pytest.mark.parametrize("expression", REFUSED)
def test_comparisons_of_two_node_sets_are_refused(expression: str) -> None:
    with pytest.raises(PlatformError, match="compares two node-sets") as refused:
        xpathfilter.compile_filter(expression)
    assert refused.value.code == 15


def big_study(images: int) -> Thing2:
    """A study of one series of ``images`` images, read from its document.

    The study of one image is made with the bindings; its ``images`` element
    is repeated in the document, which the codec reads (appending 20,000
    images one by one to the binding takes 20 s of CPU, reading them 0.1 s)."""
    tag = uuid.uuid4().hex
    data = v2.MedicalImageStudy(
        when=DateTime(date=Date(y=2024, m=5, d=17)),
        description="many images",
        series=[
            v2.MedicalImageStudySeries(
                images=[v2.MedicalImageStudySeriesImage(image_blob_name="x", image_preview_blob_name="x")],
                modality=CodableValue(text="CT"),
            )
        ],
        study_instance_uid=f"7.{tag}",
    )
    root = etree.fromstring(
        codec.write_thing(Thing2(type_id=ThingType(value=MIS), data_xml=[DataXml(any_element=data)]))
    )
    series = root.find("data-xml/medical-image-study/series")
    assert series is not None
    first = series.find("images")
    assert first is not None
    for i in reversed(range(images)):
        image = copy.deepcopy(first)
        image.findall("*")[0].text, image.findall("*")[1].text = f"{tag}.{i}", f"{tag}.{i}.preview"
        first.addnext(image)
    series.remove(first)
    study: Thing2 = codec.read_thing(etree.tostring(root), strict=True)
    assert len(study.data_xml[0].any_element.series[0].images) == images
    return study


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory, backend: Backend) -> Iterator[tuple[RunningServer, str]]:
    running = start_server(tmp_path_factory.mktemp("xpath"), backend=backend)
    with running.client(timeout=120) as client:
        thing = big_study(20_000)
        client.put_thing(thing)
        name = thing.data_xml[0].any_element.series[0].images[7].image_blob_name
    yield running, name
    running.stop()


def filtered(client: HealthVaultClient, xpath: str) -> bytes:
    """A GetThings with one XPath filter, as bytes."""
    session = client.session or client.create_session()
    info = GetThings3Params(group=[ThingQuery(type_ids=[MIS], xpath=xpath).to_group()])
    return methods.build_request(methods.GET_THINGS3, info, session=session, record_id=client.record_id)


def test_a_product_of_node_sets_is_refused_before_it_runs(crowded: tuple[RunningServer, str]) -> None:
    server, _ = crowded
    with server.client(timeout=120) as client:
        started = time.perf_counter()
        env = post_slowly(
            server, filtered(client, f"/thing[{IMAGES}/image-blob-name = {IMAGES}/image-preview-blob-name]")
        )
        spent = time.perf_counter() - started
    assert env.status.code == 15 and "compares two node-sets" in env.status.error.message, env.status.error.message
    assert spent < 5, f"refused after {spent:.1f} s"


def test_a_path_compared_with_a_value_still_finds_the_thing(crowded: tuple[RunningServer, str]) -> None:
    server, name = crowded
    with server.client(timeout=120) as client:
        found = client.get_things(type_ids=[MIS], xpath=f'/thing[{IMAGES}/image-blob-name = "{name}"]')
        assert len(found) == 1
        assert client.get_things(type_ids=[MIS], xpath=f'/thing[{IMAGES}/image-blob-name = "no such"]') == []


def post_slowly(server: RunningServer, body: bytes) -> codec.ResponseEnvelope:
    """A raw request with room for a slow answer (the test says what time it allows)."""
    response = httpx.post(server.url + "/wildcat.ashx", content=body, timeout=120)
    return codec.read_response(response.content)
