"""First run of the local platform: create the store, an application and a person.

``hvgen serve --data DIR`` calls :func:`ensure_store`. On first run it
creates the store, the server's token key, one application (with an RSA
key and a self-signed certificate), the first person (login ``local``, a
random password, shown once on a terminal or kept in ``DATA/first-password``:
:func:`keep_first_password`) and their record, which the person has
authorized the application for. Later runs reuse what is there; a store
from before persons existed gets its first person's password made (and
printed) on the first run that finds none.

The data folder and everything the server writes in it are readable by
their owner only (:func:`private_files`; the command sets the process's
umask to 077 as well).

The application's key and certificate are kept in the store (so that every
server process sharing a database can write the client profile) and
written to ``DIR/app`` for clients. The token key of the embedded store is
the file ``DIR/server.key``; a shared store keeps it in the database, where
every server process finds the same one. Server processes starting at once
on one shared store agree on one application and one first person: the
first to record them wins, the others roll back what they made and take it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from healthvault import crypto, filemodes
from healthvault.profile import Profile

from . import passwords
from .backends import open_blob_files, open_store
from .config import ServerConfig
from .errors import ServerError
from .store import Store, Transaction
from .store.rows import Person

#: Store settings (the meta table) of the default application and the shared token key.
DEFAULT_APP, DEFAULT_RECORD = "default_app_id", "default_record_id"
APP_KEY, APP_CERT, TOKEN_KEY = "default_app_key_pem", "default_app_cert_pem", "token_key"

#: Set once every file of an embedded store's data folder was made owner-only.
FILE_MODES = "file_modes"

#: Login of the first person.
FIRST_LOGIN = "local"
#: Set once the first person's password was made (by this store's first run, or
#: the first run that found a person of a store from before persons without one).
PASSWORD_MADE = "default_person_password"


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
    filemodes.write_private(path, data)


#: Where the first person's password is kept when it cannot be shown to a person.
FIRST_PASSWORD_FILE = "first-password"


def keep_first_password(config: ServerConfig, password: str) -> Path:
    """Write the first person's password to ``DATA/first-password``
    (owner-readable only), for a server whose output is not a terminal
    (a log file must never hold it); returns the file's path."""
    path = config.data_dir / FIRST_PASSWORD_FILE
    _write_private(path, (password + "\n").encode("utf-8"))
    return path


#: Bytes of the secret that seals tokens.
KEY_BYTES = 32


def server_key(config: ServerConfig, store: Store) -> bytes:
    """The secret that seals blob URL tokens (created on first use): in the
    database of a shared store, else in ``DATA/server.key``."""
    if config.shared:
        with store.write() as tx:
            tx.meta.add(TOKEN_KEY, secrets.token_bytes(KEY_BYTES).hex())
        return bytes.fromhex(store.meta(TOKEN_KEY) or "")
    path = config.data_dir / "server.key"
    if not path.exists():
        _write_private(path, secrets.token_bytes(KEY_BYTES))
    return read_server_key(path)


def read_server_key(path: Path) -> bytes:
    """The key in ``DATA/server.key``; a ServerError when it is not one (never an
    empty or short secret that anyone could seal tokens with)."""
    key = path.read_bytes()
    if len(key) < KEY_BYTES:
        raise ServerError(
            f"{path} holds {len(key)} bytes, not a key of {KEY_BYTES}: it was cut short or changed; "
            "move it away and start again to make a new one (sessions and blob links made before end)"
        )
    return key


def add_application(store: Store, app_dir: Path, name: str) -> tuple[str, Path, Path]:
    """Register an application with a new key and certificate in ``app_dir``."""
    key, cert = crypto.make_key_and_certificate(name)
    key_path, cert_path = app_dir / "key.pem", app_dir / "cert.pem"
    _write_private(key_path, crypto.key_pem(key))
    _write_private(cert_path, crypto.cert_pem(cert))
    app_id = store.add_application(name, crypto.cert_pem(cert).decode("ascii"), crypto.thumbprint(cert))
    return app_id, key_path, cert_path


class _Taken(ServerError):
    """Another server process recorded the application first."""


