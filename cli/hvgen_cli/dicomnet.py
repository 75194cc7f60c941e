"""``hvgen dicom``: the DICOM network side (a storage service for modalities and PACS)."""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import Any

import click

from healthvault import filemodes

from .common import (
    client,
    data_option,
    db_option,
    default_data_dir,
    emit,
    json_option,
    local_store,
    needs_extra,
    os_reason,
    profile_option,
)
from .studytext import result_line
from .terminal import echo_err


def default_spool() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hvgen" / "dicom-spool"


@click.group()
def dicom() -> None:
    """The DICOM network: receive studies pushed by a modality or PACS; send,
    query and retrieve studies on other nodes (DIMSE or DICOMweb).

    \b
    Examples:
      hvgen dicom listen --port 11112 --ae-title HVGEN --allow-ae CT_SCANNER
      hvgen dicom node add PACS --ae ORTHANC --host 127.0.0.1 --port 4242
      hvgen dicom query PACS --patient 'DOE^*'
      hvgen dicom retrieve PACS --study 1.2.3.4
      hvgen dicom send 1.2.3.4 --to PACS
      python -m pynetdicom storescu 127.0.0.1 11112 ./CT_HEAD -r -aec HVGEN
      hvgen dicom rejected --json
    """


spool_option = click.option(
    "--spool",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where received instances wait until stored (default: $XDG_CACHE_HOME/hvgen/dicom-spool).",
)


