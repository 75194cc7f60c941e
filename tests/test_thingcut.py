"""GetThings cuts stored versions to the requested sections from their
layout, without parsing them: the bytes must be those of parsing, removing
children and writing (thingxml.render), for any stored thing and any
request, and a version whose layout cannot be trusted must not get one."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from hvgen_server import thingxml

from .conftest import examples

pytestmark = pytest.mark.properties  # also run with --hypothesis-profile=deep (.ci/run)

_SIMPLE = ("thing-id", "type-id", "thing-state", "flags", "eff-date", "updated-end-date", "tags")
_SECTIONS = sorted(thingxml.SECTIONS)

_text = st.text(alphabet=st.sampled_from("ab <&>\"'\r\n\t\u00e9\u4e2d"), max_size=6)
_space = st.sampled_from([None, "", "\n", "\n  ", " \t "])


@st.composite
def stored_things(draw: st.DrawFn) -> etree._Element:
    """A version as the store could hold it: some children of <thing> in
    schema order, layout between them, comments and processing
    instructions, attributes, data in other namespaces."""
    thing = etree.Element("thing")
    thing.text = draw(_space)
    for name in thingxml.ORDER:
        if name in ("blob-payload", "eff-permissions") and not draw(st.booleans()):
            continue
        if not draw(st.booleans()):
            continue
        if draw(st.integers(0, 4)) == 0:
            node: etree._Element = (
                etree.Comment(draw(_text).replace("-", "") or "c")
                if draw(st.booleans())
                else etree.ProcessingInstruction("pi", draw(_text).replace("?", ""))
            )
            node.tail = draw(_space)
            thing.append(node)
        el = etree.SubElement(thing, name)
        if name in _SIMPLE:
            el.text = draw(_text)
            if draw(st.booleans()):
                el.set("name", draw(_text))
        elif name == "data-xml":
            root = etree.SubElement(el, draw(st.sampled_from(["study", "{urn:x}other", "{urn:y}x"])))
            root.text = draw(_text)
            inner = etree.SubElement(root, "when", {"{urn:z}a": draw(_text)})
            inner.text = draw(_text)
            inner.tail = draw(_space)
            etree.SubElement(el, "common").text = draw(_text)
        else:
            for part in ("timestamp", "app-id", "person-id"):
                etree.SubElement(el, part).text = draw(_text)
        el.tail = draw(_space)
    return thing


def _rendered(xml: bytes, sections: set[str], with_data: bool, inserted: dict[str, etree._Element]) -> bytes:
    thing = thingxml.render(xml, sections, with_data, inserted.get("blob-payload"))
    return bytes(etree.tostring(thing, encoding="utf-8"))


def _payload() -> etree._Element:
    payload = thingxml.element("blob-payload")
    blob = thingxml.element("blob")
    blob.append(thingxml.element("blob-ref-url", "https://h/b?a=1&b=2"))
    payload.append(blob)
    return payload


@settings(max_examples=examples(400), suppress_health_check=[HealthCheck.too_slow])
@given(
    thing=stored_things(),
    sections=st.sets(st.sampled_from(_SECTIONS)),
    with_data=st.booleans(),
    with_payload=st.booleans(),
    parsed=st.booleans(),
)
def test_a_cut_is_what_parsing_and_rendering_writes(
    thing: etree._Element, sections: set[str], with_data: bool, with_payload: bool, parsed: bool
) -> None:
    if parsed:
        thing = etree.fromstring(etree.tostring(thing))
    xml, layout = thingxml.serialize(thing)
    assert xml == etree.tostring(thing, encoding="utf-8")
    if not len(thing):
        assert layout is None
        return
    assert layout is not None
    inserted: dict[str, etree._Element] = {}
    if with_payload and "blobpayload" in sections:
        inserted["blob-payload"] = _payload()
    if "effectivepermissions" in sections:
        inserted["eff-permissions"] = thingxml.permissions_element()
    cut = thingxml.cut(
        xml,
        layout,
        thingxml.kept(sections, with_data),
        {name: bytes(etree.tostring(el, encoding="utf-8")) for name, el in inserted.items()},
    )
    replacing = any(thing.find(name) is not None for name in inserted)
    if replacing:
        assert cut is None  # left to render()
        return
    if thing.find("thing-id") is not None:  # as every stored version has: always cut
        assert cut is not None
    if cut is not None:
        rendered = _rendered(xml, sections, with_data, inserted)
        assert etree.tostring(etree.fromstring(cut), method="c14n") == etree.tostring(
            etree.fromstring(rendered), method="c14n"
        )
        if parsed:  # as stored versions are: made from a request, then written
            assert cut == rendered


def test_a_declaration_on_thing_gets_no_layout() -> None:
    """Written alone, a child would declare the namespaces of <thing> itself."""
    for text in (
        b'<thing xmlns:x="urn:x"><thing-id>1</thing-id><data-xml><x:a>1</x:a></data-xml></thing>',
        b'<thing xmlns:x="urn:x"><thing-id>1</thing-id><data-xml><a/></data-xml></thing>',
    ):
        assert thingxml.serialize(etree.fromstring(text))[1] is None
    declared_below = b'<thing><thing-id>1</thing-id><data-xml><x:a xmlns:x="urn:x">1</x:a></data-xml></thing>'
    xml, layout = thingxml.serialize(etree.fromstring(declared_below))
    assert xml == declared_below and layout is not None
    assert thingxml.cut(xml, layout, thingxml.kept({"core"}, True), {}) == declared_below
    assert thingxml.cut(xml, layout, thingxml.kept({"core"}, False), {}) == b"<thing><thing-id>1</thing-id></thing>"


def test_unknown_children_and_other_roots_get_no_layout() -> None:
    for text in (
        b"<thing><thing-id>1</thing-id><extra/></thing>",
        b"<other><thing-id>1</thing-id></other>",
        b"<thing/>",
    ):
        el = etree.fromstring(text)
        assert thingxml.serialize(el)[1] is None


def test_a_cut_keeps_the_sections_asked_for_in_order() -> None:
    thing = etree.fromstring(
        b"<thing>\n <thing-id v='1'>a</thing-id>\n <type-id>t</type-id><!-- c -->\n"
        b" <eff-date>d</eff-date><created><timestamp>1</timestamp></created>"
        b"<updated><timestamp>2</timestamp></updated>\n <data-xml><s/></data-xml>"
        b"<tags>x</tags><updated-end-date>e</updated-end-date>\n</thing>"
    )
    xml, layout = thingxml.serialize(thing)
    assert layout is not None
    core = thingxml.cut(xml, layout, thingxml.kept({"core"}, True), {"blob-payload": b"<blob-payload/>"})
    assert core == (
        b'<thing>\n <thing-id v="1">a</thing-id>\n <type-id>t</type-id>'
        b"<eff-date>d</eff-date><data-xml><s/></data-xml><blob-payload/>"
        b"<updated-end-date>e</updated-end-date>\n</thing>"
    )
