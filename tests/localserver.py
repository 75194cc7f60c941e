"""A local platform server run as a subprocess, for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from healthvault.client import HealthVaultClient
from healthvault.profile import Profile


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningServer:
    data: Path
    port: int
    profile_path: Path
    options: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def profile(self) -> Profile:
        return Profile.load(self.profile_path)

    def start(self) -> RunningServer:
        self.log_path = self.data.parent / f"server-{self.port}.log"
        log = open(self.log_path, "ab")
        env = {**os.environ, "HVGEN_PROFILE": str(self.profile_path)}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hvgen",
                "serve",
                "--data",
                str(self.data),
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                *self.options,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, **kwargs: object) -> HealthVaultClient:
        return HealthVaultClient.from_profile(self.profile, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""


def start_server(base: Path, *options: str) -> RunningServer:
    base.mkdir(parents=True, exist_ok=True)
    server = RunningServer(
        data=base / "data", port=free_port(), profile_path=base / "profile.json", options=list(options)
    )
    return server.start()
