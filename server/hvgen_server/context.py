"""The server's state, and the context of one method request."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from healthvault.protocol import blob_url
from healthvault.receiving import ReceivedRequest

from . import sessionseal
from .backends import open_blob_files, open_store
from .bootstrap import server_key
from .config import ServerConfig
from .fhir.registry import FhirTypes
from .pickup import PickupJobs
from .store import BlobFiles, Store
from .store.base import Transaction
from .thingtypes import ThingTypes

log = logging.getLogger("hvgen_server")


@dataclass
class Platform:
    """What every request is served with: configuration, the store, the blob
    bytes, the key of blob URL tokens, and the pick-up jobs running."""

    config: ServerConfig
    store: Store
    files: BlobFiles
    key: bytes
    pickups: PickupJobs = field(default_factory=PickupJobs)
    thing_types: ThingTypes = field(default_factory=ThingTypes)
    #: What runs once PutThings has stored things, given the record and the
    #: type ids stored (the server adds the DICOM index's, when it serves DICOMweb).
    after_put: list[Callable[[Platform, str, set[str]], None]] = field(default_factory=list)

    @classmethod
    def open(cls, config: ServerConfig, warm: Callable[[Transaction], None] | None = None) -> Platform:
        """The platform the configuration names (its store, blobs and key);
        ``warm``: the reads that prepare each new connection of a shared store."""
        thing_types = ThingTypes(config.schema_packages)
        files = open_blob_files(config)
        store = open_store(config, warm)
        try:
            key = server_key(config, store)
            sealed = sessionseal.seal_stored(store, key)
            if sealed:
                log.info("sealed %d session(s) stored by an older version", sealed)
            return cls(config, store, files, key, thing_types=thing_types)
        except BaseException:
            store.close()
            raise

    @functools.cached_property
    def fhir(self) -> FhirTypes:
        """The FHIR mappings of the thing types served."""
        return FhirTypes(self.thing_types, base_url=self.config.url)

    def close(self) -> None:
        self.pickups.close()
        self.store.close()

    def blob_url(self, token: str) -> str:
        """The URL clients upload or download a blob at, for ``token``."""
        return blob_url(self.config.url, token)


@dataclass
class Actor:
    """Who writes to the store, and when: a method request (:class:`Context`)
    or the platform itself on an application's behalf (the in-process ingest
    of :mod:`hvgen_server.ingest`, which has no request).

    ``app_id``, ``record_id`` and ``person_id`` name the application, the
    record and the person the writes are made for (``person_id`` empty: the
    record's person); ``avenue`` how (``Online``: a signed-in person,
    ``Offline``).
    """

    platform: Platform
    app_id: str = ""
    record_id: str = ""
    person_id: str = ""
    avenue: str = "Offline"
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


@dataclass
class Context(Actor):
    """One method request being served.

    ``app_id``, ``record_id`` and ``person_id`` are set once the request is
    authenticated (:func:`hvgen_server.auth.authenticate`): ``person_id`` is
    the person the application acts for (named by the request's
    ``user-auth-token`` or ``offline-person-id``, else the record's person),
    ``avenue`` how (``Online``: a signed-in person, ``Offline``).
    """

    request: ReceivedRequest = field(kw_only=True)
