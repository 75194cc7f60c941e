"""The launcher of test servers (``tests/launcher.py``) hands back a process
that behaves as a new ``python -m hvgen_cli`` would: its output in the given
file, the given environment, its exit status as ``Popen`` reports it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
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


def answers(port: int, poll: Callable[[], int | None]) -> None:
    """Wait until the server on ``port`` answers (``poll`` says whether it ended)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert poll() is None, "the server ended"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not answer")


def started_server(tmp_path: Path) -> tuple[LaunchedProcess, Path]:
    """``hvgen serve`` through the launcher, answering; and the profile its environment named."""
    tmp_path.mkdir(exist_ok=True)
    port = free_port()
    profile = tmp_path / "its-profile.json"
    env = {"HVGEN_PROFILE": str(profile)}
    process, _ = launched(tmp_path, "serve", "--data", str(tmp_path / "data"), "--port", str(port), env=env)
    try:
        answers(port, process.poll)
    except AssertionError:
        process.kill()
        raise
    return process, profile


def test_a_server_takes_the_given_environment_and_dies_by_the_signal_it_is_sent(tmp_path: Path) -> None:
    process, profile = started_server(tmp_path)
    try:
        assert profile.is_file()  # the request's HVGEN_PROFILE, not the launcher's environment
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(0.2)
        process.send_signal(signal.SIGKILL)
        assert process.wait(30) == -signal.SIGKILL
        assert process.poll() == -signal.SIGKILL
    finally:
        process.kill()


def test_a_server_stops_on_ctrl_c_as_hvgen_serve_does(tmp_path: Path) -> None:
    """SIGINT is the launcher's to ignore, not its servers': a launched server
    ends as ``hvgen serve`` started as a new interpreter does."""
    port = free_port()
    process, _ = started_server(tmp_path / "launched")
    try:
        with open(tmp_path / "alone.log", "wb") as log:
            alone = subprocess.Popen(
                [sys.executable, "-m", "hvgen_cli", "serve", "--data", str(tmp_path / "alone"), "--port", str(port)],
                env={**os.environ, "HVGEN_PROFILE": str(tmp_path / "alone.json")},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            answers(port, alone.poll)
            alone.send_signal(signal.SIGINT)
            process.send_signal(signal.SIGINT)
            assert process.wait(30) == alone.wait(30)
            assert (tmp_path / "launched" / "serve.log").read_text().splitlines()[-1] == "interrupted"
        finally:
            alone.kill()
            alone.wait()
    finally:
        process.kill()


def test_a_usage_error_names_the_program_as_a_new_interpreter_does(tmp_path: Path) -> None:
    process, log = launched(tmp_path, "serve", "--no-such-option")
    assert process.wait(60) == 2
    alone = subprocess.run(
        [sys.executable, "-m", "hvgen_cli", "serve", "--no-such-option"], capture_output=True, text=True, timeout=60
    )
    assert alone.returncode == 2
    assert log.read_text() == alone.stderr + alone.stdout
    assert "Usage: python -m hvgen_cli serve" in alone.stderr


def test_servers_end_with_their_launcher(tmp_path: Path) -> None:
    """A launcher that dies takes its servers with it: a test told that its server
    is gone (its status socket closed with no status) is told the truth. (A
    launcher of its own: this worker's serves other tests' servers.)"""
    own = Launcher()
    try:
        port = free_port()
        with open(tmp_path / "serve.log", "ab") as log:
            env = {**os.environ, "HVGEN_PROFILE": str(tmp_path / "profile.json")}
            process = own.launch(["serve", "--data", str(tmp_path / "data"), "--port", str(port)], env, log.fileno())
        answers(port, process.poll)
        os.kill(own.pid, signal.SIGKILL)
        assert process.wait(30) == -signal.SIGKILL
        deadline = time.monotonic() + 30
        while running(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(process.pid)
    finally:
        own.stop()


def running(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie waiting to be reaped does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
