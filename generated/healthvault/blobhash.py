"""SHA256Block, the platform's blob hash.

The blob is cut into consecutive blocks of ``block_size`` bytes (the last
may be shorter); each block is hashed with SHA-256; the blob hash is the
SHA-256 of the concatenated 32-byte block digests, in base64. An empty blob
has no blocks: its hash is the SHA-256 of nothing.

:class:`SHA256Block` hashes incrementally, in constant memory, from chunks of
any size; block boundaries are kept across chunks.
"""

from __future__ import annotations

import base64
import collections
import concurrent.futures
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

ALGORITHM = "SHA256Block"
DEFAULT_BLOCK_SIZE = 2 * 1024 * 1024
_READ_SIZE = 1024 * 1024


class SHA256Block:
    """Incremental SHA256Block hasher.

    With ``workers`` > 1, whole blocks are hashed on background threads while
    the caller goes on (for example, reading the next bytes from the
    network); at most ``2 * workers`` blocks are held in memory.
    """

    def __init__(self, block_size: int = DEFAULT_BLOCK_SIZE, workers: int = 1) -> None:
        if block_size <= 0:
            raise ValueError("block_size must be positive")
        self.block_size = block_size
        self.workers = workers
        self._block = hashlib.sha256()
        self._buffer = bytearray()
        self._filled = 0
        self._digests = hashlib.sha256()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending: collections.deque[concurrent.futures.Future[bytes]] = collections.deque()
        self.length = 0
        self.blocks = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Hash more bytes of the blob."""
        view = memoryview(data).cast("B")
        self.length += len(view)
        while view:
            room = self.block_size - self._filled
            piece = view[:room]
            if self.workers > 1:
                self._buffer += piece
            else:
                self._block.update(piece)
            self._filled += len(piece)
            view = view[len(piece) :]
            if self._filled == self.block_size:
                self._finish_block()

    def _finish_block(self) -> None:
        if self.workers > 1:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.workers)
            self._pending.append(self._pool.submit(_sha256, bytes(self._buffer)))
            self._buffer.clear()
            while len(self._pending) >= 2 * self.workers:
                self._digests.update(self._pending.popleft().result())
        else:
            self._digests.update(self._block.digest())
            self._block = hashlib.sha256()
        self.blocks += 1
        self._filled = 0

    def _drain(self) -> None:
        while self._pending:
            self._digests.update(self._pending.popleft().result())
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def add_block_digest(self, digest: bytes) -> None:
        """Add the digest of one whole block hashed elsewhere (in order)."""
        if self._filled:
            raise ValueError("a partial block is pending")
        self._drain()
        self._digests.update(digest)
        self.blocks += 1

    def digest(self) -> bytes:
        """The 32-byte blob hash of everything hashed so far."""
        self._drain()
        final = self._digests.copy()
        if self._filled:
            last = hashlib.sha256(self._buffer) if self.workers > 1 else self._block
            final.update(last.digest())
        return final.digest()

    def b64digest(self) -> str:
        """The blob hash in base64, as it appears in hash-info."""
        return base64.b64encode(self.digest()).decode("ascii")


def hash_bytes(data: bytes, block_size: int = DEFAULT_BLOCK_SIZE) -> str:
    """SHA256Block of ``data`` in base64."""
    hasher = SHA256Block(block_size)
    hasher.update(data)
    return hasher.b64digest()


def hash_stream(stream: BinaryIO, block_size: int = DEFAULT_BLOCK_SIZE, workers: int | None = None) -> str:
    """SHA256Block of a binary stream, read in constant memory.

    Blocks are independent, so with ``workers`` > 1 (default: one per CPU,
    at most 4) whole blocks are hashed on several threads at once (SHA-256
    releases the GIL); at most ``2 * workers`` blocks are held in memory.
    """
    workers = workers if workers is not None else min(os.cpu_count() or 1, 4)
    if workers <= 1:
        hasher = SHA256Block(block_size)
        while chunk := stream.read(_READ_SIZE):
            hasher.update(chunk)
        return hasher.b64digest()
    final = hashlib.sha256()
    pending: collections.deque[concurrent.futures.Future[bytes]] = collections.deque()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        while True:
            block = _read_exact(stream, block_size)
            if block:
                pending.append(pool.submit(_sha256, block))
            while pending and (len(pending) >= 2 * workers or len(block) < block_size):
                final.update(pending.popleft().result())
            if len(block) < block_size:
                break
    return base64.b64encode(final.digest()).decode("ascii")


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    parts = []
    left = size
    while left:
        piece = stream.read(left)
        if not piece:
            break
        parts.append(piece)
        left -= len(piece)
    return b"".join(parts)


def hash_chunks(chunks: Iterable[bytes], block_size: int = DEFAULT_BLOCK_SIZE) -> str:
    hasher = SHA256Block(block_size)
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.b64digest()


def hash_file(path: Path | str, block_size: int = DEFAULT_BLOCK_SIZE, workers: int | None = None) -> str:
    """SHA256Block of a file, read in constant memory (see :func:`hash_stream`)."""
    with open(path, "rb") as f:
        return hash_stream(f, block_size, workers)
