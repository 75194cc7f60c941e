"""First run of the local platform: create the store and an application.

``hvgen serve --data DIR`` calls :func:`ensure_store`. On first run it
creates the store, the server's token key, one application (with an RSA
key and a self-signed certificate) and one record the application may use.
Later runs reuse what is there.

The application's key and certificate are kept in the store (so that every
server process sharing a database can write the client profile) and
written to ``DIR/app`` for clients. The token key of the embedded store is
the file ``DIR/server.key``; a shared store keeps it in the database, where
every server process finds the same one. Server processes starting at once
on one shared store agree on one application: the first to record it wins,
the others roll back what they made and take it.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from healthvault import crypto
from healthvault.profile import Profile

from .backends import open_blob_files, open_store
from .config import ServerConfig
from .store import Store

#: Store settings (the meta table) of the default application and the shared token key.
DEFAULT_APP, DEFAULT_RECORD = "default_app_id", "default_record_id"
APP_KEY, APP_CERT, TOKEN_KEY = "default_app_key_pem", "default_app_cert_pem", "token_key"


@dataclass
class Setup:
    """What a client needs to use the local platform."""

    app_id: str
    record_id: str
    person_id: str
    key_path: Path
    cert_path: Path
    created: bool

    def profile(self, url: str) -> Profile:
        return Profile(
            url=url,
            app_id=self.app_id,
            record_id=self.record_id,
            key_path=str(self.key_path),
            cert_path=str(self.cert_path),
            person_id=self.person_id,
        )


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def server_key(config: ServerConfig, store: Store) -> bytes:
    """The secret that seals blob URL tokens (created on first use): in the
    database of a shared store, else in ``DATA/server.key``."""
    if config.shared:
        with store.write() as tx:
            tx.meta.add(TOKEN_KEY, secrets.token_bytes(32).hex())
        return bytes.fromhex(store.meta(TOKEN_KEY) or "")
    path = config.data_dir / "server.key"
    if not path.exists():
        _write_private(path, secrets.token_bytes(32))
    return path.read_bytes()


def add_application(store: Store, app_dir: Path, name: str) -> tuple[str, Path, Path]:
    """Register an application with a new key and certificate in ``app_dir``."""
    key, cert = crypto.make_key_and_certificate(name)
    key_path, cert_path = app_dir / "key.pem", app_dir / "cert.pem"
    _write_private(key_path, crypto.key_pem(key))
    cert_path.write_bytes(crypto.cert_pem(cert))
    app_id = store.add_application(name, crypto.cert_pem(cert).decode("ascii"), crypto.thumbprint(cert))
    return app_id, key_path, cert_path


class _Taken(Exception):
    """Another server process recorded the default application first."""


def _create_default(store: Store) -> bool:
    """Create the default application and record unless another process
    has; True if this one did."""
    key, cert = crypto.make_key_and_certificate("hvgen local application")
    cert_pem = crypto.cert_pem(cert).decode("ascii")
    try:
        with store.write() as tx:
            app_id = tx.applications.add("hvgen local application", cert_pem, crypto.thumbprint(cert))
            record_id, _ = tx.records.add("Local record", [app_id])
            if not tx.meta.add(DEFAULT_APP, app_id):
                raise _Taken
            tx.meta.set(DEFAULT_RECORD, record_id)
            tx.meta.set(APP_KEY, crypto.key_pem(key).decode("ascii"))
            tx.meta.set(APP_CERT, cert_pem)
    except _Taken:
        return False
    return True


def write_app_files(store: Store, app_dir: Path) -> None:
    """Write the default application's key and certificate from the store
    where this data folder has none (stores older than the copy in the
    store have only the files)."""
    key_pem, cert_pem = store.meta(APP_KEY), store.meta(APP_CERT)
    if key_pem is None or cert_pem is None:
        return
    key_path, cert_path = app_dir / "key.pem", app_dir / "cert.pem"
    if not key_path.exists() or key_path.read_bytes() != key_pem.encode("ascii"):
        _write_private(key_path, key_pem.encode("ascii"))
    if not cert_path.exists() or cert_path.read_bytes() != cert_pem.encode("ascii"):
        cert_path.write_bytes(cert_pem.encode("ascii"))


def ensure_store(config: ServerConfig) -> Setup:
    """Open the store (and the blob bytes backend), creating the application
    and record on first run.

    Raises:
        StoreError: the store or the object store cannot be used.
        OSError: the data folder cannot be written.
    """
    config.data_dir.mkdir(parents=True, exist_ok=True)
    open_blob_files(config)  # creates the folder, or the bucket when missing
    store = open_store(config)
    try:
        server_key(config, store)
        created = store.meta(DEFAULT_APP) is None and _create_default(store)
        app_dir = config.data_dir / "app"
        write_app_files(store, app_dir)
        app_id = store.meta(DEFAULT_APP) or ""
        record_id = store.meta(DEFAULT_RECORD) or ""
        return Setup(
            app_id=app_id,
            record_id=record_id,
            person_id=store.person_of(record_id),
            key_path=(app_dir / "key.pem").resolve(),
            cert_path=(app_dir / "cert.pem").resolve(),
            created=created,
        )
    finally:
        store.close()
