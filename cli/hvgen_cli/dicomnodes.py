"""``hvgen dicom node``: the remote DICOM nodes the platform knows, and how a
command names the node it talks to.

Nodes are kept in the platform's store (``--data`` or ``--db``, as for
``hvgen app``), so every server process of a shared store knows the same
ones: DIMSE peers (AE title, host, port), which are also the destinations a
C-MOVE may name, and DICOMweb services (a URL, and a file holding a bearer
token when the service needs one; the token itself is not kept).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .common import data_option, db_option, emit, json_option, local_store, needs_extra

#: Where a DICOMweb token comes from when a URL is given on the command line.
TOKEN_ENV = "HVGEN_PEER_TOKEN"


@dataclass(frozen=True)
class Target:
    """The node a command talks to: a DIMSE peer or a DICOMweb service."""

    name: str
    dimse: Any = None  # hvgen_imaging.peers.Node
    web: Any = None  # hvgen_imaging.webpeer.WebNode

    def __str__(self) -> str:
        return str(self.dimse or self.web)

    def as_dict(self) -> dict[str, Any]:
        if self.dimse is not None:
            return {
                "name": self.name,
                "kind": "dimse",
                "ae_title": self.dimse.ae_title,
                "host": self.dimse.host,
                "port": self.dimse.port,
            }
        return {"name": self.name, "kind": "dicomweb", "url": self.web.url}


def _read_token(path: str) -> str:
    try:
        token = Path(path).expanduser().read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not text"
        raise click.ClickException(f"cannot read the DICOMweb token file {path}: {reason}") from None
    if not token:
        raise click.ClickException(f"the DICOMweb token file {path} is empty")
    return token


def _check_url(url: str) -> str:
    from healthvault.weburl import InvalidURLError, check_url

    try:
        return check_url(url, what="DICOMweb URL")
    except InvalidURLError as exc:
        raise click.ClickException(str(exc)) from None


def resolve(text: str, data_dir: Path | None, database_url: str | None, token_file: Path | None = None) -> Target:
    """A node by name (from the store), ``AE@HOST:PORT``, or a DICOMweb URL."""
    with needs_extra("imaging"):
        from hvgen_imaging.peers import Node, PeerError, parse_node
        from hvgen_imaging.webpeer import WebNode
    if text.startswith(("http://", "https://")):
        token = _read_token(str(token_file)) if token_file else os.environ.get(TOKEN_ENV) or None
        return Target(text, web=WebNode(_check_url(text), token))
    try:
        address = parse_node(text)
    except PeerError as exc:
        raise click.ClickException(str(exc)) from None
    if address is not None:
        return Target(text, dimse=address)
    with local_store(data_dir, database_url) as store:
        with store.read() as tx:
            node = tx.dicom_nodes.get(text)
    if node is None:
        raise click.ClickException(
            f"no DICOM node named {text!r}: add it with `hvgen dicom node add {text} ...`, "
            "or name a peer as AE@HOST:PORT or a DICOMweb URL"
        )
    if node.kind == "dicomweb":
        return Target(
            node.name, web=WebNode(node.url, _read_token(node.token_file) if node.token_file else None, node.name)
        )
    return Target(node.name, dimse=Node(node.ae_title, node.host, node.port, node.name))


@click.group("node")
def node() -> None:
    """Remote DICOM nodes: PACS, modalities, DICOMweb services.

    Kept in the platform's store (every server process of a shared store
    sees them). A DIMSE node is also a destination C-MOVE requests may name
    by its AE title.

    \b
    Examples:
      hvgen dicom node add PACS --ae ORTHANC --host 10.0.0.5 --port 4242
      hvgen dicom node add WEB --url https://pacs.example/dicom-web --token-file ~/.pacs-token
      hvgen dicom node echo PACS
      hvgen dicom node list --json
    """


@node.command("add")
@click.argument("name")
@click.option("--ae", "ae_title", default=None, help="The node's AE title (a DIMSE node).")
@click.option("--host", default=None, help="The node's host name or address (a DIMSE node).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="The node's DICOM port (a DIMSE node).")
@click.option("--url", default=None, help="The base URL of a DICOMweb service (instead of --ae/--host/--port).")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A file holding the DICOMweb service's bearer token (read at each use; the token is not stored).",
)
@data_option
@db_option
@json_option
def add(
    name: str,
    ae_title: str | None,
    host: str | None,
    port: int | None,
    url: str | None,
    token_file: Path | None,
    data_dir: Path | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Add a node NAME, or change the node of that name."""
    with needs_extra("server"):
        from hvgen_server.store.rows import DICOMWEB, DIMSE, DicomNode
    with needs_extra("imaging"):
        from hvgen_imaging.peers import PeerError, check_ae_title
    if not name.strip() or len(name) > 64 or "@" in name or name.startswith(("http://", "https://")):
        raise click.ClickException(f"node name {name!r}: 1 to 64 characters, no '@', not a URL")
    if url is not None:
        if ae_title or host or port:
            raise click.ClickException("a node is either DICOMweb (--url) or DIMSE (--ae, --host, --port), not both")
        token = str(token_file.expanduser().resolve()) if token_file else ""
        if token:
            _read_token(token)
        row = DicomNode(name, DICOMWEB, url=_check_url(url), token_file=token, created=time.time())
    else:
        missing = [flag for flag, value in (("--ae", ae_title), ("--host", host), ("--port", port)) if not value]
        if missing:
            raise click.ClickException(f"a DIMSE node needs {', '.join(missing)} (or give --url for DICOMweb)")
        if token_file:
            raise click.ClickException("--token-file is for DICOMweb nodes (--url)")
        try:
            title = check_ae_title(str(ae_title))
        except PeerError as exc:
            raise click.ClickException(str(exc)) from None
        row = DicomNode(name, DIMSE, ae_title=title, host=str(host).strip(), port=int(port or 0), created=time.time())
    with local_store(data_dir, database_url) as store:
        with store.write() as tx:
            new = tx.dicom_nodes.put(row)
    data = _row(row)
    emit(as_json, data, lambda: click.echo(f"{'added' if new else 'changed'} {_line(data)}"))