@dicom.command("listen")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=11112, show_default=True, help="TCP port (0: any free one)."
)
@click.option(
    "--ae-title",
    default="HVGEN",
    show_default=True,
    help="This listener's AE title (up to 16 characters). Senders may call any title unless --require-called-ae.",
)
@click.option(
    "--require-called-ae",
    is_flag=True,
    help="Refuse associations that do not call --ae-title (default: accept any called AE title, as Orthanc does).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on: 0.0.0.0 to accept associations from other machines.",
)
@click.option(
    "--allow-ae",
    "allowed",
    multiple=True,
    metavar="TITLE",
    help="Accept associations only from this calling AE title (repeat for several). Default on loopback: any "
    "calling AE title; beyond loopback an allow-list (or --allow-any-ae) is required.",
)
@click.option(
    "--allow-any-ae",
    is_flag=True,
    help="Listening beyond loopback, accept any calling AE title (anyone who can reach the port stores into the record).",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="Seconds an association may stay silent before it is aborted (10 s at most before it is requested).",
)
@click.option(
    "--max-per-peer",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Connections one address may hold at once (more are closed at once).",
)
@click.option(
    "--move-to",
    "move_to",
    multiple=True,
    metavar="AE@HOST:PORT",
    help="A destination C-MOVE requests may name by its AE title (repeatable); the DIMSE nodes of "
    "`hvgen dicom node` in the platform's store (--data/--db) are destinations too.",
)
@data_option
@db_option
@spool_option
@click.option(
    "--retry",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds before a study the platform did not take is tried again (doubling each time, up to 1 h).",
)
@click.option(
    "--attempts",
    type=click.IntRange(min=1),
    default=12,
    show_default=True,
    help="Tries of a study the platform does not take before it is set aside (see `hvgen dicom rejected`).",
)
@profile_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line for each study stored.")
def listen(
    port: int,
    ae_title: str,
    require_called_ae: bool,
    host: str,
    allowed: tuple[str, ...],
    allow_any_ae: bool,
    idle_timeout: float,
    max_per_peer: int,
    move_to: tuple[str, ...],
    data_dir: Path | None,
    database_url: str | None,
    spool: Path | None,
    retry: float,
    attempts: int,
    profile_path: Path | None,
    as_json: bool,
) -> None:
    """Receive studies by DICOM C-STORE and store them in the profile's record.

    A storage service (C-STORE SCP, and C-ECHO) for every storage SOP class
    and transfer syntax. Each instance is written to the spool and checked
    (it parses, is complete, has its UIDs, is what the request says) before
    it is acknowledged: Success only for what will be stored, otherwise a
    failure status with an error comment (0xA700 out of resources, 0xA900
    not matching, 0xC000 cannot understand). When an association ends its
    studies are stored as `hvgen study upload` stores a folder: grouped by
    study and series, with previews, merged into a study already in the
    record, never twice. A study the platform does not take now stays in
    the spool and is tried again after --retry seconds, then twice as long
    each time, --attempts times; what cannot be stored is set aside with its reason
    (`hvgen dicom rejected`). Stops on Ctrl-C.

    It also answers C-FIND, C-GET and C-MOVE (Patient Root and Study Root)
    over the record's studies, through the platform's DICOMweb service;
    C-MOVE sends to the destinations named with --move-to.

    Who may store: any called AE title is accepted unless --require-called-ae;
    any calling AE title on loopback unless --allow-ae names the senders.
    Listening beyond loopback (--host 0.0.0.0) needs --allow-ae, or
    --allow-any-ae to accept anyone who reaches the port.
    """
    with needs_extra("imaging"):
        from hvgen_imaging.associations import peer_limit_note
        from hvgen_imaging.listener import Failed, Listener, Received, SetAside, Stored
    titles = [ae_title, *allowed]
    for title in titles:
        stripped = title.strip()
        if not stripped or len(stripped) > 16 or not stripped.isascii() or "\\" in stripped:
            raise click.BadParameter(
                f"{title!r} is not an AE title (1 to 16 ASCII characters, no backslash)",
                param_hint="--ae-title" if title is ae_title else "--allow-ae",
            )
    title = ae_title.strip()
    if not allowed and not allow_any_ae and peer_limit_note(host):
        raise click.UsageError(
            f"listening on {host} lets any machine that reaches the port store into the record: name the senders "
            "with --allow-ae TITLE (repeatable), or accept anyone with --allow-any-ae"
        )
    from hvgen_imaging.peers import Node, PeerError, parse_node
    from hvgen_imaging.qrscp import WebArchive

    destinations: dict[str, Node] = {}
    for text in move_to:
        try:
            found = parse_node(text)
        except PeerError as exc:
            raise click.BadParameter(str(exc), param_hint="--move-to") from None
        if found is None:
            raise click.BadParameter(f"{text!r} is not AE@HOST:PORT", param_hint="--move-to")
        destinations[found.ae_title] = found
    client(profile_path, connect=False).close()  # the profile is readable: fail now, not at the first study

    def issue() -> tuple[str, str, float]:  # a DICOMweb token of the record, for queries and retrievals
        with client(profile_path) as hv:
            given = hv.dicomweb_token(3600)
        return given.url, given.token, given.expires.timestamp()

    filemodes.private_umask()  # received instances are people's data: readable by their owner only
    folder = filemodes.private_dir((spool or default_spool()).expanduser())
    filemodes.tighten(folder)  # what an older version left there
    receiving = folder / "receiving"
    receiving.mkdir(parents=True, exist_ok=True)
    for left in receiving.iterdir():  # instances cut off by a stop: never acknowledged
        left.unlink(missing_ok=True)
    # pynetdicom receives each data set into a temporary file: on the spool's disk, so that it is
    # moved into the spool, not copied (and not held in a memory-backed /tmp)
    tempfile.tempdir = str(receiving)
    lock = threading.Lock()

    def report(event: Any) -> None:
        with lock:
            if isinstance(event, Received):
                echo_err(f"received {event.instances} instance(s) from {event.calling or '?'} at {event.address}")
                for refused in event.refused:
                    echo_err(f"refused {refused}")
            elif isinstance(event, Stored):
                if as_json:
                    click.echo(json.dumps({**event.result.as_dict(), "calling_ae_title": event.calling}))
                else:
                    click.echo(result_line(event.result))
                for note in event.result.warnings:
                    echo_err(f"note: {note}")
            elif isinstance(event, Failed):
                echo_err(
                    f"warning: {event.message}; kept in {folder}, attempt {event.attempt} of {event.of}, "
                    f"trying again in {event.retry_in:g} s"
                )
            elif isinstance(event, SetAside):
                r = event.rejection
                echo_err(f"warning: set aside {len(r.files)} file(s) ({r.id}): {r.reason}; see `hvgen dicom rejected`")

    listener = Listener(
        lambda: client(profile_path, connect=False),
        folder,
        ae_title=title,
        host=host,
        port=port,
        report=report,
        retry=retry,
        allowed_callers=[a.strip() for a in allowed],
        idle_timeout=idle_timeout,
        max_per_peer=max_per_peer,
        max_attempts=attempts,
        require_called_ae=require_called_ae,
        archive=WebArchive(issue),
        destinations=lambda title: destinations.get(title) or _stored_node(title, data_dir, database_url),
    )
    try:
        listener.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {os_reason(exc)}") from None
    who = ", ".join(a.strip() for a in allowed) if allowed else "any calling AE title"
    echo_err(
        f"listening for DICOM associations to {title} on {host}:{listener.port} from {who} (spool {folder}); "
        "Ctrl-C stops"
    )
    if not allowed and (note := peer_limit_note(host)):
        echo_err(f"note: {note}")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    echo_err("stopping: the study being stored is finished, the rest waits in the spool for the next start")
    listener.stop()


