"""Verifying thing signatures (HVSignatureMethod2).

:func:`verify` checks exactly what the thing presents: one signature, in
its place, with the one known transform sequence and stylesheet, a
reference to the whole thing and nothing else; the digest; the signature
value; every blob's hash from its bytes; that every blob is covered and
no covered blob is missing; and, given a trust store, the certificate chain
and its validity dates. The result (:class:`Verification`) says which part
failed. What a signature covers is described in :mod:`.signing`.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

from . import blobhash, codec, crypto, safexml
from .blobnames import blob_label
from .errors import HealthVaultError
from .schema import BlobPayload, SignatureData, Thing2
from .signing import (
    ALGORITHMS,
    C14N,
    DIGEST_NAMES,
    DSIG,
    METHOD,
    RSA_SHA1,
    RSA_SHA256,
    XSLT_TRANSFORM,
    BlobSource,
    c14n,
    hash_source,
    refuse_unknown_blobs,
    signed_data,
    standalone_sheet,
    stylesheet_element,
)

#: The classes this module takes from the schema set (see ``hvgen generate``).
SCHEMA_CLASSES = {
    "Thing2": "{urn:com.microsoft.wc.thing}Thing2",
    "SignatureData": "{urn:com.microsoft.wc.thing}SignatureData",
    "BlobPayload": "{urn:com.microsoft.wc.thing}BlobPayload",
}


@dataclass
class Problem:
    """One reason a signature does not hold.

    ``part`` is one of: ``structure``, ``algorithm``, ``signed-data``
    (data-xml or sig-data changed), ``sig-data``, ``blob:NAME``
    (``blob:`` for the default blob, whose name is empty),
    ``signature-value``, ``certificate``. Printed, the default blob's part
    reads ``default blob``.
    """

    part: str
    message: str

    def __str__(self) -> str:
        return f"{'default blob' if self.part == 'blob:' else self.part}: {self.message}"


@dataclass
class Verification:
    """The outcome of :func:`verify`."""

    problems: list[Problem] = field(default_factory=list)
    certificate: x509.Certificate | None = None
    algorithm: str | None = None
    blobs: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems

    def __bool__(self) -> bool:
        return self.valid

    def parts(self) -> set[str]:
        return {p.part for p in self.problems}

    def summary(self) -> str:
        if self.valid:
            subject = self.certificate.subject.rfc4514_string() if self.certificate else "?"
            return f"valid {self.algorithm} signature by {subject}; blobs checked: {len(self.blobs)}"
        return "\n".join(str(p) for p in self.problems)


def _thing_element(thing: Thing2 | bytes | etree._Element) -> etree._Element:
    if isinstance(thing, etree._Element):
        dup = copy.deepcopy(thing)
        etree.cleanup_namespaces(dup)
        return dup
    if isinstance(thing, (bytes, bytearray, str)):
        element = safexml.parse(thing, what="thing")
    else:
        element = safexml.parse(codec.write_thing(thing), what="thing")
    if element.tag != "thing":
        raise HealthVaultError(f"expected a <thing>, found <{etree.QName(element).text}>")
    return element


def _only(parent: etree._Element, tag: str, result: Verification, what: str) -> etree._Element | None:
    found = parent.findall(tag)
    if len(found) != 1:
        result.problems.append(
            Problem(
                "structure",
                f"{what}: expected one <{etree.QName(tag).localname}>, found {len(found)}",
            )
        )
        return None
    return found[0]


def _ds(name: str) -> str:
    return "{" + DSIG + "}" + name


def _check_signed_info(signed_info: etree._Element, result: Verification) -> tuple[str, str] | None:
    """(SignatureMethod, DigestMethod) if SignedInfo has the one accepted shape."""
    children = [c for c in signed_info if isinstance(c.tag, str)]
    if [c.tag for c in children] != [
        _ds("CanonicalizationMethod"),
        _ds("SignatureMethod"),
        _ds("Reference"),
    ]:
        result.problems.append(
            Problem(
                "structure",
                "SignedInfo must hold CanonicalizationMethod, SignatureMethod and exactly one Reference",
            )
        )
        return None
    c14n_method, sig_method, reference = children
    if c14n_method.get("Algorithm") != C14N or len(c14n_method):
        result.problems.append(
            Problem(
                "algorithm",
                f"unsupported canonicalization {c14n_method.get('Algorithm')}",
            )
        )
        return None
    if sig_method.get("Algorithm") not in (RSA_SHA1, RSA_SHA256):
        result.problems.append(
            Problem(
                "algorithm",
                f"unsupported signature method {sig_method.get('Algorithm')}",
            )
        )
        return None
    if reference.get("URI") != "" or set(reference.attrib) - {"URI"}:
        result.problems.append(
            Problem(
                "structure",
                f'the reference must be URI="" (the whole thing), not {reference.get("URI")!r}',
            )
        )
        return None
    ref_children = [c for c in reference if isinstance(c.tag, str)]
    if [c.tag for c in ref_children] != [
        _ds("Transforms"),
        _ds("DigestMethod"),
        _ds("DigestValue"),
    ]:
        result.problems.append(
            Problem(
                "structure",
                "the reference must hold Transforms, DigestMethod and DigestValue",
            )
        )
        return None
    transforms = [c for c in ref_children[0] if isinstance(c.tag, str)]
    algorithms = [t.get("Algorithm") for t in transforms]
    if [t.tag for t in transforms] != [_ds("Transform")] * 2 or algorithms != [
        XSLT_TRANSFORM,
        C14N,
    ]:
        result.problems.append(
            Problem(
                "structure",
                f"the transforms must be the signing stylesheet then C14N, found {algorithms}",
            )
        )
        return None
    sheets = [c for c in transforms[0] if isinstance(c.tag, str)]
    if len(sheets) != 1 or c14n(standalone_sheet(sheets[0])) != c14n(stylesheet_element()) or len(transforms[1]):
        result.problems.append(
            Problem(
                "structure",
                "the transform stylesheet is not the HVSignatureMethod2 stylesheet",
            )
        )
        return None
    digest_method = ref_children[1].get("Algorithm") or ""
    if digest_method not in DIGEST_NAMES:
        result.problems.append(Problem("algorithm", f"unsupported digest method {digest_method}"))
        return None
    return sig_method.get("Algorithm") or "", digest_method


def _check_certificate(
    cert: x509.Certificate,
    trust: Iterable[x509.Certificate],
    at: dt.datetime,
    result: Verification,
) -> None:
    anchors = list(trust)
    if not (cert.not_valid_before_utc <= at <= cert.not_valid_after_utc):
        result.problems.append(
            Problem(
                "certificate",
                f"the signer certificate is not valid at {at:%Y-%m-%d %H:%M}Z",
            )
        )
        return
    fingerprint = cert.fingerprint(hashes.SHA256())
    if any(a.fingerprint(hashes.SHA256()) == fingerprint for a in anchors):
        return
    for anchor in anchors:
        if anchor.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(anchor)
        except (ValueError, TypeError, InvalidSignature):
            continue
        if not (anchor.not_valid_before_utc <= at <= anchor.not_valid_after_utc):
            result.problems.append(Problem("certificate", "the issuing certificate is not valid now"))
        return
    result.problems.append(
        Problem(
            "certificate",
            f"the signer ({cert.subject.rfc4514_string()}) is not issued by a trusted certificate",
        )
    )


def load_trust(path: str | os.PathLike[str]) -> list[x509.Certificate]:
    """Certificates of a PEM trust store (one or more certificates)."""
    return x509.load_pem_x509_certificates(Path(path).read_bytes())


def verify(
    thing: Thing2 | bytes | etree._Element,
    *,
    blobs: Mapping[str, BlobSource] | None = None,
    blob_hashes: Mapping[str, tuple[str, int]] | None = None,
    fetch: Callable[[str], Iterable[bytes]] | None = None,
    trust: Iterable[x509.Certificate] | None = None,
    at: dt.datetime | None = None,
) -> Verification:
    """Verify a thing's signature; the result lists every problem found.

    Blob bytes come from ``blobs`` (by name), else from ``blob_hashes``
    (name -> (hash, block size) of bytes already hashed, as a server holds
    them), else inline base64data, else ``fetch(blob_ref_url)``; a blob whose
    bytes cannot be had is a problem. With ``trust``, the certificate must
    be one of them or directly issued by one, and valid at ``at`` (now).

    Raises:
        SigningError: ``blobs`` names a blob the thing does not have.
    """
    result = Verification()
    element = _thing_element(thing)
    refuse_unknown_blobs(  # names the payload has, or the signature covers
        blobs or {}, [i.findtext("name") or "" for i in element.iter("blob-info")]
    )
    signatures = element.findall(".//" + _ds("Signature"))
    info_el = _only(element, "signature-info", result, "thing")
    if info_el is None:
        return result
    if len(signatures) != 1:
        result.problems.append(
            Problem(
                "structure",
                f"the thing holds {len(signatures)} Signature elements; exactly one is accepted",
            )
        )
        return result
    children = [c for c in info_el if isinstance(c.tag, str)]
    if [c.tag for c in children] != ["sig-data", _ds("Signature")]:
        result.problems.append(
            Problem(
                "structure",
                "signature-info must hold sig-data followed by the Signature",
            )
        )
        return result
    sig_data_el, signature = children
    sig_children = [c for c in signature if isinstance(c.tag, str)]
    names = [c.tag for c in sig_children]
    if names != [_ds("SignedInfo"), _ds("SignatureValue"), _ds("KeyInfo")]:
        result.problems.append(
            Problem(
                "structure",
                "Signature must hold SignedInfo, SignatureValue and KeyInfo",
            )
        )
        return result
    signed_info, value_el, key_info = sig_children
    methods = _check_signed_info(signed_info, result)
    if methods is None:
        return result
    signature_method, digest_method = methods

    sig_data = codec.bind(copy.deepcopy(sig_data_el), SignatureData, what="sig-data")
    if getattr(sig_data.hv_signature_method, "value", sig_data.hv_signature_method) != METHOD:
        result.problems.append(
            Problem(
                "algorithm",
                f"unsupported signature method {sig_data.hv_signature_method}",
            )
        )
        return result
    tag = (sig_data.algorithm_tag or "").strip()
    if tag not in ALGORITHMS or ALGORITHMS[tag][:2] != (
        signature_method,
        digest_method,
    ):
        result.problems.append(
            Problem(
                "sig-data",
                f"algorithm-tag {tag!r} does not match the signature's algorithms",
            )
        )
    result.algorithm = tag

    # Reference digest over data-xml and sig-data.
    expected = crypto.b64encode(
        crypto.digest_bytes(signed_data(element, sheet_of(signed_info)), DIGEST_NAMES[digest_method])
    )
    digest_value = (signed_info.findtext(f"{_ds('Reference')}/{_ds('DigestValue')}") or "").strip()
    if expected != digest_value:
        result.problems.append(
            Problem(
                "signed-data",
                "the digest does not match: data-xml or sig-data was changed",
            )
        )

    # Signature value over SignedInfo.
    certs = key_info.findall(f"{_ds('X509Data')}/{_ds('X509Certificate')}")
    if len(certs) != 1:
        result.problems.append(Problem("certificate", "KeyInfo must carry exactly one X509Certificate"))
    else:
        try:
            cert = x509.load_der_x509_certificate(crypto.b64decode(certs[0].text or ""))
        except ValueError as exc:
            result.problems.append(Problem("certificate", f"unreadable certificate: {exc}"))
            cert = None
        if cert is not None:
            result.certificate = cert
            public = cert.public_key()
            hash_cls = hashes.SHA1 if signature_method == RSA_SHA1 else hashes.SHA256
            try:
                if not isinstance(public, rsa.RSAPublicKey):
                    raise InvalidSignature
                public.verify(
                    crypto.b64decode(value_el.text or ""),
                    c14n(signed_info),
                    padding.PKCS1v15(),
                    hash_cls(),
                )
            except (InvalidSignature, ValueError):
                result.problems.append(
                    Problem(
                        "signature-value",
                        "the signature value does not verify with the certificate's key",
                    )
                )
            if trust is not None:
                _check_certificate(cert, trust, at or dt.datetime.now(dt.UTC), result)

    _check_blobs(element, sig_data, blobs or {}, blob_hashes or {}, fetch, result)
    return result


def sheet_of(signed_info: etree._Element) -> etree._Element:
    transform = signed_info.find(f"{_ds('Reference')}/{_ds('Transforms')}/{_ds('Transform')}")
    assert transform is not None
    return [c for c in transform if isinstance(c.tag, str)][0]


def _check_blobs(
    element: etree._Element,
    sig_data: SignatureData,
    blobs: Mapping[str, BlobSource],
    blob_hashes: Mapping[str, tuple[str, int]],
    fetch: Callable[[str], Iterable[bytes]] | None,
    result: Verification,
) -> None:
    covered: dict[str, Any] = {}
    for item in sig_data.blob_signature_info.item if sig_data.blob_signature_info else []:
        name = item.blob_info.name or ""
        if name in covered:
            result.problems.append(Problem("sig-data", f"{blob_label(name)} is listed twice"))
        covered[name] = item.blob_info
    payload_el = element.find("blob-payload")
    payload = (
        codec.bind(copy.deepcopy(payload_el), BlobPayload, what="blob-payload") if payload_el is not None else None
    )
    present: dict[str, Any] = {}
    for blob in payload.blob if payload is not None else []:
        if blob.content_length == 0 and blob.base64data is None and blob.blob_ref_url is None:
            continue
        present[blob.blob_info.name or ""] = blob
    for name in sorted(set(present) - set(covered)):
        result.problems.append(Problem(f"blob:{name}", "the blob is not covered by the signature"))
    for name in sorted(set(covered) - set(present)):
        result.problems.append(Problem(f"blob:{name}", "a signed blob is missing from the thing"))
    for name in sorted(set(covered) & set(present)):
        signed, item = covered[name], present[name]
        if (signed.content_type or "") != (item.blob_info.content_type or ""):
            result.problems.append(Problem(f"blob:{name}", "its content-type differs from the signed one"))
        info = signed.hash_info
        if info is None or info.algorithm != blobhash.ALGORITHM or not info.hash:
            result.problems.append(Problem("sig-data", f"{blob_label(name)} has no SHA256Block hash in sig-data"))
            continue
        block = int(info.params.block_size) if info.params and info.params.block_size else blobhash.DEFAULT_BLOCK_SIZE
        try:
            if name in blobs:
                actual = hash_source(blobs[name], block)
            elif name in blob_hashes and blob_hashes[name][1] == block:
                actual = blob_hashes[name][0]
            elif item.base64data is not None:
                actual = blobhash.hash_bytes(base64.b64decode(item.base64data), block)
            elif fetch is not None and item.blob_ref_url:
                actual = blobhash.hash_chunks(fetch(str(item.blob_ref_url)), block)
            else:
                result.problems.append(Problem(f"blob:{name}", "its bytes were not available to check"))
                continue
        except (OSError, HealthVaultError) as exc:
            result.problems.append(Problem(f"blob:{name}", f"its bytes could not be read: {exc}"))
            continue
        if actual != info.hash:
            result.problems.append(Problem(f"blob:{name}", "its bytes do not match the signed hash"))
        else:
            result.blobs.append(name)
