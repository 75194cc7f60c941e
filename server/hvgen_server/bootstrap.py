"""First run of the local platform: create the store, an application and a person.

``hvgen serve --data DIR`` calls :func:`ensure_store`. On first run it
creates the SQLite store, the server's token key, one application (with an
RSA key and a self-signed certificate under ``DIR/app``), the first person
(login ``local``, a random password, printed once) and their record, which
the person has authorized the application for. Later runs reuse what is
there; a store from before persons existed gets its first person's
password made (and printed) on the first run that finds none.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from healthvault import crypto
from healthvault.profile import Profile

from . import passwords
from .config import ServerConfig
from .store import SqliteStore, Store

#: Login of the first person.
FIRST_LOGIN = "local"


@dataclass
class Setup:
    """What a client needs to use the local platform."""

    app_id: str
    record_id: str
    person_id: str
    key_path: Path
    cert_path: Path
    created: bool
    login: str = ""
    #: The first person's password, when this run made it (else "").
    password: str = ""

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


def server_key(config: ServerConfig) -> bytes:
    """The secret that signs blob URL tokens (created on first use)."""
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


def ensure_store(config: ServerConfig) -> Setup:
    """Open the store, creating the application and record on first run."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    config.blob_dir.mkdir(parents=True, exist_ok=True)
    server_key(config)
    store = SqliteStore(config.database)
    try:
        app_id = store.meta("default_app_id")
        created = app_id is None
        app_dir = config.data_dir / "app"
        password = ""
        if app_id is None:
            app_id, _, _ = add_application(store, app_dir, "hvgen local application")
            password = passwords.new_password()
            person_id = store.add_person(FIRST_LOGIN, "Local person", passwords.hash_password(password))
            record_id, _ = store.add_record("Local record", [app_id], person_id)
            store.set_meta("default_record_id", record_id)
            store.set_meta("default_app_id", app_id)
        record_id = store.meta("default_record_id") or ""
        person = store.person(store.person_of(record_id))
        if person is not None and person.password_hash is None and store.meta("default_person_password") is None:
            password = passwords.new_password()  # a store from before persons: its first person can sign in now
            with store.write() as tx:
                tx.persons.set_password(person.person_id, passwords.hash_password(password))
        if password:
            store.set_meta("default_person_password", "made")
        return Setup(
            app_id=app_id,
            record_id=record_id,
            person_id=person.person_id if person is not None else "",
            key_path=(app_dir / "key.pem").resolve(),
            cert_path=(app_dir / "cert.pem").resolve(),
            created=created,
            login=person.login if person is not None else "",
            password=password,
        )
    finally:
        store.close()
