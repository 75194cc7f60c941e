"""Bounds on what one client can make the server do before it is known.

* Bodies: read up to ``max_request_bytes`` (after decompression), with
  ``body_timeout`` for the whole body of a method request and between two
  pieces of a blob chunk.
* Strangers: a method request's body is read past its first
  :data:`FREE_BYTES` only once its header shows a live session (its HMAC
  checked, :func:`.dispatch.admit`); anyone else is refused after at most
  :data:`HEADER_WITHIN` bytes, whatever the request announces.
* Memory: the bytes held are counted against one budget for the whole
  server (:class:`BodyBudget`, ``max_buffered_bytes``): each request holds
  its first :data:`FREE_BYTES` freely and the rest from the budget, until it
  has been answered; a request that finds the budget spent is refused with
  503 and ``Retry-After`` rather than making the server grow.
* Compression: a gzip or deflate body is inflated as it arrives, never to
  more than ``max_compression_ratio`` times the compressed bytes received
  (beyond :data:`FREE_BYTES`), and at most ``max_compressed_requests`` are
  inflated at once before their session is known (more are refused with
  503).
* Forms: pages' form posts (sign-in, authorization) are read whole, at most
  :data:`FORM_BYTES`, before the page sees them (:class:`FormBodies`).
* Structure: :func:`xml_limits` (elements, attributes per element, depth),
  checked before a request's envelope is parsed past its header.
* Concurrency: requests over ``large_request_bytes`` are served at most
  ``large_request_slots`` at a time (:class:`LargeRequests`), so a few big
  bodies cannot take every core and the memory of many trees at once.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from healthvault import safexml
from healthvault.status import StatusCode

from .config import ServerConfig
from .errors import PlatformError

#: Bytes of its body every request may hold without drawing on the budget
#: (the header of any request, and whole small ones, such as GetThings).
FREE_BYTES = 64 * 1024
#: Where a request's ``<header>`` must end (its auth and its header, each at most 64 KiB, and the tags around them).
HEADER_WITHIN = 136 * 1024
#: Largest form a page takes (the sign-in and authorization forms are a few hundred bytes).
FORM_BYTES = 64 * 1024
#: The budget is drawn in steps of this many bytes.
_STEP = 1024 * 1024


def xml_limits(config: ServerConfig) -> safexml.Limits:
    return safexml.Limits(
        max_elements=config.max_request_elements,
        max_attributes=config.max_attributes,
        max_depth=config.max_depth,
    )


class Busy(PlatformError):
    """A refusal for want of room (answered with 503 and Retry-After): the
    same request may succeed a moment later."""

    def __init__(self, message: str) -> None:
        super().__init__(StatusCode.FAILED, message)


class BodyBudget:
    """The bytes of request bodies the server holds at once, beyond each request's
    first :data:`FREE_BYTES`. A body counts twice: while a request is served
    the server holds its bytes and a copy of its info. Used from the event
    loop only (no lock needed)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0

    def hold(self) -> Held:
        return Held(self)


class Held:
    """What one request holds of the :class:`BodyBudget`, until :meth:`release`."""

    def __init__(self, budget: BodyBudget) -> None:
        self.budget = budget
        self.reserved = 0

    def cover(self, size: int) -> None:
        """Hold enough of the budget for a body of ``size`` bytes, or refuse (:class:`Busy`)."""
        needed = 2 * max(0, size - FREE_BYTES) - self.reserved
        if needed <= 0:
            return
        step = min(max(needed, _STEP), self.budget.total - self.budget.used)
        if step < needed:
            raise Busy(
                f"the server holds as many request bytes as it may ({self.budget.total // (1024 * 1024)} MiB); "
                "send the request again shortly"
            )
        self.budget.used += step
        self.reserved += step

    def release(self) -> None:
        self.budget.used -= self.reserved
        self.reserved = 0


class Inflating:
    """Compressed bodies being inflated, at most ``slots`` at once (more are refused)."""

    def __init__(self, slots: int) -> None:
        self.slots = max(1, slots)
        self.active = 0

    def enter(self) -> None:
        if self.active >= self.slots:
            raise Busy(f"the server inflates at most {self.slots} compressed requests at once; send it again shortly")
        self.active += 1

    def leave(self) -> None:
        self.active -= 1


async def timed_stream(request: Request, idle: float, deadline: float | None = None) -> AsyncIterator[bytes]:
    """The request body in pieces; refused when no piece comes for ``idle``
    seconds or (with ``deadline``, a time.monotonic() value) too late."""
    pieces = request.stream().__aiter__()
    while True:
        wait = idle if deadline is None else min(idle, deadline - time.monotonic())
        if wait <= 0:
            raise PlatformError(StatusCode.BAD_HTTP, "the request body took too long to arrive")
        try:
            async with asyncio.timeout(wait):  # no task per piece, as wait_for would make
                piece = await pieces.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise PlatformError(StatusCode.BAD_HTTP, f"the request body stalled (nothing for {wait:.0f} s)") from None
        yield piece