@dicom.command("rejected")
@spool_option
@click.option("--retry", "retry_id", metavar="ID", default=None, help="Store the files set aside as ID again.")
@click.option("--remove", "remove_id", metavar="ID", default=None, help="Forget ID (and delete the files it kept).")
@json_option
def rejected(spool: Path | None, retry_id: str | None, remove_id: str | None, as_json: bool) -> None:
    """What the listener did not store, and why.

    Two kinds: instances refused at once (the sender got a failure status
    and still has them: only the reason is kept, the last 1000), and
    instances acknowledged but not storable later (the platform refused
    their study, or it stayed unreachable through every retry): their files
    are kept under the spool's rejected/ folder. --retry ID puts such files
    back in line (a running listener takes them at its next start); --remove
    ID forgets an entry. Studies still waiting to be stored are listed too.
    """
    with needs_extra("imaging"):
        from hvgen_imaging.spool import Spool
    store = Spool((spool or default_spool()).expanduser())
    if retry_id or remove_id:
        try:
            if retry_id:
                moved = store.retry(retry_id)
                emit(
                    as_json,
                    {"retried": retry_id, "folder": str(moved)},
                    lambda: click.echo(f"{retry_id}: back in line ({moved}); the listener stores it at its next start"),
                )
            if remove_id:
                store.remove(remove_id)
                emit(as_json, {"removed": remove_id}, lambda: click.echo(f"{remove_id}: removed"))
        except KeyError as exc:
            raise click.ClickException(f"no rejected entry {exc.args[0]} in {store.rejected}") from None
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        return
    entries = store.entries()
    waiting = store.waiting()
    data = {
        "rejected": [e.as_dict() for e in entries],
        "waiting": [
            {"folder": str(f), "instances": n, "attempts": a.count, "last_error": a.last_error} for f, a, n in waiting
        ],
    }

    def text() -> None:
        if not entries and not waiting:
            click.echo(f"nothing rejected or waiting in {store.root}")
        for e in entries:
            who = f" from {e.calling_ae_title}" if e.calling_ae_title else ""
            what = (
                f"status {e.status}, {e.sop_instance_uids[0] if e.sop_instance_uids else 'no UID'}"
                if e.kind == "refused"
                else f"{len(e.files)} file(s) kept"
            )
            click.echo(f"{e.id}  {e.when}  {e.kind}{who} ({what}): {e.reason}")
        for f, a, n in waiting:
            tried = f", {a.count} attempt(s), last: {a.last_error}" if a.count else ""
            click.echo(f"waiting  {f.name}: {n} instance(s){tried}")

    emit(as_json, data, text)


def _stored_node(title: str, data_dir: Path | None, database_url: str | None) -> Any:
    """The DIMSE node of an AE title in the platform's store, if there is a store here and it has one."""
    if database_url is None and not ((data_dir or default_data_dir()).expanduser() / "store.sqlite").is_file():
        return None
    from hvgen_imaging.peers import Node

    try:
        with local_store(data_dir, database_url) as store, store.read() as tx:
            row = tx.dicom_nodes.by_ae_title(title)
    except (click.ClickException, ImportError):
        return None
    return None if row is None else Node(row.ae_title, row.host, row.port, row.name)
