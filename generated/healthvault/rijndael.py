"""Rijndael with a 256-bit block and a 256-bit key, in CBC mode.

Connect packages use Rijndael-256 (not AES, whose block is 128 bits; see
``connectpackage``). No maintained cryptography library implements it, so:

* when numba is installed, the block loop is compiled with it (table-driven
  rounds: every round is four lookups per 32-bit column), which runs at tens
  of MB/s;
* otherwise each block goes through the pure-Python ``py3rijndael`` package
  (well under 1 MB/s, but the bytes are the same).

numpy and numba are imported only when a cipher is first used, and the
compiled loop is cached on disk by numba, so importing this module costs
nothing and later runs skip the compilation.

The layout is the one of the Rijndael specification: a block is eight 4-byte
columns; ShiftRows moves row ``r`` left by 0, 1, 3 and 4 columns (Nb = 8);
there are 14 rounds and 15 round keys of 32 bytes.
"""

from __future__ import annotations

import atexit
import sys
import threading
from typing import Any

BLOCK = 32
ROUNDS = 14
COLUMNS = 8
SHIFTS = (0, 1, 3, 4)

_MIX = ((2, 3, 1, 1), (1, 2, 3, 1), (1, 1, 2, 3), (3, 1, 1, 2))
_UNMIX = ((14, 11, 13, 9), (9, 14, 11, 13), (13, 9, 14, 11), (11, 13, 9, 14))


def _field_tables() -> tuple[list[int], list[int]]:
    """Exponent and logarithm tables of GF(2^8) with generator 3."""
    exp, log = [0] * 510, [0] * 256
    value = 1
    for power in range(255):
        exp[power] = exp[power + 255] = value
        log[value] = power
        value ^= (value << 1) ^ (0x11B if value & 0x80 else 0)  # value * 3
    return exp, log


_EXP, _LOG = _field_tables()


def _mul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else _EXP[_LOG[a] + _LOG[b]]


def _sboxes() -> tuple[list[int], list[int]]:
    sbox, inverse = [0] * 256, [0] * 256
    for x in range(256):
        b = 0 if x == 0 else _EXP[255 - _LOG[x]]
        result = 0x63
        for _ in range(5):  # the affine map: b ^ rot1(b) ^ rot2(b) ^ rot3(b) ^ rot4(b) ^ 0x63
            result ^= b
            b = ((b << 1) | (b >> 7)) & 0xFF
        sbox[x] = result
        inverse[result] = x
    return sbox, inverse


SBOX, INV_SBOX = _sboxes()


def expand_key(key: bytes) -> tuple[list[bytes], list[bytes]]:
    """(encryption round keys, decryption round keys): 15 of 32 bytes each.

    The decryption keys are those of the equivalent inverse cipher: in reverse
    order, the inner ones passed through InvMixColumns.
    """
    if len(key) != 32:
        raise ValueError(f"a Rijndael-256 key has 32 bytes, not {len(key)}")
    words = [list(key[4 * i : 4 * i + 4]) for i in range(8)]
    rcon = 1
    for i in range(8, COLUMNS * (ROUNDS + 1)):
        temp = list(words[-1])
        if i % 8 == 0:
            temp = [SBOX[b] for b in temp[1:] + temp[:1]]
            temp[0] ^= rcon
            rcon = _mul(rcon, 2)
        elif i % 8 == 4:
            temp = [SBOX[b] for b in temp]
        words.append([a ^ b for a, b in zip(words[i - 8], temp, strict=False)])
    enc = [bytes(b for w in words[8 * r : 8 * r + 8] for b in w) for r in range(ROUNDS + 1)]

    def unmix(round_key: bytes) -> bytes:
        out = bytearray()
        for c in range(COLUMNS):
            column = round_key[4 * c : 4 * c + 4]
            out += bytes(
                _mul(row[0], column[0]) ^ _mul(row[1], column[1]) ^ _mul(row[2], column[2]) ^ _mul(row[3], column[3])
                for row in _UNMIX
            )
        return bytes(out)

    dec = [enc[ROUNDS]] + [unmix(k) for k in enc[ROUNDS - 1 : 0 : -1]] + [enc[0]]
    return enc, dec


# -- the compiled loop ----------------------------------------------------------------------------
# Plain functions here; numba compiles them on first use (see _compiled). The
# state is 32 bytes, byte 4c + r being row r of column c; ``table`` holds four
# 256-entry tables (SubBytes then MixColumns, per row), ``gather`` the source
# byte of each position after ShiftRows.


def _cbc(
    data: Any,
    iv: Any,
    decrypt: bool,
    table: Any,
    gather: Any,
    box: Any,
    keys: Any,
    words: Any,
    x: Any,
    w: Any,
    out: Any,
) -> None:
    """CBC over the (n, 32) blocks of ``data`` into ``out`` (n, 32)."""
    for b in range(data.shape[0]):
        for i in range(32):
            x[i] = data[b, i] ^ keys[0, i]
            if not decrypt:
                x[i] ^= iv[i] if b == 0 else out[b - 1, i]
        for r in range(1, 14):
            for c in range(8):
                w[c] = (
                    table[x[gather[4 * c]]]
                    ^ table[256 + x[gather[4 * c + 1]]]
                    ^ table[512 + x[gather[4 * c + 2]]]
                    ^ table[768 + x[gather[4 * c + 3]]]
                    ^ words[r, c]
                )
            for c in range(8):
                v = w[c]
                x[4 * c] = v & 0xFF
                x[4 * c + 1] = (v >> 8) & 0xFF
                x[4 * c + 2] = (v >> 16) & 0xFF
                x[4 * c + 3] = (v >> 24) & 0xFF
        for i in range(32):
            v = box[x[gather[i]]] ^ keys[14, i]
            if decrypt:
                v ^= iv[i] if b == 0 else data[b - 1, i]
            out[b, i] = v


