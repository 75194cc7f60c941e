"""``hvgen viewer``: open the local platform's study viewer at the profile's record."""

from __future__ import annotations

import webbrowser
from pathlib import Path

import click

from .common import client, emit, json_option, profile_option
from .failures import describe


@click.command()
@click.option("--print", "print_only", is_flag=True, help="Print the one-time sign-in link instead of opening it.")
@profile_option
@json_option
def viewer(print_only: bool, profile_path: Path | None, as_json: bool) -> None:
    """Open the study viewer in a browser, signed in, at the profile's record.

    The platform makes a one-time link for the profile's application and
    record (CreateViewerLink): it signs the record's person in without a
    password, works once, and expires after a few minutes. The browser
    session it opens sees the person's records the application may use;
    signing in at /signin with a password (the person `local` on a new
    platform) sees all of them.

    \b
    Examples:
      hvgen viewer              # opens the default browser
      hvgen viewer --print      # prints the link, for a browser elsewhere
      hvgen viewer --json       # {"url": ..., "expires": ...}
    """
    from healthvault.errors import HealthVaultError

    with client(profile_path) as platform:
        try:
            link = platform.create_viewer_link()
        except HealthVaultError as exc:
            raise click.ClickException(f"cannot make a viewer link: {describe(exc)}") from None
    url = str(link.url)
    expires = link.expires.isoformat()
    if as_json:
        emit(True, {"url": url, "expires": expires}, lambda: None)
        return
    if print_only:
        click.echo(url)
        return
    when = link.expires.astimezone().strftime("%H:%M:%S")
    if webbrowser.open(url):
        click.echo(f"Opened the study viewer in your browser (the link works once, until {when}).")
    else:
        click.echo(f"No browser could be started here; open this link (it works once, until {when}):")
        click.echo(url)
