"""Signing things (HVSignatureMethod2).

A signature covers the thing's ``data-xml`` and ``signature-info/sig-data``;
``sig-data`` lists every blob with its SHA256Block hash, so the blobs are
covered through their hashes. The XML signature has one reference to the
whole thing (``URI=""``) with two transforms: an XSLT stylesheet that keeps
only data-xml and sig-data (inside ``hv:signed-thing-data``), then inclusive
C14N. SignedInfo is canonicalized with inclusive C14N and signed with the
signer's RSA key; KeyInfo carries the signer's certificate.

RSA-SHA1 with a SHA-1 digest (``algorithm-tag`` ``rsa-sha1``) is the
default, for compatibility; RSA-SHA256 with a SHA-256 digest
(``rsa-sha256``) is available when asked for.

Verification lives in :mod:`.verification`.
"""

from __future__ import annotations

import base64
import copy
import io
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree
from lxml.builder import ElementMaker

from . import blobhash, codec, crypto, safexml
from .blobnames import blob_label, blob_names
from .errors import HealthVaultError
from .schema import (
    BlobHashAlgorithmParameters,
    BlobHashInfo,
    BlobInfo,
    BlobSignatureInfo,
    SignatureData,
    SignatureInfo,
    SignatureMethod,
    Thing2,
)

DSIG = "http://www.w3.org/2000/09/xmldsig#"
XSLT = "http://www.w3.org/1999/XSL/Transform"
XSLT_TRANSFORM = "http://www.w3.org/TR/1999/REC-xslt-19991116"
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
DIGEST_SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
DIGEST_SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
METHOD = "HVSignatureMethod2"

#: The classes this module takes from the schema set (see ``hvgen generate``).
SCHEMA_CLASSES = {
    "Thing2": "{urn:com.microsoft.wc.thing}Thing2",
    "SignatureInfo": "{urn:com.microsoft.wc.thing}SignatureInfo",
    "SignatureData": "{urn:com.microsoft.wc.thing}SignatureData",
    "BlobSignatureInfo": "{urn:com.microsoft.wc.thing}BlobSignatureInfo",
    "BlobInfo": "{urn:com.microsoft.wc.thing}BlobInfo",
    "BlobHashInfo": "{urn:com.microsoft.wc.thing}BlobHashInfo",
    "SignatureMethod": "{urn:com.microsoft.wc.thing}HealthVaultThingSignatureMethod",
    "BlobHashAlgorithmParameters": "{urn:com.microsoft.wc.types}BlobHashAlgorithmParameters",
    "BlobPayload": "{urn:com.microsoft.wc.thing}BlobPayload",
}

#: Algorithms by algorithm-tag: (SignatureMethod, DigestMethod, hash).
ALGORITHMS: dict[str, tuple[str, str, type[hashes.HashAlgorithm]]] = {
    "rsa-sha1": (RSA_SHA1, DIGEST_SHA1, crypto.DIGESTS["SHA1"]),
    "rsa-sha256": (RSA_SHA256, DIGEST_SHA256, crypto.DIGESTS["SHA256"]),
}
#: Digest methods by URI, as :data:`crypto.DIGESTS` names them.
DIGEST_NAMES = {DIGEST_SHA1: "SHA1", DIGEST_SHA256: "SHA256"}

#: The stylesheet of HVSignatureMethod2: a protocol constant.
STYLESHEET = (
    '<xs:stylesheet xmlns:xs="http://www.w3.org/1999/XSL/Transform" version="1.0">'
    '<xs:template match="thing">'
    '<hv:signed-thing-data xmlns:hv="urn:com.microsoft.wc.thing.signing.2.xsl">'
    '<xs:copy-of select="data-xml"/>'
    '<xs:copy-of select="signature-info/sig-data"/>'
    "</hv:signed-thing-data>"
    "</xs:template>"
    "</xs:stylesheet>"
)

#: Where blob bytes come from: a path, bytes, a binary file, chunks, or a
#: callable returning one of these.
BlobSource: TypeAlias = str | os.PathLike[str] | bytes | io.BufferedIOBase | Iterable[bytes] | Callable[[], Any]


