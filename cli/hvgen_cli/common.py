"""What the command groups share: the profile option, the client, ``--json``
output, option aliases, and turning library errors, file errors and missing
extras into one-line messages (progress bars and warnings: :mod:`.terminal`)."""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .failures import describe, remember_profile

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


def progress_option(help: str = "Show progress bars on stderr when it is a terminal.") -> Callable[[Any], Any]:
    return click.option("--progress/--no-progress", default=True, help=help)


def showing(progress: bool, as_json: bool = False) -> bool:
    """Whether a command shows progress bars (stderr must be a terminal too)."""
    return progress and not as_json


def alias(old: str, dest: str, **attrs: Any) -> Callable[[Any], Any]:
    """A hidden option ``old`` that sets parameter ``dest``: the former
    spelling of a renamed option, kept for scripts."""

    def store(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
        if value not in (None, (), False):
            ctx.meta.setdefault("aliases", {})[dest] = value
        return value

    return click.option(old, f"_alias_{dest}", hidden=True, default=None, expose_value=False, callback=store, **attrs)


def aliased(ctx: click.Context, dest: str, value: Any) -> Any:
    """``value``, or what the hidden alias of ``dest`` was given."""
    return ctx.meta.get("aliases", {}).get(dest, value)


# -- extras -----------------------------------------------------------------------------------

#: The modules each extra brings (the first part of a dotted name is enough,
#: or a dotted prefix). A command that imports one of them and finds it
#: missing names the extra to install.
EXTRAS: dict[str, tuple[str, ...]] = {
    "generate": ("jinja2", "markupsafe", "ruff", "toposort", "xsdata"),
    "server": ("starlette", "uvicorn", "multipart", "python_multipart"),
    "imaging": ("pydicom", "PIL", "numpy", "pynetdicom", "dicomanonymizer"),
    "shared": ("psycopg", "psycopg_pool", "boto3", "botocore"),
}


def _belongs(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def command_name() -> str:
    """``hvgen SUBCOMMAND ...`` of the command being run."""
    ctx = click.get_current_context(silent=True)
    words = ctx.command_path.split()[1:] if ctx is not None else []
    return " ".join(["hvgen", *words])


def require_extra(extra: str) -> None:
    """End the command with :func:`needs_extra`'s message when a module of
    ``extra`` is not installed, without importing anything (so a command can
    say so before it connects to the platform and only then import)."""
    for name in EXTRAS[extra]:
        if "." in name or name in ("markupsafe", "toposort", "multipart", "botocore"):
            continue  # found through the others
        try:
            found = importlib.util.find_spec(name)
        except ImportError:
            found = None
        if found is None:
            raise click.ClickException(f"{command_name()} needs the {extra} extra: pip install 'hvgen[{extra}]'")


@contextmanager
def needs_extra(extra: str) -> Iterator[None]:
    """Imports in this block that fail for want of ``extra`` end the command
    with a one-line message naming the extra to install."""
    try:
        yield
    except ImportError as exc:
        if not exc.name or not _belongs(exc.name, EXTRAS[extra]):
            raise
        raise click.ClickException(f"{command_name()} needs the {extra} extra: pip install 'hvgen[{extra}]'") from None


# -- errors, client, output ----------------------------------------------------------------------


REASONS = {
    errno.ENOENT: "no such file or folder",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EISDIR: "it is a folder",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on the device",
    errno.EEXIST: "it already exists",
    errno.ENAMETOOLONG: "the name is too long",
}


def os_reason(exc: OSError) -> str:
    """Why an OSError happened, in words."""
    return REASONS.get(exc.errno or 0) or exc.strerror or str(exc)


def os_message(exc: OSError, doing: str = "use") -> str:
    """An OSError as ``cannot DOING PATH: reason``."""
    if exc.filename is None:
        return str(exc)
    return f"cannot {doing} {exc.filename}: {os_reason(exc)}"


def not_a_folder(path: Path) -> Path | None:
    """The first existing part of ``path`` that is not a folder, if any
    (a path that goes through a regular file)."""
    for part in [path, *path.parents]:
        if part.exists():
            return None if part.is_dir() else part
    return None


@contextmanager
def reported(*also: type[BaseException], doing: str = "use") -> Iterator[None]:
    """Library errors (and ``also``) end the command with their message, no
    traceback; file errors say which file and why; a platform that cannot
    be reached is named with what to check (:func:`.failures.describe`)."""
    from healthvault.errors import HealthVaultError

    caught: tuple[type[BaseException], ...] = (HealthVaultError, *also)
    try:
        yield
    except caught as exc:
        if isinstance(exc, OSError) and not isinstance(exc, HealthVaultError):
            raise click.ClickException(os_message(exc, doing)) from None
        raise click.ClickException(describe(exc)) from None


def check_output_file(path: Path) -> None:
    """Fail early, before anything is fetched, when ``path`` cannot be written."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise click.ClickException(f"cannot write {path}: it is a folder")
    blocker = not_a_folder(folder)
    if blocker is not None:
        raise click.ClickException(f"cannot write {path}: {blocker} is not a folder")
    if not folder.exists():
        raise click.ClickException(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise click.ClickException(f"cannot write {path}: permission denied")


def check_output_folder(path: Path) -> None:
    """Fail early when folder ``path`` can neither be used nor created (made, its name
    flushed, when missing: what is written into it is on disk when a command says so)."""
    from healthvault import filemodes

    blocker = not_a_folder(path)
    if blocker is not None:
        raise click.ClickException(f"cannot write to {path}: {blocker} is not a folder")
    try:
        filemodes.make_folder(path)
    except OSError as exc:
        raise click.ClickException(os_message(exc, "create folder")) from None
    if not os.access(path, os.W_OK):
        raise click.ClickException(f"cannot write to {path}: permission denied")


def client(profile_path: Path | None, *, connect: bool = True) -> HealthVaultClient:
    """A client for the platform the profile names, signed in (``connect``):
    a profile that cannot be used, a platform that cannot be reached or that
    refuses the application ends the command at once, in one line, before
    any other work (a request is tried once, without the retries later ones
    get). ``connect=False`` only checks the profile."""
    from healthvault.client import HealthVaultClient
    from healthvault.profile import Profile, default_profile_path

    with reported(OSError, ValueError):
        profile = Profile.load(profile_path)
        remember_profile(str(profile_path or default_profile_path()), profile.url)
        hv = HealthVaultClient.from_profile(profile)
    if connect:
        try:
            with reported():
                hv.connect()
        except BaseException:
            hv.close()
            raise
    return hv


def default_data_dir() -> Path:
    """The local platform's store folder when ``--data`` is not given."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hvgen" / "platform"


data_option = click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Store folder of the local platform (default: $XDG_DATA_HOME/hvgen/platform, as for hvgen serve).",
)


db_option = click.option(
    "--db",
    "database_url",
    default=None,
    metavar="URL",
    help="The shared store's PostgreSQL database (postgresql://USER@HOST:PORT/DBNAME, as for hvgen serve --db) "
    "instead of the store folder.",
)


@contextmanager
def local_store(data_dir: Path | None, database_url: str | None = None) -> Iterator[Any]:
    """The store of the local platform in ``data_dir`` (which `hvgen serve`
    made), or the shared store of ``database_url``, closed afterwards; a
    missing store is a one-line error. It may be used while the server runs."""
    with needs_extra("server"):
        from hvgen_server.store import SqliteStore
        from hvgen_server.store.errors import StoreError
    if database_url is not None:
        from hvgen_server.backends import open_store
        from hvgen_server.config import ServerConfig

        try:
            store = open_store(
                ServerConfig(data_dir=(data_dir or default_data_dir()).expanduser(), database_url=database_url)
            )
        except StoreError as exc:
            raise click.ClickException(str(exc)) from None
    else:
        folder = (data_dir or default_data_dir()).expanduser()
        database = folder / "store.sqlite"
        if not database.is_file():
            raise click.ClickException(
                f"no local platform store in {folder}: run `hvgen serve --data {folder} --init-only` first"
            )
        try:
            store = SqliteStore(database)
        except Exception as exc:  # sqlite3.Error, OSError, StoreError: say which store
            raise click.ClickException(f"cannot open the store {database}: {exc}") from None
    try:
        yield store
    finally:
        store.close()


def read_password(from_stdin: bool, what: str) -> str | None:
    """A new password: a line of standard input (``--password-stdin``), typed
    twice at a terminal, or None (make one) when there is no terminal."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if sys.stdin.isatty():
        return str(click.prompt(f"Password for {what}", hide_input=True, confirmation_prompt=True))
    return None


def emit(as_json: bool, data: Any, text: Callable[[], None]) -> None:
    """Print ``data`` as JSON, or call ``text`` to print it for people."""
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        text()


def parse_range(text: str | None) -> tuple[int, int | None] | None:
    """``FIRST-LAST`` or ``FIRST-`` as (first, last or None)."""
    if not text:
        return None
    first, sep, last = text.strip().partition("-")
    try:
        if not sep or not first.isdigit() or (last and not last.isdigit()):
            raise ValueError
        start, end = int(first), (int(last) if last else None)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a byte range like 0-1023 or 1024-", param_hint="--range") from None
    if end is not None and end < start:
        raise click.BadParameter(f"{text!r} ends before it starts (FIRST-LAST, LAST >= FIRST)", param_hint="--range")
    return start, end
