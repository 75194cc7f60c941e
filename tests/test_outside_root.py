"""What is around a document's root is kept: comments, processing
instructions, the XML declaration and the white space between them.

A property over random documents of every thing type, with comments and
processing instructions anywhere (inside, before and after the root): read
and written back through ``read_data``/``write_data``, ``read_thing``/
``write_thing``, a response, a request, ``read_document``/
``write_document`` and ``hvgen roundtrip``, the output is the input byte
for byte. Cases the bytes cannot be kept as read (another encoding, a
comment a program changed) still keep every comment and processing
instruction.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from healthvault import codec, registry, validation
from healthvault.binding import Binding
from healthvault.bindings.methods.request import AuthenticatedSessionInfo, Header

from .conftest import examples
from .terminal import assert_clean, hvgen_env, in_terminal, piped
from .xmlstrategies import element_for, markup_nodes, sprinkled

pytestmark = pytest.mark.properties  # also run with --hypothesis-profile=deep (.ci/run)

THING_TYPES = sorted(registry.THING_TYPES.items(), key=lambda item: str(item[0]))
SETTINGS = settings(
    max_examples=examples(20),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
_SPACE = st.text(" \t\n", max_size=3)
DECLARATIONS = [
    "",
    '<?xml version="1.0"?>',
    '<?xml version="1.0" encoding="UTF-8"?>',
    "<?xml version='1.0' encoding='utf-8' standalone='yes'?>",
]


@st.composite
def outside(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """Random text before and after a root: a declaration, white space,
    comments and processing instructions."""
    declaration = draw(st.sampled_from(DECLARATIONS)).encode()
    if declaration and draw(st.booleans()):
        declaration = b"\xef\xbb\xbf" + declaration  # with a byte order mark

    def part() -> bytes:
        nodes = draw(st.lists(markup_nodes(), max_size=3))
        spaces = [draw(_SPACE).encode() for _ in range(len(nodes) + 1)]
        return spaces[0] + b"".join(
            etree.tostring(n, encoding="utf-8") + s for n, s in zip(nodes, spaces[1:], strict=True)
        )

    before, after = part(), part()
    if declaration and before[:1] not in (b"", b" ", b"\t", b"\n") and draw(st.booleans()):
        before = b"\n" + before
    return declaration + before, after


def _root(cls: type[Binding]) -> st.SearchStrategy[bytes]:
    def serialize(element: etree._Element) -> bytes:
        normal = etree.fromstring(etree.tostring(element, encoding="utf-8"))  # as libxml2 writes it
        return bytes(etree.tostring(normal, encoding="utf-8"))

    return element_for(cls).flatmap(sprinkled).map(serialize)


def _thing(type_id: Any, root: bytes) -> bytes:
    return b"<thing><type-id>" + str(type_id).encode() + b"</type-id><data-xml>" + root + b"</data-xml></thing>"


@pytest.mark.parametrize(("type_id", "cls"), THING_TYPES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_documents_round_trip_byte_for_byte_with_what_is_around_their_root(type_id: Any, cls: type[Binding]) -> None:
    @SETTINGS
    @given(_root(cls), outside(), outside())
    def check(root: bytes, around_data: tuple[bytes, bytes], around_thing: tuple[bytes, bytes]) -> None:
        validation.validate_data(etree.fromstring(root), type_id)  # libxml2: valid, comments and PIs anywhere
        data = around_data[0] + root + around_data[1]
        assert codec.write_data(codec.read_data(data, type_id, strict=True)) == data
        assert codec.write_document(codec.read_document(data, strict=True)) == data
        thing = around_thing[0] + _thing(type_id, root) + around_thing[1]
        assert codec.write_thing(codec.read_thing(thing, strict=True)) == thing
        assert codec.write_document(codec.read_document(thing, strict=True)) == thing
        response = (
            around_data[0]
            + b'<response><status><code>0</code></status><wc:info xmlns:wc="urn:com.microsoft.wc.methods.response.GetThings3">'
            + b"<group>"
            + _thing(type_id, root)
            + b"</group></wc:info></response>"
            + around_thing[1]
        )
        assert codec.write_response(codec.read_response(response, strict=True)) == response
        assert codec.write_document(codec.read_document(response, strict=True)) == response

    check()


def _request() -> bytes:
    header = Header(
        method="BeginPutBlob",  # no info schema: an empty <info/>
        method_version=1,
        record_id="0a0a0a0a-0000-0000-0000-000000000000",
        auth_session=AuthenticatedSessionInfo(auth_token="tok"),
        msg_time=dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC),
        msg_ttl=1800,
        version="hvgen/0.1",
    )
    return codec.request_parts(codec.RequestEnvelope(header=header)).join()


@SETTINGS
@given(outside())
def test_requests_keep_what_is_around_their_root_changed_or_not(around_it: tuple[bytes, bytes]) -> None:
    data = around_it[0] + _request() + around_it[1]
    request = codec.read_request(data)
    assert codec.write_request(request) == data
    request.header.msg_ttl = 60  # a changed request is written anew, still with what was around it
    out = codec.write_request(request)
    assert out.startswith(around_it[0]) and out.endswith(around_it[1]) and b"<msg-ttl>60</msg-ttl>" in out


def test_a_comment_changed_by_a_program_is_written_as_it_is_now() -> None:
    data = b'<?xml version="1.0"?>\n<!-- draft -->\n<file><name>a</name><size>1</size></file>\n<?done?>\n'
    file = codec.read_data(data)
    comment = file._el.getprevious()
    comment.text = " final "
    assert codec.write_data(file) == b"<!-- final -->\n<file><name>a</name><size>1</size></file>\n<?done?>"
    file._el.addnext(etree.Comment("added"))
    assert codec.write_data(file).endswith(b"</file>\n<!--added-->\n<?done?>")


def test_comments_of_a_document_in_another_encoding_are_kept() -> None:
    data = '<?xml version="1.0" encoding="ISO-8859-1"?><!-- café --><file><name>é</name><size>1</size></file><?x y?>'
    out = codec.write_data(codec.read_data(data.encode("latin-1")))
    assert out == "<!-- café -->\n<file><name>é</name><size>1</size></file>\n<?x y?>".encode()
    utf16 = codec.write_data(codec.read_data("<!--a--><file><name>b</name><size>1</size></file>".encode("utf-16")))
    assert utf16 == b"<!--a-->\n<file><name>b</name><size>1</size></file>"


def test_pretty_output_keeps_what_is_around_the_root() -> None:
    data = b'<?xml version="1.0"?>\n<!-- a --><file><name>a</name><size>1</size></file><?b c?>\n'
    out = codec.write_document(codec.read_document(data), pretty=True)
    assert out == b'<?xml version="1.0"?>\n<!-- a --><file>\n  <name>a</name>\n  <size>1</size>\n</file><?b c?>\n'


def test_a_thing_put_into_a_request_leaves_what_was_around_it() -> None:
    from healthvault.bindings.methods.method_putthings2 import Info

    thing = codec.read_thing(b"<!-- mine --><thing><type-id>bd0403c5-4ae2-4b0e-a8db-1888678e4528</type-id></thing>")
    info = Info(thing=[thing])
    assert b"mine" not in codec.serialize_info(info).encode()


@pytest.mark.parametrize(
    "document",
    [
        b"<!-- exported 2024-05-01 -->\n<?xml-stylesheet href='s.xsl'?>\n"
        b"<file><name>a.dcm</name><size>10</size></file>\n<!-- end -->\n",
        b'<?xml version="1.0" encoding="UTF-8"?>\r\n<thing><type-id>bd0403c5-4ae2-4b0e-a8db-1888678e4528</type-id>'
        b"<data-xml><file><name>a</name><size>1</size></file></data-xml></thing>\r\n<!--x-->",
    ],
)
def test_hvgen_roundtrip_writes_the_file_back_byte_for_byte(document: bytes, tmp_path: Path) -> None:
    path = tmp_path / "in.xml"
    path.write_bytes(document)
    env = hvgen_env(tmp_path / "home")
    run = piped(["roundtrip", str(path), "-o", str(tmp_path / "out.xml")], env)
    assert run.code == 0, run.stderr
    assert (tmp_path / "out.xml").read_bytes() == document
    run = piped(["roundtrip", str(path), "--json"], env)
    assert run.code == 0 and json.loads(run.output)["identical"] is True
    run = in_terminal(["roundtrip", str(path)], env)
    assert_clean(run)
    assert "<!--" in run.output
