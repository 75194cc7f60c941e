"""``hvgen thing``: get, list, put and remove things; sign and verify them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click

from .common import alias, aliased, check_output_file, client, emit, json_option, profile_option, reported
from .failures import on_interrupt
from .studyshared import signing_pair

if TYPE_CHECKING:
    from healthvault.bindings.thing import Thing2

SECTIONS = ("core", "audits", "effectivepermissions", "digitalsignatures", "tags", "blobpayload")


@click.group()
def thing() -> None:
    """Things in the record (get, list, put, remove) and their signatures
    (sign, verify: HVSignatureMethod2).

    \b
    Examples:
      hvgen thing list --type medical-image-study
      hvgen thing get THING_ID -o study.xml --section blobpayload
      hvgen thing put study.xml
      hvgen thing remove THING_ID
      hvgen thing sign study.xml --key key.pem --cert cert.pem --blob scan=scan.dcm -o signed.xml
      hvgen thing verify signed.xml --blob scan=scan.dcm --trust ca.pem
    """


def write_out(data: bytes, output: Path | None) -> None:
    """``data`` to ``output``, or to stdout."""
    if output is None:
        sys.stdout.buffer.write(data if data.endswith(b"\n") else data + b"\n")
        return
    from healthvault.blobs import replacing

    check_output_file(output)
    with reported(OSError, doing="write"), replacing(output) as f:
        f.write(data)


output_option = click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write here instead of standard output.",
)


def type_label(type_id: str | None) -> str:
    """A thing type's root element name (with its version when there are several)."""
    from healthvault import registry

    cls = registry.thing_class(type_id) if type_id else None
    if cls is None:
        return type_id or "-"
    for root, classes in registry.ROOTS.items():
        if cls in classes:
            version = getattr(cls, "TYPE_VERSION", None)
            return f"{root} v{version}" if len(classes) > 1 and version else root
    return type_id or "-"


def type_ids(wanted: tuple[str, ...]) -> list[str]:
    """Type ids for --type values: a type id, or a root element name (every version)."""
    from healthvault import registry
    from healthvault.transfer import is_thing_id

    found: list[str] = []
    for value in wanted:
        if is_thing_id(value):
            found.append(value)
            continue
        classes = registry.ROOTS.get(value.strip().lower())
        if not classes:
            known = ", ".join(sorted(registry.ROOTS))
            raise click.BadParameter(f"{value!r} is neither a type id nor a known type ({known})", param_hint="--type")
        found.extend(str(registry.type_id_of(c)) for c in classes)
    return found


def _when(value: object) -> str:
    return str(value).replace("T", " ")[:16] if value is not None else "-"


def _key(thing: Thing2) -> tuple[str, str]:
    return (thing.thing_id.value, thing.thing_id.version_stamp or "") if thing.thing_id else ("", "")


def _fetch(hv: Any, thing_id: str, sections: tuple[str, ...] = ("core",), blobs: bool = False) -> Thing2:
    from healthvault.client import ThingQuery
    from healthvault.transfer import is_thing_id

    if not is_thing_id(thing_id):
        raise click.BadParameter(f"{thing_id!r} is not a thing id (a GUID)", param_hint="THING_ID")
    found = hv.get_things(
        ThingQuery(
            thing_ids=[thing_id], sections=sections, blob_payload=blobs, signatures="digitalsignatures" in sections
        )
    )
    if not found:
        raise click.ClickException(f"no thing {thing_id} in the record")
    return found[0]  # type: ignore[no-any-return]


@thing.command("get")
@click.argument("thing_id")
@click.option(
    "--section",
    "sections",
    multiple=True,
    type=click.Choice(SECTIONS),
    help="Sections to include besides core and data-xml (repeatable), e.g. blobpayload, audits.",
)
@click.option("--pretty/--wire", default=False, help="Indent the XML for reading (default: the wire form).")
@output_option
@json_option
@profile_option
def thing_get(
    thing_id: str,
    sections: tuple[str, ...],
    pretty: bool,
    output: Path | None,
    as_json: bool,
    profile_path: Path | None,
) -> None:
    """Print the XML of thing THING_ID (or write it to --output)."""
    from healthvault import codec, wire

    if output is not None:
        check_output_file(output)
    with client(profile_path) as hv, reported():
        found = _fetch(hv, thing_id, ("core", *sections), "blobpayload" in sections)
        xml = codec.write_thing(found)
    if pretty:
        xml = wire.pretty(xml)
    if as_json:
        tid, stamp = _key(found)
        type_id = found.type_id.value if found.type_id else None
        if output is not None:
            write_out(xml, output)
        emit(
            True,
            {
                "thing_id": tid,
                "version_stamp": stamp,
                "type_id": type_id,
                "type": type_label(type_id),
                "output": str(output) if output else None,
                "xml": None if output else xml.decode("utf-8"),
            },
            lambda: None,
        )
        return
    write_out(xml, output)
    if output is not None:
        click.echo(f"thing {thing_id} written to {output}", err=True)


