"""Hashes, HMACs, base64 and application credentials used by the method envelopes.

* ``info-hash``: a digest (SHA256 by default, SHA1 accepted) over the bytes
  of the request's ``<info>`` element, exactly as sent;
* ``auth``: an HMAC (HMACSHA256 by default, HMACSHA1 accepted) over the bytes
  of the request's ``<header>`` element, keyed with the session's shared secret;
* the application credential of CreateAuthenticatedSessionToken: an RSA
  signature (PKCS#1 v1.5, SHA-1 by default) over the bytes of ``<content>``,
  made with the application's private key.

Algorithms are named as the platform names them (``algName``,
``digestMethod``); :data:`DIGESTS` and :data:`HMAC_DIGESTS` are the only
tables of them. Base64 values are written without line breaks and read with
any whitespace inside them, as the platform read them.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm as NoSuchKeyType
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from .errors import HealthVaultError

INFO_HASH_ALGORITHM = "SHA256"
HMAC_ALGORITHM = "HMACSHA256"

#: Digest algorithms by the platform's names for them: the info-hash
#: ``algName`` and the RSA credential's ``digestMethod``.
DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA1": hashes.SHA1,
    "SHA256": hashes.SHA256,
}

#: HMAC algorithms by ``algName`` (request ``auth``, session ``hmac``), and
#: the digest each one uses.
HMAC_DIGESTS: dict[str, str] = {
    "HMACSHA1": "SHA1",
    "HMACSHA256": "SHA256",
}

_WHITESPACE = b" \t\r\n"


class UnsupportedAlgorithm(HealthVaultError, ValueError):
    """An algorithm name that is not in :data:`DIGESTS` or :data:`HMAC_DIGESTS`."""


def _digest(algorithm: str) -> type[hashes.HashAlgorithm]:
    found = DIGESTS.get(algorithm.strip().upper())
    if found is None:
        raise UnsupportedAlgorithm(f"unsupported digest algorithm {algorithm!r}")
    return found


def _hmac_digest(algorithm: str) -> str:
    found = HMAC_DIGESTS.get(algorithm.strip().upper())
    if found is None:
        raise UnsupportedAlgorithm(f"unsupported HMAC algorithm {algorithm!r}")
    return _digest(found)().name


def b64encode(data: bytes) -> str:
    """Base64 of ``data`` on one line."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str | bytes) -> bytes:
    """The bytes of a base64 value; whitespace anywhere in it is ignored
    (line breaks every 76 characters, a trailing newline).

    Raises:
        ValueError: Anything but base64 and whitespace, or wrong padding.
    """
    raw = text.encode("ascii", "replace") if isinstance(text, str) else bytes(text)
    try:
        return base64.b64decode(raw.translate(None, _WHITESPACE), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"not base64: {exc}") from None


def digest_bytes(data: bytes, algorithm: str = INFO_HASH_ALGORITHM) -> bytes:
    """The raw digest of ``data`` (``algorithm`` from :data:`DIGESTS`)."""
    return hashlib.new(_digest(algorithm)().name, data).digest()


def info_hash(data: bytes, algorithm: str = INFO_HASH_ALGORITHM) -> str:
    """Base64 digest of the info element's bytes."""
    return b64encode(digest_bytes(data, algorithm))


def hmac_bytes(key: bytes, data: bytes, algorithm: str = HMAC_ALGORITHM) -> bytes:
    """The raw HMAC of ``data`` (``algorithm`` from :data:`HMAC_DIGESTS`)."""
    return hmac.new(key, data, _hmac_digest(algorithm)).digest()


def hmac_digest(key: bytes, data: bytes, algorithm: str = HMAC_ALGORITHM) -> str:
    """Base64 HMAC of ``data``."""
    return b64encode(hmac_bytes(key, data, algorithm))


def same_digest(expected: bytes, claimed: str | bytes) -> bool:
    """Whether the base64 value ``claimed`` holds ``expected``, compared in
    constant time; a value that is not base64 matches nothing."""
    try:
        given = b64decode(claimed)
    except ValueError:
        return False
    return hmac.compare_digest(expected, given)


def info_hash_matches(data: bytes, claimed: str, algorithm: str = INFO_HASH_ALGORITHM) -> bool:
    """Whether ``claimed`` (base64) is the ``algorithm`` digest of ``data``.

    Raises:
        UnsupportedAlgorithm: ``algorithm`` is not in :data:`DIGESTS`.
    """
    return same_digest(digest_bytes(data, algorithm), claimed)


def hmac_matches(key: bytes, data: bytes, claimed: str, algorithm: str = HMAC_ALGORITHM) -> bool:
    """Whether ``claimed`` (base64) is the ``algorithm`` HMAC of ``data``.

    Raises:
        UnsupportedAlgorithm: ``algorithm`` is not in :data:`HMAC_DIGESTS`.
    """
    return same_digest(hmac_bytes(key, data, algorithm), claimed)


def new_shared_secret() -> bytes:
    """A fresh 32-byte session key."""
    return secrets.token_bytes(32)


def load_private_key(path: Path | str) -> rsa.RSAPrivateKey:
    """Load an unencrypted PEM RSA private key (ValueError naming the file when it holds none)."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (ValueError, TypeError, NoSuchKeyType) as exc:
        raise ValueError(f"{path} is not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    return key


def load_certificate(path: Path | str) -> x509.Certificate:
    """Load a PEM certificate (ValueError naming the file when it holds none)."""
    try:
        return x509.load_pem_x509_certificate(Path(path).read_bytes())
    except ValueError as exc:
        raise ValueError(f"{path} is not a PEM certificate ({exc})") from None


def key_fits(key: rsa.RSAPrivateKey, cert: x509.Certificate) -> bool:
    """Whether the certificate is of the key (its public key is the key's): signatures
    made with the key then verify with the certificate."""
    public = cert.public_key()
    return isinstance(public, rsa.RSAPublicKey) and public.public_numbers() == key.public_key().public_numbers()


def thumbprint(cert: x509.Certificate) -> str:
    """The certificate's SHA-1 thumbprint, upper-case hex (as the platform writes it)."""
    return cert.fingerprint(hashes.SHA1()).hex().upper()


def sign(key: rsa.RSAPrivateKey, data: bytes, digest: str = "SHA1") -> str:
    """Base64 RSA PKCS#1 v1.5 signature of ``data``."""
    return b64encode(key.sign(data, padding.PKCS1v15(), _digest(digest)()))


def verify(cert: x509.Certificate, data: bytes, signature_b64: str, digest: str = "SHA1") -> bool:
    """Whether ``signature_b64`` is the certificate key's signature of ``data``."""
    public = cert.public_key()
    if not isinstance(public, rsa.RSAPublicKey) or digest.upper() not in DIGESTS:
        return False
    try:
        public.verify(b64decode(signature_b64), data, padding.PKCS1v15(), _digest(digest)())
    except (InvalidSignature, ValueError):
        return False
    return True


def make_key_and_certificate(common_name: str, days: int = 3650) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A new 2048-bit RSA key and a self-signed certificate for it."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
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
