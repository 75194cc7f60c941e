"""Hostile and malformed XML is refused with a clear error, everywhere."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from healthvault import codec, safexml
from healthvault.errors import HealthVaultXmlError
from hvgen_cli import main

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<thing><data-xml><file><name>&lol9;</name><size>1</size></file></data-xml></thing>"""

QUADRATIC = (
    b'<!DOCTYPE thing [<!ENTITY a "' + b"x" * 50_000 + b'">]><thing><tags>' + b"&a;" * 20_000 + b"</tags></thing>"
)

XXE_FILE = b"""<?xml version="1.0"?>
<!DOCTYPE thing [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<thing><tags>&xxe;</tags></thing>"""

XXE_NETWORK = b"""<!DOCTYPE thing [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/x">]>
<thing><tags>&xxe;</tags></thing>"""

EXTERNAL_DTD = b"""<!DOCTYPE thing SYSTEM "http://127.0.0.1:9/thing.dtd"><thing/>"""

PARAMETER_ENTITY = b"""<!DOCTYPE thing [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]><thing/>"""

UTF16_DOCTYPE = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE t [<!ENTITY a "b">]><thing/>'.encode("utf-16")

#: A DOCTYPE behind the things a prolog may hold before it.
AFTER_PROLOG = (
    b'<?xml version="1.0"?>\n<?style x?><!-- a <note> -->\n<!doctype thing [<!ENTITY a "b">]><thing>&a;</thing>'
)

HOSTILE = {
    "after-prolog": AFTER_PROLOG,
    "billion-laughs": BILLION_LAUGHS,
    "quadratic-blowup": QUADRATIC,
    "xxe-file": XXE_FILE,
    "xxe-network": XXE_NETWORK,
    "external-dtd": EXTERNAL_DTD,
    "parameter-entity": PARAMETER_ENTITY,
    "utf16-doctype": UTF16_DOCTYPE,
}

MALFORMED = {
    "doctype-inside": (b"<thing><!DOCTYPE t [<!ENTITY a 'b'>]></thing>", "not well-formed"),
    "unclosed": (b"<thing><tags>x</thing>", "not well-formed"),
    "garbage": (b"\x00\x01not xml", "not well-formed"),
    "empty": (b"   ", "empty"),
    "two-roots": (b"<thing/><thing/>", "not well-formed"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_documents_are_refused_quickly(name: str) -> None:
    started = time.perf_counter()
    with pytest.raises(HealthVaultXmlError, match="DOCTYPE|DTD|entit"):
        codec.read_thing(HOSTILE[name])
    assert time.perf_counter() - started < 2, "refusal must not expand anything"


@pytest.mark.parametrize(
    "reader", [codec.read_thing, codec.read_request, codec.read_response, codec.read_data, codec.read_document]
)
def test_every_reader_refuses_entities(reader: object) -> None:
    with pytest.raises(HealthVaultXmlError, match="DOCTYPE"):
        reader(XXE_FILE)  # type: ignore[operator]


def test_no_file_content_leaks_through_xxe(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    doc = f'<!DOCTYPE t [<!ENTITY x SYSTEM "{secret.as_uri()}">]><thing><tags>&x;</tags></thing>'
    with pytest.raises(HealthVaultXmlError) as info:
        codec.read_thing(doc.encode())
    assert "TOP-SECRET" not in str(info.value)


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_documents_name_the_problem(name: str) -> None:
    data, words = MALFORMED[name]
    with pytest.raises(HealthVaultXmlError, match=words):
        codec.read_thing(data)


def test_malformed_error_gives_line_and_column() -> None:
    with pytest.raises(HealthVaultXmlError, match=r"line 3, column \d+"):
        codec.read_thing(b"<thing>\n<tags>x</tags>\n<flags>1</flag>\n</thing>")


def test_size_limit() -> None:
    big = b"<thing><tags>" + b"a" * 2048 + b"</tags></thing>"
    with pytest.raises(HealthVaultXmlError, match="over the 1024-byte limit"):
        safexml.parse(big, what="thing", max_bytes=1024)


def test_deep_nesting_is_refused() -> None:
    deep = b"<thing><data-xml><x>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</x></data-xml></thing>"
    with pytest.raises(HealthVaultXmlError, match="not well-formed"):
        codec.read_thing(deep)


def test_unknown_content_is_an_error_not_a_loss() -> None:
    doc = b"<thing><flags>1</flags><surprise>x</surprise></thing>"
    with pytest.raises(HealthVaultXmlError, match=r"unexpected element <surprise>"):
        codec.read_thing(doc)


def test_unknown_attribute_is_an_error() -> None:
    doc = b'<thing><thing-id version-stamp="a" extra="1">x</thing-id></thing>'
    with pytest.raises(HealthVaultXmlError, match="unexpected attribute extra"):
        codec.read_thing(doc)


@pytest.mark.parametrize("name", ["billion-laughs", "xxe-file", "external-dtd"])
def test_cli_roundtrip_refuses_with_one_line(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.xml"
    path.write_bytes(HOSTILE[name])
    result = CliRunner().invoke(main, ["roundtrip", str(path)])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert result.output.startswith("Error: ")
    assert "DOCTYPE" in result.output
