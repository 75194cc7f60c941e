"""HTTP/1.1 in raw bytes over a socket, for attacks on a server: requests
written by hand (bodies sent in pieces, slowly, or not at all), from a
chosen loopback address, and answers read as bytes."""

from __future__ import annotations

import resource
import select
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def connect(port: int, source: str = "127.0.0.1", timeout: float = 10.0) -> socket.socket:
    """A connection to 127.0.0.1:PORT from ``source`` (any 127.x.y.z address is this machine)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    return sock


def head(method: str, path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_answer(sock: socket.socket) -> Answer:
    """One response (with Content-Length, or up to the connection's end)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError(f"closed before a response ({data[:200]!r})")
        data += piece
    top, _, rest = data.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    if "content-length" in headers:
        want = int(headers["content-length"])
        while len(rest) < want:
            piece = sock.recv(65536)
            if not piece:
                break
            rest += piece
        return Answer(status, headers, rest[:want])
    while True:
        try:
            piece = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not piece:
            break
        rest += piece
    return Answer(status, headers, rest)


def request(
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    source: str = "127.0.0.1",
    timeout: float = 30.0,
) -> Answer:
    """Send one request whole (Content-Length set) and read its answer (which
    may come, and the connection close, before the whole body is sent)."""
    with connect(port, source, timeout) as sock:
        top = head(method, path, {"Content-Length": str(len(body)), **(headers or {})})
        return send_reading(sock, [top, body], timeout)


def closed(sock: socket.socket, within: float) -> bool:
    """Whether the server closes ``sock`` within ``within`` seconds (what it sends meanwhile is read and dropped)."""
    end = time.monotonic() + within
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            if sock.recv(65536) == b"":
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False


def peak_rss_mib(pid: int) -> float:
    """A process's peak resident memory (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@contextmanager
def open_files_allowed(wanted: int) -> Iterator[None]:
    """Raise this process's limit of open files to ``wanted`` (as far as the
    hard limit allows) for the time of a ``with`` block, then put it back."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    raised = soft != resource.RLIM_INFINITY and soft < target
    if raised:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    try:
        yield
    finally:
        if raised:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def send_reading(sock: socket.socket, data: Iterable[bytes], timeout: float = 60.0) -> Answer:
    """Send ``data`` (a request in pieces) while watching for an answer: a
    server may answer before the body ends (and then close); the answer is
    read as soon as it comes, and sending stops."""
    received = b""
    deadline = time.monotonic() + timeout
    sock.setblocking(False)
    pieces = iter(data)
    pending = b""
    sending = True
    try:
        while time.monotonic() < deadline:
            if sending and not pending:
                pending = next(pieces, b"")
                sending = bool(pending)
            poller = select.poll()
            poller.register(sock, select.POLLIN | (select.POLLOUT if pending else 0))
            events = dict(poller.poll(500)).get(sock.fileno(), 0)
            readable = events & (select.POLLIN | select.POLLHUP | select.POLLERR)
            writable = events & (select.POLLOUT | select.POLLERR)
            if readable:
                try:
                    piece = sock.recv(65536)
                except (ConnectionResetError, BlockingIOError):
                    piece = b""
                if not piece:
                    break
                received += piece
                if _complete(received):
                    break
            if writable and pending:
                try:
                    sent = sock.send(pending[:262144])
                except (BrokenPipeError, ConnectionResetError):
                    pending, sending = b"", False
                    continue
                except BlockingIOError:
                    continue
                pending = pending[sent:]
    finally:
        sock.setblocking(True)
    if b"\r\n\r\n" not in received:
        raise ConnectionError(f"no answer ({received[:200]!r})")
    sock.settimeout(timeout)
    return read_answer(_Replay(received, sock))  # type: ignore[arg-type]


def _complete(data: bytes) -> bool:
    top, sep, rest = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in top.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(rest) >= int(value.strip())
    return False


class _Replay:
    """A socket whose first bytes were already received."""

    def __init__(self, data: bytes, sock: socket.socket) -> None:
        self.data, self.sock = data, sock

    def recv(self, size: int) -> bytes:
        if self.data:
            out, self.data = self.data[:size], self.data[size:]
            return out
        return self.sock.recv(size)