class SigningError(HealthVaultError):
    """A thing could not be signed (a blob hash is missing or wrong, a bad key...)."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def stylesheet_element() -> etree._Element:
    return etree.fromstring(STYLESHEET.encode("utf-8"), _parser())


def c14n(node: etree._Element | etree._ElementTree) -> bytes:
    """Inclusive C14N 1.0 without comments. Elements are canonicalized as a
    copy: in place inside a larger document lxml was seen emitting a spurious
    xmlns="" on descendants."""
    if isinstance(node, etree._Element):
        node = copy.deepcopy(node)
    return bytes(etree.tostring(node, method="c14n", exclusive=False, with_comments=False))


def standalone_sheet(stylesheet: etree._Element) -> etree._Element:
    """The stylesheet without namespace declarations it does not use (inside
    Signature it inherits the XML Signature default namespace, which would
    otherwise leak into the transform's output)."""
    dup = copy.deepcopy(stylesheet)
    etree.cleanup_namespaces(dup)
    return etree.fromstring(etree.tostring(dup), _parser())


def signed_data(thing: etree._Element, stylesheet: etree._Element | None = None) -> bytes:
    """The bytes the reference digest covers: the stylesheet's output, canonicalized."""
    transform = etree.XSLT(standalone_sheet(stylesheet if stylesheet is not None else stylesheet_element()))
    result = transform(etree.ElementTree(copy.deepcopy(thing)))
    return bytes(etree.tostring(result, method="c14n", exclusive=False, with_comments=False))


# -- blob hashes ---------------------------------------------------------------------------


def _open_source(source: BlobSource) -> Any:
    return source() if callable(source) else source


def hash_source(source: BlobSource, block_size: int) -> str:
    """SHA256Block of a blob's bytes, streamed (never the whole blob in memory)."""
    opened: Any = _open_source(source)
    if isinstance(opened, (bytes, bytearray)):
        return blobhash.hash_bytes(bytes(opened), block_size)
    if isinstance(opened, (str, os.PathLike)):
        return blobhash.hash_file(os.fspath(opened), block_size)
    if hasattr(opened, "read"):
        return blobhash.hash_stream(opened, block_size)
    return blobhash.hash_chunks(opened, block_size)


def _blob_hash(item: Any, blobs: Mapping[str, BlobSource], block_size: int) -> str:
    name = item.blob_info.name or ""
    if name in blobs:
        return hash_source(blobs[name], block_size)
    if item.base64data is not None:
        return blobhash.hash_bytes(base64.b64decode(item.base64data), block_size)
    info = item.blob_info.hash_info
    if info is not None and info.hash:
        claimed = int(info.params.block_size) if info.params and info.params.block_size else block_size
        if info.algorithm == blobhash.ALGORITHM and claimed == block_size:
            return str(info.hash)
    raise SigningError(f"{blob_label(name)}: no bytes given and no SHA256Block hash-info to use")


# -- signing ----------------------------------------------------------------------------------


def refuse_unknown_blobs(blobs: Mapping[str, BlobSource], names: list[str]) -> None:
    """Bytes given for a blob the thing does not have are a mistake (a
    misspelt name would otherwise leave the real blob unchecked)."""
    unknown = sorted(set(blobs) - set(names))
    if unknown:
        named = [repr(n) for n in unknown if n]
        missing = (["default blob"] if "" in unknown else []) + ([f"blob named {', '.join(named)}"] if named else [])
        raise SigningError(f"the thing has no {' and no '.join(missing)}; its blobs: {blob_names(names)}")


def _der_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


def sign(
    thing: Thing2 | bytes,
    key: rsa.RSAPrivateKey,
    cert: x509.Certificate,
    *,
    blobs: Mapping[str, BlobSource] | None = None,
    algorithm: str = "rsa-sha1",
    block_size: int = blobhash.DEFAULT_BLOCK_SIZE,
) -> bytes:
    """Sign a thing; returns the signed ``<thing>`` XML.

    Args:
        thing: The thing (a binding, or its XML).
        key: The signer's RSA private key.
        cert: The signer's certificate (placed in KeyInfo).
        blobs: Bytes of streamed blobs by name. Inline blobs are hashed from
            their base64data; a streamed blob without bytes here is covered
            by the SHA256Block hash-info it already carries (set by the upload).
        algorithm: ``rsa-sha1`` (default) or ``rsa-sha256``.
        block_size: SHA256Block block size for hashes computed here.

    Raises:
        SigningError: A blob cannot be hashed, or its bytes contradict its
            hash-info, or ``blobs`` names a blob the thing does not have, or
            the algorithm is unknown.
    """
    if algorithm not in ALGORITHMS:
        raise SigningError(f"unknown signature algorithm {algorithm!r}; use rsa-sha1 or rsa-sha256")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SigningError("the signing key must be an RSA private key")
    signature_method, digest_method, hash_cls = ALGORITHMS[algorithm]
    parsed = codec.read_thing(thing) if isinstance(thing, (bytes, bytearray, str)) else copy.deepcopy(thing)
    if not isinstance(parsed, Thing2):
        raise SigningError("only Thing2 things (with blob payloads) can be signed with HVSignatureMethod2")
    blobs = blobs or {}
    refuse_unknown_blobs(
        blobs,
        [i.blob_info.name or "" for i in (parsed.blob_payload.blob if parsed.blob_payload else [])],
    )
    items = []
    for item in parsed.blob_payload.blob if parsed.blob_payload else []:
        if item.content_length == 0 and item.base64data is None and item.blob_ref_url is None:
            continue  # a removal marker, not a blob
        digest = _blob_hash(item, blobs, block_size)
        info = item.blob_info.hash_info
        if (
            info is not None
            and info.hash
            and info.hash != digest
            and (not info.params or not info.params.block_size or int(info.params.block_size) == block_size)
        ):
            raise SigningError(f"{blob_label(item.blob_info.name or '')}: its bytes do not match its hash-info")
        hash_info = BlobHashInfo(
            algorithm=blobhash.ALGORITHM,
            params=BlobHashAlgorithmParameters(block_size=block_size),
            hash=digest,
        )
        item.blob_info.hash_info = hash_info
        items.append(
            BlobSignatureInfo.Item(
                blob_info=BlobInfo(
                    name=item.blob_info.name,
                    content_type=item.blob_info.content_type,
                    hash_info=copy.deepcopy(hash_info),
                )
            )
        )
    parsed.signature_info = SignatureInfo(
        sig_data=SignatureData(
            hv_signature_method=SignatureMethod.HVSIGNATURE_METHOD2,
            blob_signature_info=BlobSignatureInfo(item=items) if items else None,
            algorithm_tag=algorithm,
        )
    )
    doc = safexml.parse(codec.write_thing(parsed), what="thing")
    digest_value = crypto.b64encode(crypto.digest_bytes(signed_data(doc), DIGEST_NAMES[digest_method]))

    E = ElementMaker(namespace=DSIG, nsmap={None: DSIG})
    transform_xslt = E.Transform(Algorithm=XSLT_TRANSFORM)
    transform_xslt.append(stylesheet_element())
    signed_info = E.SignedInfo(
        E.CanonicalizationMethod(Algorithm=C14N),
        E.SignatureMethod(Algorithm=signature_method),
        E.Reference(
            E.Transforms(transform_xslt, E.Transform(Algorithm=C14N)),
            E.DigestMethod(Algorithm=digest_method),
            E.DigestValue(digest_value),
            URI="",
        ),
    )
    signature = E.Signature(signed_info)
    signature_info = doc.find("signature-info")
    assert signature_info is not None
    signature_info.append(signature)
    value = key.sign(c14n(signed_info), padding.PKCS1v15(), hash_cls())
    signature.append(E.SignatureValue(base64.b64encode(value).decode("ascii")))
    signature.append(E.KeyInfo(E.X509Data(E.X509Certificate(_der_b64(cert)))))
    return bytes(etree.tostring(doc, encoding="utf-8"))
