"""How a command ends when it cannot finish: the one line a user reads.

* Errors of the library (``healthvault``'s, including URLs that cannot work
  and platforms that cannot be reached) and of the HTTP library that a
  command did not report itself become one ``Error: ...`` line, never a
  traceback; a platform that cannot be reached is named with what to check.
* Ctrl-C ends the command with one ``interrupted: ...`` line saying what
  is true of the work (it resumes, nothing was stored, it may have been
  stored...), as the command declared with :func:`on_interrupt`, and exit
  status 130; progress bars are left as they were drawn (see
  :class:`.terminal.Progress`), and click's ``Aborted!`` is not printed.

:class:`Main` is the root command group that does both for every command.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from .terminal import stderr_is_terminal

__all__ = ["INTERRUPTED_EXIT", "Main", "describe", "on_interrupt", "unreachable_hint"]

#: The exit status of a command ended by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED_EXIT = 130

_NOTE = "hvgen.on_interrupt"
_PROFILE = "hvgen.profile"


def _root() -> click.Context | None:
    ctx = click.get_current_context(silent=True)
    return ctx.find_root() if ctx is not None else None


def on_interrupt(message: str) -> None:
    """What to tell the user if Ctrl-C ends the command from now on: the
    text after ``interrupted: ``, saying what is true of the work and what
    running the command again does."""
    root = _root()
    if root is not None:
        root.meta[_NOTE] = message


def remember_profile(path: str, url: str) -> None:
    """The client profile the command uses (for the hint of :func:`unreachable_hint`)."""
    root = _root()
    if root is not None:
        root.meta[_PROFILE] = (path, url)


def unreachable_hint(url: str) -> str:
    """What to check when ``url`` could not be reached."""
    from healthvault.weburl import origin

    root = _root()
    profile = root.meta.get(_PROFILE) if root is not None else None
    if profile is not None and origin(url) == origin(profile[1]):
        return f"is `hvgen serve` running? (the client profile {profile[0]} names {origin(profile[1])})"
    return "is the server running, and the URL right?"


def describe(exc: BaseException) -> str:
    """The one line that says what went wrong (and, when it helps, what to do); a connection
    lost while the command worked (an upload cut off, a transfer broken) also says what
    :func:`on_interrupt` would (what is true of the work, and what running it again does)."""
    weburl = sys.modules.get("healthvault.weburl")
    if weburl is not None and isinstance(exc, weburl.Unreachable) and exc.url:
        line = f"{exc}; {unreachable_hint(exc.url)}"
    else:
        line = " ".join(str(exc).split()) or type(exc).__name__
    root = _root()
    note = root.meta.get(_NOTE) if root is not None else None
    upload = sys.modules.get("healthvault.blobupload")
    lost = (  # (a platform not reached at all has its own hint: what to check)
        weburl is not None
        and isinstance(exc, weburl.HealthVaultTransportError)
        and not isinstance(exc, weburl.Unreachable)
    ) or (upload is not None and isinstance(exc, upload.BlobUploadInterrupted))
    if note and lost:
        line += f" ({note})"
    return line


def _unreported(exc: BaseException) -> bool:
    """Whether ``exc`` is a library or HTTP error a command let through
    (looked up among loaded modules: a command that raised one loaded it)."""
    errors = sys.modules.get("healthvault.errors")
    if errors is not None and isinstance(exc, errors.HealthVaultError):
        return True
    httpx = sys.modules.get("httpx")
    return httpx is not None and isinstance(exc, (httpx.HTTPError, httpx.InvalidURL))


def _interrupted(ctx: click.Context) -> None:
    note = ctx.find_root().meta.get(_NOTE)
    if stderr_is_terminal():
        sys.stderr.write("\n")  # the terminal echoed ^C where the cursor was: start a line of our own
    click.echo("interrupted" + (f": {note}" if note else ""), err=True)
    ctx.exit(INTERRUPTED_EXIT)


class Main(click.Group):
    """The root group: every command's unreported errors and Ctrl-C end in one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _interrupted(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except Exception as exc:
            if not _unreported(exc):
                raise
            raise click.ClickException(describe(exc)) from None
        return None
