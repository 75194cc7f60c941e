"""`hvgen package create` without numba (the `jit` extra, not in `all`):
the package is still made, through the pure-Python cipher, and the command
says once why it is slow and what to install."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .localserver import start_server
from .terminal import hvgen_env, in_terminal

pytest.importorskip("pydicom")
from .dicomgen import make_study  # noqa: E402

NOTE = "note: numba is not installed"

#: Run first in the command's process: acts as if the modules in BLOCKED were not installed.
BLOCKER = """
import sys
from importlib.abc import MetaPathFinder


class Blocker(MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if any(fullname == n or fullname.startswith(n + ".") for n in BLOCKED):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


sys.meta_path.insert(0, Blocker())
"""


def _create(folder: Path, profile: Path, blocked: list[str]) -> subprocess.CompletedProcess[str]:
    script = f"BLOCKED = {blocked!r}\n" + BLOCKER + "from hvgen_cli import main\nmain()\n"
    args = ["package", "create", str(folder), "--question", "Your clinic?", "--answer", "st. mary's"]
    return subprocess.run(
        [sys.executable, "-c", script, *args, "--friendly-name", "CT", "--no-progress"],
        capture_output=True,
        text=True,
        env={**os.environ, "HVGEN_PROFILE": str(profile)},
        stdin=subprocess.DEVNULL,
        timeout=600,
    )


def test_without_numba_a_package_is_made_and_the_command_says_why_it_is_slow(tmp_path: Path) -> None:
    pytest.importorskip("numba", reason="the test compares a run with numba against one without")
    make_study(tmp_path / "CT", series=1, images=2, size=32)
    server = start_server(tmp_path / "server")
    try:
        slow = _create(tmp_path / "CT", server.profile_path, ["numba"])
        assert slow.returncode == 0, slow.stderr
        assert "package id:" in slow.stdout
        notes = [line for line in slow.stderr.splitlines() if line.startswith(NOTE)]
        assert len(notes) == 1 and "pip install 'hvgen[jit]'" in notes[0]
        fast = _create(tmp_path / "CT", server.profile_path, [])
        assert fast.returncode == 0, fast.stderr
        assert NOTE not in fast.stderr
    finally:
        server.stop()


def test_a_package_made_in_a_terminal_ends_with_its_id_not_an_escape_sequence(tmp_path: Path) -> None:
    """numba (the fast cipher) starts colorama, which writes a colour reset to standard output
    at exit when it is a terminal: the id line was followed by ESC[0m, which broke --json read
    from a pseudo-terminal."""
    pytest.importorskip("numba", reason="only numba's colorama writes it")
    make_study(tmp_path / "CT", series=1, images=1, size=16, seed=69)
    server = start_server(tmp_path / "server")
    try:
        env = hvgen_env(tmp_path / "home", server.profile_path)
        args = ["package", "create", str(tmp_path / "CT"), "--question", "Q?", "--answer", "answer1"]
        run = in_terminal([*args, "--friendly-name", "CT", "--json"], env, timeout=600)
        assert run.code == 0, run.output
        assert "\x1b[0m" not in run.output, repr(run.output[-200:])
        assert json.loads(run.output[run.output.index("{") :])["package_id"]
    finally:
        server.stop()
