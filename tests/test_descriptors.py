"""The suite's own helpers give back what they open: a relay kept for a whole
module closes each connection it passed on once both directions ended, and
the per-test descriptor check sees what a test leaves open."""

from __future__ import annotations

import socket
import threading
import time

from .conftest import open_descriptors
from .relay import Relay


def test_a_relay_closes_the_connections_it_passed_on() -> None:
    target = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def answer() -> None:  # one line back on each connection, then close
        target.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = target.accept()
            except OSError:
                continue
            with conn:
                conn.recv(100)
                conn.sendall(b"ok")

    serving = threading.Thread(target=answer)
    serving.start()
    before = len(open_descriptors())
    try:
        with Relay(int(target.getsockname()[1])) as relay:
            for _ in range(100):
                with socket.create_connection(("127.0.0.1", relay.port)) as sock:
                    sock.sendall(b"hello")
                    assert sock.recv(100) == b"ok"
            deadline = time.monotonic() + 10
            while relay._sockets and time.monotonic() < deadline:
                time.sleep(0.05)
            assert relay._sockets == [], f"{len(relay._sockets)} sockets of ended connections are still held"
            assert len(open_descriptors()) < before + 20
    finally:
        stop.set()
        serving.join()
        target.close()


def test_open_descriptors_sees_a_file_left_open(tmp_path) -> None:
    before = open_descriptors()
    left = open(tmp_path / "left-open", "wb")  # noqa: SIM115 - left open on purpose
    try:
        now = open_descriptors()
        assert len(now) == len(before) + 1
        assert str(tmp_path / "left-open") in now
    finally:
        left.close()
    assert str(tmp_path / "left-open") not in open_descriptors()
