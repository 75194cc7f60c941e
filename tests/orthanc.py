"""Orthanc (Debian's ``orthanc`` and ``orthanc-dicomweb``) as a peer PACS in tests.

Started the way a user runs it: ``Orthanc CONFIG.json`` with a configuration
of its own in a temporary folder, loopback HTTP, its DICOM port on a free
port (1.10 listens on every address: tests send it traffic on 127.0.0.1
only), its DICOMweb plugin at ``/dicom-web/``, and ``TCP_NODELAY=1``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from .localserver import free_port

PLUGINS = Path("/usr/share/orthanc/plugins")


@dataclass
class Orthanc:
    folder: Path
    process: subprocess.Popen[bytes]
    http_port: int
    dicom_port: int
    ae_title: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    def get(self, path: str) -> Any:
        response = httpx.get(self.url + path, timeout=60)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: Any) -> Any:
        response = httpx.post(
            self.url + path, content=body if isinstance(body, bytes) else json.dumps(body), timeout=120
        )
        response.raise_for_status()
        return response.json()

    def upload(self, path: Path) -> str:
        """POST a file to /instances; its Orthanc id."""
        return str(self.post("/instances", path.read_bytes())["ID"])

    def instance_uids(self) -> set[str]:
        found = self.post("/tools/find", {"Level": "Instance", "Query": {}, "Expand": True})
        return {item["MainDicomTags"]["SOPInstanceUID"] for item in found}

    def file_of(self, sop_uid: str) -> bytes:
        found = self.post("/tools/lookup", sop_uid.encode("ascii"))
        (item,) = [f for f in found if f["Type"] == "Instance"]
        response = httpx.get(f"{self.url}/instances/{item['ID']}/file", timeout=60)
        response.raise_for_status()
        return response.content

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start(folder: Path, *, ae_title: str = "ORTHANC", modalities: dict[str, list[Any]] | None = None) -> Orthanc:
    """Orthanc in ``folder``, or skip the test saying how to install it."""
    binary = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").exists() else None)
    if binary is None:
        pytest.skip("Orthanc is not installed (Debian: apt-get install orthanc orthanc-dicomweb)")
    if not (PLUGINS / "libOrthancDicomWeb.so").exists():
        pytest.skip("Orthanc's DICOMweb plugin is not installed (Debian: apt-get install orthanc-dicomweb)")
    folder.mkdir(parents=True, exist_ok=True)
    http_port, dicom_port = free_port(), free_port()
    config = {
        "Name": "hvgen-test-peer",
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomAet": ae_title,
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomCheckCalledAet": False,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowGet": True,
        "DicomAlwaysAllowMove": True,
        "DicomModalities": modalities or {},
        "Plugins": [str(PLUGINS)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "StudiesMetadata": "Full"},
        "StableAge": 1,
    }
    (folder / "orthanc.json").write_text(json.dumps(config))
    log = open(folder / "orthanc.log", "wb")
    process = subprocess.Popen(
        [binary, str(folder / "orthanc.json")],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "TCP_NODELAY": "1"},
        cwd=folder,
    )
    peer = Orthanc(folder, process, http_port, dicom_port, ae_title)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"Orthanc did not start: {(folder / 'orthanc.log').read_text(errors='replace')[-2000:]}"
            )
        try:
            if httpx.get(peer.url + "/system", timeout=2).status_code == 200:
                return peer
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    peer.stop()
    raise AssertionError("Orthanc did not answer within 60 s")
