"""Bounds on what one client can make the server do before it is known.

* Bodies: read up to ``max_request_bytes`` (after decompression), with
  ``body_timeout`` for the whole body of a method request and between two
  pieces of a blob chunk.
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
from collections.abc import AsyncIterator

from starlette.requests import Request

from healthvault import safexml
from healthvault.status import StatusCode

from .config import ServerConfig
from .errors import PlatformError


def xml_limits(config: ServerConfig) -> safexml.Limits:
    return safexml.Limits(
        max_elements=config.max_request_elements,
        max_attributes=config.max_attributes,
        max_depth=config.max_depth,
    )


async def timed_stream(request: Request, idle: float, deadline: float | None = None) -> AsyncIterator[bytes]:
    """The request body in pieces; refused when no piece comes for ``idle``
    seconds or (with ``deadline``, a time.monotonic() value) too late."""
    pieces = request.stream().__aiter__()
    while True:
        wait = idle if deadline is None else min(idle, deadline - time.monotonic())
        if wait <= 0:
            raise PlatformError(StatusCode.BAD_HTTP, "the request body took too long to arrive")
        try:
            piece = await asyncio.wait_for(pieces.__anext__(), wait)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise PlatformError(StatusCode.BAD_HTTP, f"the request body stalled (nothing for {wait:.0f} s)") from None
        yield piece


async def read_body(request: Request, config: ServerConfig) -> bytes:
    """A method request's body, refused before it grows past the limit
    (compressed or, with Content-Encoding gzip/deflate, decompressed) or
    takes longer than ``body_timeout``."""
    limit = config.max_request_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and len(declared) < 20 and int(declared) > limit:
        raise PlatformError(
            StatusCode.REQUEST_TOO_LONG, f"the request is {declared} bytes, over the {limit}-byte limit"
        )
    body = bytearray()
    deadline = time.monotonic() + config.body_timeout
    async for chunk in timed_stream(request, config.body_timeout, deadline):
        body += chunk
        if len(body) > limit:
            raise PlatformError(StatusCode.REQUEST_TOO_LONG, f"the request is over the {limit}-byte limit")
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding in ("gzip", "deflate"):
        decoder = zlib.decompressobj(zlib.MAX_WBITS | 32 if encoding == "gzip" else zlib.MAX_WBITS)
        try:
            out = decoder.decompress(bytes(body), limit + 1)
        except zlib.error as exc:
            raise PlatformError(StatusCode.BAD_HTTP, f"the {encoding} body is corrupt: {exc}") from None
        if len(out) > limit or decoder.unconsumed_tail:
            raise PlatformError(StatusCode.REQUEST_TOO_LONG, f"the request decompresses to over {limit} bytes")
        return out
    if encoding != "identity":
        raise PlatformError(StatusCode.BAD_HTTP, f"unsupported Content-Encoding {encoding}")
    return bytes(body)


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
