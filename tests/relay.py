"""A TCP relay in front of a server that can stall a transfer at a known
point: after so many bytes in one direction it stops passing them on (as a
stalled network does) until released. Tests interrupt a command there, in
the middle of an upload or a download, however fast the machine is."""

from __future__ import annotations

import socket
import threading
from types import TracebackType


class Relay:
    """Listens on 127.0.0.1:``port`` and passes every connection on to
    127.0.0.1:``target``. :meth:`hold` stalls one direction after a byte
    count (``held`` is set when it does); :meth:`release` lets it go on."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.held = threading.Event()
        self._released = threading.Event()
        self._released.set()
        self._lock = threading.Lock()
        self._limits: dict[str, int | None] = {"up": None, "down": None}
        self._counts = {"up": 0, "down": 0}
        self._sockets: list[socket.socket] = []
        self._closed = False
        self._refusing = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hold(self, *, up: int | None = None, down: int | None = None) -> None:
        """From now on, stall client-to-server bytes after ``up`` more of
        them, or server-to-client bytes after ``down``."""
        with self._lock:
            self._limits = {"up": up, "down": down}
            self._counts = {"up": 0, "down": 0}
            self.held.clear()
            self._released.clear()

    def release(self) -> None:
        with self._lock:
            self._limits = {"up": None, "down": None}
            self._refusing = False
        self._released.set()

    def cut(self) -> None:
        """Cut every connection and close new ones at once (a server gone) until :meth:`release`."""
        with self._lock:
            self._refusing = True
            for s in self._sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self._sockets.clear()
        self._released.set()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self._refusing:
                client.close()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, "up"), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, "down"), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, direction: str) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                with self._lock:
                    self._counts[direction] += len(data)
                    limit = self._limits[direction]
                    stall = limit is not None and self._counts[direction] > limit
                if stall:
                    self.held.set()
                    self._released.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (sink, source):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._closed = True
        self.release()
        self.listener.close()
        with self._lock:
            for s in self._sockets:
                s.close()
            self._sockets.clear()

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class Counter:
    """Something listening on 127.0.0.1:``port`` that reads what each
    connection sends and closes it without answering, and counts them: how
    many times a command tried a platform that is not there."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._drop, args=(conn,), daemon=True).start()

    @staticmethod
    def _drop(conn: socket.socket) -> None:
        """Read the request (closing with unread bytes would reset the
        connection instead), then close without a word."""
        conn.settimeout(0.3)
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass
        conn.close()

    def close(self) -> None:
        self.listener.close()

    def __enter__(self) -> Counter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
