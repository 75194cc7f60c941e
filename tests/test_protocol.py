"""The protocol core shared by client and server: digests, base64, received
envelopes, responses and blob URLs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from typing import Any

import pytest
from lxml import etree

from healthvault import codec, crypto, methods, protocol, receiving, status, wire
from healthvault.client import ThingQuery
from healthvault.schema import BeginPutBlobResult, BlobHashAlgorithmParameters, GetThings3Params
from healthvault.status import StatusCode

APP_ID = "3c5a9f3e-6f0b-4a39-9d83-55ef8c7e1d11"
RECORD_ID = "0f2b4f4e-61c5-4c66-8a5e-93b5fa3e8f21"


def _wrapped(text: str, width: int = 76) -> str:
    return "\n".join(text[i : i + width] for i in range(0, len(text), width)) + "\n"


def test_base64_reads_whitespace_and_writes_one_line() -> None:
    data = os.urandom(300)
    encoded = crypto.b64encode(data)
    assert encoded == base64.b64encode(data).decode("ascii")
    assert not re.search(r"\s", encoded)
    assert crypto.b64decode(_wrapped(encoded)) == data
    assert crypto.b64decode(" \t" + _wrapped(encoded).replace("\n", "\r\n")) == data
    assert crypto.b64decode(encoded.encode("ascii")) == data
    for bad in (encoded[:-1] + "$", encoded[:-2], "é" + encoded):
        with pytest.raises(ValueError):
            crypto.b64decode(bad)


@pytest.mark.parametrize(
    ("name", "digest"), [("SHA1", hashlib.sha1), ("SHA256", hashlib.sha256), ("sha256", hashlib.sha256)]
)
def test_info_hash_algorithms(name: str, digest: Any) -> None:
    data = os.urandom(100)
    expected = base64.b64encode(digest(data).digest()).decode()
    assert crypto.info_hash(data, name) == expected
    assert crypto.info_hash_matches(data, _wrapped(expected, 10), name)
    assert not crypto.info_hash_matches(data + b"x", expected, name)
    assert not crypto.info_hash_matches(data, "not base64!", name)


@pytest.mark.parametrize(("name", "digest"), [("HMACSHA1", hashlib.sha1), ("HMACSHA256", hashlib.sha256)])
def test_hmac_algorithms(name: str, digest: Any) -> None:
    key, data = os.urandom(32), os.urandom(100)
    expected = base64.b64encode(hmac.new(key, data, digest).digest()).decode()
    assert crypto.hmac_digest(key, data, name) == expected
    assert crypto.hmac_matches(key, data, expected + "\n", name)
    assert not crypto.hmac_matches(os.urandom(32), data, expected, name)


def test_unknown_algorithms_are_refused() -> None:
    with pytest.raises(crypto.UnsupportedAlgorithm):
        crypto.info_hash(b"x", "MD5")
    with pytest.raises(crypto.UnsupportedAlgorithm):
        crypto.hmac_digest(b"k", b"x", "HMACMD5")
    with pytest.raises(crypto.UnsupportedAlgorithm):
        crypto.hmac_digest(b"k", b"x", "SHA256")  # a digest, not an HMAC


def _get_things_request(session: methods.Session) -> tuple[GetThings3Params, bytes]:
    info = GetThings3Params(group=[ThingQuery(client_thing_ids=["x"]).to_group()])
    return info, methods.build_request(methods.GET_THINGS3, info, session=session, record_id=RECORD_ID)


def test_received_request_exposes_the_hashed_bytes() -> None:
    session = methods.Session(token="token", shared_secret=os.urandom(32), app_id=APP_ID)
    info, raw = _get_things_request(session)
    request = receiving.parse_request(raw, methods.METHODS)
    assert request.method is methods.GET_THINGS3
    assert request.info_bytes == codec.serialize_info(info).encode("utf-8")
    assert request.header_bytes.startswith(b"<header>") and request.header_bytes.endswith(b"</header>")
    assert raw.index(request.header_bytes) < raw.index(request.info_bytes)
    assert request.header.record_id == RECORD_ID
    assert request.info() == info
    receiving.verify_info_hash(request, required=True)
    receiving.verify_hmac(request, session.shared_secret)
    with pytest.raises(status.BadSig):
        receiving.verify_hmac(request, os.urandom(32))
    with pytest.raises(status.BadSig, match="session was opened with HMACSHA1; this request's HMAC is HMACSHA256"):
        receiving.verify_hmac(request, session.shared_secret, "HMACSHA1")

    tampered = receiving.parse_request(raw.replace(b"<client-thing-id>x<", b"<client-thing-id>y<"), methods.METHODS)
    with pytest.raises(status.BadSig, match="info-hash does not match"):
        receiving.verify_info_hash(tampered, required=True)


def test_sha1_info_hash_with_line_breaks_is_accepted() -> None:
    raw = methods.build_request(methods.GET_SERVICE_DEFINITION, None, app_id=APP_ID)
    sha1 = _wrapped(crypto.info_hash(b"<info/>", "SHA1"), 8)
    raw = re.sub(rb'algName="SHA256">[^<]*<', b'algName="SHA1">' + sha1.encode() + b"<", raw)
    request = receiving.parse_request(raw, methods.METHODS)
    receiving.verify_info_hash(request, required=True)
    unknown = receiving.parse_request(raw.replace(b'algName="SHA1"', b'algName="MD5"'), methods.METHODS)
    with pytest.raises(status.BadSig, match="unsupported info-hash algorithm MD5"):
        receiving.verify_info_hash(unknown, required=True)


def test_envelopes_the_core_refuses() -> None:
    session = methods.Session(token="token", shared_secret=os.urandom(32), app_id=APP_ID)
    _, raw = _get_things_request(session)
    # The hashed bytes must be the element acted on: not a look-alike in a
    # comment, not content that needs a declaration from the envelope.
    with pytest.raises(status.InvalidXml, match="written plainly"):
        receiving.parse_request(raw.replace(b"<info>", b"<!-- <info/> --><info>"), methods.METHODS)
    inherited = raw.replace(b"<wc-request:request ", b'<wc-request:request xmlns:x="urn:x" ').replace(
        b"<client-thing-id>x</client-thing-id>", b"<client-thing-id x:a='1'>x</client-thing-id>"
    )
    with pytest.raises(status.InvalidXml, match="written plainly"):
        receiving.parse_request(inherited, methods.METHODS)
    with pytest.raises(status.BadMethod, match="unknown method GetThings version 3"):
        receiving.parse_request(raw, {})
    with pytest.raises(status.InvalidXml, match="document element"):
        receiving.parse_request(b"<request><header/><info/></request>", methods.METHODS)
    with pytest.raises(status.InvalidXml, match=r"\[auth\], header and info"):
        receiving.parse_request(raw.replace(b"</info>", b"</info><extra/>"), methods.METHODS)


def test_status_response_round_trip() -> None:
    message = 'version <a> & "b" is stale\x01'
    data = protocol.write_status(StatusCode.VERSION_STAMP_MISMATCH, message)
    assert b"<a>" not in data
    with pytest.raises(status.VersionStampMismatch) as caught:
        methods.read_result(methods.PUT_THINGS, data)
    assert caught.value.message == message.replace("\x01", "")
    assert caught.value.code == StatusCode.VERSION_STAMP_MISMATCH


def test_ok_responses_round_trip() -> None:
    result = BeginPutBlobResult(
        blob_ref_url=protocol.blob_url("http://127.0.0.1:9/", "a.b"),
        blob_chunk_size=8192,
        max_blob_size=1 << 20,
        blob_hash_algorithm="SHA256Block",
        blob_hash_parameters=BlobHashAlgorithmParameters(block_size=4096),
    )
    assert methods.read_result(methods.BEGIN_PUT_BLOB, protocol.write_ok(result)) == result
    assert methods.read_result(methods.REMOVE_THINGS, protocol.write_ok()) is None

    namespace = wire.RESPONSE_NS_PREFIX + "GetThings3"
    info = etree.Element(etree.QName(namespace, "info"), nsmap={"wc": namespace})
    etree.SubElement(info, "group", name="g")
    read = methods.read_result(methods.GET_THINGS3, protocol.write_ok(info))
    assert [g.name for g in read.group] == ["g"]


def test_blob_urls_carry_their_token() -> None:
    url = protocol.blob_url("https://example.org/base/", "payload.mac")
    assert url == f"https://example.org/base{protocol.BLOB_PATH}?{protocol.BLOB_TOKEN_PARAM}=payload.mac"
    assert protocol.blob_token(url) == "payload.mac"
    assert protocol.blob_token("https://example.org" + protocol.BLOB_PATH) is None


def test_message_times_of_one_process_never_repeat() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        times = list(pool.map(lambda _: protocol.now_xml(), range(4000)))
    assert len(set(times)) == len(times)  # 4,000 in far fewer milliseconds
    assert all(t.microsecond % 1000 == 0 and t.utcoffset() is not None for t in times)
    later = protocol.now_xml()
    assert later > max(times)