@thing.command("list")
@click.option(
    "--type",
    "types",
    multiple=True,
    metavar="TYPE",
    help="Only things of this type: a type id or a name such as medical-image-study or file (repeatable).",
)
@json_option
@profile_option
def thing_list(types: tuple[str, ...], as_json: bool, profile_path: Path | None) -> None:
    """List the things of the record: type, date, thing id."""
    from healthvault.client import ThingQuery

    wanted = type_ids(types)
    with client(profile_path) as hv, reported():
        things = hv.get_things(ThingQuery(type_ids=wanted, sections=("core",), xml=False))
    rows = []
    for t in things:
        tid, stamp = _key(t)
        type_id = t.type_id.value if t.type_id else None
        rows.append(
            {
                "thing_id": tid,
                "version_stamp": stamp,
                "type_id": type_id,
                "type": type_label(type_id),
                "date": _when(t.eff_date),
            }
        )

    def text() -> None:
        if not rows:
            click.echo("no things")
            return
        table = [["TYPE", "DATE", "THING ID"]] + [[r["type"], r["date"], r["thing_id"]] for r in rows]
        widths = [max(len(str(row[i])) for row in table) for i in range(3)]
        for row in table:
            click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())

    emit(as_json, rows, text)


@thing.command("put")
@click.argument("thing_file", metavar="THING.xml", type=click.File("rb"))
@click.option(
    "--unsigned-ok", is_flag=True, help="Update a signed thing with an unsigned THING.xml (the signature is removed)."
)
@json_option
@profile_option
def thing_put(thing_file: BinaryIO, unsigned_ok: bool, as_json: bool, profile_path: Path | None) -> None:
    """Write THING.xml to the record: a thing without a thing-id is created;
    one with a thing-id updates that thing (its version-stamp must be the
    current one). Blobs the XML does not mention are kept. Replacing a
    signed thing with an unsigned one needs --unsigned-ok."""
    from healthvault import codec
    from healthvault.bindings.thing import Thing2
    from healthvault.errors import HealthVaultXmlError

    try:
        parsed = codec.read_thing(thing_file.read())
    except HealthVaultXmlError as exc:
        raise click.ClickException(f"{thing_file.name}: {exc}") from None
    if not isinstance(parsed, Thing2):
        raise click.ClickException(
            f"{thing_file.name}: a thing in the original format (data-other); PutThings takes the current one"
        )
    updating = parsed.thing_id is not None
    with client(profile_path) as hv, reported():
        if updating and parsed.signature_info is None and not unsigned_ok:
            assert parsed.thing_id is not None
            current = _fetch(hv, parsed.thing_id.value, ("core", "digitalsignatures"))
            if current.signature_info is not None:
                raise click.ClickException(
                    f"thing {parsed.thing_id.value} is signed and {thing_file.name} is not: writing it would remove the "
                    "signature; sign it (hvgen thing sign) or pass --unsigned-ok"
                )
        on_interrupt(
            f"thing {parsed.thing_id.value} may or may not have been updated: `hvgen thing get {parsed.thing_id.value}` "
            "shows which version the record holds"
            if parsed.thing_id is not None
            else "the thing may or may not have been stored: `hvgen thing list` shows the record's things"
        )
        key = hv.put_thing(parsed)
    verb = "updated" if updating else "created"
    emit(
        as_json,
        {"thing_id": key.value, "version_stamp": key.version_stamp, "created": not updating},
        lambda: click.echo(f"{verb} thing {key.value} (version {key.version_stamp})"),
    )


@thing.command("remove")
@click.argument("thing_id")
@json_option
@profile_option
def thing_remove(thing_id: str, as_json: bool, profile_path: Path | None) -> None:
    """Remove thing THING_ID from the record (it is marked deleted)."""
    with client(profile_path) as hv, reported():
        found = _fetch(hv, thing_id)
        assert found.thing_id is not None
        on_interrupt(f"thing {thing_id} may or may not have been removed: `hvgen thing get {thing_id}` shows whether")
        hv.remove_things([found.thing_id])
    type_id = found.type_id.value if found.type_id else None
    emit(
        as_json,
        {"thing_id": thing_id, "type_id": type_id, "type": type_label(type_id), "removed": True},
        lambda: click.echo(f"removed thing {thing_id} ({type_label(type_id)})"),
    )


# -- signatures ----------------------------------------------------------------------------------


BLOB_HELP = (
    "The bytes of a streamed blob: NAME=FILE, or FILE alone for the default (unnamed) blob; "
    "=FILE also names the default blob, for a FILE with '=' in its path (repeatable)."
)


