"""Hashes, HMACs and application credentials used by the method envelopes.

* ``info-hash``: SHA-256 over the bytes of the request's ``<info>`` element,
  exactly as sent;
* ``auth``: HMAC-SHA256 over the bytes of the request's ``<header>`` element,
  keyed with the session's shared secret;
* the application credential of CreateAuthenticatedSessionToken: an RSA
  signature (PKCS#1 v1.5, SHA-1 by default) over the bytes of ``<content>``,
  made with the application's private key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

INFO_HASH_ALGORITHM = "SHA256"
HMAC_ALGORITHM = "HMACSHA256"

_DIGESTS = {"SHA1": hashes.SHA1, "SHA256": hashes.SHA256}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def info_hash(info: bytes) -> str:
    """Base64 SHA-256 of the info element's bytes."""
    return b64(hashlib.sha256(info).digest())


def hmac_sha256(key: bytes, data: bytes) -> str:
    """Base64 HMAC-SHA256 of ``data``."""
    return b64(hmac.new(key, data, hashlib.sha256).digest())


def new_shared_secret() -> bytes:
    """A fresh 32-byte session key."""
    return secrets.token_bytes(32)


def load_private_key(path: Path | str) -> rsa.RSAPrivateKey:
    """Load an unencrypted PEM RSA private key."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    return key


def load_certificate(path: Path | str) -> x509.Certificate:
    """Load a PEM certificate."""
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def thumbprint(cert: x509.Certificate) -> str:
    """The certificate's SHA-1 thumbprint, upper-case hex (as the platform writes it)."""
    return cert.fingerprint(hashes.SHA1()).hex().upper()


def sign(key: rsa.RSAPrivateKey, data: bytes, digest: str = "SHA1") -> str:
    """Base64 RSA PKCS#1 v1.5 signature of ``data``."""
    return b64(key.sign(data, padding.PKCS1v15(), _DIGESTS[digest]()))


def verify(
    cert: x509.Certificate, data: bytes, signature_b64: str, digest: str = "SHA1"
) -> bool:
    """Whether ``signature_b64`` is the certificate key's signature of ``data``."""
    public = cert.public_key()
    if not isinstance(public, rsa.RSAPublicKey) or digest not in _DIGESTS:
        return False
    try:
        public.verify(
            base64.b64decode(signature_b64, validate=True),
            data,
            padding.PKCS1v15(),
            _DIGESTS[digest](),
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def make_key_and_certificate(
    common_name: str, days: int = 3650
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A new 2048-bit RSA key and a self-signed certificate for it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)
