"""``hvgen serve``: the local platform server."""

from __future__ import annotations

import errno
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click

from .common import alias, aliased, default_data_dir, needs_extra, not_a_folder, os_reason
from .servedicom import check_record, dicom_options, spool_of

if TYPE_CHECKING:
    from hvgen_server.config import DicomListening, ServerConfig


def check_port(host: str, port: int, port_option: str = "--port", host_option: str = "--host") -> None:
    """Fail before anything is written when HOST:PORT cannot be listened on (the
    options that set them named in the error)."""
    where = f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on {where}: unknown address ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server itself does
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                why = f"the address is already in use (another hvgen serve?); stop it or choose another {port_option}"
            elif exc.errno == errno.EACCES:
                why = f"permission denied (ports below 1024 need privileges); choose another {port_option}"
            elif exc.errno == errno.EADDRNOTAVAIL:
                why = f"this machine has no such address; check {host_option}"
            else:
                why = exc.strerror or str(exc)
            raise click.ClickException(f"cannot listen on {where}: {why}") from None


def public_url_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--public-url: a base URL clients can use (http:// or https://, a host,
    maybe a port and a path; no query or fragment), or a usage error."""
    if value is None:
        return None
    from healthvault.weburl import url_problem

    problem = url_problem(value)
    if problem is None:
        parts = urlsplit(value.strip())
        if parts.query or parts.fragment:
            problem = "a base URL has no query or fragment (http[s]://HOST[:PORT][/PATH])"
    if problem is not None:
        raise click.BadParameter(f"{value!r} is not a usable URL: {problem}")
    return value.strip().rstrip("/")


def check_writable(target: Path, what: str) -> None:
    """Fail before anything is written when file ``target`` cannot be written."""
    folder = target.parent
    blocker = not_a_folder(folder)
    if blocker is not None:
        raise click.ClickException(f"cannot write the {what} {target}: {blocker} is not a folder")
    if target.is_dir():
        raise click.ClickException(f"cannot write the {what} {target}: it is a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".{target.name}.probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise click.ClickException(f"cannot write the {what} {target}: {os_reason(exc)}") from None


def _store_name(config: ServerConfig) -> str:
    """Where the store is, for people (a database URL without its user and password)."""
    if config.database_url is None:
        return str(config.data_dir)
    parts = urlsplit(config.database_url)
    port = f":{parts.port}" if parts.port else ""
    return f"postgresql://{parts.hostname or ''}{port}{parts.path}"


@click.command()
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Store folder (SQLite file, blobs, keys); created on first run. Default: $XDG_DATA_HOME/hvgen/platform.",
)
@click.option(
    "--db",
    "database_url",
    default=None,
    metavar="URL",
    help="A shared store: postgresql://USER@HOST:PORT/DBNAME (created and migrated when needed). "
    "Default: the SQLite file in --data.",
)
@click.option(
    "--blobs",
    "blobs_url",
    default=None,
    metavar="URL",
    help="Blob bytes in an S3-compatible object store: s3://BUCKET[/PREFIX] (endpoint and credentials "
    "from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION; the bucket is created "
    "when missing). Default: the blobs folder in --data.",
)
@click.option("--db-pool-size", default=16, show_default=True, help="Connections to a --db database per process.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option(
    "--public-url",
    default=None,
    metavar="URL",
    callback=public_url_option,
    help="Base URL clients use, if not http://HOST:PORT (http[s]://HOST[:PORT][/PATH]).",
)
@click.option(
    "--profile",
    "profile_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the client profile (default: HVGEN_PROFILE, else $XDG_CONFIG_HOME/hvgen/profile.json).",
)
@click.option("--no-profile", is_flag=True, help="Do not write a client profile.")
@click.option("--session-ttl", default=4 * 3600.0, show_default=True, help="Seconds a session lives.")
@click.option("--blob-read-ttl", default=600.0, show_default=True, help="Seconds a download URL lives.")
@click.option("--blob-write-ttl", default=7200.0, show_default=True, help="Seconds an upload URL lives.")
@click.option("--max-request-bytes", default=32 * 1024 * 1024, show_default=True, help="Largest XML request accepted.")
@click.option(
    "--chunk-size",
    default=4 * 1024 * 1024,
    show_default=True,
    help="Upload chunk size (multiple of the 2 MiB hash block).",
)
@click.option("--max-blob-size", default=64 * 1024**3, show_default=True, help="Largest blob accepted.")
@click.option("--inline-limit", default=1024 * 1024, show_default=True, help="Largest blob sent or returned inline.")
@click.option("--max-full", default=500, show_default=True, help="Full things per GetThings group.")
@click.option(
    "--max-things",
    default=1000,
    show_default=True,
    help="Things one PutThings, RemoveThings or GetThings group may name.",
)
@click.option(
    "--max-response-bytes",
    default=64 * 1024 * 1024,
    show_default=True,
    help="Largest GetThings response (larger: status 71).",
)
@click.option("--max-request-elements", default=250_000, show_default=True, help="Elements a request may hold.")
@click.option(
    "--xpath-budget", default=2.0, show_default=True, help="Seconds the XPath filters of one GetThings may run."
)
@click.option(
    "--max-msg-ttl",
    default=3600,
    show_default=True,
    help="Largest msg-ttl honoured (seconds): the longest a request can be replayed.",
)
@click.option(
    "--max-buffered-bytes",
    default=128 * 1024 * 1024,
    show_default=True,
    help="Memory for the request bodies being read and served (a body is read past its first 64 KiB only "
    "once its header shows a live session): past those 64 KiB a body counts twice (its bytes and the copy of "
    "its info made while it is served); a request finding it spent gets 503 with Retry-After. At least "
    "twice --max-request-bytes.",
)
@click.option(
    "--max-compression-ratio",
    default=100,
    show_default=True,
    help="How many times its compressed size a gzip or deflate request may inflate to (past its first 64 KiB).",
)
@click.option(
    "--max-compressed-requests",
    default=4,
    show_default=True,
    help="Compressed requests inflated at once before their session is known; more get 503 with Retry-After.",
)
@click.option(
    "--max-connections",
    default=1000,
    show_default=True,
    help="Open connections; when all are open, the one idle longest is closed for a new one "
    "(a new one is closed at once when none is idle).",
)
@click.option(
    "--max-client-connections",
    default=256,
    show_default=True,
    help="Open connections from one client address; beyond it that client's longest idle one is closed, "
    "or the new one.",
)
@click.option("--header-timeout", default=10.0, show_default=True, help="Seconds a client has to send request headers.")
@click.option(
    "--body-timeout",
    default=60.0,
    show_default=True,
    help="Seconds a client has to send a request body (and at most between two pieces of a blob chunk).",
)
@click.option(
    "--trust",
    "signer_trust",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="PEM certificates that signers of things must chain to (default: any signer).",
)
@alias("--signer-trust", "signer_trust", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--user-token-ttl",
    default=4 * 3600.0,
    show_default=True,
    help="Seconds the wctoken (user-auth-token) the sign-in page hands an application stays valid.",
)
@click.option(
    "--schemas",
    "schema_dirs",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A schema folder whose thing types the platform accepts too (such as the published catalog); "
    "compiled once and kept under DATA/schemas. Repeatable. Needs the generate extra.",
)
@click.option(
    "--viewer-link-ttl",
    default=300.0,
    show_default=True,
    help="Seconds a one-time study viewer link (`hvgen viewer`) can be used in.",
)
@click.option(
    "--ohif",
    "ohif_dist",
    type=click.Path(file_okay=False, path_type=Path),
    help="Serve the OHIF Viewer of this folder (dist/ of the npm package @ohif/app; `hvgen ohif fetch DIR` "
    "gets it) at /ohif/, reading this server's DICOMweb with the browser's sign-in.",
)
@click.option("--init-only", is_flag=True, help="Create the store and profile, then exit.")
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
@dicom_options
@click.pass_context
def serve(
    ctx: click.Context,
    data_dir: Path | None,
    database_url: str | None,
    blobs_url: str | None,
    db_pool_size: int,
    host: str,
    port: int,
    public_url: str | None,
    profile_path: Path | None,
    no_profile: bool,
    session_ttl: float,
    blob_read_ttl: float,
    blob_write_ttl: float,
    max_request_bytes: int,
    chunk_size: int,
    max_blob_size: int,
    inline_limit: int,
    max_full: int,
    max_things: int,
    max_response_bytes: int,
    max_request_elements: int,
    xpath_budget: float,
    max_msg_ttl: int,
    max_buffered_bytes: int,
    max_compression_ratio: int,
    max_compressed_requests: int,
    max_connections: int,
    max_client_connections: int,
    header_timeout: float,
    body_timeout: float,
    signer_trust: Path | None,
    user_token_ttl: float,
    schema_dirs: tuple[Path, ...],
    viewer_link_ttl: float,
    ohif_dist: Path | None,
    init_only: bool,
    log_level: str,
    dicom: DicomListening | None,
) -> None:
    """Run the local platform server: the HealthVault XML API on this machine.

    On first run it creates the store under --data with one application
    (its RSA key and self-signed certificate in DATA/app/), the first person
    (login "local", with a random password: printed once on a terminal, else
    written to DATA/first-password, readable by its owner only) and their record,
    authorized for the application, and prints them. `hvgen person`,
    `hvgen record` and `hvgen app` add more. It writes a client profile so that
    `hvgen` client commands in another shell find the server with no flags.

    The platform accepts the thing types of hvgen's own schemas (medical
    image studies, files, blood pressure...). --schemas DIR teaches it the
    types of another schema folder, such as the published thing-type
    catalog: the folder is compiled as `hvgen generate --xsd DIR` would
    (problems are warnings, broken schemas are left out) and things of its
    types are validated against their schemas and accepted.

    With --db and --blobs, any number of `hvgen serve` processes (on other
    ports or machines) share one PostgreSQL database and one bucket and serve
    the same applications, persons, records, sessions and blob URLs; --data
    then only receives a copy of the application's key and certificate (and
    of the compiled --schemas packages: give every process the same folders).

    \b
    Examples:
      hvgen serve --data ~/hv-local --port 8080
      hvgen serve --schemas ~/healthvault-catalog/xsd
      hvgen serve --db postgresql://hv@db:5432/hv --blobs s3://hv-blobs --port 8081
      hvgen serve --dicom-port 11112 --dicom-allow-ae CT_SCANNER

    With --dicom-port the server also runs a DICOM storage service (as
    `hvgen dicom listen` does, with its checks and limits) that stores
    studies straight into --dicom-record (the first person's record by
    default), in the server's own process.
    """
    with needs_extra("server"):
        import uvicorn  # noqa: F401  (the server runs on it; check before creating the store)

        from hvgen_server.app import serve as run
        from hvgen_server.backends import check as check_backends
        from hvgen_server.bootstrap import ensure_store, keep_first_password
        from hvgen_server.config import ServerConfig
        from hvgen_server.errors import ServerError
        from hvgen_server.store.errors import StoreError
    from healthvault import filemodes
    from healthvault.profile import default_profile_path

    filemodes.private_umask()  # the store, keys, blobs and profile: readable by their owner only
    signer_trust = aliased(ctx, "signer_trust", signer_trust)
    try:
        config = ServerConfig(
            data_dir=(data_dir or default_data_dir()).expanduser().resolve(),
            database_url=database_url,
            blobs_url=blobs_url,
            db_pool_size=db_pool_size,
            host=host,
            port=port,
            public_url=public_url,
            session_ttl=session_ttl,
            blob_read_ttl=blob_read_ttl,
            blob_write_ttl=blob_write_ttl,
            max_request_bytes=max_request_bytes,
            chunk_size=chunk_size,
            max_blob_size=max_blob_size,
            inline_blob_limit=inline_limit,
            max_full_things=max_full,
            max_things_per_request=max_things,
            max_response_bytes=max_response_bytes,
            max_request_elements=max_request_elements,
            xpath_budget=xpath_budget,
            max_msg_ttl=max_msg_ttl,
            max_buffered_bytes=max_buffered_bytes,
            max_compression_ratio=max_compression_ratio,
            max_compressed_requests=max_compressed_requests,
            max_connections=max_connections,
            max_client_connections=max_client_connections,
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            signer_trust_file=signer_trust,
            user_token_ttl=user_token_ttl,
            viewer_link_ttl=viewer_link_ttl,
            dicom=dicom,
        )
        if ohif_dist is not None:
            from hvgen_server.ohif import OhifError, check_dist

            try:
                config.ohif_dist = check_dist(ohif_dist)
            except OhifError as exc:
                raise click.BadParameter(str(exc), param_hint="--ohif") from None
        check_backends(config)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    # Everything that can be checked is checked before the store or the
    # profile is written: a busy port must not leave the profile pointing
    # at a server that is not running.
    if not init_only:
        check_port(host, port)
        if dicom is not None:
            check_port(dicom.host, dicom.port, "--dicom-port", "--dicom-host")
    target = (profile_path or default_profile_path()).expanduser()
    if not no_profile:
        check_writable(target, "client profile")
    blocker = not_a_folder(config.data_dir)
    if blocker is not None:
        raise click.ClickException(f"cannot use the store folder {config.data_dir}: {blocker} is not a folder")
    if schema_dirs:
        config.schema_packages = tuple(_compile_schemas(schema_dirs, config.data_dir))
    try:
        setup = ensure_store(config)
    except (StoreError, ServerError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and Path(exc.filename) != config.data_dir else ""
        raise click.ClickException(f"cannot create the store in {config.data_dir}: {os_reason(exc)}{where}") from None
    click.echo(("Created" if setup.created else "Using") + f" the local platform store in {_store_name(config)}")
    if config.blobs_url is not None:
        click.echo(f"  blobs:        {config.blobs_url}")
    click.echo(f"  URL:          {config.url}")
    click.echo(f"  application:  {setup.app_id}")
    click.echo(f"  record:       {setup.record_id}")
    if setup.login:
        click.echo(f"  person:       {setup.person_id} (login {setup.login})")
    if setup.password:
        if sys.stdout.isatty():  # a person is looking: shown once, never written to a log
            click.echo(
                f"  password:     {setup.password}  (shown once; `hvgen person passwd {setup.login}` sets another)"
            )
        else:  # the output may be a log file: the password goes to a file only the owner can read
            kept = keep_first_password(config, setup.password)
            click.echo(f"  password:     in {kept} (readable by you only; delete it once read)")
    click.echo(f"  sign-in:      {config.url}/signin")
    click.echo(f"  viewer:       {config.url}/viewer  (`hvgen viewer` opens it signed in)")
    if config.ohif_dist is not None:
        click.echo(f"  OHIF:         {config.url}/ohif/  (signed in as in the viewer)")
    dicom_record = check_record(config)
    if dicom is not None:
        click.echo(
            f"  DICOM:        {dicom.ae_title} on {dicom.host}:{dicom.port}, into record {dicom_record} "
            f"(spool {spool_of(config)})"
        )
    click.echo(f"  key:          {setup.key_path}")
    click.echo(f"  certificate:  {setup.cert_path}")
    if not no_profile:
        try:
            saved = setup.profile(config.url).save(target)
        except OSError as exc:
            raise click.ClickException(f"cannot write the client profile {target}: {os_reason(exc)}") from None
        click.echo(f"  profile:      {saved}")
    if init_only:
        return
    run(config, log_level=log_level)


def _compile_schemas(folders: tuple[Path, ...], data_dir: Path) -> list[Path]:
    """Compile each --schemas folder (or find it compiled); say what it brings."""
    with needs_extra("generate"):
        import xsdata  # noqa: F401  (the build step compiles the folder)

        from hvgen.schemapackages import SchemaFolderError, compile_for_server
    packages = []
    for folder in folders:
        click.echo(f"Compiling the schemas in {folder} ...", err=True)
        try:
            compiled = compile_for_server(folder.expanduser(), data_dir)
        except (SchemaFolderError, OSError) as exc:
            raise click.ClickException(f"--schemas {folder}: {exc}") from None
        if compiled.changed:  # the details once, when the folder is compiled
            for problem in compiled.problems:
                click.echo(f"warning: {problem}", err=True)
            if compiled.left_out:
                click.echo(f"{len(compiled.left_out)} schema(s) left out:", err=True)
                for line in compiled.left_out:
                    click.echo(f"  {line}", err=True)
        elif compiled.problems or compiled.left_out:
            click.echo(
                f"  {len(compiled.problems)} schema problem(s), {len(compiled.left_out)} schema(s) left out "
                f"(`hvgen generate --xsd {folder} --out OUT` lists them)",
                err=True,
            )
        state = "compiled now" if compiled.changed else "compiled before"
        click.echo(
            f"  schemas:      {folder}: {compiled.thing_types} thing types ({state}, in {compiled.package_dir})",
            err=True,
        )
        packages.append(compiled.package_dir)
    return packages
