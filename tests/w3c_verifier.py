"""A test-only XML Signature verifier, written from the W3C XMLDSig core
validation steps, independent of healthvault.signing.

Core validation (XMLDSig 1.0, section 3.2):
1. Reference validation: for each Reference, dereference its URI (here only
   URI="", the whole document without comments), apply its Transforms in
   order, digest the result with DigestMethod, compare with DigestValue.
2. Signature validation: canonicalize SignedInfo with CanonicalizationMethod
   (in the context of its document) and check SignatureValue with the key of
   KeyInfo, per SignatureMethod.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree

NS = "http://www.w3.org/2000/09/xmldsig#"
C14N_10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
XSLT_10 = "http://www.w3.org/TR/1999/REC-xslt-19991116"
DIGESTS = {
    "http://www.w3.org/2000/09/xmldsig#sha1": hashlib.sha1,
    "http://www.w3.org/2001/04/xmlenc#sha256": hashlib.sha256,
}
SIGNATURES = {
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1": hashes.SHA1,
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": hashes.SHA256,
}


def _q(local: str) -> str:
    return f"{{{NS}}}{local}"


def _used_namespaces(el: etree._Element) -> dict[str | None, str]:
    used: dict[str | None, str] = {}
    for node in el.iter():
        if not isinstance(node.tag, str):
            continue
        for qname in [node.tag, *node.attrib.keys()]:
            if qname.startswith("{"):
                uri = qname[1:].split("}")[0]
                prefix = next((p for p, u in node.nsmap.items() if u == uri), None)
                used[prefix] = uri
    return used


def _rebuild(el: etree._Element, nsmap: dict[str | None, str]) -> etree._Element:
    """A copy of el carrying only the given namespace declarations."""
    copy_ = etree.Element(el.tag, dict(el.attrib), nsmap=nsmap)
    copy_.text = el.text
    for child in el:
        if isinstance(child.tag, str):
            sub = _rebuild(child, nsmap)
            sub.tail = child.tail
            copy_.append(sub)
    return copy_


def _stylesheet(transform: etree._Element) -> etree.XSLT:
    sheet = [c for c in transform if isinstance(c.tag, str)][0]
    return etree.XSLT(_rebuild(sheet, _used_namespaces(sheet)))


def _canonical(document: etree._ElementTree) -> bytes:
    return bytes(etree.tostring(document, method="c14n"))


def _signed_info_c14n(signed_info: etree._Element) -> bytes:
    """Canonical SignedInfo in its context: the namespace declarations in
    scope are carried onto a standalone copy, then C14N 1.0 is applied."""
    standalone = etree.fromstring(etree.tostring(signed_info))
    return bytes(etree.tostring(etree.ElementTree(standalone), method="c14n"))


def verify(document: bytes) -> dict[str, bool]:
    """{"references": ..., "signature": ...} for the one Signature in document."""
    root = etree.fromstring(document, etree.XMLParser(remove_comments=True, resolve_entities=False, no_network=True))
    signature = root.find(".//" + _q("Signature"))
    assert signature is not None, "no Signature"
    signed_info = signature.find(_q("SignedInfo"))
    assert signed_info is not None
    references_ok = True
    for reference in signed_info.findall(_q("Reference")):
        assert reference.get("URI") == "", "only same-document whole references are handled"
        data: etree._ElementTree = etree.ElementTree(root)
        octets: bytes | None = None
        for transform in reference.findall(f"{_q('Transforms')}/{_q('Transform')}"):
            algorithm = transform.get("Algorithm")
            if algorithm == XSLT_10:
                data = _stylesheet(transform)(data)
                octets = None
            elif algorithm == C14N_10:
                octets = _canonical(data)
            else:
                raise AssertionError(f"transform {algorithm} not handled")
        if octets is None:
            octets = _canonical(data)
        digest = DIGESTS[reference.find(_q("DigestMethod")).get("Algorithm")](octets).digest()
        references_ok &= base64.b64encode(digest).decode() == (reference.findtext(_q("DigestValue")) or "").strip()
    assert signed_info.find(_q("CanonicalizationMethod")).get("Algorithm") == C14N_10
    cert_text = signature.findtext(f"{_q('KeyInfo')}/{_q('X509Data')}/{_q('X509Certificate')}") or ""
    cert = x509.load_der_x509_certificate(base64.b64decode(cert_text))
    hash_cls = SIGNATURES[signed_info.find(_q("SignatureMethod")).get("Algorithm")]
    try:
        public = cert.public_key()
        assert isinstance(public, rsa.RSAPublicKey), "only RSA signers are handled"
        public.verify(
            base64.b64decode(signature.findtext(_q("SignatureValue")) or ""),
            _signed_info_c14n(signed_info),
            padding.PKCS1v15(),
            hash_cls(),
        )
        signature_ok = True
    except InvalidSignature:
        signature_ok = False
    return {"references": references_ok, "signature": signature_ok}