class _Inflater:
    """A gzip or deflate body inflated as it arrives, never past the ratio's
    allowance, and only as far as the reader asks (:meth:`inflate`)."""

    def __init__(self, encoding: str, limit: int, ratio: int) -> None:
        self.encoding = encoding
        self.limit = limit
        self.ratio = ratio
        self.received = 0
        self.pending = b""
        self.decoder = zlib.decompressobj(zlib.MAX_WBITS | 32 if encoding == "gzip" else zlib.MAX_WBITS)

    def feed(self, piece: bytes) -> None:
        self.received += len(piece)
        self.pending += piece

    def inflate(self, body: bytearray, upto: int, held: Held) -> None:
        """Inflate what was fed into ``body`` until it holds more than ``upto``
        bytes or the input is used up; refuse a body past the allowance."""
        allowed = min(self.limit, max(FREE_BYTES, self.ratio * self.received))
        while not self.decoder.eof and len(body) <= upto:
            want = min(allowed, upto) - len(body) + 1  # at least 1 (0 would mean no bound)
            try:
                out = self.decoder.decompress(self.pending, want)
            except zlib.error as exc:
                raise PlatformError(StatusCode.BAD_HTTP, f"the {self.encoding} body is corrupt: {exc}") from None
            self.pending = self.decoder.unconsumed_tail
            if len(body) + len(out) > allowed:
                if allowed == self.limit:
                    raise PlatformError(
                        StatusCode.REQUEST_TOO_LONG, f"the request decompresses to over {self.limit} bytes"
                    )
                raise PlatformError(
                    StatusCode.REQUEST_TOO_LONG,
                    f"the {self.encoding} body inflates more than {self.ratio} times; send it less compressed",
                )
            body += out
            held.cover(len(body))
            if len(out) < want and not self.pending:
                return  # all that was fed is inflated

    def finish(self, body: bytearray, held: Held) -> None:
        self.inflate(body, self.limit, held)
        if not self.decoder.eof:
            raise PlatformError(StatusCode.BAD_HTTP, f"the {self.encoding} body is cut short")


#: Checks a request's header (its bytes up to ``</header>``) before more of its body is read.
Admit = Callable[[bytes], Awaitable[None]]


async def read_body(request: Request, config: ServerConfig, held: Held, inflating: Inflating, admit: Admit) -> bytes:
    """A method request's body, refused before it grows past the limit
    (compressed or, with Content-Encoding gzip/deflate, decompressed), takes
    longer than ``body_timeout``, or finds the budget spent (:class:`Busy`).

    Past its first :data:`FREE_BYTES`, a body is read on only once ``admit``
    accepts its header (a live session and its HMAC): a stranger's request is
    refused after at most :data:`HEADER_WITHIN` bytes, whatever it announces.
    A compressed request holds one of the ``inflating`` slots until then."""
    limit = config.max_request_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and len(declared) < 20 and int(declared) > limit:
        raise PlatformError(
            StatusCode.REQUEST_TOO_LONG, f"the request is {declared} bytes, over the {limit}-byte limit"
        )
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", "deflate"):
        raise PlatformError(StatusCode.BAD_HTTP, f"unsupported Content-Encoding {encoding}")
    inflater = None
    if encoding != "identity":
        inflating.enter()
        inflater = _Inflater(encoding, limit, config.max_compression_ratio)
    admitted = False
    try:
        body = bytearray()
        received = 0
        deadline = time.monotonic() + config.body_timeout
        async for piece in timed_stream(request, config.body_timeout, deadline):
            received += len(piece)
            if received > limit:
                raise PlatformError(StatusCode.REQUEST_TOO_LONG, f"the request is over the {limit}-byte limit")
            if inflater is None:
                body += piece
                held.cover(len(body))
            else:
                inflater.feed(piece)
                inflater.inflate(body, limit if admitted else HEADER_WITHIN, held)
            if not admitted and len(body) > FREE_BYTES:
                admitted = await _admitted(body, admit)
                if admitted and inflater is not None:
                    inflating.leave()  # known now: its slot is for requests without a session
                    inflater.inflate(body, limit, held)
        if inflater is not None:
            inflater.finish(body, held)
            if not admitted and len(body) > FREE_BYTES:
                admitted = await _admitted(body, admit)
        return bytes(body)
    finally:
        if inflater is not None and not admitted:
            inflating.leave()


async def _admitted(body: bytearray, admit: Admit) -> bool:
    """Whether ``admit`` accepted the header (False: it is not all in yet)."""
    end = body.find(b"</header>", 0, HEADER_WITHIN)
    if end < 0:
        if len(body) > HEADER_WITHIN:
            raise PlatformError(
                StatusCode.INVALID_XML,
                f"a request over {FREE_BYTES} bytes must name its session in a <header> "
                f"within its first {HEADER_WITHIN} bytes",
            )
        return False
    await admit(bytes(body[: end + len(b"</header>")]))
    return True


class LargeRequests:
    """At most ``slots`` requests over ``threshold`` bytes are served at once."""

    def __init__(self, threshold: int, slots: int) -> None:
        self.threshold = threshold
        self._slots = asyncio.Semaphore(max(1, slots))

    def is_large(self, size: int) -> bool:
        return size > self.threshold

    @property
    def slots(self) -> asyncio.Semaphore:
        return self._slots


class FormBodies:
    """ASGI middleware: the body of a POST to any path but ``streamed`` (the
    method, blob and DICOMweb endpoints, which bound their own bodies) is read
    whole, at most :data:`FORM_BYTES`, before the application sees it; a
    larger one is answered 413 at once. Pages then never hold more than a
    form's worth of a stranger's bytes."""

    def __init__(self, app: ASGIApp, streamed: Collection[str], limit: int = FORM_BYTES) -> None:
        self.app = app
        self.streamed = tuple(streamed)
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD") or scope["path"].startswith(self.streamed):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and (len(declared) > 18 or int(declared) > self.limit):
            await _plain(send, 413, f"a form is at most {self.limit} bytes\n")
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.limit:
                await _plain(send, 413, f"a form is at most {self.limit} bytes\n")
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


async def _plain(send: Send, status: int, text: str) -> None:
    data = text.encode()
    headers: list[Any] = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
