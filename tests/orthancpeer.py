"""Orthanc (Debian's ``orthanc`` and ``orthanc-dicomweb``) started by a test: its own
configuration, storage and index in a temporary folder, HTTP on loopback, and
DICOMweb servers it may call (its DICOMweb client)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from .localserver import free_port

ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
MISSING = (
    None
    if Path(ORTHANC).exists() and PLUGIN.exists()
    else "Orthanc and its DICOMweb plugin are not installed (apt-get install orthanc orthanc-dicomweb; .ci/run does)"
)


class Orthanc:
    """A running Orthanc; ``servers``: DICOMweb servers by name (``{"Url": ..., "HttpHeaders": ...}``)."""

    def __init__(self, folder: Path, servers: dict[str, dict[str, Any]]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {
            "Name": "hvgen-test",
            "HttpPort": self.port,
            "DicomPort": free_port(),
            "DicomAet": "ORTHANCTEST",
            "StorageDirectory": str(folder / "storage"),
            "IndexDirectory": str(folder / "index"),
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "Plugins": [str(PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "Servers": servers},
        }
        path = folder / "orthanc.json"
        path.write_text(json.dumps(config))
        self.log = open(folder / "orthanc.log", "wb")
        self.process = subprocess.Popen(
            [ORTHANC, str(path)], stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "TCP_NODELAY": "1"}
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited: {(folder / 'orthanc.log').read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/system", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("Orthanc did not start")

    def post(self, path: str, body: Any, timeout: float = 120) -> httpx.Response:
        return httpx.post(self.url + path, json=body, timeout=timeout)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=60)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.log.close()