def _row(row: Any) -> dict[str, Any]:
    if row.kind == "dicomweb":
        return {"name": row.name, "kind": row.kind, "url": row.url, "token_file": row.token_file or None}
    return {"name": row.name, "kind": row.kind, "ae_title": row.ae_title, "host": row.host, "port": row.port}


def _line(data: dict[str, Any]) -> str:
    if data["kind"] == "dicomweb":
        return f"{data['name']}  DICOMweb  {data['url']}" + ("  (token file)" if data.get("token_file") else "")
    return f"{data['name']}  DIMSE  {data['ae_title']}@{data['host']}:{data['port']}"


@node.command("list")
@data_option
@db_option
@json_option
def list_(data_dir: Path | None, database_url: str | None, as_json: bool) -> None:
    """The nodes: NAME, KIND, where."""
    with local_store(data_dir, database_url) as store:
        with store.read() as tx:
            rows = [_row(r) for r in tx.dicom_nodes.all()]

    def text() -> None:
        if not rows:
            click.echo(
                "no DICOM nodes (add one with `hvgen dicom node add NAME --ae AE --host HOST --port PORT`)", err=True
            )
        for r in rows:
            click.echo(_line(r))

    emit(as_json, rows, text)


@node.command("remove")
@click.argument("name")
@data_option
@db_option
def remove(name: str, data_dir: Path | None, database_url: str | None) -> None:
    """Forget the node NAME."""
    with local_store(data_dir, database_url) as store:
        with store.write() as tx:
            found = tx.dicom_nodes.remove(name)
    if not found:
        raise click.ClickException(f"no DICOM node named {name!r} (see `hvgen dicom node list`)")
    click.echo(f"removed {name}")


calling_option = click.option(
    "--calling-ae",
    default="HVGEN",
    show_default=True,
    help="The AE title this side calls as (the node may accept only the titles it knows).",
)


@node.command("echo")
@click.argument("target")
@calling_option
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="For a URL: the bearer token's file.",
)
@data_option
@db_option
@json_option
def echo(
    target: str,
    calling_ae: str,
    token_file: Path | None,
    data_dir: Path | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Check that TARGET (a node's name, AE@HOST:PORT or a DICOMweb URL) answers:
    a C-ECHO, or a DICOMweb search for one study."""
    from hvgen_imaging import peers, webpeer

    chosen = resolve(target, data_dir, database_url, token_file)
    started = time.monotonic()
    try:
        if chosen.dimse is not None:
            peers.echo(chosen.dimse, calling_ae)
        else:
            webpeer.find(chosen.web, "STUDY", {}, limit=1)
    except peers.PeerError as exc:
        raise click.ClickException(str(exc)) from None
    ms = round((time.monotonic() - started) * 1000, 1)
    emit(as_json, {**chosen.as_dict(), "ok": True, "ms": ms}, lambda: click.echo(f"{chosen} answers ({ms} ms)"))
