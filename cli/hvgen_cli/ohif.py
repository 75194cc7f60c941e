"""``hvgen ohif``: the OHIF Viewer for ``hvgen serve --ohif``."""

from __future__ import annotations

from pathlib import Path

import click

from .common import emit, json_option, needs_extra


@click.group()
def ohif() -> None:
    """The OHIF Viewer, served by the platform at /ohif/ (`hvgen serve --ohif DIR/dist`)."""


@ohif.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--version", "version", default=None, help="The @ohif/app release (default: the one hvgen is tested with)."
)
@json_option
def fetch(folder: Path, version: str | None, as_json: bool) -> None:
    """Download the built OHIF Viewer (npm package @ohif/app) into FOLDER/dist.

    Runs `npm pack @ohif/app@VERSION` (npm's registry and cache settings
    apply) and unpacks the package's dist/ folder. Then:

    \b
      hvgen serve --ohif FOLDER/dist
    """
    with needs_extra("server"):
        from hvgen_server.ohif import OhifError
        from hvgen_server.ohiffetch import OHIF_VERSION
        from hvgen_server.ohiffetch import fetch as run

    try:
        fetched = run(folder, version or OHIF_VERSION)
    except OhifError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {folder}: {exc.strerror or exc}") from None
    emit(
        as_json,
        {"dist": str(fetched.dist), "version": fetched.version, "files": fetched.files},
        lambda: click.echo(
            f"OHIF {fetched.version}: {fetched.files} files in {fetched.dist}\n"
            f"Serve it: hvgen serve --ohif {fetched.dist}"
        ),
    )
