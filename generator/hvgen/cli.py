"""The ``hvgen`` command line."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, BinaryIO
from collections.abc import Callable

import click

from . import __version__


def _project_root() -> Path:
    """The checkout this package runs from, else the current folder."""
    here = Path(__file__).resolve().parents[2]
    if (here / "xsd").is_dir() and (here / "templates").is_dir():
        return here
    return Path.cwd()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hvgen")
def main() -> None:
    """Typed bindings, runtime and tools for the HealthVault imaging wire format.

    \b
    Build step:
      hvgen generate            compile xsd/ + templates/ into generated/
      hvgen generate --check    fail if generated/ is out of date
    Inspecting XML:
      hvgen roundtrip FILE      decode a thing, data-xml root, request or
                                response through the bindings and write it back
    Local platform:
      hvgen serve --data DIR    run the local platform server (writes a client
                                profile so the commands below need no flags)
    Working with a platform:
      hvgen study ...           upload, list, show, download and change studies
      hvgen package ...         drop off and pick up encrypted packages
      hvgen blob ...            hash, upload and download blobs
      hvgen thing ...           sign and verify things

    Run `hvgen COMMAND --help` for the details of each command.
    """


@main.command()
@click.option(
    "--xsd",
    "xsd_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Schema folder to compile (default: the project's xsd/).",
)
@click.option(
    "--templates",
    "templates_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Template folder (default: the project's templates/).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder that holds the package (default: the project's generated/).",
)
@click.option(
    "--package",
    default="healthvault",
    show_default=True,
    help="Name of the generated Python package.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 and list the files that differ if the output is out of date.",
)
def generate(
    xsd_dir: Path | None,
    templates_dir: Path | None,
    out_dir: Path | None,
    package: str,
    check: bool,
) -> None:
    """Compile the schemas into typed dataclass bindings and the runtime.

    Every .xsd file under the schema folder is compiled (imports are followed
    and checked), rendered through the jinja2 templates and formatted with
    black. The output is deterministic: the same inputs give byte-identical
    files. Schema problems are reported as FILE:LINE: message.

    \b
    Examples:
      hvgen generate
      hvgen generate --check
      hvgen generate --xsd ../other/xsd --out /tmp/out --package otherpkg
    """
    from .codegen.compiler import Compiler, drift, write
    from .codegen.schemaset import SchemaError

    root = _project_root()
    xsd_dir = xsd_dir or root / "xsd"
    templates_dir = templates_dir or root / "templates"
    out_dir = out_dir or root / "generated"
    started = time.perf_counter()
    try:
        files = Compiler(xsd_dir, templates_dir, root / "runtime", package).compile()
    except SchemaError as exc:
        raise click.ClickException(str(exc)) from None
    if check:
        changed = drift(files, out_dir, package)
        if changed:
            click.echo(f"{len(changed)} generated file(s) out of date:", err=True)
            for rel in changed:
                click.echo(f"  {out_dir / rel}", err=True)
            click.echo("Run `hvgen generate` and commit the result.", err=True)
            sys.exit(1)
        click.echo(f"generated/ is up to date ({len(files)} files)")
        return
    changed = write(files, out_dir, package)
    elapsed = time.perf_counter() - started
    click.echo(
        f"{len(files)} files in {out_dir / package}, {len(changed)} changed ({elapsed:.2f}s)"
    )


@main.command()
@click.argument("file", type=click.File("rb"))
@click.option(
    "--pretty/--wire",
    default=False,
    help="Indent the output for reading (default: exact wire form, no indentation).",
)
def roundtrip(file: BinaryIO, pretty: bool) -> None:
    """Decode FILE through the bindings and write it back to stdout.

    FILE may hold a <thing>, a bare data-xml root such as
    <medical-image-study>, a <wc-request:request> or a <response>; use - for
    standard input. Invalid or hostile XML (DTDs, entities, external
    references) is refused with a one-line error and exit status 1.
    """
    from healthvault import codec
    from healthvault.errors import HealthVaultXmlError

    data = file.read()
    try:
        obj = codec.read_document(data)
        out = codec.write_document(obj, pretty=pretty)
    except HealthVaultXmlError as exc:
        raise click.ClickException(str(exc)) from None
    sys.stdout.buffer.write(out)
    if not out.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")


def _default_data_dir() -> Path:
    import os

    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hvgen" / "platform"


@main.command()
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Store folder (SQLite file, blobs, keys); created on first run. "
    "Default: $XDG_DATA_HOME/hvgen/platform.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="TCP port.")
@click.option("--public-url", default=None, help="Base URL clients use, if not http://HOST:PORT.")
@click.option(
    "--profile",
    "profile_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the client profile (default: HVGEN_PROFILE, else "
    "$XDG_CONFIG_HOME/hvgen/profile.json).",
)
@click.option("--no-profile", is_flag=True, help="Do not write a client profile.")
@click.option("--session-ttl", default=4 * 3600.0, show_default=True, help="Seconds a session lives.")
@click.option("--blob-read-ttl", default=600.0, show_default=True, help="Seconds a download URL lives.")
@click.option("--blob-write-ttl", default=86400.0, show_default=True, help="Seconds an upload URL lives.")
@click.option(
    "--max-request-bytes", default=32 * 1024 * 1024, show_default=True, help="Largest XML request accepted."
)
@click.option("--chunk-size", default=4 * 1024 * 1024, show_default=True, help="Upload chunk size (multiple of the 2 MiB hash block).")
@click.option("--max-blob-size", default=64 * 1024**3, show_default=True, help="Largest blob accepted.")
@click.option("--inline-limit", default=1024 * 1024, show_default=True, help="Largest blob sent or returned inline.")
@click.option("--max-full", default=500, show_default=True, help="Full things per GetThings group.")
@click.option(
    "--signer-trust",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="PEM certificates that signers of things must chain to (default: any signer).",
)
@click.option("--init-only", is_flag=True, help="Create the store and profile, then exit.")
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
def serve(
    data_dir: Path | None,
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
    signer_trust: Path | None,
    init_only: bool,
    log_level: str,
) -> None:
    """Run the local platform server: the HealthVault XML API on this machine.

    On first run it creates the store under --data with one application
    (its RSA key and self-signed certificate in DATA/app/) and one record the
    application may use, and prints them. It writes a client profile so that
    `hvgen` client commands in another shell find the server with no flags.

    \b
    Example:
      hvgen serve --data ~/hv-local --port 8080
    """
    from hvgen_server.app import serve as run
    from hvgen_server.bootstrap import ensure_store
    from hvgen_server.config import ServerConfig

    try:
        config = ServerConfig(
            data_dir=(data_dir or _default_data_dir()).expanduser().resolve(),
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
            signer_trust_file=signer_trust,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    setup = ensure_store(config)
    click.echo(("Created" if setup.created else "Using") + f" the local platform store in {config.data_dir}")
    click.echo(f"  URL:          {config.url}")
    click.echo(f"  application:  {setup.app_id}")
    click.echo(f"  record:       {setup.record_id}")
    click.echo(f"  key:          {setup.key_path}")
    click.echo(f"  certificate:  {setup.cert_path}")
    if not no_profile:
        saved = setup.profile(config.url).save(profile_path)
        click.echo(f"  profile:      {saved}")
    if init_only:
        return
    run(config, log_level=log_level)


# -- client commands ---------------------------------------------------------------------

profile_option = click.option(
    "--profile",
    "profile_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="HVGEN_PROFILE",
    default=None,
    help="Client profile to use (default: HVGEN_PROFILE, else the one `hvgen serve` wrote).",
)


def _client(profile_path: Path | None) -> Any:
    from healthvault.client import HealthVaultClient
    from healthvault.errors import HealthVaultError

    try:
        return HealthVaultClient.from_profile(profile_path)
    except (HealthVaultError, OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


class _Bar:
    """A progress bar on stderr for transfers of known or unknown size."""

    def __init__(self, label: str, total: int | None, enabled: bool) -> None:
        self.enabled = enabled and total != 0
        self.label = label
        self.bar: Any = None
        self.done = 0
        if self.enabled:
            self.bar = click.progressbar(
                length=total, label=label, file=sys.stderr, show_pos=total is None, item_show_func=None
            )
            self.bar.__enter__()

    def __call__(self, done: int, total: int | None) -> None:
        if self.bar is not None:
            self.bar.update(done - self.done)
            self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _parse_range(text: str | None) -> tuple[int, int | None] | None:
    if not text:
        return None
    first, sep, last = text.partition("-")
    try:
        if not sep:
            raise ValueError
        return int(first), (int(last) if last else None)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a byte range like 0-1023 or 1024-") from None


@main.group()
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
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@profile_option
def blob_put(file: Path, name: str | None, content_type: str | None, as_json: bool, progress: bool, profile_path: Path | None) -> None:
    """Store FILE as a `file` thing whose default blob holds its bytes.

    Prints the thing id and a download URL (which expires; `hvgen blob get
    THING_ID` always works).
    """
    import json
    import mimetypes

    from healthvault.bindings.base import CodableValue
    from healthvault.bindings.thing import DataXml, Thing2, ThingType
    from healthvault.bindings.things.file import File
    from healthvault.errors import HealthVaultError

    name = name or file.name
    content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    size = file.stat().st_size
    thing = Thing2(
        type_id=ThingType(value=str(File.TYPE_ID)),
        data_xml=[DataXml(any_element=File(name=name, size=max(size, 1) if size else 1, content_type=CodableValue(text=content_type)))],
    )
    bar = _Bar(f"uploading {name}", size, progress and not as_json)
    try:
        with _client(profile_path) as client:
            store = client.blobs(thing, progress=bar)
            store.write("", file, content_type)
            key = store.commit()
            url = store.url("")
    except HealthVaultError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.close()
    if as_json:
        click.echo(json.dumps({"thing_id": key.value, "version_stamp": key.version_stamp, "url": url, "size": size}))
    else:
        click.echo(f"thing id: {key.value}")
        click.echo(f"url:      {url}")


@blob.command("get")
@click.argument("source")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--range", "byte_range", default=None, help="Only bytes FIRST-LAST (inclusive), e.g. 0-131 or 1024-.")
@click.option("--name", default="", help="Blob name, when SOURCE is a thing id (default: the default blob).")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@profile_option
def blob_get(source: str, out: Path, byte_range: str | None, name: str, progress: bool, profile_path: Path | None) -> None:
    """Download a blob to OUT. SOURCE is a blob URL or a thing id.

    With a thing id a fresh URL is asked for, and a full download is checked
    against the blob's hash.
    """
    import uuid

    from healthvault import blobs
    from healthvault.errors import HealthVaultError

    wanted = _parse_range(byte_range)
    try:
        with _client(profile_path) as client:
            try:
                uuid.UUID(source)
                is_id = True
            except ValueError:
                is_id = False
            if is_id:
                thing = client.get_thing(source, sections=("core",), blob_payload=True)
                if thing is None:
                    raise click.ClickException(f"no thing {source}")
                store = client.blobs(thing)
                item = store.item(name)
                if wanted is None:
                    bar = _Bar(f"downloading {out.name}", item.content_length, progress)
                    try:
                        count = store.save(name, out, progress=bar)
                    finally:
                        bar.close()
                else:
                    with open(out, "wb") as f:
                        count = sum(f.write(piece) for piece in store.open(name, wanted))
            else:
                bar = _Bar(f"downloading {out.name}", None, progress and wanted is None)
                try:
                    count = blobs.download(client.http, source, out, byte_range=wanted, progress=bar)
                finally:
                    bar.close()
    except (HealthVaultError, KeyError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{count} bytes written to {out}", err=True)


@main.group()
def thing() -> None:
    """Sign and verify things (HVSignatureMethod2).

    \b
    Examples:
      hvgen thing sign study.xml --key key.pem --cert cert.pem --blob scan=scan.dcm -o signed.xml
      hvgen thing verify signed.xml --blob scan=scan.dcm --trust ca.pem
    """


def _blob_options(values: tuple[str, ...]) -> dict[str, Path]:
    blobs: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not path:
            raise click.BadParameter(f"{value!r}: use NAME=FILE (an empty NAME is the default blob)", param_hint="--blob")
        if not Path(path).is_file():
            raise click.BadParameter(f"{path}: no such file", param_hint="--blob")
        blobs[name] = Path(path)
    return blobs


@thing.command("sign")
@click.argument("thing_file", metavar="THING.xml", type=click.File("rb"))
@click.option("--key", "key_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Signer's RSA private key (PEM).")
@click.option("--cert", "cert_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Signer's certificate (PEM).")
@click.option("--blob", "blob_values", multiple=True, metavar="NAME=FILE", help="Bytes of a streamed blob (repeatable).")
@click.option("--sha256", is_flag=True, help="RSA-SHA256 with a SHA-256 digest instead of the default RSA-SHA1.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here instead of stdout.")
def thing_sign(thing_file: BinaryIO, key_path: Path, cert_path: Path, blob_values: tuple[str, ...], sha256: bool, output: Path | None) -> None:
    """Sign THING.xml; writes the signed thing.

    Blobs are covered by their SHA256Block hashes: a streamed blob's from
    the file given with --blob (or the hash-info it already carries), an
    inline blob's from its base64data.
    """
    from healthvault import crypto, signing
    from healthvault.errors import HealthVaultError

    try:
        signed = signing.sign(
            thing_file.read(),
            crypto.load_private_key(key_path),
            crypto.load_certificate(cert_path),
            blobs=_blob_options(blob_values),  # type: ignore[arg-type]
            algorithm="rsa-sha256" if sha256 else "rsa-sha1",
        )
    except (HealthVaultError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if output:
        output.write_bytes(signed)
    else:
        sys.stdout.buffer.write(signed + b"\n")


@thing.command("verify")
@click.argument("thing_file", metavar="THING.xml", type=click.File("rb"))
@click.option("--blob", "blob_values", multiple=True, metavar="NAME=FILE", help="Bytes of a streamed blob (repeatable).")
@click.option("--trust", "trust_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="PEM trust store: the signer must be one of these or issued by one.")
@click.option("--fetch/--no-fetch", default=False, help="Download streamed blobs without --blob from their URLs.")
def thing_verify(thing_file: BinaryIO, blob_values: tuple[str, ...], trust_path: Path | None, fetch: bool) -> None:
    """Verify THING.xml's signature. Exit status 0 only when it is valid;
    otherwise every failing part is printed (data-xml/sig-data, sig-data,
    a named blob, signature value, certificate)."""
    from healthvault import signing
    from healthvault.errors import HealthVaultError

    fetcher = None
    if fetch:
        import httpx

        def fetcher(url: str) -> Any:
            with httpx.stream("GET", url, timeout=60) as response:
                response.raise_for_status()
                yield from response.iter_bytes(1024 * 1024)

    try:
        result = signing.verify(
            thing_file.read(),
            blobs=_blob_options(blob_values),  # type: ignore[arg-type]
            trust=signing.load_trust(trust_path) if trust_path else None,
            fetch=fetcher,
        )
    except (HealthVaultError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if result.valid:
        click.echo(result.summary())
        return
    click.echo("signature NOT valid:", err=True)
    for problem in result.problems:
        click.echo(f"  {problem}", err=True)
    sys.exit(1)


# -- imaging ------------------------------------------------------------------------------------------


def _signer(sign: bool, key: Path | None, cert: Path | None, sha256: bool) -> Any:
    if not sign:
        if key or cert:
            raise click.UsageError("--key and --cert go with --sign")
        return None
    if not key or not cert:
        raise click.UsageError("--sign needs --key and --cert")
    from healthvault import crypto
    from hvgen_imaging.workflow import Signer

    return Signer(crypto.load_private_key(key), crypto.load_certificate(cert), "rsa-sha256" if sha256 else "rsa-sha1")


def _sign_options(f: Any) -> Any:
    f = click.option("--sha256", is_flag=True, help="Sign with RSA-SHA256 instead of RSA-SHA1.")(f)
    f = click.option("--cert", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="Signer's certificate (PEM).")(f)
    f = click.option("--key", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="Signer's RSA private key (PEM).")(f)
    f = click.option("--sign", is_flag=True, help="Sign the study (needs --key and --cert).")(f)
    return f


def _emit(as_json: bool, data: Any, text: Callable[[], None]) -> None:
    import json

    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        text()


def _studies(profile_path: Path | None, bar: Any = None) -> Any:
    from hvgen_imaging.workflow import Studies

    client = _client(profile_path)
    return client, Studies(client, progress=bar)


def _imaging_errors() -> tuple[type[BaseException], ...]:
    from healthvault.errors import HealthVaultError

    return (HealthVaultError, OSError)


@main.group()
def study() -> None:
    """Medical image studies: DICOM folders to the platform and back.

    \b
    Examples:
      hvgen study upload ./CT_HEAD --sign --key key.pem --cert cert.pem
      hvgen study list
      hvgen study show 1.2.840.113619.2.55
      hvgen study download 1.2.840.113619.2.55 ./copy
      hvgen study add-series 1.2.840.113619.2.55 ./MORE
      hvgen study remove-series 1.2.840.113619.2.55 1.2.840.113619.2.55.3
      hvgen study delete 1.2.840.113619.2.55
    """


@study.command("upload")
@click.argument("folder", type=click.Path(exists=True, path_type=Path))
@click.option("--v1", "version1", is_flag=True, help="Write medical image study version 1 (default: version 2).")
@click.option("--no-previews", is_flag=True, help="Do not make JPEG previews.")
@_sign_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--progress/--no-progress", default=True, help="Show progress bars.")
@profile_option
def study_upload(folder: Path, version1: bool, no_previews: bool, sign: bool, key: Path | None, cert: Path | None, sha256: bool, as_json: bool, progress: bool, profile_path: Path | None) -> None:
    """Upload the DICOM files under FOLDER as medical image studies.

    Files are grouped by Study Instance UID; each study's DICOM files and
    previews are streamed as blobs, then the study thing is written. Running
    it again after an interruption resumes where it stopped, and never makes
    a second study for the same Study Instance UID.
    """
    from hvgen_imaging import dicom, study as study_mod

    signer = _signer(sign, key, cert, sha256)
    scanned = dicom.scan(folder)
    notes = [f"{p}: skipped ({why})" for p, why in scanned.skipped] + scanned.warnings
    if not scanned.studies:
        raise click.ClickException(f"no DICOM files under {folder}")
    results = []
    client, studies = _studies(profile_path)
    try:
        with client:
            for scanned_study in scanned.studies:
                built = study_mod.build(scanned_study, version=1 if version1 else 2, previews=not no_previews)
                bar = _Bar(f"study {scanned_study.uid[:40]}", built.size, progress and not as_json)
                studies.progress = bar
                try:
                    result = studies.upload(built, signer=signer)
                finally:
                    bar.close()
                results.append(result.as_dict())
    except _imaging_errors() as exc:
        raise click.ClickException(str(exc)) from None

    def text() -> None:
        for note in notes:
            click.echo(f"note: {note}", err=True)
        for r in results:
            for w in r["warnings"]:
                click.echo(f"warning: {w}", err=True)
            verb = "created" if r["created"] else "updated" if r["uploaded_blobs"] or r["resumed_blobs"] else "unchanged"
            click.echo(
                f"{r['study_uid']}: {verb} thing {r['thing_id']} ({r['series']} series, {r['images']} images, "
                f"{r['uploaded_blobs']} blobs sent, {r['resumed_blobs']} resumed{', signed' if r['signed'] else ''})"
            )

    _emit(as_json, {"studies": results, "notes": notes}, text)


@study.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@profile_option
def study_list(as_json: bool, profile_path: Path | None) -> None:
    """List the studies in the record."""
    client, studies = _studies(profile_path)
    try:
        with client:
            rows = studies.summaries()
    except _imaging_errors() as exc:
        raise click.ClickException(str(exc)) from None

    def text() -> None:
        if not rows:
            click.echo("no studies")
        for r in rows:
            signed = " signed" if r["signed"] else ""
            click.echo(f"{r['date']}  {r['study_uid']}  {r['description'] or '-'}  {r['patient'] or '-'}  "
                       f"{r['series']} series, {r['images']} images, {r['bytes']} bytes{signed}")

    _emit(as_json, rows, text)


@study.command("show")
@click.argument("uid")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@profile_option
def study_show(uid: str, as_json: bool, profile_path: Path | None) -> None:
    """Show a study: its series, their images and sizes."""
    from hvgen_imaging.workflow import details

    client, studies = _studies(profile_path)
    try:
        with client:
            info = details(studies.require(uid))
    except _imaging_errors() as exc:
        raise click.ClickException(str(exc)) from None

    def text() -> None:
        click.echo(f"study {info['study_uid']}  (thing {info['thing_id']}, version {info['version']}{', signed' if info['signed'] else ''})")
        click.echo(f"  date: {info['date']}  patient: {info['patient'] or '-'}  description: {info['description'] or '-'}")
        for s in info["series_list"]:
            total = sum(i["bytes"] for i in s["images"])
            click.echo(f"  series {s['series_uid'] or '-'}: {s['modality'] or '-'} {s['body_part'] or ''} {s['description'] or ''}".rstrip())
            click.echo(f"    {len(s['images'])} images, {total} bytes")
            for i in s["images"]:
                click.echo(f"      {i['name']}  {i['bytes']} bytes{'  (preview)' if i['preview'] else ''}")

    _emit(as_json, info, text)


@study.command("download")
@click.argument("uid")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--previews", is_flag=True, help="Also save the JPEG previews.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@profile_option
def study_download(uid: str, out: Path, previews: bool, as_json: bool, progress: bool, profile_path: Path | None) -> None:
    """Download a study's DICOM files to OUT/<series-uid>/<sop-uid>.dcm.

    Every file is checked against its SHA256Block hash; a signed study's
    signature is verified against the downloaded bytes.
    """
    bar = _Bar(f"study {uid[:40]}", None, progress and not as_json)
    client, studies = _studies(profile_path, bar)
    try:
        with client:
            result = studies.download(uid, out, previews=previews)
    except _imaging_errors() as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.close()

    def text() -> None:
        click.echo(f"{result['files']} files, {result['bytes']} bytes in {result['folder']} (hashes checked)")
        if "signature" in result:
            click.echo(f"signature: {result['signature']}")

    _emit(as_json, result, text)
    if str(result.get("signature", "valid")).startswith("INVALID"):
        sys.exit(1)


@study.command("add-series")
@click.argument("uid")
@click.argument("folder", type=click.Path(exists=True, path_type=Path))
@_sign_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@profile_option
def study_add_series(uid: str, folder: Path, sign: bool, key: Path | None, cert: Path | None, sha256: bool, as_json: bool, progress: bool, profile_path: Path | None) -> None:
    """Add the series in FOLDER to study UID."""
    signer = _signer(sign, key, cert, sha256)
    bar = _Bar("adding series", None, progress and not as_json)
    client, studies = _studies(profile_path, bar)
    try:
        with client:
            result = studies.add_series(uid, folder, signer=signer).as_dict()
    except _imaging_errors() as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.close()
    _emit(as_json, result, lambda: click.echo(f"{uid}: now {result['series']} series, {result['images']} images (thing {result['thing_id']})"))


@study.command("remove-series")
@click.argument("uid")
@click.argument("series_uid")
@_sign_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@profile_option
def study_remove_series(uid: str, series_uid: str, sign: bool, key: Path | None, cert: Path | None, sha256: bool, as_json: bool, profile_path: Path | None) -> None:
    """Remove series SERIES_UID (and its blobs) from study UID."""
    signer = _signer(sign, key, cert, sha256)
    client, studies = _studies(profile_path)
    try:
        with client:
            result = studies.remove_series(uid, series_uid, signer=signer).as_dict()
    except _imaging_errors() as exc:
        raise click.ClickException(str(exc)) from None
    _emit(as_json, result, lambda: click.echo(f"{uid}: now {result['series']} series, {result['images']} images"))


@study.command("delete")
@click.argument("uid")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@profile_option
def study_delete(uid: str, as_json: bool, profile_path: Path | None) -> None:
    """Delete study UID (the thing is marked deleted)."""
    client, studies = _studies(profile_path)
    try:
        with client:
            thing_id = studies.delete(uid)
    except _imaging_errors() as exc:
        raise click.ClickException(str(exc)) from None
    _emit(as_json, {"study_uid": uid, "thing_id": thing_id, "deleted": True}, lambda: click.echo(f"deleted study {uid} (thing {thing_id})"))


@main.group()
def package() -> None:
    """Drop-off and pick-up: studies for someone without access to the record.

    \b
    Examples:
      hvgen package create ./CT_HEAD --question "Your clinic?" --answer "st. mary" --name "CT 2024-05-17"
      hvgen package pickup ABCD-EFGH-IJKL-MNOP-QRST --answer "st. mary"
    """


@package.command("create")
@click.argument("folder", type=click.Path(exists=True, path_type=Path))
@click.option("--question", required=True, help="Question shown at pick-up.")
@click.option("--answer", required=True, help="Its answer (at least 6 characters; case does not matter).")
@click.option("--name", "friendly_name", required=True, help="Name of the package, shown at pick-up.")
@click.option("--external-id", default=None, help="Your own id for the package (default: a new GUID).")
@click.option("--v1", "version1", is_flag=True, help="Medical image study version 1.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
@profile_option
def package_create(folder: Path, question: str, answer: str, friendly_name: str, external_id: str | None, version1: bool, as_json: bool, progress: bool, profile_path: Path | None) -> None:
    """Put the DICOM studies under FOLDER in an encrypted package; prints its id.

    Every DICOM file and preview is encrypted chunk by chunk on the way
    (Rijndael-256, key from the answer), so the platform never sees them in
    the clear until the package is picked up.
    """
    from hvgen_imaging import dicom, packages, study as study_mod

    scanned = dicom.scan(folder)
    if not scanned.studies:
        raise click.ClickException(f"no DICOM files under {folder}")
    built = [study_mod.build(s, version=1 if version1 else 2) for s in scanned.studies]
    bar = _Bar("packaging", sum(b.size for b in built), progress and not as_json)
    try:
        with _client(profile_path) as client:
            code = packages.create(client, built, question=question, answer=answer, friendly_name=friendly_name, external_id=external_id, progress=bar)
    except _imaging_errors() as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.close()
    result = {"package_id": code, "studies": [b.data.study_instance_uid for b in built], "images": sum(len(b.images) for b in built)}
    _emit(as_json, result, lambda: click.echo(f"package id: {code}"))


@package.command("pickup")
@click.argument("package_id")
@click.option("--answer", required=True, help="The answer to the package's question.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@profile_option
def package_pickup(package_id: str, answer: str, as_json: bool, profile_path: Path | None) -> None:
    """Open package PACKAGE_ID with ANSWER and add its studies to the record.

    A wrong answer adds nothing; three wrong answers lock the package.
    """
    from hvgen_imaging import packages

    try:
        with _client(profile_path) as client:
            keys = packages.pick_up(client, package_id, answer)
    except _imaging_errors() as exc:
        raise click.ClickException(str(exc)) from None
    result = {"package_id": package_id, "things": [k.value for k in keys]}
    _emit(as_json, result, lambda: click.echo(f"added {len(keys)} thing(s): " + ", ".join(k.value for k in keys)))
