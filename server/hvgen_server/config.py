"""Settings of the local platform server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthvault.signing import load_trust

MIB = 1024 * 1024


@dataclass
class ServerConfig:
    """Limits and lifetimes; every one can be set from ``hvgen serve``.

    Attributes:
        data_dir: Folder of the store (SQLite file, blob bytes, keys).
        host: Address to listen on (loopback by default).
        port: TCP port.
        public_url: Base URL clients reach the server at (default from host/port).
        session_ttl: Seconds an authenticated session lives.
        blob_read_ttl: Seconds a GetThings blob URL stays valid.
        blob_write_ttl: Seconds a BeginPutBlob URL stays valid.
        max_request_bytes: Largest XML request accepted (after decompression).
        block_size: SHA256Block block size announced by BeginPutBlob.
        chunk_size: Upload chunk size announced by BeginPutBlob (a multiple of block_size).
        max_blob_size: Largest blob accepted.
        inline_blob_limit: Largest blob returned or accepted inline (base64).
        max_full_things: Full things per GetThings group; more come back as keys.
        max_groups: GetThings groups per request.
        clock_skew: Seconds a request's msg-time may lie in the future.
        signer_trust_file: PEM certificates that thing signers must chain to;
            without it any signer certificate is accepted (the signature
            itself is always checked).
    """

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    session_ttl: float = 4 * 3600
    blob_read_ttl: float = 10 * 60
    blob_write_ttl: float = 24 * 3600
    max_request_bytes: int = 32 * MIB
    block_size: int = 2 * MIB
    chunk_size: int = 4 * MIB
    max_blob_size: int = 64 * 1024 * MIB
    inline_blob_limit: int = 1 * MIB
    max_full_things: int = 500
    max_groups: int = 16
    clock_skew: float = 300
    signer_trust_file: Path | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if self.chunk_size % self.block_size:
            raise ValueError("chunk_size must be a multiple of block_size")

    def signer_trust(self) -> list[Any] | None:
        """The certificates of signer_trust_file, if set."""
        if self.signer_trust_file is None:
            return None
        return load_trust(self.signer_trust_file)

    @property
    def url(self) -> str:
        """The base URL of the server as clients should use it."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def database(self) -> Path:
        return self.data_dir / "store.sqlite"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"
