"""Drop-off and pick-up packages: the encryption of connect packages.

A package holds things for a person who is given a package id and answers a
question to open it. As the platform's SDK built them:

* a salt (a fresh GUID as text) and the answer (lower-cased, at least six
  characters) give a 32-byte key and a 32-byte IV through PBKDF2 with
  HMAC-SHA1 and 20000 iterations;
* the plaintext is every thing's XML, concatenated; it is preceded by its
  HMAC-SHA256 keyed with the salt's bytes, so a wrong answer is detected;
* the cipher is Rijndael with a 256-bit block and a 256-bit key ("aes256" in
  the API, but not AES, whose block is 128 bits), in CBC mode with
  ISO 10126 padding (random fill, the last byte counts the padding).
  The block cipher is in ``rijndael`` (compiled with numba when it is
  installed, else pure Python).

Streamed blobs of packaged things are encrypted chunk by chunk, each chunk on
its own (a fresh CBC with the same key and IV, its own padding); their
SHA256Block hashes are over the plaintext.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from . import blobhash
from .errors import HealthVaultError
from .rijndael import Rijndael256
from .schema import (
    BlobPayload,
    DataXml,
    EncryptAlgorithm,
    EncryptParameters,
    PasswordProtectedPackage,
    Thing2,
    ThingType,
)

BLOCK = 32  # Rijndael block size in bytes (256 bits)
ITERATIONS = 20000
ALGORITHM_NAME = "hmac-sha256-aes256"
MIN_ANSWER = 6

#: The classes this module takes from the schema set (see ``hvgen generate``).
SCHEMA_CLASSES = {
    "Thing2": "{urn:com.microsoft.wc.thing}Thing2",
    "ThingType": "{urn:com.microsoft.wc.thing}ThingType",
    "DataXml": "{urn:com.microsoft.wc.thing}DataXml",
    "BlobPayload": "{urn:com.microsoft.wc.thing}BlobPayload",
    "EncryptAlgorithm": "{urn:com.microsoft.wc.thing.password-protected-package}EncryptAlgorithm",
    "EncryptParameters": "{urn:com.microsoft.wc.thing.password-protected-package}EncryptParameters",
    "PasswordProtectedPackage": "{urn:com.microsoft.wc.thing.password-protected-package}password-protected-package",
}


class WrongAnswer(HealthVaultError):
    """The answer does not open the package."""


def normalize_answer(answer: str) -> str:
    """The answer as it is used: lower-cased, at least six characters."""
    answer = answer.strip().lower()
    if len(answer) < MIN_ANSWER:
        raise HealthVaultError(f"the answer must have at least {MIN_ANSWER} characters")
    return answer


def derive(answer: str, salt: str, iterations: int = ITERATIONS) -> tuple[bytes, bytes]:
    """(key, iv): the first and second 32 bytes of PBKDF2-HMAC-SHA1."""
    kdf = PBKDF2HMAC(
        algorithm=hashes.SHA1(),
        length=64,
        salt=salt.encode("utf-8"),
        iterations=iterations,
    )
    material = kdf.derive(normalize_answer(answer).encode("utf-8"))
    return material[:32], material[32:]


def _pad(data: bytes) -> bytes:
    count = BLOCK - len(data) % BLOCK
    return data + secrets.token_bytes(count - 1) + bytes([count])


def _unpad(data: bytes) -> bytes:
    if not data or len(data) % BLOCK:
        raise WrongAnswer("the ciphertext is not whole blocks")
    count = data[-1]
    if not 1 <= count <= BLOCK:
        raise WrongAnswer("the padding is wrong (wrong answer?)")
    return data[:-count]


def encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """Rijndael-256 CBC with ISO 10126 padding."""
    return Rijndael256(key).encrypt_cbc(iv, _pad(data))


def decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """Inverse of :func:`encrypt`."""
    if len(data) % BLOCK:
        raise WrongAnswer("the ciphertext is not whole blocks")
    return _unpad(Rijndael256(key).decrypt_cbc(iv, data))


def encrypted_size(plain: int) -> int:
    """Ciphertext length of ``plain`` bytes (padding always adds 1 to 32 bytes)."""
    return (plain // BLOCK + 1) * BLOCK


def new_salt() -> str:
    """A fresh salt: a GUID in its text form."""
    return str(uuid.uuid4())


def seal(things_xml: bytes, answer: str, salt: str | None = None) -> tuple[str, bytes]:
    """(salt, ciphertext) of a package's things."""
    salt = salt or new_salt()
    key, iv = derive(answer, salt)
    mac = hmac.new(salt.encode("utf-8"), things_xml, hashlib.sha256).digest()
    return salt, encrypt(key, iv, mac + things_xml)


def open_sealed(ciphertext: bytes, answer: str, salt: str, iterations: int = ITERATIONS) -> bytes:
    """The things' XML; :class:`WrongAnswer` if the answer does not open it."""
    key, iv = derive(answer, salt, iterations)
    return open_with_key(ciphertext, key, iv, salt)


def open_with_key(ciphertext: bytes, key: bytes, iv: bytes, salt: str) -> bytes:
    """The things' XML, with the key and IV :func:`derive` gave;
    :class:`WrongAnswer` if they do not open it."""
    plain = decrypt(key, iv, ciphertext)
    mac, things_xml = plain[:32], plain[32:]
    if not hmac.compare_digest(mac, hmac.new(salt.encode("utf-8"), things_xml, hashlib.sha256).digest()):
        raise WrongAnswer("the answer does not open this package")
    return things_xml


def package_thing(salt: str, ciphertext: bytes) -> Thing2:
    """The password-protected-package thing carrying ``ciphertext`` as its default blob."""
    from .blobs import inline_item

    data = PasswordProtectedPackage(
        encrypt_algorithm=EncryptAlgorithm(
            algorithm_name=ALGORITHM_NAME,
            parameters=EncryptParameters(salt=salt, iteration_count=ITERATIONS, key_length=256),
        )
    )
    return Thing2(
        type_id=ThingType(value=str(PasswordProtectedPackage.TYPE_ID)),
        data_xml=[DataXml(any_element=data)],
        blob_payload=BlobPayload(blob=[inline_item("", "application/octet-stream", ciphertext)]),
    )


@dataclass
class ChunkCipher:
    """Encrypts or decrypts streamed blob chunks of a package, each on its own."""

    key: bytes
    iv: bytes
    _cipher: Rijndael256 | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def cipher(self) -> Rijndael256:
        """The expanded key, made once per chunk cipher."""
        if self._cipher is None:
            self._cipher = Rijndael256(self.key)
        return self._cipher

    def seal(self, chunk: bytes) -> bytes:
        return self.cipher.encrypt_cbc(self.iv, _pad(chunk))

    def open(self, chunk: bytes) -> bytes:
        if len(chunk) % BLOCK:
            raise WrongAnswer("the ciphertext is not whole blocks")
        return _unpad(self.cipher.decrypt_cbc(self.iv, chunk))


def sealed_chunks(stream: Iterator[bytes], cipher: ChunkCipher, hasher: blobhash.SHA256Block) -> Iterator[bytes]:
    """Encrypt plaintext chunks, hashing the plaintext on the way."""
    for chunk in stream:
        hasher.update(chunk)
        yield cipher.seal(chunk)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