def _blob_options(values: tuple[str, ...]) -> dict[str, Path]:
    """--blob values as {blob name: file}; the default blob's name is ''."""
    from healthvault.blobnames import blob_label

    blobs: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            name, path = "", value
        if not path:
            raise click.BadParameter(
                f"{value!r} names no file: use NAME=FILE, or FILE for the default blob", param_hint="--blob"
            )
        if not Path(path).is_file():
            raise click.BadParameter(
                f"{path}: no such file" + (f" (for {blob_label(name)})" if sep else ""), param_hint="--blob"
            )
        if name in blobs:
            raise click.BadParameter(f"{blob_label(name)} is given twice", param_hint="--blob")
        blobs[name] = Path(path)
    return blobs


@thing.command("sign")
@click.argument("thing_file", metavar="THING.xml", type=click.File("rb"))
@click.option(
    "--key",
    "key_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Signer's RSA private key (PEM).",
)
@click.option(
    "--cert",
    "cert_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Signer's certificate (PEM).",
)
@click.option("--blob", "blob_values", multiple=True, metavar="[NAME=]FILE", help=BLOB_HELP)
@click.option("--sha256", is_flag=True, help="RSA-SHA256 with a SHA-256 digest instead of the default RSA-SHA1.")
@output_option
@json_option
def thing_sign(
    thing_file: BinaryIO,
    key_path: Path,
    cert_path: Path,
    blob_values: tuple[str, ...],
    sha256: bool,
    output: Path | None,
    as_json: bool,
) -> None:
    """Sign THING.xml; writes the signed thing.

    Blobs are covered by their SHA256Block hashes: a streamed blob's from
    the file given with --blob (or the hash-info it already carries), an
    inline blob's from its base64data. A --blob NAME the thing does not
    have is refused.

    \b
    Examples:
      hvgen thing sign study.xml --key key.pem --cert cert.pem --blob 1.2.3.4=scan.dcm -o signed.xml
      hvgen thing sign file.xml --key key.pem --cert cert.pem --blob report.pdf   # the default blob
    """
    from healthvault import signing

    blobs = _blob_options(blob_values)
    key, cert = signing_pair(key_path, cert_path)
    with reported(OSError, ValueError, doing="read"):
        signed = signing.sign(
            thing_file.read(),
            key,
            cert,
            blobs=blobs,
            algorithm="rsa-sha256" if sha256 else "rsa-sha1",
        )
    if as_json:
        if output is not None:
            write_out(signed, output)
        emit(
            True,
            {
                "signed": True,
                "algorithm": "rsa-sha256" if sha256 else "rsa-sha1",
                "blobs": sorted(blobs),
                "output": str(output) if output else None,
                "xml": None if output else signed.decode("utf-8"),
            },
            lambda: None,
        )
        return
    write_out(signed, output)


@thing.command("verify")
@click.argument("thing_file", metavar="THING.xml", type=click.File("rb"))
@click.option("--blob", "blob_values", multiple=True, metavar="[NAME=]FILE", help=BLOB_HELP)
@click.option(
    "--trust",
    "trust_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="PEM trust store: the signer must be one of these or issued by one.",
)
@alias("--signer-trust", "trust_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--fetch/--no-fetch", default=False, help="Download streamed blobs without --blob from their URLs.")
@json_option
@click.pass_context
def thing_verify(
    ctx: click.Context,
    thing_file: BinaryIO,
    blob_values: tuple[str, ...],
    trust_path: Path | None,
    fetch: bool,
    as_json: bool,
) -> None:
    """Verify THING.xml's signature. Exit status 0 only when it is valid;
    otherwise every failing part is printed (data-xml/sig-data, sig-data,
    a named blob or the default blob, signature value, certificate). A
    --blob NAME the thing does not have is refused. --blob FILE alone gives
    the default (unnamed) blob's bytes, as for `hvgen thing sign`."""
    from healthvault import verification

    trust_path = aliased(ctx, "trust_path", trust_path)
    import httpx

    from healthvault.blobio import open_blob

    with httpx.Client(timeout=60) as http, reported(OSError, ValueError, doing="read"):
        result = verification.verify(
            thing_file.read(),
            blobs=_blob_options(blob_values),
            trust=verification.load_trust(trust_path) if trust_path else None,
            # a blob URL that cannot work or be reached is a problem of that blob, in words
            fetch=(lambda url: open_blob(http, url)) if fetch else None,
        )
    if as_json:
        subject = result.certificate.subject.rfc4514_string() if result.certificate is not None else None
        emit(
            True,
            {
                "valid": result.valid,
                "algorithm": result.algorithm,
                "summary": result.summary() if result.valid else None,
                "signer": subject,
                "blobs_checked": result.blobs,
                "problems": [{"part": p.part, "message": p.message} for p in result.problems],
            },
            lambda: None,
        )
    elif result.valid:
        click.echo(result.summary())
    else:
        click.echo("signature NOT valid:", err=True)
        for problem in result.problems:
            click.echo(f"  {problem}", err=True)
    if not result.valid:
        sys.exit(1)
