"""Who may talk to `hvgen dicom listen`: any called AE title by default (dcmtk's
`ANY-SCP` included) unless --require-called-ae; an allow-list of calling AE
titles; and no listening beyond loopback without one (or --allow-any-ae)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import dcmtk
from .localserver import RunningServer, start_server
from .test_dicom_listen import Listening

pytest.importorskip("pynetdicom")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("platform"))
    try:
        yield server
    finally:
        server.stop()


def echoscu(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [dcmtk.require("echoscu"), *args, "127.0.0.1", str(port)], capture_output=True, text=True, timeout=60
    )


def test_any_called_ae_title_unless_required(platform: RunningServer, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    listening = Listening(platform, tmp_path / "a", "--ae-title", "HVTEST")
    try:
        assert echoscu(listening.port).returncode == 0  # dcmtk calls ANY-SCP by default
        assert echoscu(listening.port, "-aec", "SOMETHING").returncode == 0
    finally:
        assert listening.stop() == 0
    listening = Listening(platform, tmp_path / "b", "--ae-title", "HVTEST", "--require-called-ae")
    try:
        assert echoscu(listening.port, "-aec", "HVTEST").returncode == 0
        refused = echoscu(listening.port)
        assert refused.returncode != 0 and "called ae title not recognized" in (refused.stdout + refused.stderr).lower()
    finally:
        assert listening.stop() == 0


def test_calling_ae_allow_list(platform: RunningServer, tmp_path: Path) -> None:
    listening = Listening(platform, tmp_path, "--allow-ae", "MODALITY", "--allow-ae", "PACS")
    try:
        assert echoscu(listening.port, "-aet", "MODALITY").returncode == 0
        assert echoscu(listening.port, "-aet", "PACS").returncode == 0
        refused = echoscu(listening.port, "-aet", "STRANGER")
        assert (
            refused.returncode != 0 and "calling ae title not recognized" in (refused.stdout + refused.stderr).lower()
        )
    finally:
        assert listening.stop() == 0


def test_beyond_loopback_needs_an_allow_list(platform: RunningServer, tmp_path: Path) -> None:
    env = {**os.environ, "HVGEN_PROFILE": str(platform.profile_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    started = subprocess.run(
        [sys.executable, "-m", "hvgen_cli", "dicom", "listen", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert started.returncode == 2
    assert "--allow-ae" in started.stderr and "--allow-any-ae" in started.stderr and "Traceback" not in started.stderr
    listening = Listening(platform, tmp_path, "--host", "0.0.0.0", "--allow-any-ae")
    try:
        assert echoscu(listening.port, "-aet", "ANYONE").returncode == 0
    finally:
        assert listening.stop() == 0