_lock = threading.Lock()
_state: dict[str, Any] = {}


def _no_reset_at_exit() -> None:
    """Take back the colour reset colorama writes to standard output at exit once numba
    (compiling) has initialised it: a program's output (JSON, a package id) ends with
    its own last line, not an escape sequence."""
    initialise: Any = sys.modules.get("colorama.initialise")
    if initialise is not None and getattr(initialise, "atexit_done", False):
        atexit.unregister(initialise.reset_all)
        initialise.atexit_done = False


def _compiled() -> Any:
    """The numba-compiled loop and the numpy module, or None without numba."""
    with _lock:
        if "kernel" not in _state:
            try:
                import numba
                import numpy
            except ImportError:
                _state["kernel"] = None
            else:
                _state["numpy"] = numpy
                _state["kernel"] = numba.njit(cache=True, nogil=True)(_cbc)
        return _state["kernel"]


def _tables(decrypt: bool) -> tuple[Any, Any, Any]:
    """(table, gather, box) as numpy arrays, for one direction."""
    np = _state["numpy"]
    key = "dec" if decrypt else "enc"
    if key not in _state:
        box, mix, sign = (INV_SBOX, _UNMIX, -1) if decrypt else (SBOX, _MIX, 1)
        table = np.zeros(1024, np.uint32)
        for row in range(4):
            for x in range(256):
                table[256 * row + x] = sum(_mul(mix[k][row], box[x]) << (8 * k) for k in range(4))
        gather = np.array(
            [4 * ((c + sign * SHIFTS[r]) % COLUMNS) + r for c in range(COLUMNS) for r in range(4)], np.int64
        )
        _state[key] = (table, gather, np.array(box, np.uint8))
    return _state[key]  # type: ignore[no-any-return]


def available() -> bool:
    """Whether the compiled loop can be used (numba and numpy are installed)."""
    return _compiled() is not None


class Rijndael256:
    """One key, expanded once; CBC encryption and decryption of whole blocks."""

    def __init__(self, key: bytes, *, compiled: bool | None = None) -> None:
        self.key = bytes(key)
        self.enc_keys, self.dec_keys = expand_key(self.key)
        use = available() if compiled is None else compiled
        if use and not available():
            raise RuntimeError("the compiled Rijndael-256 needs numba and numpy")
        self.compiled = use
        self._fallback: Any = None
        if use:
            np = _state["numpy"]
            self._keys = {
                False: (
                    np.frombuffer(b"".join(self.enc_keys), np.uint8).reshape(15, 32),
                    np.frombuffer(b"".join(self.enc_keys), "<u4").reshape(15, 8).astype(np.uint32),
                ),
                True: (
                    np.frombuffer(b"".join(self.dec_keys), np.uint8).reshape(15, 32),
                    np.frombuffer(b"".join(self.dec_keys), "<u4").reshape(15, 8).astype(np.uint32),
                ),
            }

    def _run(self, iv: bytes, data: bytes, decrypt: bool) -> bytes:
        if len(iv) != BLOCK:
            raise ValueError(f"the IV has {BLOCK} bytes, not {len(iv)}")
        if len(data) % BLOCK:
            raise ValueError("CBC works on whole 32-byte blocks")
        if not data:
            return b""
        if not self.compiled:
            return self._python(iv, data, decrypt)
        np = _state["numpy"]
        blocks = np.frombuffer(data, np.uint8).reshape(-1, BLOCK)
        out = np.empty_like(blocks)
        table, gather, box = _tables(decrypt)
        keys, words = self._keys[decrypt]
        kernel = _compiled()
        kernel(
            blocks,
            np.frombuffer(iv, np.uint8),
            decrypt,
            table,
            gather,
            box,
            keys,
            words,
            np.empty(BLOCK, np.uint8),
            np.empty(COLUMNS, np.uint32),
            out,
        )
        _no_reset_at_exit()
        return out.tobytes()  # type: ignore[no-any-return]

    def _python(self, iv: bytes, data: bytes, decrypt: bool) -> bytes:
        """Block by block with py3rijndael."""
        if self._fallback is None:
            from py3rijndael import Rijndael

            self._fallback = Rijndael(self.key, block_size=BLOCK)
        cipher = self._fallback
        out = bytearray(len(data))
        previous = int.from_bytes(iv, "big")
        for offset in range(0, len(data), BLOCK):
            block = data[offset : offset + BLOCK]
            if decrypt:
                plain = int.from_bytes(cipher.decrypt(block), "big") ^ previous
                out[offset : offset + BLOCK] = plain.to_bytes(BLOCK, "big")
                previous = int.from_bytes(block, "big")
            else:
                mixed = (int.from_bytes(block, "big") ^ previous).to_bytes(BLOCK, "big")
                encrypted = cipher.encrypt(mixed)
                out[offset : offset + BLOCK] = encrypted
                previous = int.from_bytes(encrypted, "big")
        return bytes(out)

    def encrypt_cbc(self, iv: bytes, data: bytes) -> bytes:
        """CBC encryption of whole blocks (no padding)."""
        return self._run(iv, data, False)

    def decrypt_cbc(self, iv: bytes, data: bytes) -> bytes:
        """CBC decryption of whole blocks (no padding removed)."""
        return self._run(iv, data, True)
