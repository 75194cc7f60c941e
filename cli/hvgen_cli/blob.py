"""``hvgen blob``: hash, upload and download blobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

import click

from .common import (
    alias,
    aliased,
    check_output_file,
    client,
    emit,
    json_option,
    parse_range,
    profile_option,
    progress_option,
    reported,
    showing,
)
from .failures import on_interrupt
from .terminal import Progress


@click.group()
def blob() -> None:
    """Hash, upload and download blobs.

    \b
    Examples:
      hvgen blob hash scan.dcm
      hvgen blob put scan.dcm --content-type application/dicom
      hvgen blob get THING_ID scan-copy.dcm
      hvgen blob get THING_ID image.dcm --blob 1.2.840.113619.2.55.3.1
      hvgen blob get URL header.bin --range 0-131
    """


class _Counting:
    """A binary file that reports how much of it was read."""

    def __init__(self, f: BinaryIO, progress: Progress) -> None:
        self.f, self.progress, self.count = f, progress, 0

    def read(self, size: int = -1) -> bytes:
        data = self.f.read(size)
        self.count += len(data)
        self.progress(self.count)
        return data


@blob.command("hash")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--block-size",
    default=2 * 1024 * 1024,
    show_default=True,
    type=click.IntRange(min=1),
    help="SHA256Block block size in bytes.",
)
@json_option
@progress_option()
def blob_hash(file: Path, block_size: int, as_json: bool, progress: bool) -> None:
    """Print the SHA256Block hash (base64) of FILE, as hash-info carries it."""
    from healthvault.blobhash import hash_stream

    with reported(OSError, doing="read"):
        size = file.stat().st_size
        with (
            open(file, "rb") as f,
            Progress(f"hashing {file.name}", enabled=showing(progress, as_json), total=size) as bar,
        ):
            digest = hash_stream(_Counting(f, bar), block_size)  # type: ignore[arg-type]
    emit(
        as_json,
        {"file": str(file), "size": size, "algorithm": "SHA256Block", "block_size": block_size, "hash": digest},
        lambda: click.echo(digest),
    )


@blob.command("put")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--file-name", default=None, help="File name to record (default: FILE's name).")
@alias("--name", "file_name")
@click.option("--content-type", default=None, help="Media type (default: guessed from the name).")
@json_option
@progress_option()
@profile_option
@click.pass_context
def blob_put(
    ctx: click.Context,
    file: Path,
    file_name: str | None,
    content_type: str | None,
    as_json: bool,
    progress: bool,
    profile_path: Path | None,
) -> None:
    """Store FILE as a `file` thing whose default blob holds its bytes.

    Prints the thing id and a download URL (which expires; `hvgen blob get
    THING_ID` always works).
    """
    from healthvault.transfer import put_file

    file_name = aliased(ctx, "file_name", file_name)
    with reported(OSError, doing="read"):
        size = file.stat().st_size
        with (
            client(profile_path) as hv,
            Progress(f"uploading {file_name or file.name}", enabled=showing(progress, as_json), total=size) as bar,
        ):
            on_interrupt(f"{file} was not stored; run the same command again to upload it (from the start)")

            def uploading(done: int, total: int | None = None) -> None:
                bar(done, total)
                if done >= size:  # every byte is in: the thing that holds them is being written
                    on_interrupt(
                        f"{file} may have been stored just now: `hvgen thing list --type file` shows whether it "
                        "was, before you run the same command again"
                    )

            stored = put_file(hv, file, name=file_name, content_type=content_type, progress=uploading)

    def text() -> None:
        click.echo(f"thing id: {stored.thing_id}")
        click.echo(f"url:      {stored.url}")

    emit(
        as_json,
        {
            "thing_id": stored.thing_id,
            "version_stamp": stored.version_stamp,
            "url": stored.url,
            "size": stored.size,
            "name": stored.name,
            "content_type": stored.content_type,
        },
        text,
    )


@blob.command("get")
@click.argument("source")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--blob",
    "blob_name",
    default="",
    metavar="NAME",
    help="Blob name, when SOURCE is a thing id (default: the default blob).",
)
@alias("--name", "blob_name")
@click.option("--range", "byte_range", default=None, help="Only bytes FIRST-LAST (inclusive), e.g. 0-131 or 1024-.")
@json_option
@progress_option()
@profile_option
@click.pass_context
def blob_get(
    ctx: click.Context,
    source: str,
    out: Path,
    blob_name: str,
    byte_range: str | None,
    as_json: bool,
    progress: bool,
    profile_path: Path | None,
) -> None:
    """Download a blob to OUT. SOURCE is a blob URL or a thing id.

    With a thing id a fresh URL is asked for, and a full download is checked
    against the blob's hash. OUT is written only when the download is
    complete; a failed download leaves no file behind (and an existing OUT
    as it was).
    """
    from healthvault.transfer import fetch_blob, find_blob, is_thing_id

    blob_name = aliased(ctx, "blob_name", blob_name)
    wanted = parse_range(byte_range)
    check_output_file(out)
    if not is_thing_id(source):
        find_blob(None, source)  # a SOURCE that is neither a thing id nor a usable URL: say so before the profile
    with reported(OSError, doing="write"), client(profile_path, connect=is_thing_id(source)) as hv:
        on_interrupt(
            f"{out} was not written ({'it is as it was' if out.exists() else 'nothing was left behind'}); "
            "run the same command again to download it (from the start)"
        )
        found = find_blob(hv, source, blob_name)
        total = found.size if wanted is None else None
        with Progress(f"downloading {out.name}", enabled=showing(progress, as_json), total=total) as bar:
            done = fetch_blob(hv, found, out, byte_range=wanted, progress=bar)
    result: dict[str, Any] = {
        "path": str(out),
        "bytes": done.bytes_written,
        "hash_checked": done.hash_checked,
        "thing_id": found.thing_id,
        "blob": found.name if found.thing_id else None,
        "range": list(wanted) if wanted else None,
    }
    emit(
        as_json,
        result,
        lambda: click.echo(
            f"{done.bytes_written} bytes written to {out}" + (" (hash checked)" if done.hash_checked else "")
        ),
    )
