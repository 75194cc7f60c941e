"""Run ``hvgen`` as a user does: a separate process, in a pseudo-terminal or
with its output piped, with default flags unless a test says otherwise."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Select Graphic Rendition (colour) escape sequences.
_SGR = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class Run:
    code: int
    #: Everything printed (in a terminal stdout and stderr are one stream).
    output: str
    #: Standard error, when it was piped separately.
    stderr: str = ""

    @property
    def lines(self) -> list[str]:
        """What stays on the screen: for each line, the text after its last
        carriage return (progress bars redraw themselves with \\r), without
        colour codes (a library's colour reset as the process ends shows nothing)."""
        out = []
        for line in self.output.replace("\r\n", "\n").split("\n"):
            shown = _SGR.sub("", line.rsplit("\r", 1)[-1].replace("\x1b[A", "")).strip()
            if shown:
                out.append(shown)
        return out

    def has_bar(self, label: str) -> bool:
        """Whether a progress bar with this label was drawn."""
        return any(
            label in part and ("%|" in part or "/s]" in part or re.search(rf"{re.escape(label)}: \d+ \w+ \[", part))
            for part in self.output.replace("\n", "\r").split("\r")
        )


def _as_from_a_shell() -> None:
    """In the command's process before it starts: Ctrl-C handled as a shell
    leaves it (SIGINT at its default action, not blocked), whatever the test
    process's own state is."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])


def readable(fd: int, timeout: float) -> bool:
    """Whether ``fd`` has something to read within ``timeout`` seconds (poll, not
    select: a process holding many files has descriptors past select's 1024)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    return bool(poller.poll(timeout * 1000))


def hvgen_env(home: Path, profile: Path | None = None) -> dict[str, str]:
    """An environment whose config, cache and data folders are under ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HVGEN_", "XDG_", "TQDM_", "COLUMNS", "LINES"))}
    env.update(
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_DATA_HOME=str(home / "data"),
        TERM="xterm",
    )
    if profile is not None:
        env["HVGEN_PROFILE"] = str(profile)
    return env


def in_terminal(
    args: list[str], env: dict[str, str], *, columns: int = 120, cwd: Path | None = None, timeout: float = 120
) -> Run:
    """``hvgen ARGS`` with stdin, stdout and stderr on a pseudo-terminal of
    ``columns`` x 30 (0: a terminal that reports no size, as `script` makes)."""
    master, slave = pty.openpty()
    if columns:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "hvgen_cli", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=cwd,
        close_fds=True,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready = readable(master, 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the other side is closed
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        else:
            process.kill()
            raise TimeoutError(f"hvgen {' '.join(args)} did not finish in {timeout} s")
        code = process.wait(30)
    finally:
        os.close(master)
    return Run(code, b"".join(chunks).decode("utf-8", "replace"))


def interrupted_in_terminal(
    args: list[str],
    env: dict[str, str],
    when: Callable[[str], bool],
    *,
    columns: int = 100,
    timeout: float = 120,
) -> Run:
    """``hvgen ARGS`` in a pseudo-terminal that is its controlling terminal,
    and Ctrl-C typed on it once ``when(output so far)`` holds: the terminal
    sends SIGINT to the command and echoes ``^C``, as for a user at a
    keyboard (``setsid --ctty`` makes the terminal the command's own)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    process = subprocess.Popen(
        ["setsid", "--ctty", sys.executable, "-m", "hvgen_cli", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
        preexec_fn=_as_from_a_shell,
    )
    os.close(slave)
    chunks: list[bytes] = []
    typed = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not typed and when(b"".join(chunks).decode("utf-8", "replace")):
                os.write(master, b"\x03")
                typed = True
            ready = readable(master, 0.05)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        else:
            process.kill()
            raise TimeoutError(f"hvgen {' '.join(args)} did not finish in {timeout} s")
        code = process.wait(30)
    finally:
        os.close(master)
    assert typed, "the command ended before Ctrl-C was typed"
    return Run(code, b"".join(chunks).decode("utf-8", "replace"))


def piped(args: list[str], env: dict[str, str], *, cwd: Path | None = None, timeout: float = 120) -> Run:
    """``hvgen ARGS`` with stdout and stderr piped (not a terminal), stdin closed."""
    done = subprocess.run(
        [sys.executable, "-m", "hvgen_cli", *args],
        capture_output=True,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
    )
    return Run(done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace"))


def invoke(args: list[str], env: dict[str, str]) -> Run:
    """``hvgen ARGS`` in this process (faster; not a terminal, as when piped).
    An exception the command let escape is raised here: a user would have
    seen a traceback."""
    from click.testing import CliRunner

    from hvgen_cli import main

    result = CliRunner().invoke(main, args, env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout, result.stderr)


def assert_clean(run: Run) -> None:
    """No traceback and no raw Python warning reached the user."""
    text = run.output + run.stderr
    assert "Traceback" not in text, text
    for raw in ("UserWarning", "DeprecationWarning", "HealthVaultDecodeWarning", "warnings.warn", "warn_and_log"):
        assert raw not in text, text
