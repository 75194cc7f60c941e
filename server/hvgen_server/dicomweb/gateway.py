"""The DICOM gateway: the platform's own application for DICOMweb writes.

STOW-RS stores studies with the same library code as ``hvgen study upload``
(:class:`hvgen_imaging.workflow.Studies`), as a client of this platform over
its own protocol: the gateway is an application like any other, with its
key and certificate under ``DATA/gateway``, registered on first start. It
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

from ..bootstrap import add_application
from ..context import Platform

#: The store setting that holds the gateway's app-id.
GATEWAY_APP = "dicom_gateway_app_id"
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

    STOW-RS bodies a stopped server left behind (``DATA/gateway/incoming``, untouched for
    a day) are removed: their senders were never told they were stored."""
    folder = platform.config.data_dir / "gateway"
    incoming = folder / "incoming"
    for left in incoming.iterdir() if incoming.is_dir() else []:
        if left.stat().st_mtime < time.time() - 86400:
            shutil.rmtree(left, ignore_errors=True)
    key_path, cert_path = folder / "key.pem", folder / "cert.pem"
    app_id = platform.store.meta(GATEWAY_APP)
    if app_id is None or not key_path.exists():
        app_id, key_path, cert_path = add_application(platform.store, folder, GATEWAY_NAME)
        platform.store.set_meta(GATEWAY_APP, app_id)
    return Gateway(app_id=app_id, key_path=key_path, cert_path=cert_path, url=local_url(platform))
