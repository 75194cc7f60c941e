"""The DICOM gateway: the platform's own application for DICOMweb writes.

STOW-RS stores studies with the same library code as ``hvgen study upload``
(:class:`hvgen_imaging.workflow.Studies`), as a client of this platform over
its own protocol: the gateway is an application like any other, registered
on first start. Its key and certificate are kept in the store (every server
process sharing a database uses the same gateway) and written to
``DATA/gateway`` for the client each server process runs. It
is authorized for a record when an application authorized for that record
asks for a DICOMweb token (CreateDicomWebToken), and only then. So the
things a STOW-RS writes are exactly those ``study upload`` writes, through
the same checks (schema, blobs, signatures), and their audits name the
gateway as the application that wrote them.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..bootstrap import create_keyed_application, write_key_files
from ..context import Platform

#: The store settings that hold the gateway's app-id, key and certificate.
GATEWAY_APP = "dicom_gateway_app_id"
GATEWAY_KEY, GATEWAY_CERT = "dicom_gateway_key_pem", "dicom_gateway_cert_pem"
GATEWAY_NAME = "hvgen DICOM gateway"


@dataclass(frozen=True)
class Gateway:
    app_id: str
    key_path: Path
    cert_path: Path
    url: str


def local_url(platform: Platform) -> str:
    """Where the server reaches itself: its loopback address when it listens on every address."""
    config = platform.config
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(config.host, config.host)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{config.port}"


def ensure_gateway(platform: Platform) -> Gateway:
    """The gateway application, registered with a new key on first use.

    A store from before the gateway's key was kept in it takes the key of
    ``DATA/gateway`` (a gateway whose key is lost is registered anew).
    STOW-RS bodies a stopped server left behind (``DATA/gateway/incoming``,
    untouched for a day) are removed: their senders were never told they were stored."""
    folder = platform.config.data_dir / "gateway"
    incoming = folder / "incoming"
    for left in incoming.iterdir() if incoming.is_dir() else []:
        if left.stat().st_mtime < time.time() - 86400:
            shutil.rmtree(left, ignore_errors=True)
    store = platform.store
    settings = (GATEWAY_APP, GATEWAY_KEY, GATEWAY_CERT)
    if store.meta(GATEWAY_APP) is None:
        create_keyed_application(store, GATEWAY_NAME, settings)  # or another process did
    elif store.meta(GATEWAY_KEY) is None:
        key_path, cert_path = folder / "key.pem", folder / "cert.pem"
        if key_path.exists() and cert_path.exists():
            with store.write() as tx:
                tx.meta.add(GATEWAY_KEY, key_path.read_text("ascii"))
                tx.meta.add(GATEWAY_CERT, cert_path.read_text("ascii"))
        else:
            create_keyed_application(store, GATEWAY_NAME, settings, replace=True)
    paths = write_key_files(store, folder, GATEWAY_KEY, GATEWAY_CERT)
    app_id = store.meta(GATEWAY_APP)
    assert paths is not None and app_id is not None
    return Gateway(app_id=app_id, key_path=paths[0], cert_path=paths[1], url=local_url(platform))
