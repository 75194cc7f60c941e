"""Connections: how many, whose, and how long a client may take to send a request.

uvicorn closes a connection left idle between requests after its
keep-alive timeout, but not one that never finishes a request: an idle
fresh connection, headers sent a byte at a time, a body that stalls, or a
body still trickling in after the server has answered. The protocol here
(uvicorn's h11 protocol with timers and a registry of connections) closes

* a connection that has not sent complete request headers within
  ``header_timeout`` seconds of connecting or of its previous response;
* a connection whose request body sends nothing for ``body_timeout``
  seconds (the application also bounds the whole body's time);
* a connection still sending a body :data:`DRAIN_SECONDS` after its
  request was answered (refused before its body was read: too long, too
  slow, not authorized); one whose body ends sooner goes on as usual, but
  for a body announcing over :data:`LINGER_BYTES`, whose rest is dropped
  unread while the server's side of the connection is already shut;

and keeps connections within ``max_connections`` in all and
``max_client_connections`` per client address: a new connection over
either limit takes the place of the connection (of that client, for the
second) idle longest, that is with no request under way; when none is
idle, the new connection is closed at once. So idle sockets cannot use up
the process's file descriptors, nor keep anyone else out.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import OrderedDict
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("hvgen_server")

#: Seconds a client may go on sending a body after its request was answered.
DRAIN_SECONDS = 2.0
#: A body announcing more than this many bytes is not parsed after its answer, only dropped
#: (the connection is not kept for another request).
LINGER_BYTES = 1024 * 1024
#: Seconds between two log lines about connections closed for the limits.
_LOG_EVERY = 10.0


def raise_file_limit(wanted: int) -> int:
    """Raise the soft limit of open files towards ``wanted`` (up to the hard
    limit); returns the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return int(soft)


class _Registry:
    """The open connections of one server: all of them, by client address,
    and the idle ones in the order they became idle (oldest first)."""

    def __init__(self, max_connections: int, max_client_connections: int) -> None:
        self.max_connections = max_connections
        self.max_client_connections = max_client_connections
        self.live: set[Any] = set()
        self.by_client: dict[str, set[Any]] = {}
        self.idle: OrderedDict[Any, None] = OrderedDict()
        self.idle_by_client: dict[str, OrderedDict[Any, None]] = {}
        self.evicted = self.refused = 0
        self._logged = 0.0

    def admit(self, conn: Any, client: str) -> bool:
        """Register a new connection, closing an idle one to make room; False when there is none."""
        mine = self.by_client.get(client, set())
        if len(mine) >= self.max_client_connections and not self._evict(self.idle_by_client.get(client)):
            self._note(f"client {client} has {len(mine)} connections open, none idle: closing a new one")
            return False
        if len(self.live) >= self.max_connections and not self._evict(self.idle):
            self._note(f"{len(self.live)} connections open, none idle: closing a new one")
            return False
        self.live.add(conn)
        self.by_client.setdefault(client, set()).add(conn)
        return True

    def _evict(self, idle: OrderedDict[Any, None] | None) -> bool:
        if not idle:
            return False
        oldest = next(iter(idle))
        self.forget(oldest)
        oldest.transport.close()
        self.evicted += 1
        self._note("closed the connection idle longest to make room for a new one")
        return True

    def _note(self, message: str) -> None:
        now = time.monotonic()
        if "closing a new one" in message:
            self.refused += 1
        if now - self._logged >= _LOG_EVERY:
            self._logged = now
            log.warning("%s (%d idle closed, %d new refused so far)", message, self.evicted, self.refused)

    def mark_idle(self, conn: Any, client: str) -> None:
        if conn in self.live and conn not in self.idle:
            self.idle[conn] = None
            self.idle_by_client.setdefault(client, OrderedDict())[conn] = None

    def mark_busy(self, conn: Any, client: str) -> None:
        self.idle.pop(conn, None)
        mine = self.idle_by_client.get(client)
        if mine is not None:
            mine.pop(conn, None)
            if not mine:
                del self.idle_by_client[client]

    def forget(self, conn: Any) -> None:
        client = conn.client_address
        self.mark_busy(conn, client)
        self.live.discard(conn)
        mine = self.by_client.get(client)
        if mine is not None:
            mine.discard(conn)
            if not mine:
                del self.by_client[client]


def guarded_protocol(
    header_timeout: float,
    body_timeout: float,
    max_connections: int,
    max_client_connections: int | None = None,
    drain_seconds: float = DRAIN_SECONDS,
) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the limits above."""
    registry = _Registry(max_connections, max_client_connections or max_connections)

    class GuardedH11Protocol(H11Protocol):
        _timer: asyncio.TimerHandle | None = None
        _phase = "headers"
        _lingering = False
        client_address = ""

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self.client_address = self.client[0] if self.client else ""
            if not registry.admit(self, self.client_address):
                self.transport.close()
                return
            registry.mark_idle(self, self.client_address)
            self._arm(header_timeout)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            registry.forget(self)
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._lingering:
                return  # the rest of a body nobody will read: dropped unparsed until the connection closes
            super().data_received(data)
            self._watch()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._watch()

        def _watch(self) -> None:
            """Time the part of the request the client still owes."""
            if self.transport.is_closing():
                self._disarm()
                registry.forget(self)
                return
            state = self.conn.their_state
            if state is h11.IDLE:
                registry.mark_idle(self, self.client_address)
                if self._timer is None or self._phase != "headers":
                    self._arm(header_timeout, "headers")
                return
            registry.mark_busy(self, self.client_address)
            if state is h11.SEND_BODY and self.conn.our_state is h11.DONE:
                if self._phase != "drain":  # answered already: the rest of the body gets a short while
                    self._arm(drain_seconds, "drain")
                    if self._owed() > LINGER_BYTES and self.transport.can_write_eof():
                        # Too much to read for the connection's sake: say it ends here and drop what
                        # comes meanwhile (closing at once with bytes unread could reset the answer away).
                        self._lingering = True
                        self.transport.write_eof()
            elif state is h11.SEND_BODY:
                self._arm(body_timeout, "body")  # restarts with every piece
            else:
                self._disarm()

        def _owed(self) -> int:
            """How many body bytes the request announced (a chunked body: as many as could be)."""
            declared = dict(self.headers or []).get(b"content-length", b"")
            return int(declared) if declared.isdigit() and len(declared) < 19 else LINGER_BYTES + 1

        def _arm(self, seconds: float, phase: str = "headers") -> None:
            self._disarm()
            self._phase = phase
            self._timer = self.loop.call_later(seconds, self._expire)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _expire(self) -> None:
            self._timer = None
            if not self.transport.is_closing():
                if self._phase == "drain":
                    log.info("closing a connection still sending a body after its request was answered")
                else:
                    log.info("closing a connection that took too long to send its request %s", self._phase)
                registry.forget(self)
                self.transport.close()

    return GuardedH11Protocol
