"""Connections: how many, and how long a client may take to send a request.

uvicorn closes a connection left idle between requests after its
keep-alive timeout, but not one that never finishes a request: an idle
fresh connection, headers sent a byte at a time, a body that stalls. The
protocol here (uvicorn's h11 protocol with two timers) closes

* a connection that has not sent complete request headers within
  ``header_timeout`` seconds of connecting or of its previous response;
* a connection whose request body sends nothing for ``body_timeout``
  seconds (the application also bounds the whole body's time);

and refuses connections beyond ``max_connections`` (closed at once), so
that idle sockets cannot use up the process's file descriptors.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("hvgen_server")


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


def guarded_protocol(header_timeout: float, body_timeout: float, max_connections: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the limits above."""

    class GuardedH11Protocol(H11Protocol):
        _timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                log.warning("over %d connections: closing a new one", max_connections)
                self.transport.close()
                return
            self._arm(header_timeout)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._watch()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._watch()

        def _watch(self) -> None:
            """Time the part of the request the client still owes."""
            if self.transport.is_closing():
                self._disarm()
                return
            state = self.conn.their_state
            if state is h11.IDLE:
                if self._timer is None or self._phase != "headers":
                    self._arm(header_timeout, "headers")
            elif state is h11.SEND_BODY:
                self._arm(body_timeout, "body")  # restarts with every piece
            else:
                self._disarm()

        _phase = "headers"

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
                log.info("closing a connection that took too long to send its request %s", self._phase)
                self.transport.close()

    return GuardedH11Protocol
