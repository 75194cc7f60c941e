"""Rijndael-256 CBC and connect-package encryption, checked against py3rijndael.

py3rijndael (a separate, pure-Python implementation) is the reference: every
byte the runtime writes must be the one it writes, on random keys, IVs and
lengths, with ISO 10126 padding.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from py3rijndael import Rijndael

from healthvault import connectpackage, rijndael

from .conftest import ROOT

keys = st.binary(min_size=32, max_size=32)


def reference_cbc(key: bytes, iv: bytes, data: bytes, decrypt: bool = False) -> bytes:
    """CBC block by block with py3rijndael, no padding."""
    cipher = Rijndael(key, block_size=32)
    out, previous = bytearray(), iv
    for offset in range(0, len(data), 32):
        block = data[offset : offset + 32]
        if decrypt:
            out += bytes(a ^ b for a, b in zip(cipher.decrypt(block), previous, strict=False))
            previous = block
        else:
            previous = cipher.encrypt(bytes(a ^ b for a, b in zip(block, previous, strict=False)))
            out += previous
    return bytes(out)


def test_compiled_cipher_is_available() -> None:
    assert rijndael.available(), "numba and numpy are installed with the project"
    assert connectpackage.ChunkCipher(b"k" * 32, b"i" * 32).cipher.compiled


@settings(max_examples=40, deadline=None)
@given(key=keys, iv=keys, data=st.binary(max_size=40 * 32).map(lambda b: b[: len(b) - len(b) % 32]))
def test_cbc_matches_the_reference(key: bytes, iv: bytes, data: bytes) -> None:
    fast = rijndael.Rijndael256(key)
    sealed = fast.encrypt_cbc(iv, data)
    assert sealed == reference_cbc(key, iv, data)
    assert fast.decrypt_cbc(iv, sealed) == data
    assert reference_cbc(key, iv, sealed, decrypt=True) == data
    slow = rijndael.Rijndael256(key, compiled=False)
    assert slow.encrypt_cbc(iv, data) == sealed and slow.decrypt_cbc(iv, sealed) == data


@settings(max_examples=40, deadline=None)
@given(key=keys, iv=keys, data=st.binary(max_size=300))
def test_chunks_are_padded_iso_10126(key: bytes, iv: bytes, data: bytes) -> None:
    cipher = connectpackage.ChunkCipher(key, iv)
    sealed = cipher.seal(data)
    assert len(sealed) == connectpackage.encrypted_size(len(data))
    plain = reference_cbc(key, iv, sealed, decrypt=True)
    count = plain[-1]
    assert 1 <= count <= 32 and plain[:-count] == data
    assert cipher.open(sealed) == data
    # what another implementation sealed, with its own random fill, opens too
    fill = bytes(range(100, 132))[: 32 - len(data) % 32 - 1]
    theirs = reference_cbc(key, iv, data + fill + bytes([32 - len(data) % 32]))
    assert cipher.open(theirs) == data == connectpackage.decrypt(key, iv, theirs)


def test_large_chunk_round_trip_and_random_fill() -> None:
    cipher = connectpackage.ChunkCipher(bytes(range(32)), bytes(range(32, 64)))
    data = bytes(range(256)) * 4097  # 1 MiB and a bit: not whole blocks
    sealed = cipher.seal(data)
    assert cipher.open(sealed) == data
    assert sealed[:-32] == cipher.seal(data)[:-32], "only the padded last block differs between two seals"
    assert sealed[-64:-32] == reference_cbc(cipher.key, cipher.iv, data[: len(data) // 32 * 32])[-32:]


def test_wrong_answers_and_broken_ciphertext() -> None:
    salt, sealed = connectpackage.seal(b"<thing>x</thing>", "Saint Mary")
    assert connectpackage.open_sealed(sealed, "SAINT MARY", salt) == b"<thing>x</thing>"
    with pytest.raises(connectpackage.WrongAnswer):
        connectpackage.open_sealed(sealed, "saint marx", salt)
    cipher = connectpackage.ChunkCipher(*connectpackage.derive("saint mary", salt))
    with pytest.raises(connectpackage.WrongAnswer, match="whole blocks"):
        cipher.open(sealed[:-1])


def test_runtime_works_without_numpy() -> None:
    """Without numpy (so without numba) the pure-Python cipher gives the same bytes."""
    key, iv, data = bytes(range(32)), bytes(range(1, 33)), b"package chunk" * 10  # 130 bytes
    expected = reference_cbc(key, iv, data[:128])
    script = (
        "import sys; sys.modules['numpy'] = None; sys.modules['numba'] = None\n"
        "from healthvault import connectpackage, rijndael\n"
        f"c = connectpackage.ChunkCipher({key!r}, {iv!r})\n"
        f"sealed = c.seal({data!r})\n"
        "assert not rijndael.available() and not c.cipher.compiled\n"
        f"assert c.open(sealed) == {data!r}\n"
        "print(sealed.hex())\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    sealed = bytes.fromhex(result.stdout.strip())
    assert sealed[:128] == expected
    last = reference_cbc(key, iv, sealed, decrypt=True)[128:]
    assert last[:2] == data[128:] and last[-1] == 30
