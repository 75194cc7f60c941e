"""Thing signatures: sign, verify, tamper, interoperate."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from healthvault import blobhash, blobs, codec, crypto, signing, status, verification, wire
from healthvault.bindings.thing import BlobPayload, BlobPayloadItem, Common, Thing2
from hvgen_cli import main

from . import w3c_verifier
from .test_server import study

KEY, CERT = crypto.make_key_and_certificate("Signer One")
XMLSEC = shutil.which("xmlsec1") or ""


def streamed_item(name: str, data: bytes, content_type: str = "application/dicom") -> BlobPayloadItem:
    """A payload entry as an upload produces it (URL + hash-info)."""
    item = blobs.inline_item(name, content_type, data)
    item.base64data = None
    item.blob_ref_url = f"http://127.0.0.1:1/streaming/wildcatblob.ashx?blob-ref-token={name}"
    return item


def thing_with(blob_data: dict[str, bytes], inline: set[str] = frozenset()) -> Thing2:  # type: ignore[assignment]
    thing = study("1.2.3.4", description="Head CT")
    thing.data_xml[0].common = Common(note="signed note", source="hvgen tests")
    items = [
        blobs.inline_item(name, "application/octet-stream", data) if name in inline else streamed_item(name, data)
        for name, data in blob_data.items()
    ]
    thing.blob_payload = BlobPayload(blob=items) if items else None
    return thing


@pytest.fixture(params=["rsa-sha1", "rsa-sha256"])
def algorithm(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_round_trip_with_blobs(count: int, algorithm: str, tmp_path: Path) -> None:
    data = {f"b{i}": bytes([i]) * (1000 * (i + 1)) for i in range(count)}
    files = {}
    for name, content in data.items():
        files[name] = tmp_path / name
        files[name].write_bytes(content)
    signed = signing.sign(thing_with(data, inline={"b1"}), KEY, CERT, blobs=files, algorithm=algorithm)
    result = verification.verify(signed, blobs=files)
    assert result.valid, result.summary()
    assert result.algorithm == algorithm
    assert sorted(result.blobs) == sorted(data)
    sig_data = codec.read_thing(signed).signature_info.sig_data
    assert sig_data.hv_signature_method.value == "HVSignatureMethod2"
    assert sig_data.algorithm_tag == algorithm
    items = sig_data.blob_signature_info.item if sig_data.blob_signature_info else []
    assert {i.blob_info.name: i.blob_info.hash_info.hash for i in items} == {
        n: blobhash.hash_bytes(d) for n, d in data.items()
    }
    assert w3c_verifier.verify(signed) == {"references": True, "signature": True}


def test_signed_thing_survives_a_read_and_write() -> None:
    signed = signing.sign(thing_with({"a": b"x" * 10}, inline={"a"}), KEY, CERT)
    again = codec.write_thing(codec.read_thing(signed))
    assert again == signed
    assert verification.verify(codec.read_thing(signed)).valid


def test_blob_hash_comes_from_bytes_not_memory_copy(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    data = bytes(range(256)) * 20000
    path.write_bytes(data)
    item = streamed_item("big", b"")  # hash-info of other bytes
    item.blob_info.hash_info = None
    thing = thing_with({})
    thing.blob_payload = BlobPayload(blob=[item])
    with pytest.raises(signing.SigningError, match="no bytes given"):
        signing.sign(thing, KEY, CERT)
    signed = signing.sign(thing, KEY, CERT, blobs={"big": path})
    assert verification.verify(signed, blobs={"big": io.BytesIO(data)}).valid
    with pytest.raises(signing.SigningError, match="do not match"):
        bad = thing_with({"big": b"other"})
        signing.sign(bad, KEY, CERT, blobs={"big": path})


# -- tampering ----------------------------------------------------------------------------------


def signed_three(tmp_path: Path) -> tuple[bytes, dict[str, Path]]:
    data = {"a": b"A" * 3000, "b": b"B" * 5000, "c": b"C" * 7000}
    files = {}
    for name, content in data.items():
        files[name] = tmp_path / name
        files[name].write_bytes(content)
    return signing.sign(thing_with(data), KEY, CERT, blobs=files), files


def parts(document: bytes, files: dict[str, Path]) -> set[str]:
    result = verification.verify(document, blobs=files)
    assert not result.valid
    return result.parts()


def test_tampered_data_xml(tmp_path: Path) -> None:
    signed, files = signed_three(tmp_path)
    assert parts(signed.replace(b"Head CT", b"Head CX"), files) == {"signed-data"}
    assert w3c_verifier.verify(signed.replace(b"Head CT", b"Head CX"))["references"] is False


def test_tampered_sig_data_field(tmp_path: Path) -> None:
    signed, files = signed_three(tmp_path)
    doc = etree.fromstring(signed)
    doc.find("signature-info/sig-data/blob-signature-info/item/blob-info/content-type").text = "text/plain"
    assert "signed-data" in parts(etree.tostring(doc), files)


def test_one_byte_of_a_blob(tmp_path: Path) -> None:
    signed, files = signed_three(tmp_path)
    raw = bytearray(files["b"].read_bytes())
    raw[1234] ^= 1
    files["b"].write_bytes(bytes(raw))
    assert parts(signed, files) == {"blob:b"}


def test_two_blobs_swapped(tmp_path: Path) -> None:
    signed, files = signed_three(tmp_path)
    swapped = {"a": files["b"], "b": files["a"], "c": files["c"]}
    assert parts(signed, swapped) == {"blob:a", "blob:b"}


def test_blob_added_or_removed(tmp_path: Path) -> None:
    signed, files = signed_three(tmp_path)
    doc = etree.fromstring(signed)
    payload = doc.find("blob-payload")
    extra = etree.fromstring(wire.to_string(streamed_item("d", b"D"), "blob"))
    payload.append(extra)
    assert parts(etree.tostring(doc), files) == {"blob:d"}
    doc = etree.fromstring(signed)
    payload = doc.find("blob-payload")
    payload.remove(payload[0])
    assert parts(etree.tostring(doc), files) == {"blob:a"}


def test_signature_removed(tmp_path: Path) -> None:
    signed, files = signed_three(tmp_path)
    doc = etree.fromstring(signed)
    info = doc.find("signature-info")
    info.remove(info.find(f"{{{signing.DSIG}}}Signature"))
    assert parts(etree.tostring(doc), files) == {"structure"}
    doc.remove(info)
    assert parts(etree.tostring(doc), files) == {"structure"}


def test_wrapped_copy_of_data_xml(tmp_path: Path) -> None:
    """The attacker keeps the signed data-xml in an extension and puts a forged
    one where readers look: the forged one is what gets verified, and fails."""
    signed, files = signed_three(tmp_path)
    doc = etree.fromstring(signed)
    original = doc.find("data-xml")
    forged = etree.fromstring(etree.tostring(original))
    forged.find("medical-image-study/description").text = "Forged"
    extension = etree.SubElement(forged.find("common"), "extension", source="urn:x")
    extension.append(original)
    doc.insert(list(doc).index(doc.find("blob-payload")), forged)
    assert "signed-data" in parts(etree.tostring(doc), files)


def test_tampered_signature_value_and_wrong_key(tmp_path: Path) -> None:
    signed, files = signed_three(tmp_path)
    doc = etree.fromstring(signed)
    value = doc.find(f".//{{{signing.DSIG}}}SignatureValue")
    raw = bytearray(__import__("base64").b64decode(value.text))
    raw[10] ^= 0xFF
    value.text = __import__("base64").b64encode(bytes(raw)).decode()
    assert parts(etree.tostring(doc), files) == {"signature-value"}
    other_key, _ = crypto.make_key_and_certificate("impostor")
    forged = signing.sign(thing_with({}), other_key, CERT)  # someone else's key, our certificate
    assert verification.verify(forged).parts() == {"signature-value"}


@pytest.mark.parametrize(
    "edit, expected",
    [
        ("second-signature", "structure"),
        ("other-uri", "structure"),
        ("unknown-transform", "structure"),
        ("other-stylesheet", "structure"),
        ("exclusive-c14n", "algorithm"),
    ],
)
def test_structure_attacks_refused(edit: str, expected: str, tmp_path: Path) -> None:
    signed, files = signed_three(tmp_path)
    doc = etree.fromstring(signed)
    ds = f"{{{signing.DSIG}}}"
    signature = doc.find(f"signature-info/{ds}Signature")
    if edit == "second-signature":
        doc.find("data-xml/common").append(etree.fromstring(etree.tostring(signature)))
    elif edit == "other-uri":
        signature.find(f"{ds}SignedInfo/{ds}Reference").set("URI", "#other")
    elif edit == "unknown-transform":
        signature.find(f"{ds}SignedInfo/{ds}Reference/{ds}Transforms")[1].set(
            "Algorithm", "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
        )
    elif edit == "other-stylesheet":
        sheet = signature.find(f"{ds}SignedInfo/{ds}Reference/{ds}Transforms/{ds}Transform")[0]
        sheet[0].set("match", "*")
    elif edit == "exclusive-c14n":
        signature.find(f"{ds}SignedInfo/{ds}CanonicalizationMethod").set(
            "Algorithm", "http://www.w3.org/2001/10/xml-exc-c14n#"
        )
    result = verification.verify(etree.tostring(doc), blobs=files)
    assert expected in result.parts(), result.summary()


def test_streamed_blob_without_bytes_is_reported(tmp_path: Path) -> None:
    signed, _ = signed_three(tmp_path)
    result = verification.verify(signed)
    assert result.parts() == {"blob:a", "blob:b", "blob:c"}
    assert "not available" in result.summary()


# -- certificates -------------------------------------------------------------------------------


def _ca() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(
    ca_key: rsa.RSAPrivateKey, ca: x509.Certificate, days: int = 10
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Dr Leaf")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def test_certificate_trust() -> None:
    ca_key, ca = _ca()
    leaf_key, leaf = _leaf(ca_key, ca)
    signed = signing.sign(thing_with({}), leaf_key, leaf)
    assert verification.verify(signed, trust=[ca]).valid
    _, other_ca = _ca()
    assert verification.verify(signed, trust=[other_ca]).parts() == {"certificate"}
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=20)
    assert verification.verify(signed, trust=[ca], at=later).parts() == {"certificate"}
    self_signed = signing.sign(thing_with({}), KEY, CERT)
    assert verification.verify(self_signed, trust=[CERT]).valid
    assert verification.verify(self_signed, trust=[ca]).parts() == {"certificate"}


# -- interoperability -----------------------------------------------------------------------------


@pytest.mark.skipif(not XMLSEC, reason="xmlsec1 is not installed (.ci/run installs it)")
def test_xmlsec1_verifies_our_signatures(algorithm: str, tmp_path: Path) -> None:
    data = {"a": b"A" * 3000}
    signed = signing.sign(thing_with(data, inline={"a"}), KEY, CERT, algorithm=algorithm)
    (tmp_path / "signed.xml").write_bytes(signed)
    (tmp_path / "cert.pem").write_bytes(crypto.cert_pem(CERT))
    ok = subprocess.run(
        [XMLSEC, "--verify", "--enabled-reference-uris", "empty", "--trusted-pem", "cert.pem", "signed.xml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert "SignedInfo References (ok/all): 1/1" in ok.stderr + ok.stdout
    (tmp_path / "tampered.xml").write_bytes(signed.replace(b"Head CT", b"Head CX"))
    bad = subprocess.run(
        [XMLSEC, "--verify", "--enabled-reference-uris", "empty", "--trusted-pem", "cert.pem", "tampered.xml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0


def test_w3c_verifier_detects_signature_tampering(tmp_path: Path) -> None:
    signed, _ = signed_three(tmp_path)
    assert w3c_verifier.verify(signed) == {"references": True, "signature": True}
    tampered = signed.replace(b"<DigestValue>", b"<DigestValue>AAAA", 1)
    assert w3c_verifier.verify(tampered)["signature"] is False


# -- command line ------------------------------------------------------------------------------------


def test_cli_sign_and_verify(tmp_path: Path) -> None:
    data = b"D" * 4000
    (tmp_path / "scan.dcm").write_bytes(data)
    (tmp_path / "key.pem").write_bytes(crypto.key_pem(KEY))
    (tmp_path / "cert.pem").write_bytes(crypto.cert_pem(CERT))
    (tmp_path / "thing.xml").write_bytes(codec.write_thing(thing_with({"scan": data})))
    runner = CliRunner()
    signed = tmp_path / "signed.xml"
    result = runner.invoke(
        main,
        [
            "thing",
            "sign",
            str(tmp_path / "thing.xml"),
            "--key",
            str(tmp_path / "key.pem"),
            "--cert",
            str(tmp_path / "cert.pem"),
            "--blob",
            f"scan={tmp_path / 'scan.dcm'}",
            "--sha256",
            "-o",
            str(signed),
        ],
    )
    assert result.exit_code == 0, result.output
    ok = runner.invoke(
        main,
        [
            "thing",
            "verify",
            str(signed),
            "--blob",
            f"scan={tmp_path / 'scan.dcm'}",
            "--trust",
            str(tmp_path / "cert.pem"),
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert "valid rsa-sha256 signature" in ok.output
    (tmp_path / "scan.dcm").write_bytes(b"E" + data[1:])
    bad = runner.invoke(main, ["thing", "verify", str(signed), "--blob", f"scan={tmp_path / 'scan.dcm'}"])
    assert bad.exit_code == 1
    assert "blob:scan: its bytes do not match the signed hash" in bad.output
    missing = runner.invoke(main, ["thing", "verify", str(signed), "--blob", "scan"])
    assert missing.exit_code == 2


# -- the server checks signatures at PutThings ----------------------------------------------------------


def test_server_accepts_valid_and_refuses_invalid_signatures(server) -> None:
    with server.client() as client:
        store = client.blobs(study("7.7.7"))
        store.write("scan", b"S" * 5000, "application/dicom")
        thing = store.thing
        signed = signing.sign(thing, KEY, CERT, blobs={"scan": b"S" * 5000})
        key = client.put_thing(codec.read_thing(signed))
        back = client.get_thing(key.value, signatures=True, blob_payload=True)
        assert back is not None
        assert verification.verify(back, fetch=lambda url: blobs.open_blob(client.http, url)).valid

        forged = codec.read_thing(signed.replace(b"7.7.7", b"7.7.8"))
        with pytest.raises(status.BadSig, match="digest"):
            client.put_thing(forged)

        other = client.blobs(study("7.7.9"))
        other.write("scan", b"T" * 5000, "application/dicom")  # the bytes the server holds
        other.thing.blob_payload.blob[0].blob_info.hash_info = None
        lying = codec.read_thing(signing.sign(other.thing, KEY, CERT, blobs={"scan": b"U" * 5000}))
        with pytest.raises(status.InvalidBlobHash, match="hash does not match the blob's bytes"):
            client.put_thing(lying)  # the payload's own hash-info is checked first
        lying.blob_payload.blob[0].blob_info.hash_info = None
        with pytest.raises(status.InvalidBlobHash, match="thing signature: blob:scan"):
            client.put_thing(lying)  # then the signed hash in sig-data
