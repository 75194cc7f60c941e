"""Security headers: what a browser may do with what the platform sends.

Pages (the shell's and the viewer's) get :func:`page_headers`: a strict
Content-Security-Policy (scripts, styles and images from this origin only,
no inline script, forms only to this origin and the application's own, no
framing), ``nosniff`` and a same-origin referrer. Everything else the
platform answers (blobs, DICOM files, API answers) is not a page:
:class:`SecurityHeaders` gives each response that did not set its own a
``Content-Security-Policy: sandbox`` (a document that still got rendered has
no origin, no script and no forms) and ``X-Content-Type-Options: nosniff``
(a browser takes the declared type, never guesses an active one).

Files whose type the uploader chose are sent with :data:`ATTACHMENT`, so a
browser saves them instead of showing them on the platform's origin; only
the raster image types of :data:`INLINE_IMAGES` are shown inline where an
image is expected (the viewer's previews).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: What a response that is not a page may do when a browser renders it: nothing.
SANDBOX = "sandbox; default-src 'none'; frame-ancestors 'none'"
#: Headers of a file sent to be saved, never shown on this origin.
ATTACHMENT = {
    "Content-Disposition": "attachment",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": SANDBOX,
}
#: Image types a browser shows without running anything (no SVG: it may hold script).
INLINE_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def media_type(content_type: str | None) -> str:
    """The bare media type of a Content-Type (lower case, no parameters)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL (the default port
    left out, as browsers write an ``Origin``), else None."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = 80 if parts.scheme == "http" else 443
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def plain_url(url: str) -> str | None:
    """``url`` (stripped) if it is an absolute http(s) URL that every reader parses
    alike, else None: no user name or password, no backslash (browsers read ``\\``
    as ``/``, Python's parser does not), no space or control character."""
    text = url.strip()
    if "\\" in text or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in text):
        return None
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018  (a port that is not a number raises)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        return None
    return text


def page_csp(form_targets: Iterable[str] = (), connect: bool = False) -> str:
    """The Content-Security-Policy of a page whose forms may go to this
    origin and the origins ``form_targets`` (an application's action URL:
    browsers check a form's redirects against ``form-action`` too); with
    ``connect``, its script may send requests to this origin (the viewer's upload page)."""
    allowed = ["'self'", *sorted({o for o in (origin(t) for t in form_targets) if o is not None})]
    return (
        "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; "
        + ("connect-src 'self'; " if connect else "")
        + f"form-action {' '.join(allowed)}; base-uri 'none'; frame-ancestors 'none'"
    )


def page_headers(form_targets: Iterable[str] = ()) -> dict[str, str]:
    """Headers of every page of the platform (see :func:`page_csp`)."""
    return {
        "Content-Security-Policy": page_csp(form_targets),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


_NOSNIFF = (b"x-content-type-options", b"nosniff")
_SANDBOX = (b"content-security-policy", SANDBOX.encode("ascii"))


class SecurityHeaders:
    """ASGI middleware: ``nosniff`` and a sandboxing CSP on every response
    that did not set its own (pages set theirs)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                names = {bytes(name).lower() for name, _ in headers}
                if _NOSNIFF[0] not in names:
                    headers.append(_NOSNIFF)
                if _SANDBOX[0] not in names:
                    headers.append(_SANDBOX)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)
