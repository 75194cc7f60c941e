"""The association server the DICOM listener runs on pynetdicom: the
settings of its network side (chunked receiving, PDU size, receive buffer),
a server that limits the connections each peer may hold and answers without
Nagle's wait, a request handler that lasts as long as its association, and
a quick copy of the presentation contexts each association starts with.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import socket
import threading
from collections import Counter
from typing import Any

from pynetdicom import _config, evt
from pynetdicom.transport import RequestHandler, ThreadedAssociationServer

__all__ = ["MAX_PDU", "RECEIVE_BUFFER", "HeldRequestHandler", "PeerLimitedServer", "copied_quickly", "peer_limit_note"]

# Received data sets go to a temporary file as they arrive, not to memory.
_config.STORE_RECV_CHUNKED_DATASET = True
# No log record per message (pynetdicom's standard handlers log every C-STORE at INFO).
_config.LOG_HANDLER_LEVEL = "none"
#: The largest P-DATA PDU the listener receives: larger than pynetdicom's 16 KiB (fewer
#: PDUs, fewer reads per instance), and bounded (each PDU is held whole in memory).
MAX_PDU = 1024 * 1024
#: The receive buffer of each association's socket.
RECEIVE_BUFFER = 4 * 1024 * 1024


class HeldRequestHandler(RequestHandler):
    """pynetdicom's handler, returning only when the association it started has ended.

    pynetdicom runs each association in a thread of its own and returns from ``handle`` at
    once; a peer's connection count must last as long as the association, not its start.
    """

    def handle(self) -> None:
        assoc = self._create_association()
        evt.trigger(assoc, evt.EVT_CONN_OPEN, {"address": self.client_address})
        assoc.start()
        assoc.join()


class PeerLimitedServer(ThreadedAssociationServer):
    """pynetdicom's server, closing at once a connection from a peer that holds too many."""

    max_per_peer = 4
    request_queue_size = 128  # connections waiting to be accepted (and refused at once when over the limit)
    daemon_threads = True
    block_on_close = False  # a stop does not wait for open associations (what they had acknowledged is on disk)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._peers: Counter[str] = Counter()
        self._peers_lock = threading.Lock()

    def verify_request(self, request: Any, client_address: Any) -> bool:
        host = str(client_address[0])
        with self._peers_lock:
            if self._peers[host] >= self.max_per_peer:
                return False
            self._peers[host] += 1
        return True

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            with contextlib.suppress(OSError):  # answers go at once, not after Nagle's wait
                request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                request.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            super().process_request_thread(request, client_address)
        finally:
            with self._peers_lock:
                self._peers[str(client_address[0])] -= 1


def copied_quickly(contexts: list[Any]) -> None:
    """Make pynetdicom's copy of the presentation contexts for each association cheap.

    Each association gets a deep copy of the contexts the listener supports
    (every storage SOP class in each of some 45 transfer syntaxes): some 50
    ms of copying UIDs one by one. Their values are immutable (numbers,
    strings, UIDs) but for the list of transfer syntaxes, so a context's copy
    is a new context with the same values and a new list: what the deep copy
    gives, without copying each UID. (When a context does not take the hook,
    pynetdicom's deep copy is left as it is.)"""
    for context in contexts:
        try:
            context.__deepcopy__ = functools.partial(_context_copy, context)
        except AttributeError:
            return


def _context_copy(context: Any, memo: dict[int, Any]) -> Any:
    fresh = copy.copy(context)
    del fresh.__dict__["__deepcopy__"]
    fresh._transfer_syntax = list(context._transfer_syntax)
    memo[id(context)] = fresh
    return fresh


def peer_limit_note(host: str) -> str | None:
    """A warning for a listener open to other machines without an allow-list."""
    try:
        loopback = all(str(info[4][0]).startswith(("127.", "::1")) for info in socket.getaddrinfo(host, None))
    except OSError:
        loopback = False
    return None if loopback else "listening beyond this machine: consider --allow-ae to name the senders"
