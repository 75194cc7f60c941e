"""The launcher of test servers (``tests/launcher.py``) hands back a process
that behaves as a new ``python -m hvgen_cli`` would: its output in the given
file, the given environment, its exit status as ``Popen`` reports it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from hvgen import __version__

from .launcher import LaunchedProcess, Launcher
from .localserver import free_port


def launched(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[LaunchedProcess, Path]:
    log = tmp_path / f"{args[0]}.log"
    with open(log, "ab") as out:
        process = Launcher.spawn(list(args), {**os.environ, **(env or {})}, out.fileno())
    return process, log


def test_a_command_exits_with_its_code_and_writes_to_the_given_file(tmp_path: Path) -> None:
    process, log = launched(tmp_path, "--version")
    assert process.wait(60) == 0
    assert __version__ in log.read_text()
    process, log = launched(tmp_path, "no-such-command")
    assert process.wait(60) == 2
    assert "No such command" in log.read_text()


def test_a_server_takes_the_given_environment_and_dies_by_the_signal_it_is_sent(tmp_path: Path) -> None:
    port = free_port()
    profile = tmp_path / "its-profile.json"
    env = {"HVGEN_PROFILE": str(profile)}
    process, log = launched(tmp_path, "serve", "--data", str(tmp_path / "data"), "--port", str(port), env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        assert profile.is_file()  # the request's HVGEN_PROFILE, not the launcher's environment
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(0.2)
        process.send_signal(signal.SIGKILL)
        assert process.wait(30) == -signal.SIGKILL
        assert process.poll() == -signal.SIGKILL
    finally:
        process.kill()
