"""The server's state, and the context of one method request."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from healthvault.protocol import blob_url
from healthvault.receiving import ReceivedRequest

from .backends import open_blob_files, open_store
from .bootstrap import server_key
from .config import ServerConfig
from .pickup import PickupJobs
from .store import BlobFiles, Store


@dataclass
class Platform:
    """What every request is served with: configuration, the store, the blob
    bytes, the key of blob URL tokens, and the pick-up jobs running."""

    config: ServerConfig
    store: Store
    files: BlobFiles
    key: bytes
    pickups: PickupJobs = field(default_factory=PickupJobs)

    @classmethod
    def open(cls, config: ServerConfig) -> Platform:
        """The platform the configuration names (its store, blobs and key)."""
        files = open_blob_files(config)
        store = open_store(config)
        try:
            return cls(config, store, files, server_key(config, store))
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        self.pickups.close()
        self.store.close()

    def blob_url(self, token: str) -> str:
        """The URL clients upload or download a blob at, for ``token``."""
        return blob_url(self.config.url, token)


@dataclass
class Context:
    """One method request being served.

    ``app_id`` and ``record_id`` are set once the request is authenticated
    (:func:`hvgen_server.auth.authenticate`).
    """

    platform: Platform
    request: ReceivedRequest
    app_id: str = ""
    record_id: str = ""
    now: float = field(default_factory=time.time)

    @property
    def config(self) -> ServerConfig:
        return self.platform.config

    @property
    def store(self) -> Store:
        return self.platform.store

    @property
    def files(self) -> BlobFiles:
        return self.platform.files

    @property
    def key(self) -> bytes:
        return self.platform.key

    def blob_url(self, token: str) -> str:
        return self.platform.blob_url(token)
