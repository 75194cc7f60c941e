"""URLs the client is given, checked before they are used, and why a
platform could not be reached, in words.

A URL comes from a profile, from a user (a blob URL on the command line)
or from the platform (the blob URLs of its answers). :func:`check_url`
refuses one that cannot work (no ``http://`` or ``https://``, no host, a
port that is not a number from 1 to 65535, a space...) with one sentence
saying what is wrong, before any request is sent. :func:`reason` turns an
HTTP library error (connection refused, unknown host, timeout...) into a
few words, and :class:`Unreachable` carries them with the address that
could not be reached.
"""

from __future__ import annotations

import errno
import re
import socket
import ssl

import httpx

from .errors import HealthVaultError

__all__ = [
    "HealthVaultTransportError",
    "InvalidURLError",
    "Unreachable",
    "check_url",
    "origin",
    "reason",
    "url_problem",
]

SCHEMES = ("http", "https")


class InvalidURLError(HealthVaultError, ValueError):
    """A URL that cannot be used: what is wrong with it is the message."""

    def __init__(self, message: str, url: str, problem: str) -> None:
        super().__init__(message)
        self.url = url
        self.problem = problem


class HealthVaultTransportError(HealthVaultError):
    """The platform could not be reached, or answered with something other than XML.

    ``url`` is where the request went, ``reason`` why it failed, in words
    (``connection refused``, ``no such host``...).
    """

    def __init__(self, message: str, url: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.reason = reason


class Unreachable(HealthVaultTransportError):
    """No answer came: the connection could not be made or broke (refused,
    no such host, timed out...), as when the platform is not running."""


_SCHEME_TYPO = re.compile(r"^(https?)(?::/?|/+)(?=[^/])", re.IGNORECASE)


def _meant(text: str) -> str:
    """`` (did you mean http://HOST...?)`` for a mistyped scheme separator, else nothing."""
    typo = _SCHEME_TYPO.match(text)
    return f" (did you mean {typo.group(1).lower()}://{text[typo.end() :]}?)" if typo else ""


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be used as an http(s) URL, or None when it can.

    The answer completes ``... is not a usable URL: ...``.
    """
    text = url.strip()
    if not text:
        return "it is empty"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        return "it contains a space or a control character"
    try:
        parsed = httpx.URL(text)
    except httpx.InvalidURL as exc:
        said = str(exc)
        port = re.match(r"Invalid port: '(.*)'", said)
        if port:
            return f"its port {port.group(1)!r} is not a number from 1 to 65535"
        return said[:1].lower() + said[1:]
    if not parsed.scheme:
        return "it does not start with http:// or https://" + _meant(text)
    if parsed.scheme not in SCHEMES:
        return f"{parsed.scheme}:// is not supported (only http:// and https://)"
    if not parsed.host:
        return "it names no host" + (_meant(text) or " (http://HOST[:PORT]/...)")
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        return f"its port {parsed.port} is not a number from 1 to 65535"
    return None


def check_url(url: str, what: str = "URL") -> str:
    """``url`` without surrounding spaces, or :class:`InvalidURLError`
    (``WHAT 'URL' is not a usable URL: why``) when it cannot work."""
    problem = url_problem(url)
    if problem is not None:
        raise InvalidURLError(f"{what} {url!r} is not a usable URL: {problem}", url, problem)
    return url.strip()


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: where a request goes, for messages."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return url
    if not parsed.scheme or not parsed.host:
        return url
    host = f"[{parsed.host}]" if ":" in parsed.host else parsed.host
    return f"{parsed.scheme}://{host}" + (f":{parsed.port}" if parsed.port is not None else "")


_ERRNO_WORDS = {
    errno.ECONNREFUSED: "connection refused (nothing is listening there)",
    errno.ECONNRESET: "the connection was reset",
    errno.EHOSTUNREACH: "no route to the host",
    errno.ENETUNREACH: "the network is unreachable",
    errno.ETIMEDOUT: "timed out",
    errno.EPIPE: "the connection was closed",
    errno.EADDRNOTAVAIL: "the address is not available on this machine",
}


def _errno_words(exc: BaseException) -> str | None:
    """Words for the operating-system error behind an HTTP library error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, socket.gaierror):
            return "no such host (the name could not be resolved)"
        if isinstance(current, ssl.SSLError):
            return f"the TLS handshake failed ({current.reason or current.strerror or 'SSL error'})"
        if isinstance(current, OSError) and current.errno in _ERRNO_WORDS:
            return _ERRNO_WORDS[current.errno]
        current = current.__cause__ or current.__context__
    return None


def reason(exc: BaseException) -> str:
    """Why a request failed, in a few words (no exception class names)."""
    found = _errno_words(exc)
    if found is not None:
        return found
    said = " ".join(str(exc).split())
    if isinstance(exc, httpx.TimeoutException):
        return "timed out" + (" connecting" if isinstance(exc, httpx.ConnectTimeout) else " waiting for an answer")
    if isinstance(exc, httpx.RemoteProtocolError):
        if "without sending a response" in said or "disconnected" in said.lower():
            return "the server closed the connection without answering"
        return f"the answer was not valid HTTP ({said})"
    if isinstance(exc, httpx.ConnectError):
        if "Name or service not known" in said or "nodename nor servname" in said or "Errno -" in said:
            return "no such host (the name could not be resolved)"
        if "refused" in said.lower():
            return _ERRNO_WORDS[errno.ECONNREFUSED]
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return f"not a usable URL ({said})"
    return said or type(exc).__name__