def create_keyed_application(
    store: Store,
    name: str,
    settings: tuple[str, str, str],
    more: Callable[[Transaction, str], None] | None = None,
    *,
    replace: bool = False,
) -> bool:
    """Register an application with a new key and certificate, kept in the
    store under ``settings`` (its app-id, key and certificate), unless another
    server process recorded one there first; True if this one did. ``more``
    adds what goes with it in the same unit of work; ``replace`` takes the
    setting's place even if it has a value (an application whose key is lost)."""
    id_setting, key_setting, cert_setting = settings
    key, cert = crypto.make_key_and_certificate(name)
    cert_pem = crypto.cert_pem(cert).decode("ascii")
    try:
        with store.write() as tx:
            app_id = tx.applications.add(name, cert_pem, crypto.thumbprint(cert))
            if replace:
                tx.meta.set(id_setting, app_id)
            elif not tx.meta.add(id_setting, app_id):  # first: another process waits here until this one ends
                raise _Taken
            if more is not None:
                more(tx, app_id)
            tx.meta.set(key_setting, crypto.key_pem(key).decode("ascii"))
            tx.meta.set(cert_setting, cert_pem)
    except _Taken:
        return False
    return True


def write_key_files(store: Store, folder: Path, key_setting: str, cert_setting: str) -> tuple[Path, Path] | None:
    """Write an application's key and certificate from the store into
    ``folder`` (where they are missing or differ); their paths, or None when
    the store has none (stores older than the copy in the store have only the files)."""
    key_pem, cert_pem = store.meta(key_setting), store.meta(cert_setting)
    if key_pem is None or cert_pem is None:
        return None
    key_path, cert_path = folder / "key.pem", folder / "cert.pem"
    if not key_path.exists() or key_path.read_bytes() != key_pem.encode("ascii"):
        _write_private(key_path, key_pem.encode("ascii"))
    if not cert_path.exists() or cert_path.read_bytes() != cert_pem.encode("ascii"):
        _write_private(cert_path, cert_pem.encode("ascii"))
    return key_path, cert_path


def write_app_files(store: Store, app_dir: Path) -> None:
    """The default application's key and certificate, from the store into ``app_dir``."""
    write_key_files(store, app_dir, APP_KEY, APP_CERT)


def _create_default(store: Store) -> str:
    """Create the default application, the first person and their record
    unless another process has; the person's password if this one did, else ""."""
    password = passwords.new_password()

    def person_and_record(tx: Transaction, app_id: str) -> None:
        person_id = tx.persons.add(FIRST_LOGIN, "Local person", passwords.hash_password(password))
        record_id, _ = tx.records.add("Local record", [app_id], person_id)
        tx.meta.set(DEFAULT_RECORD, record_id)
        tx.meta.set(PASSWORD_MADE, "made")

    made = create_keyed_application(
        store, "hvgen local application", (DEFAULT_APP, APP_KEY, APP_CERT), person_and_record
    )
    return password if made else ""


def _first_password(store: Store, person: Person) -> str:
    """A password for the first person of a store from before persons (who
    has none), unless one was made before; the password, or ""."""
    password = passwords.new_password()
    with store.write() as tx:
        if not tx.meta.add(PASSWORD_MADE, "made"):
            return ""  # made before, or by another process just now
        tx.persons.set_password(person.person_id, passwords.hash_password(password))
    return password


def private_files(config: ServerConfig, store: Store) -> None:
    """Make the data folder and everything in it readable by its owner only
    (folders 0700, files 0600), on every start: a store made by an older
    version, or under a looser umask, is tightened. The files of the blob
    folder are gone through once (the first start of this version; their
    folder keeps others out, and the server makes new ones owner-only)."""
    filemodes.private_dir(config.data_dir)
    whole = config.shared or store.meta(FILE_MODES) != "private"
    filemodes.tighten(config.data_dir, skip=() if whole else [config.blob_dir])
    if whole and not config.shared:
        store.set_meta(FILE_MODES, "private")


def ensure_store(config: ServerConfig) -> Setup:
    """Open the store (and the blob bytes backend), creating the application
    and record on first run.

    Raises:
        StoreError: the store or the object store cannot be used.
        OSError: the data folder cannot be written.
    """
    filemodes.private_dir(config.data_dir)
    open_blob_files(config)  # creates the folder, or the bucket when missing
    store = open_store(config)
    try:
        private_files(config, store)
        server_key(config, store)
        app_dir = config.data_dir / "app"
        password = ""
        if store.meta(DEFAULT_APP) is None:
            password = _create_default(store)
        created = bool(password)
        write_app_files(store, app_dir)
        app_id = store.meta(DEFAULT_APP) or ""
        record_id = store.meta(DEFAULT_RECORD) or ""
        person = store.person(store.person_of(record_id))
        if person is not None and person.password_hash is None and store.meta(PASSWORD_MADE) is None:
            password = _first_password(store, person)
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
