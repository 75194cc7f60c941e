"""``hvgen migrate``: move a platform between the embedded store and a shared one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from healthvault import filemodes

from .common import emit, json_option, needs_extra, os_message, progress_option, showing
from .failures import on_interrupt
from .terminal import Progress

if TYPE_CHECKING:
    from hvgen_server.config import ServerConfig


def _side(which: str, folder: Path | None, db: str | None, blobs: str | None) -> ServerConfig:
    from hvgen_server.backends import check
    from hvgen_server.config import ServerConfig

    if folder is None and (db is None or blobs is None):
        raise click.UsageError(f"give --{which} DATA_DIR, or both --{which}-db and --{which}-blobs")
    # Without a data folder the configuration names one that nothing reads or writes:
    # a shared store keeps everything in its database and bucket.
    config = ServerConfig(
        data_dir=(folder or Path("/nonexistent/hvgen-migrate")).expanduser().resolve(),
        database_url=db,
        blobs_url=blobs,
    )
    try:
        check(config)
    except ValueError as exc:
        raise click.BadParameter(
            str(exc).replace("--db", f"--{which}-db").replace("--blobs", f"--{which}-blobs")
        ) from None
    return config


@click.command()
@click.option("--from", "from_dir", type=click.Path(file_okay=False, path_type=Path), help="Embedded store to move.")
@click.option("--from-db", metavar="URL", help="Shared store to move: postgresql://USER@HOST:PORT/DBNAME.")
@click.option("--from-blobs", metavar="URL", help="Its blob bytes: s3://BUCKET[/PREFIX].")
@click.option("--to", "to_dir", type=click.Path(file_okay=False, path_type=Path), help="Embedded store to create.")
@click.option("--to-db", metavar="URL", help="Shared store to fill: postgresql://USER@HOST:PORT/DBNAME.")
@click.option("--to-blobs", metavar="URL", help="Its blob bytes: s3://BUCKET[/PREFIX].")
@json_option
@progress_option()
def migrate(
    from_dir: Path | None,
    from_db: str | None,
    from_blobs: str | None,
    to_dir: Path | None,
    to_db: str | None,
    to_blobs: str | None,
    as_json: bool,
    progress: bool,
) -> None:
    """Move everything of one store into another, and verify it.

    From the embedded store of a data folder into a shared one (a PostgreSQL
    database and an S3 bucket: endpoint and credentials from AWS_ENDPOINT_URL,
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION), or back. Every
    blob is checked against its hash and read back from the target, every
    row (thing versions included) compared at the end. Interrupted, it
    goes on where it stopped when run again. Uploads still in progress are
    not moved. Stop the servers of the source first.

    \b
    Examples:
      hvgen migrate --from ~/hv-local --to-db postgresql://hv@db:5432/hv --to-blobs s3://hv-blobs
      hvgen migrate --from-db postgresql://hv@db:5432/hv --from-blobs s3://hv-blobs --to ~/hv-back
    """
    filemodes.private_umask()  # the target store (keys, database, blobs): readable by its owner only
    with needs_extra("server"):
        from hvgen_server.migration import MigrationError, Report
        from hvgen_server.migration import migrate as run
        from hvgen_server.store.errors import StoreError
    if from_db is not None or from_blobs is not None or to_db is not None or to_blobs is not None:
        with needs_extra("shared"):
            import boto3  # noqa: F401  (checked before anything is opened)
            import psycopg  # noqa: F401
    source = _side("from", from_dir, from_db, from_blobs)
    target = _side("to", to_dir, to_db, to_blobs)
    shown = showing(progress, as_json)
    on_interrupt("run the same command again: the migration goes on where it stopped")
    with Progress("blob bytes", enabled=shown) as bytes_bar, Progress("rows", enabled=shown, unit="row") as rows_bar:

        def tell(what: str, done: int, total: int | None) -> None:
            if what == "blob bytes":
                bytes_bar(done)
            else:
                rows_bar.relabel(what)
                rows_bar(done, total)

        try:
            report: Report = run(source, target, tell)
        except (MigrationError, StoreError) as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(os_message(exc, "migrate")) from None

    def text() -> None:
        added = sum(report.rows.values())
        click.echo(
            f"Moved {added} rows and {report.blobs_copied} blobs ({report.bytes_copied} bytes); "
            f"{report.verified_rows} rows verified"
        )
        if report.blobs_present:
            click.echo(f"  {report.blobs_present} blobs were there already (an earlier run)")
        if report.uploads_left:
            click.echo(f"  {report.uploads_left} uploads in progress were not moved")

    emit(as_json, report.as_dict(), text)
