"""Settings of the local platform server."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from healthvault.verification import load_trust

MIB = 1024 * 1024
#: The collector's thresholds while serving (Python's are 700, 10, 10).
GC_THRESHOLDS = (10_000, 20, 20)


def settle_collector() -> None:
    """Once a server process has loaded what it serves with.

    What is loaded by now (schemas, bindings, pydicom's dictionary, the
    store) lives as long as the process: it is left out of the collector's
    full passes, which otherwise walk it again and again while connections
    come and go (100 ms and more each, with every request waiting). And the
    collector runs less often: each connection makes a few hundred objects
    in cycles, and a flood of them made it run (and every request wait) many
    times a second."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


@dataclass(frozen=True)
class DicomListening:
    """The DICOM storage service ``hvgen serve --dicom-port`` runs in the
    server's process (see :mod:`hvgen_server.ingest.listening`).

    ``record_id`` None: the record of the platform's first person.
    The rest as ``hvgen dicom listen``'s options of the same names.
    """

    port: int
    host: str = "127.0.0.1"
    ae_title: str = "HVGEN"
    allowed: tuple[str, ...] = ()
    record_id: str | None = None
    idle_timeout: float = 30.0
    max_per_peer: int = 4
    retry: float = 30.0
    attempts: int = 12


@dataclass
class ServerConfig:
    """Limits and lifetimes; every one can be set from ``hvgen serve``.

    Attributes:
        data_dir: Folder of the store (SQLite file, blob bytes, keys). With a
            shared store it holds only the application's key and certificate
            (a copy of what the database has).
        database_url: ``postgresql://USER@HOST:PORT/DBNAME`` of a shared
            store; None for the SQLite file in ``data_dir``.
        blobs_url: ``s3://BUCKET[/PREFIX]`` of an S3-compatible object store
            for blob bytes; None for the folder in ``data_dir``.
        db_pool_size: Connections each server process keeps to a shared database.
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
        max_msg_ttl: Largest msg-ttl accepted (seconds): how long a captured
            request could be replayed at most.
        max_request_elements: Elements a request may hold (checked before
            anything else is done with it).
        max_attributes: Attributes one element of a request may carry.
        max_depth: How deep a request's elements may nest.
        max_things_per_request: Things one PutThings, RemoveThings or
            GetThings group may name.
        max_response_bytes: Largest GetThings response built; larger ones
            are refused with RESPONSE_TOO_LONG.
        xpath_budget: Seconds the XPath filters of one GetThings may run.
        large_request_bytes: Requests over this size are parsed and served
            at most ``large_request_slots`` at a time.
        large_request_slots: See ``large_request_bytes``.
        max_buffered_bytes: Bytes of request bodies held in memory at once,
            beyond each request's first 64 KiB (a body is read past those
            only once its header shows a live session; it counts twice, for
            the copy of its info made while it is served); a request that
            finds them spent is refused with 503 and Retry-After.
        max_compression_ratio: How many times its compressed size a gzip or
            deflate request may inflate to (beyond its first 64 KiB).
        max_compressed_requests: Compressed requests inflated at once
            before their session is known; more are refused with 503 and
            Retry-After.
        max_connections: Open connections; when they are all open, the one
            idle longest (no request under way) is closed for a new one, and
            a new one is closed at once when none is idle.
        max_client_connections: Open connections from one client address;
            beyond it, that client's longest idle one is closed, or the new one.
        header_timeout: Seconds a client has to send a request's headers.
        body_timeout: Seconds a client has to send a method request's body,
            and at most between two pieces of a blob chunk.
        keep_alive: Seconds an idle connection is kept open between requests.
        signer_trust_file: PEM certificates that thing signers must chain to;
            without it any signer certificate is accepted (the signature
            itself is always checked).
        user_token_ttl: Seconds the wctoken the sign-in page hands an
            application stays valid (its ``user-auth-token``).
        browser_session_ttl: Seconds a browser stays signed in.
        schema_packages: Folders of packages made by ``hvgen generate`` from
            other schema sets, whose thing types the platform accepts too
            (``hvgen serve --schemas DIR`` compiles them).
        viewer_link_ttl: Seconds a one-time viewer link (CreateViewerLink)
            can be used in.
        ohif_dist: The built OHIF Viewer (``dist/`` of the npm package
            ``@ohif/app``) served at ``/ohif/``; None: no OHIF.
        dicom: The DICOM storage service to run in the server's process, if any.
    """

    data_dir: Path
    database_url: str | None = None
    blobs_url: str | None = None
    db_pool_size: int = 16
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    session_ttl: float = 4 * 3600
    blob_read_ttl: float = 10 * 60
    blob_write_ttl: float = 2 * 3600
    max_request_bytes: int = 32 * MIB
    block_size: int = 2 * MIB
    chunk_size: int = 4 * MIB
    max_blob_size: int = 64 * 1024 * MIB
    inline_blob_limit: int = 1 * MIB
    max_full_things: int = 500
    max_groups: int = 16
    clock_skew: float = 300
    max_msg_ttl: int = 3600
    max_request_elements: int = 250_000
    max_attributes: int = 64
    max_depth: int = 64
    max_things_per_request: int = 1000
    max_response_bytes: int = 64 * MIB
    xpath_budget: float = 2.0
    large_request_bytes: int = 1 * MIB
    large_request_slots: int = 2
    max_buffered_bytes: int = 128 * MIB
    max_compression_ratio: int = 100
    max_compressed_requests: int = 4
    max_connections: int = 1000
    max_client_connections: int = 256
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keep_alive: float = 5.0
    signer_trust_file: Path | None = None
    user_token_ttl: float = 4 * 3600
    browser_session_ttl: float = 12 * 3600
    schema_packages: tuple[Path, ...] = ()
    viewer_link_ttl: float = 5 * 60
    ohif_dist: Path | None = None
    dicom: DicomListening | None = None

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir)
        if self.chunk_size % self.block_size:
            raise ValueError("chunk_size must be a multiple of block_size")
        if self.db_pool_size < 1:
            raise ValueError("db_pool_size must be at least 1")
        if self.max_buffered_bytes < 2 * self.max_request_bytes:
            raise ValueError(
                f"--max-buffered-bytes ({self.max_buffered_bytes}) must be at least twice --max-request-bytes "
                f"({self.max_request_bytes}), or the largest requests could never be read"
            )
        if min(self.max_compression_ratio, self.max_compressed_requests, self.max_client_connections) < 1:
            raise ValueError(
                "--max-compression-ratio, --max-compressed-requests and --max-client-connections must be at least 1"
            )

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
    def shared(self) -> bool:
        """Whether the store is a shared database (several server processes)."""
        return self.database_url is not None

    @property
    def database(self) -> Path:
        return self.data_dir / "store.sqlite"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"
