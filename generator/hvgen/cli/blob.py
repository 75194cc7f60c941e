"""``hvgen blob``: hash, upload and download blobs."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .common import Bar, client, json_option, parse_range, profile_option, progress_option, reported


@click.group()
def blob() -> None:
    """Hash, upload and download blobs.

    \b
    Examples:
      hvgen blob hash scan.dcm
      hvgen blob put scan.dcm --content-type application/dicom
      hvgen blob get THING_ID scan-copy.dcm
      hvgen blob get URL header.bin --range 0-131
    """


@blob.command("hash")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--block-size", default=2 * 1024 * 1024, show_default=True, type=click.IntRange(min=1), help="SHA256Block block size in bytes.")
def blob_hash(file: Path, block_size: int) -> None:
    """Print the SHA256Block hash (base64) of FILE, as hash-info carries it."""
    from healthvault.blobhash import hash_file

    click.echo(hash_file(file, block_size))


@blob.command("put")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="File name to record (default: FILE's name).")
@click.option("--content-type", default=None, help="Media type (default: guessed from the name).")
@json_option
@progress_option()
@profile_option
def blob_put(file: Path, name: str | None, content_type: str | None, as_json: bool, progress: bool, profile_path: Path | None) -> None:
    """Store FILE as a `file` thing whose default blob holds its bytes.

    Prints the thing id and a download URL (which expires; `hvgen blob get
    THING_ID` always works).
    """
    from healthvault.transfer import put_file

    bar = Bar(f"uploading {name or file.name}", file.stat().st_size, progress and not as_json)
    try:
        with reported(OSError), client(profile_path) as hv:
            stored = put_file(hv, file, name=name, content_type=content_type, progress=bar)
    finally:
        bar.close()
    if as_json:
        click.echo(json.dumps({"thing_id": stored.thing_id, "version_stamp": stored.version_stamp, "url": stored.url, "size": stored.size}))
    else:
        click.echo(f"thing id: {stored.thing_id}")
        click.echo(f"url:      {stored.url}")


@blob.command("get")
@click.argument("source")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--range", "byte_range", default=None, help="Only bytes FIRST-LAST (inclusive), e.g. 0-131 or 1024-.")
@click.option("--name", default="", help="Blob name, when SOURCE is a thing id (default: the default blob).")
@progress_option()
@profile_option
def blob_get(source: str, out: Path, byte_range: str | None, name: str, progress: bool, profile_path: Path | None) -> None:
    """Download a blob to OUT. SOURCE is a blob URL or a thing id.

    With a thing id a fresh URL is asked for, and a full download is checked
    against the blob's hash.
    """
    from healthvault.transfer import fetch_blob, find_blob

    wanted = parse_range(byte_range)
    with reported(OSError), client(profile_path) as hv:
        found = find_blob(hv, source, name)
        size = found.size if found.store is not None else None
        bar = Bar(f"downloading {out.name}", size, progress and wanted is None)
        try:
            done = fetch_blob(hv, found, out, byte_range=wanted, progress=bar if wanted is None else None)
        finally:
            bar.close()
    click.echo(f"{done.bytes_written} bytes written to {out}", err=True)
