"""What the command groups share: the profile option, the client, progress
bars, ``--json`` output, and turning library errors and missing extras into
one-line messages."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from healthvault.client import HealthVaultClient

profile_option = click.option(
    "--profile",
    "profile_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="HVGEN_PROFILE",
    default=None,
    help="Client profile to use (default: HVGEN_PROFILE, else the one `hvgen serve` wrote).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def progress_option(help: str = "Show a progress bar.") -> Callable[[Any], Any]:
    return click.option("--progress/--no-progress", default=True, help=help)


# -- extras -----------------------------------------------------------------------------------

#: The modules each extra brings (the first part of a dotted name is enough,
#: or a dotted prefix). A command that imports one of them and finds it
#: missing names the extra to install.
EXTRAS: dict[str, tuple[str, ...]] = {
    "generate": ("jinja2", "markupsafe", "ruff", "toposort", "xsdata"),
    "server": ("starlette", "uvicorn"),
    "imaging": ("pydicom", "PIL", "numpy"),
}


def _belongs(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def command_name() -> str:
    """``hvgen SUBCOMMAND ...`` of the command being run."""
    ctx = click.get_current_context(silent=True)
    words = ctx.command_path.split()[1:] if ctx is not None else []
    return " ".join(["hvgen", *words])


@contextmanager
def needs_extra(extra: str) -> Iterator[None]:
    """Imports in this block that fail for want of ``extra`` end the command
    with a one-line message naming the extra to install."""
    try:
        yield
    except ImportError as exc:
        if not exc.name or not _belongs(exc.name, EXTRAS[extra]):
            raise
        raise click.ClickException(
            f"{command_name()} needs the {extra} extra: pip install 'hvgen[{extra}]'"
        ) from None


# -- errors, client, output ----------------------------------------------------------------------


@contextmanager
def reported(*also: type[BaseException]) -> Iterator[None]:
    """Library errors (and ``also``) end the command with their message, no traceback."""
    from healthvault.errors import HealthVaultError

    caught: tuple[type[BaseException], ...] = (HealthVaultError, *also)
    try:
        yield
    except caught as exc:
        raise click.ClickException(str(exc)) from None


def client(profile_path: Path | None) -> HealthVaultClient:
    """A client for the platform the profile names."""
    from healthvault.client import HealthVaultClient

    with reported(OSError, ValueError):
        return HealthVaultClient.from_profile(profile_path)


def emit(as_json: bool, data: Any, text: Callable[[], None]) -> None:
    """Print ``data`` as JSON, or call ``text`` to print it for people."""
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        text()


class Bar:
    """A progress bar on stderr for transfers of known or unknown size.

    With no total given, the bar starts at the first report, sized by the
    total it carries (a running count when that is unknown too).
    """

    def __init__(self, label: str, total: int | None, enabled: bool) -> None:
        self.enabled = enabled and total != 0
        self.label = label
        self.bar: Any = None
        self.done = 0
        if self.enabled and total is not None:
            self._open(total)

    def _open(self, total: int | None) -> None:
        options: dict[str, Any] = {"label": self.label, "file": sys.stderr, "item_show_func": None}
        if total is None:
            self.bar = click.progressbar(iter(()), show_pos=True, **options)
        else:
            self.bar = click.progressbar(length=total, **options)
        self.bar.__enter__()

    def __call__(self, done: int, total: int | None) -> None:
        if self.enabled and self.bar is None:
            self._open(total)
        if self.bar is not None:
            self.bar.update(done - self.done)
            self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def parse_range(text: str | None) -> tuple[int, int | None] | None:
    """``FIRST-LAST`` or ``FIRST-`` as (first, last or None)."""
    if not text:
        return None
    first, sep, last = text.partition("-")
    try:
        if not sep:
            raise ValueError
        return int(first), (int(last) if last else None)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a byte range like 0-1023 or 1024-") from None
