"""``hvgen dicom``: the DICOM network side (a storage service for modalities and PACS)."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import click

from .common import client, needs_extra, os_reason, profile_option
from .studytext import result_line
from .terminal import echo_err


def default_spool() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hvgen" / "dicom-spool"


@click.group()
def dicom() -> None:
    """The DICOM network: receive studies pushed by a modality or PACS.

    \b
    Examples:
      hvgen dicom listen --port 11112 --ae-title HVGEN
      python -m pynetdicom storescu 127.0.0.1 11112 ./CT_HEAD -r -aec HVGEN
    """


@dicom.command("listen")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=11112, show_default=True, help="TCP port (0: any free one)."
)
@click.option(
    "--ae-title",
    default="HVGEN",
    show_default=True,
    help="The AE title senders must call (up to 16 characters).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on: 0.0.0.0 to accept associations from other machines.",
)
@click.option(
    "--spool",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where received instances wait until stored (default: $XDG_CACHE_HOME/hvgen/dicom-spool).",
)
@click.option(
    "--retry",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds between attempts to store studies the platform did not take.",
)
@profile_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line for each study stored.")
def listen(
    port: int, ae_title: str, host: str, spool: Path | None, retry: float, profile_path: Path | None, as_json: bool
) -> None:
    """Receive studies by DICOM C-STORE and store them in the profile's record.

    A storage service (C-STORE SCP, and C-ECHO) for every storage SOP class
    and transfer syntax. Each instance is written to the spool before it is
    acknowledged; when an association ends its studies are stored as `hvgen
    study upload` stores a folder: grouped by study and series, with
    previews, merged into a study already in the record, never twice. A
    study the platform does not take now stays in the spool and is tried
    again every --retry seconds and at the next start. Stops on Ctrl-C.
    """
    with needs_extra("imaging"):
        from hvgen_imaging.listener import Failed, Listener, Received, Stored
    title = ae_title.strip()
    if not title or len(title) > 16 or not title.isascii() or "\\" in title:
        raise click.BadParameter(
            f"{ae_title!r} is not an AE title (1 to 16 ASCII characters, no backslash)", param_hint="--ae-title"
        )
    client(profile_path, connect=False).close()  # the profile is readable: fail now, not at the first study
    folder = (spool or default_spool()).expanduser()
    lock = threading.Lock()

    def report(event: Any) -> None:
        with lock:
            if isinstance(event, Received):
                echo_err(f"received {event.instances} instance(s) from {event.calling or '?'} at {event.address}")
            elif isinstance(event, Stored):
                if as_json:
                    click.echo(json.dumps({**event.result.as_dict(), "calling_ae_title": event.calling}))
                else:
                    click.echo(result_line(event.result))
                for note in event.result.warnings:
                    echo_err(f"note: {note}")
            elif isinstance(event, Failed):
                later = f"; kept in {folder}, trying again in {retry:g} s" if event.will_retry else ""
                echo_err(f"warning: {event.message}{later}")

    listener = Listener(
        lambda: client(profile_path, connect=False),
        folder,
        ae_title=title,
        host=host,
        port=port,
        report=report,
        retry=retry,
    )
    try:
        listener.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {os_reason(exc)}") from None
    echo_err(f"listening for DICOM associations to {title} on {host}:{listener.port} (spool {folder}); Ctrl-C stops")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    echo_err("stopping: the study being stored is finished, the rest waits in the spool for the next start")
    listener.stop()
